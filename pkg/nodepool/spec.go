package nodepool

import (
	"slices"
	"strconv"

	"github.com/ensnodepool/webhook/pkg/ens"
)

// SpecDiff lists the fields in which an existing node pool differs from a
// request, as JSON paths under ScalingGroup (e.g. "ScalingGroup.ImageId").
// It compares what DescribeClusterNodePools returns: ImageId,
// InstanceTypes and VswitchIds (as sets), SystemDiskCategory,
// SystemDiskSize, DataDisks (as a multiset of Category/Size),
// InstanceChargeType and KeyPairName. Password (masked by ENS) and
// DesiredSize (absent, and changed by scaling) are not compared. A scalar
// the request leaves empty matches whatever ENS chose as its default.
//
// The worker uses it to adopt an existing pool with the same spec and to
// refuse one with a different spec (a conflict).
func SpecDiff(req *Request, pool *ens.NodePool) []string {
	r, p := req.ScalingGroup, pool.ScalingGroup
	var diff []string
	scalar := func(name, want, got string) {
		if want != "" && want != got {
			diff = append(diff, "ScalingGroup."+name)
		}
	}
	scalar("ImageId", r.ImageId, p.ImageId)
	if !sameSet(r.InstanceTypes, p.InstanceTypes) {
		diff = append(diff, "ScalingGroup.InstanceTypes")
	}
	if !sameSet(r.VswitchIds, p.VswitchIds) {
		diff = append(diff, "ScalingGroup.VswitchIds")
	}
	scalar("InstanceChargeType", r.InstanceChargeType, p.InstanceChargeType)
	// KeyPairName: a password request must not adopt a key-pair pool and
	// vice versa, so compare it even when empty.
	if r.KeyPairName != p.KeyPairName {
		diff = append(diff, "ScalingGroup.KeyPairName")
	}
	scalar("SystemDiskCategory", r.SystemDiskCategory, p.SystemDiskCategory)
	if r.SystemDiskSize != 0 && r.SystemDiskSize != p.SystemDiskSize {
		diff = append(diff, "ScalingGroup.SystemDiskSize")
	}
	if !sameDisks(r.DataDisks, p.DataDisks) {
		diff = append(diff, "ScalingGroup.DataDisks")
	}
	return diff
}

// SameSpec reports whether pool was created from a request like req (see
// SpecDiff for what is compared).
func SameSpec(req *Request, pool *ens.NodePool) bool { return len(SpecDiff(req, pool)) == 0 }

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

func sameDisks(a []DataDisk, b []ens.DataDisk) bool {
	if len(a) != len(b) {
		return false
	}
	x := make([]string, len(a))
	for i, d := range a {
		x[i] = d.Category + "/" + strconv.Itoa(int(d.Size))
	}
	y := make([]string, len(b))
	for i, d := range b {
		y[i] = d.Category + "/" + strconv.Itoa(int(d.Size))
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
