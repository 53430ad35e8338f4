package nodepool

import (
	"slices"

	"github.com/ensnodepool/webhook/pkg/ens"
)

// SpecDiff lists the fields in which an existing node pool differs from a
// request, as JSON paths (e.g. "ScalingGroup.ImageId"). Every field the
// request states and DescribeClusterNodePools reports is compared:
// ScalingGroup.DesiredSize (against Status.DesiredNodes), ImageId,
// InstanceTypes and VswitchIds (as sets), InstanceChargeType, KeyPairName,
// SystemDiskCategory, SystemDiskSize, DataDisks (as a multiset of
// Category/Size), KubernetesConfig.PreUserData and UserData. A field the
// request leaves out matches whatever ENS chose as its default.
//
// Not compared, because ENS does not report them back: Password (masked;
// but a password request never matches a key-pair pool, since KeyPairName
// is compared even when empty) and Callback (not part of the ENS API).
// DesiredNodes also changes when someone scales the pool: a request whose
// DesiredSize no longer matches is a conflict, not a resize.
//
// The worker uses it to adopt an existing pool with the same spec and to
// refuse one with a different spec (a conflict).
func SpecDiff(req *Request, pool *ens.NodePool) []string {
	r, p := req.ScalingGroup, pool.ScalingGroup
	var diff []string
	scalar := func(name, want, got string) {
		if want != "" && want != got {
			diff = append(diff, name)
		}
	}
	if r.DesiredSize != 0 && r.DesiredSize != pool.Status.DesiredNodes {
		diff = append(diff, "ScalingGroup.DesiredSize")
	}
	scalar("ScalingGroup.ImageId", r.ImageId, p.ImageId)
	if !sameSet(r.InstanceTypes, p.InstanceTypes) {
		diff = append(diff, "ScalingGroup.InstanceTypes")
	}
	if !sameSet(r.VswitchIds, p.VswitchIds) {
		diff = append(diff, "ScalingGroup.VswitchIds")
	}
	scalar("ScalingGroup.InstanceChargeType", r.InstanceChargeType, p.InstanceChargeType)
	// KeyPairName: a password request must not adopt a key-pair pool and
	// vice versa, so compare it even when empty.
	if r.KeyPairName != p.KeyPairName {
		diff = append(diff, "ScalingGroup.KeyPairName")
	}
	scalar("ScalingGroup.SystemDiskCategory", r.SystemDiskCategory, p.SystemDiskCategory)
	if r.SystemDiskSize != 0 && r.SystemDiskSize != p.SystemDiskSize {
		diff = append(diff, "ScalingGroup.SystemDiskSize")
	}
	if len(r.DataDisks) > 0 && !sameDisks(r.DataDisks, p.DataDisks) {
		diff = append(diff, "ScalingGroup.DataDisks")
	}
	if k := req.KubernetesConfig; k != nil {
		var got ens.KubernetesConfig
		if pool.KubernetesConfig != nil {
			got = *pool.KubernetesConfig
		}
		scalar("KubernetesConfig.PreUserData", k.PreUserData, got.PreUserData)
		scalar("KubernetesConfig.UserData", k.UserData, got.UserData)
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

// sameDisks reports whether the requested disks match the reported ones
// one to one; a Category or Size the request leaves out matches any.
// Fully stated disks are matched first, so a partly stated one cannot take
// the only disk an exact one fits.
func sameDisks(a []DataDisk, b []ens.DataDisk) bool {
	if len(a) != len(b) {
		return false
	}
	want := slices.Clone(a)
	slices.SortStableFunc(want, func(x, y DataDisk) int {
		return unstated(x) - unstated(y)
	})
	left := slices.Clone(b)
	for _, d := range want {
		i := slices.IndexFunc(left, func(e ens.DataDisk) bool {
			return (d.Category == "" || d.Category == e.Category) && (d.Size == 0 || d.Size == e.Size)
		})
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}

// unstated counts the fields of d the request leaves out.
func unstated(d DataDisk) int {
	n := 0
	if d.Category == "" {
		n++
	}
	if d.Size == 0 {
		n++
	}
	return n
}
