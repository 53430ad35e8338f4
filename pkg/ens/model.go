package ens

// The request and response models below carry the ENS API's own field names
// (PascalCase JSON keys) as in the generated SDK's models for
// CreateClusterNodePool and DescribeClusterNodePools:
// https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-createclusternodepool
// https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-describeclusternodepools

// DataDisk is one data disk of a node in a scaling group.
type DataDisk struct {
	Category string `json:"Category,omitempty"`
	Size     int32  `json:"Size,omitempty"`
}

// ScalingGroup describes the instances of a node pool.
// In responses Password is masked and DesiredSize is absent.
type ScalingGroup struct {
	DataDisks          []DataDisk `json:"DataDisks,omitempty"`
	DesiredSize        int32      `json:"DesiredSize,omitempty"`
	ImageId            string     `json:"ImageId,omitempty"`
	InstanceChargeType string     `json:"InstanceChargeType,omitempty"`
	InstanceTypes      []string   `json:"InstanceTypes,omitempty"`
	KeyPairName        string     `json:"KeyPairName,omitempty"`
	Password           string     `json:"Password,omitempty"`
	SystemDiskCategory string     `json:"SystemDiskCategory,omitempty"`
	SystemDiskSize     int32      `json:"SystemDiskSize,omitempty"`
	VswitchIds         []string   `json:"VswitchIds,omitempty"`
}

// KubernetesConfig holds base64 scripts run on a node before (PreUserData)
// and after (UserData) it joins the cluster.
type KubernetesConfig struct {
	PreUserData string `json:"PreUserData,omitempty"`
	UserData    string `json:"UserData,omitempty"`
}

// NodepoolInfo names a node pool. NodepoolId and EnsRegionId appear in
// responses (and NodepoolId in ModifyClusterNodePool requests).
type NodepoolInfo struct {
	Name        string `json:"Name,omitempty"`
	NodepoolId  string `json:"NodepoolId,omitempty"`
	EnsRegionId string `json:"EnsRegionId,omitempty"`
}

// CreateClusterNodePoolRequest is the input of CreateClusterNodePool.
// NodepoolInfo, ScalingGroup and KubernetesConfig travel as JSON strings in
// the query ("shrink" parameters).
type CreateClusterNodePoolRequest struct {
	ClusterId        string            `json:"ClusterId"`
	NodepoolInfo     *NodepoolInfo     `json:"NodepoolInfo,omitempty"`
	ScalingGroup     *ScalingGroup     `json:"ScalingGroup,omitempty"`
	KubernetesConfig *KubernetesConfig `json:"KubernetesConfig,omitempty"`
}

// NodePoolStatus is the live state of a node pool.
type NodePoolStatus struct {
	DesiredNodes  int32  `json:"DesiredNodes"`
	InitialNodes  int32  `json:"InitialNodes"`
	RemovingNodes int32  `json:"RemovingNodes"`
	ServingNodes  int32  `json:"ServingNodes"`
	TotalNodes    int32  `json:"TotalNodes"`
	State         string `json:"State"`
}

// NodePool is one node pool as returned by CreateClusterNodePool ("Nodepool")
// and DescribeClusterNodePools ("NodePools").
type NodePool struct {
	ClusterId        string            `json:"ClusterId"`
	NodepoolInfo     NodepoolInfo      `json:"NodepoolInfo"`
	ScalingGroup     ScalingGroup      `json:"ScalingGroup"`
	KubernetesConfig *KubernetesConfig `json:"KubernetesConfig,omitempty"`
	Status           NodePoolStatus    `json:"Status"`
}

// Page is the paging block of list responses.
type Page struct {
	PageNumber int32 `json:"PageNumber"`
	PageSize   int32 `json:"PageSize"`
	TotalCount int32 `json:"TotalCount"`
}

// CreateClusterNodePoolResponse is the body of a CreateClusterNodePool answer.
type CreateClusterNodePoolResponse struct {
	RequestId string   `json:"RequestId"`
	Nodepool  NodePool `json:"Nodepool"`
}

// DescribeClusterNodePoolsResponse is the body of one DescribeClusterNodePools page.
type DescribeClusterNodePoolsResponse struct {
	RequestId string     `json:"RequestId"`
	NodePools []NodePool `json:"NodePools"`
	Page      Page       `json:"Page"`
}

// ControlPlaneConfig describes a cluster's control plane.
type ControlPlaneConfig struct {
	ContainerRuntime   string `json:"ContainerRuntime,omitempty"`
	ImageId            string `json:"ImageId,omitempty"`
	InstanceSpec       string `json:"InstanceSpec,omitempty"`
	NodePortRange      string `json:"NodePortRange,omitempty"`
	Size               int64  `json:"Size,omitempty"`
	SystemDiskCategory string `json:"SystemDiskCategory,omitempty"`
	SystemDiskSize     int64  `json:"SystemDiskSize,omitempty"`
}

// Cluster is an ENS edge Kubernetes cluster as DescribeClusterDetail and
// DescribeClustersV1 return it.
type Cluster struct {
	AliUid             string              `json:"AliUid,omitempty"`
	ClusterId          string              `json:"ClusterId"`
	Name               string              `json:"Name"`
	EnsRegionId        string              `json:"EnsRegionId"`
	State              string              `json:"State"`
	KubernetesVersion  string              `json:"KubernetesVersion,omitempty"`
	VpcId              string              `json:"VpcId,omitempty"`
	VswitchIds         []string            `json:"VswitchIds,omitempty"`
	PodVswitchIds      []string            `json:"PodVswitchIds,omitempty"`
	ContainerCidr      string              `json:"ContainerCidr,omitempty"`
	ServiceCidr        string              `json:"ServiceCidr,omitempty"`
	LoadBalancerId     string              `json:"LoadBalancerId,omitempty"`
	PublicAccess       bool                `json:"PublicAccess,omitempty"`
	ControlPlaneConfig *ControlPlaneConfig `json:"ControlPlaneConfig,omitempty"`
}

// DescribeClusterDetailResponse is the body of DescribeClusterDetail: the
// cluster's fields at the top level beside RequestId.
type DescribeClusterDetailResponse struct {
	RequestId string `json:"RequestId"`
	Cluster
}

// DescribeClustersV1Response is the body of DescribeClustersV1.
type DescribeClustersV1Response struct {
	RequestId string    `json:"RequestId"`
	Clusters  []Cluster `json:"Clusters"`
}
