package nodepool

import (
	"time"

	"github.com/ensnodepool/webhook/pkg/ens"
)

// Mask replaces a password in anything this service shows: responses,
// logs, envelopes printed for debugging.
const Mask = "******"

// Request is one node-pool creation request: the body of
// CreateClusterNodePool exactly as the ENS API names it
// (https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-createclusternodepool),
// plus an optional Callback. A body copied from the API documentation decodes
// into it unchanged. The validate tags are the rules Validator applies; see
// the package documentation for the choices behind each one.
type Request struct {
	// ClusterId is the ENS edge Kubernetes cluster, "eck-…".
	ClusterId string `json:"ClusterId" validate:"required,eck_id"`
	// NodepoolInfo names the pool; (ClusterId, Name) is the idempotency key
	// of the worker.
	NodepoolInfo NodepoolInfo `json:"NodepoolInfo"`
	// ScalingGroup describes the pool's instances.
	ScalingGroup ScalingGroup `json:"ScalingGroup"`
	// KubernetesConfig holds optional node bootstrap scripts.
	KubernetesConfig *KubernetesConfig `json:"KubernetesConfig,omitempty"`
	// Callback is where the result is reported (not part of the ENS API).
	Callback *Callback `json:"Callback,omitempty"`
}

// NodepoolInfo names a node pool.
type NodepoolInfo struct {
	// Name is 1–63 characters of ASCII letters, digits, '_' and '-',
	// starting with a letter or digit (a project rule: ENS documents none).
	Name string `json:"Name" validate:"required,pool_name"`
}

// ScalingGroup describes the instances of a node pool.
type ScalingGroup struct {
	// DesiredSize is the number of nodes, 1..ValidationConfig.MaxDesiredSize;
	// optional as in the ENS API: 0 (absent) is not sent and ENS applies
	// its default.
	DesiredSize int32 `json:"DesiredSize,omitempty" validate:"omitempty,desired_size"`
	// KeyPairName is the SSH key pair; exactly one of KeyPairName and Password.
	KeyPairName string `json:"KeyPairName,omitempty" validate:"excluded_with=Password,omitempty,keypair_name"`
	// Password is the node login password (8–30 printable ASCII
	// characters, see ValidPassword). It never leaves the webhook in clear:
	// the envelope carries it sealed.
	Password string `json:"Password,omitempty" validate:"required_without=KeyPairName,omitempty,password"`
	// VswitchIds are 1–10 distinct "vsw-…" ids in the cluster's ENS region.
	VswitchIds []string `json:"VswitchIds" validate:"required,min=1,max=10,unique,dive,vsw_id"`
	// InstanceChargeType is PostPaid or PrePaid; empty leaves ENS's default.
	InstanceChargeType string `json:"InstanceChargeType,omitempty" validate:"omitempty,oneof=PostPaid PrePaid"`
	// InstanceTypes are 1–10 distinct "ens.<family>.<size>" specs.
	InstanceTypes []string `json:"InstanceTypes" validate:"required,min=1,max=10,unique,dive,instance_type"`
	// SystemDiskCategory is one of the disk categories; empty leaves ENS's default.
	SystemDiskCategory string `json:"SystemDiskCategory,omitempty" validate:"omitempty,oneof=cloud_efficiency cloud_ssd local_hdd local_ssd"`
	// SystemDiskSize is in GiB: 20..2048, a multiple of 10; 0 leaves ENS's default.
	SystemDiskSize int32 `json:"SystemDiskSize,omitempty" validate:"omitempty,disk_size=2048"`
	// ImageId is the node image, "m-…".
	ImageId string `json:"ImageId" validate:"required,image_id"`
	// DataDisks are at most 16 data disks.
	DataDisks []DataDisk `json:"DataDisks,omitempty" validate:"omitempty,max=16,dive"`
}

// DataDisk is one data disk of every node in the pool. Both fields are
// optional in the ENS document; left out, ENS applies its default.
type DataDisk struct {
	// Category is one of the disk categories (same as the system disk).
	Category string `json:"Category,omitempty" validate:"omitempty,oneof=cloud_efficiency cloud_ssd local_hdd local_ssd"`
	// Size is in GiB: 20..32768, a multiple of 10.
	Size int32 `json:"Size,omitempty" validate:"omitempty,disk_size=32768"`
}

