package nodepool

import (
	"slices"

	"github.com/ensnodepool/webhook/pkg/ens"
)

// Difference is one field in which an existing node pool differs from a
// request: its JSON path, the value the request states and the value
// DescribeClusterNodePools reports (JSON-ready; a list ENS leaves out is
// empty, not null).
type Difference struct {
	Field     string `json:"Field"`
	Requested any    `json:"Requested"`
	Found     any    `json:"Found"`
}

// SpecDiff lists the fields in which an existing node pool differs from a
// request, as JSON paths (e.g. "ScalingGroup.ImageId"): the Field of each
// of Differences, in its order.
func SpecDiff(req *Request, pool *ens.NodePool) []string {
	return fields(Differences(req, pool))
}

func fields(ds []Difference) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Field)
	}
	return out
}

// Differences lists the fields in which an existing node pool differs from
// a request, with both values. Every field the request states and
// DescribeClusterNodePools reports is compared, in this order:
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
// The worker uses it (through Find) to adopt an existing pool with the
// same spec and to refuse one with a different spec (a conflict); a dry
// run shows the differences.
func Differences(req *Request, pool *ens.NodePool) []Difference {
	r, p := req.ScalingGroup, pool.ScalingGroup
	var diff []Difference
	add := func(field string, requested, found any) {
		diff = append(diff, Difference{Field: field, Requested: requested, Found: found})
	}
	scalar := func(name, want, got string) {
		if want != "" && want != got {
			add(name, want, got)
		}
	}
	if r.DesiredSize != 0 && r.DesiredSize != pool.Status.DesiredNodes {
		add("ScalingGroup.DesiredSize", r.DesiredSize, pool.Status.DesiredNodes)
	}
	scalar("ScalingGroup.ImageId", r.ImageId, p.ImageId)
	if !sameSet(r.InstanceTypes, p.InstanceTypes) {
		add("ScalingGroup.InstanceTypes", orEmpty(r.InstanceTypes), orEmpty(p.InstanceTypes))
	}
	if !sameSet(r.VswitchIds, p.VswitchIds) {
		add("ScalingGroup.VswitchIds", orEmpty(r.VswitchIds), orEmpty(p.VswitchIds))
	}
	scalar("ScalingGroup.InstanceChargeType", r.InstanceChargeType, p.InstanceChargeType)
	// KeyPairName: a password request must not adopt a key-pair pool and
	// vice versa, so compare it even when empty.
	if r.KeyPairName != p.KeyPairName {
		add("ScalingGroup.KeyPairName", r.KeyPairName, p.KeyPairName)
	}
	scalar("ScalingGroup.SystemDiskCategory", r.SystemDiskCategory, p.SystemDiskCategory)
	if r.SystemDiskSize != 0 && r.SystemDiskSize != p.SystemDiskSize {
		add("ScalingGroup.SystemDiskSize", r.SystemDiskSize, p.SystemDiskSize)
	}
	if len(r.DataDisks) > 0 && !sameDisks(r.DataDisks, p.DataDisks) {
		add("ScalingGroup.DataDisks", r.DataDisks, orEmpty(p.DataDisks))
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

// orEmpty is s, or an empty slice for nil (JSON [] rather than null).
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Finding is what the worker finds for a request among the pools of its
// cluster: the pool to adopt, or the pools of its name that differ (a
// conflict), or neither (it creates the pool).
type Finding struct {
	// Adopt is the first pool of the request's name whose spec matches
	// (SpecDiff is empty); nil when none does.
	Adopt *ens.NodePool
	// Conflicts are the pools of the request's name, each with its
	// differences, when none matches; empty when there is none.
	Conflicts []Conflict
}

// Conflict is one pool of a request's name that differs from it.
type Conflict struct {
	Pool        *ens.NodePool
	Differences []Difference
}

// Fields are the Field of each of the Differences, in their order.
func (c Conflict) Fields() []string { return fields(c.Differences) }

// Find applies the worker's adopt-or-conflict rule to a request and the
// pools of its cluster (pools of other names are ignored): the request
// adopts a pool of its name with the same spec, conflicts with the pools
// of its name when none matches, and otherwise creates its pool. The
// pointers in the Finding point into pools.
func Find(req *Request, pools []ens.NodePool) Finding {
	var f Finding
	for i := range pools {
		p := &pools[i]
		if p.NodepoolInfo.Name != req.NodepoolInfo.Name {
			continue
		}
		d := Differences(req, p)
		if len(d) == 0 {
			return Finding{Adopt: p}
		}
		f.Conflicts = append(f.Conflicts, Conflict{Pool: p, Differences: d})
	}
	return f
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