// KubernetesConfig holds base64 scripts run on a node before (PreUserData)
// and after (UserData) it joins the cluster; each decodes to ≤ 16 KiB.
type KubernetesConfig struct {
	// PreUserData runs before the node joins the cluster.
	PreUserData string `json:"PreUserData,omitempty" validate:"omitempty,user_data"`
	// UserData runs after the node joined the cluster.
	UserData string `json:"UserData,omitempty" validate:"omitempty,user_data"`
}

// Callback is where the service reports the pool's progress and result,
// signed with Standard Webhooks (or, for ChatOps requests, in a chat
// platform's message format).
type Callback struct {
	// Url is an absolute https URL (http only if the Validator allows it),
	// without user info or fragment.
	Url string `json:"Url" validate:"required,callback_url"`
	// Format is the chat platform whose message format the results use
	// ("slack", "dingtalk" or "feishu"); empty is the signed Standard
	// Webhooks JSON. Only the chatops intake sets it: Decode (the JSON
	// API) rejects it, envelopes carry it.
	Format string `json:"Format,omitempty" validate:"omitempty,oneof=slack dingtalk feishu"`
	// ExpiresAt is when Url stops accepting posts (a Slack response_url
	// after 30 minutes, a DingTalk sessionWebhook at its
	// sessionWebhookExpiredTime); zero is never. Set like Format.
	ExpiresAt time.Time `json:"ExpiresAt,omitzero"`
}

// Clone returns a deep copy of r.
func (r *Request) Clone() *Request {
	if r == nil {
		return nil
	}
	c := *r
	c.ScalingGroup.VswitchIds = cloneStrings(r.ScalingGroup.VswitchIds)
	c.ScalingGroup.InstanceTypes = cloneStrings(r.ScalingGroup.InstanceTypes)
	if r.ScalingGroup.DataDisks != nil {
		c.ScalingGroup.DataDisks = append([]DataDisk(nil), r.ScalingGroup.DataDisks...)
	}
	if r.KubernetesConfig != nil {
		k := *r.KubernetesConfig
		c.KubernetesConfig = &k
	}
	if r.Callback != nil {
		cb := *r.Callback
		c.Callback = &cb
	}
	return &c
}

// Redacted returns a deep copy of r with the password replaced by Mask, for
// responses and logs.
func (r *Request) Redacted() *Request {
	c := r.Clone()
	if c != nil && c.ScalingGroup.Password != "" {
		c.ScalingGroup.Password = Mask
	}
	return c
}

// ENS converts r to the CreateClusterNodePool input. The callback is not
// part of the ENS API and is dropped; slices are copied.
func (r *Request) ENS() *ens.CreateClusterNodePoolRequest {
	sg := r.ScalingGroup
	out := &ens.CreateClusterNodePoolRequest{
		ClusterId:    r.ClusterId,
		NodepoolInfo: &ens.NodepoolInfo{Name: r.NodepoolInfo.Name},
		ScalingGroup: &ens.ScalingGroup{
			DesiredSize:        sg.DesiredSize,
			ImageId:            sg.ImageId,
			InstanceChargeType: sg.InstanceChargeType,
			InstanceTypes:      cloneStrings(sg.InstanceTypes),
			KeyPairName:        sg.KeyPairName,
			Password:           sg.Password,
			SystemDiskCategory: sg.SystemDiskCategory,
			SystemDiskSize:     sg.SystemDiskSize,
			VswitchIds:         cloneStrings(sg.VswitchIds),
		},
	}
	for _, d := range sg.DataDisks {
		out.ScalingGroup.DataDisks = append(out.ScalingGroup.DataDisks, ens.DataDisk{Category: d.Category, Size: d.Size})
	}
	if k := r.KubernetesConfig; k != nil {
		out.KubernetesConfig = &ens.KubernetesConfig{PreUserData: k.PreUserData, UserData: k.UserData}
	}
	return out
}

// MaskPool returns a copy of p with any password replaced by Mask. ENS
// already masks it in DescribeClusterNodePools; this makes sure of it.
func MaskPool(p ens.NodePool) ens.NodePool {
	if p.ScalingGroup.Password != "" {
		p.ScalingGroup.Password = Mask
	}
	p.ScalingGroup.VswitchIds = cloneStrings(p.ScalingGroup.VswitchIds)
	p.ScalingGroup.InstanceTypes = cloneStrings(p.ScalingGroup.InstanceTypes)
	if p.ScalingGroup.DataDisks != nil {
		p.ScalingGroup.DataDisks = append([]ens.DataDisk(nil), p.ScalingGroup.DataDisks...)
	}
	if p.KubernetesConfig != nil {
		k := *p.KubernetesConfig
		p.KubernetesConfig = &k
	}
	return p
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}
