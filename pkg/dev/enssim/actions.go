package enssim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ensnodepool/webhook/pkg/ens"
)

// handler serves one action; the returned body gets a RequestId.
type handler func(s *Server, req *request) (map[string]any, *apiError)

// handlers are the supported actions.
var handlers = map[string]handler{
	"CreateClusterNodePool":    (*Server).createClusterNodePool,
	"DescribeClusterNodePools": (*Server).describeClusterNodePools,
	"DescribeClusterDetail":    (*Server).describeClusterDetail,
	"DescribeClustersV1":       (*Server).describeClustersV1,
	"ScaleClusterNodePool":     (*Server).scaleClusterNodePool,
	"DeleteClusterNodePool":    (*Server).deleteClusterNodePool,
}

func (s *Server) dispatch(req *request) (map[string]any, *apiError) {
	return handlers[req.action](s, req)
}

// Limits the simulator enforces where the API's are not documented.
const (
	// MaxPageSize is the largest accepted PageSize (as DescribeVSwitches).
	MaxPageSize = 50
	// MaxDesiredSize bounds ScalingGroup.DesiredSize and Scale Count.
	MaxDesiredSize = 1000
	// MaxUserData bounds decoded UserData and PreUserData (16 KB, as ENS
	// instance UserData).
	MaxUserData = 16 << 10
)

var diskCategories = []string{"cloud_efficiency", "cloud_ssd", "local_hdd", "local_ssd"}

// decodeShrink decodes a JSON "shrink" parameter strictly.
func decodeShrink(params map[string][]string, name string, v any, required bool) *apiError {
	raw := ""
	if vs := params[name]; len(vs) > 0 {
		raw = vs[0]
	}
	if strings.TrimSpace(raw) == "" {
		if required {
			return errMissing(name)
		}
		return nil
	}
	d := json.NewDecoder(bytes.NewReader([]byte(raw)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil || d.More() {
		return errInvalid(name, "not a valid JSON object of the expected shape")
	}
	return nil
}

func (s *Server) cluster(id string) (ClusterSeed, *apiError) {
	if id == "" {
		return ClusterSeed{}, errMissing("ClusterId")
	}
	c, ok := s.clusters[id]
	if !ok {
		return c, &apiError{status: 404, code: "InvalidClusterId.NotFound", message: "The specified cluster " + id + " does not exist."}
	}
	return c, nil
}

func validDisk(category string, size int32, field string) *apiError {
	if category != "" && !slices.Contains(diskCategories, category) {
		return errInvalid(field+"Category", "category must be one of "+strings.Join(diskCategories, ", "))
	}
	if size != 0 && (size < 20 || size%10 != 0) {
		return errInvalid(field+"Size", "size in GB must be at least 20 and a multiple of 10")
	}
	return nil
}

// validateCreate checks a create request as the API does (constraints from
// https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-createclusternodepool).
func (s *Server) validateCreate(c ClusterSeed, info *ens.NodepoolInfo, sg *ens.ScalingGroup, kc *ens.KubernetesConfig) *apiError {
	if strings.TrimSpace(info.Name) == "" {
		return errMissing("NodepoolInfo.Name")
	}
	if len(info.Name) > 128 {
		return errInvalid("NodepoolInfo.Name", "at most 128 characters")
	}
	switch {
	case sg.ImageId == "":
		return errMissing("ScalingGroup.ImageId")
	case len(sg.InstanceTypes) == 0:
		return errMissing("ScalingGroup.InstanceTypes")
	case len(sg.VswitchIds) == 0:
		return errMissing("ScalingGroup.VswitchIds")
	case sg.DesiredSize < 0 || sg.DesiredSize > MaxDesiredSize:
		return errInvalid("DesiredSize", "must be between 0 and "+strconv.Itoa(MaxDesiredSize))
	case sg.InstanceChargeType != "" && sg.InstanceChargeType != "PostPaid" && sg.InstanceChargeType != "PrePaid":
		return errInvalid("InstanceChargeType", "must be PostPaid or PrePaid")
	case sg.KeyPairName == "" && sg.Password == "":
		return errMissing("ScalingGroup.KeyPairName or ScalingGroup.Password")
	case sg.KeyPairName != "" && sg.Password != "":
		return errInvalid("KeyPairName", "KeyPairName and Password are mutually exclusive")
	}
	for _, it := range sg.InstanceTypes {
		if it == "" {
			return errInvalid("InstanceTypes", "empty instance type")
		}
	}
	if e := validDisk(sg.SystemDiskCategory, sg.SystemDiskSize, "SystemDisk"); e != nil {
		return e
	}
	for _, d := range sg.DataDisks {
		// Category and Size are optional in the document (ENS's defaults
		// are not documented; the simulator stores what it was given).
		if e := validDisk(d.Category, d.Size, "DataDisks."); e != nil {
			return e
		}
	}
	for _, v := range sg.VswitchIds {
		region, ok := s.vswitch[v]
		switch {
		case !ok:
			return errInvalid("VswitchIds", "vSwitch "+v+" does not exist")
		case region != c.EnsRegionId:
			return errInvalid("VswitchIds", "vSwitch "+v+" is in "+region+", not in the cluster's ENS region "+c.EnsRegionId)
		}
	}
	if kc != nil {
		for name, v := range map[string]string{"UserData": kc.UserData, "PreUserData": kc.PreUserData} {
			if v == "" {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return errInvalid(name, "must be base64")
			}
			if len(b) > MaxUserData {
				return errInvalid(name, "at most 16 KB")
			}
		}
	}
	return nil
}

// createClusterNodePool creates a pool. Names need not be unique: the real
// API's behaviour for a duplicate name is not documented, and the simulator
// creates a second pool so that duplicate creates stay visible (the
// project's worker guards against them itself).
func (s *Server) createClusterNodePool(req *request) (map[string]any, *apiError) {
	c, e := s.cluster(req.params.Get("ClusterId"))
	if e != nil {
		return nil, e
	}
	var (
		info ens.NodepoolInfo
		sg   ens.ScalingGroup
		kc   *ens.KubernetesConfig
	)
	if e := decodeShrink(req.params, "NodepoolInfo", &info, true); e != nil {
		return nil, e
	}
	if e := decodeShrink(req.params, "ScalingGroup", &sg, true); e != nil {
		return nil, e
	}
	if req.params.Get("KubernetesConfig") != "" {
		kc = &ens.KubernetesConfig{}
		if e := decodeShrink(req.params, "KubernetesConfig", kc, false); e != nil {
			return nil, e
		}
	}
	if info.NodepoolId != "" || info.EnsRegionId != "" {
		return nil, errInvalid("NodepoolInfo", "only Name may be given")
	}
	if e := s.validateCreate(c, &info, &sg, kc); e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	s.seq++
	p := &pool{
		Seq:              s.seq,
		ClusterId:        c.ClusterId,
		NodepoolId:       newNodepoolID(),
		Name:             info.Name,
		EnsRegionId:      c.EnsRegionId,
		ScalingGroup:     sg,
		KubernetesConfig: kc,
		CreatedAt:        now,
		Batches:          []batch{{At: now, Count: sg.DesiredSize, Provision: s.provisionOf(c.ClusterId, info.Name)}},
	}
	if r, ok := s.rules[ruleKey(c.ClusterId, info.Name)]; ok {
		p.FailAt = now.Add(failAfter(r, p.Batches[0].Provision))
	}
	if err := s.st.put(bucketPools, []byte(p.NodepoolId), p); err != nil {
		return nil, errInternal(err)
	}
	s.pools[p.NodepoolId] = p
	s.stats.creates[[2]string{c.ClusterId, info.Name}]++
	return map[string]any{"Nodepool": p.view(now)}, nil
}

func failAfter(r failRule, provision time.Duration) time.Duration {
	if r.After > 0 {
		return r.After
	}
	return provision / 2
}

func errInternal(err error) *apiError {
	return &apiError{status: 500, code: "InternalError", message: "The request processing has failed due to some unknown error: " + err.Error()}
}

func newNodepoolID() string {
	return "np" + strings.ToLower(strings.ReplaceAll(newRequestID(), "-", ""))
}

func intParam(params map[string][]string, name string) (int, *apiError) {
	vs := params[name]
	if len(vs) == 0 || vs[0] == "" {
		return 0, errMissing(name)
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil {
		return 0, errInvalid(name, "not an integer")
	}
	return n, nil
}

// sortedPoolsLocked returns a cluster's pools in creation order.
func (s *Server) sortedPoolsLocked(clusterID string) []*pool {
	var ps []*pool
	for _, p := range s.pools {
		if clusterID == "" || p.ClusterId == clusterID {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b *pool) int { return int(a.Seq - b.Seq) })
	return ps
}

func (s *Server) describeClusterNodePools(req *request) (map[string]any, *apiError) {
	c, e := s.cluster(req.params.Get("ClusterId"))
	if e != nil {
		return nil, e
	}
	page, e := intParam(req.params, "PageNumber")
	if e != nil {
		return nil, e
	}
	size, e := intParam(req.params, "PageSize")
	if e != nil {
		return nil, e
	}
	if page < 1 {
		return nil, errInvalid("PageNumber", "must be at least 1")
	}
	if size < 1 || size > MaxPageSize {
		return nil, errInvalid("PageSize", "must be between 1 and "+strconv.Itoa(MaxPageSize))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	ps := s.sortedPoolsLocked(c.ClusterId)
	out := []ens.NodePool{}
	for i := (page - 1) * size; i < len(ps) && i < page*size; i++ {
		out = append(out, ps[i].view(now))
	}
	return map[string]any{
		"NodePools": out,
		"Page":      ens.Page{PageNumber: int32(page), PageSize: int32(size), TotalCount: int32(len(ps))},
	}, nil
}

func (c ClusterSeed) view() ens.Cluster {
	return ens.Cluster{
		AliUid:            "1234567890123456",
		ClusterId:         c.ClusterId,
		Name:              c.Name,
		EnsRegionId:       c.EnsRegionId,
		State:             c.State,
		KubernetesVersion: c.KubernetesVersion,
		VpcId:             "n-" + strings.TrimPrefix(c.ClusterId, "eck-"),
		VswitchIds:        slices.Clone(c.VswitchIds),
		ContainerCidr:     "10.16.0.0/16",
		ServiceCidr:       "192.168.0.0/16",
		ControlPlaneConfig: &ens.ControlPlaneConfig{
			ContainerRuntime: "containerd", InstanceSpec: "ens.esk.sn1.medium", NodePortRange: "30000-32767",
			Size: 3, SystemDiskCategory: "cloud_efficiency", SystemDiskSize: 80,
		},
	}
}

func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	m := map[string]any{}
	json.Unmarshal(b, &m)
	return m
}

func (s *Server) describeClusterDetail(req *request) (map[string]any, *apiError) {
	c, e := s.cluster(req.params.Get("ClusterId"))
	if e != nil {
		return nil, e
	}
	return toMap(c.view()), nil
}

func (s *Server) describeClustersV1(req *request) (map[string]any, *apiError) {
	id, region, name := req.params.Get("ClusterId"), req.params.Get("EnsRegionId"), req.params.Get("Name")
	out := []ens.Cluster{}
	for _, c := range s.cfg.Clusters {
		if (id == "" || c.ClusterId == id) && (region == "" || c.EnsRegionId == region) && (name == "" || c.Name == name) {
			out = append(out, c.view())
		}
	}
	return map[string]any{"Clusters": out}, nil
}

// poolLocked finds a pool of a cluster.
func (s *Server) poolLocked(clusterID, nodepoolID string) (*pool, *apiError) {
	if nodepoolID == "" {
		return nil, errMissing("NodepoolId")
	}
	p, ok := s.pools[nodepoolID]
	if !ok || p.ClusterId != clusterID {
		return nil, &apiError{status: 404, code: "InvalidNodepoolId.NotFound", message: "The specified node pool " + nodepoolID + " does not exist."}
	}
	return p, nil
}

// scaleClusterNodePool scales out: Count must exceed the current node count
// and the pool must not have failed.
func (s *Server) scaleClusterNodePool(req *request) (map[string]any, *apiError) {
	c, e := s.cluster(req.params.Get("ClusterId"))
	if e != nil {
		return nil, e
	}
	var body struct{ Count *int32 }
	if e := decodeShrink(req.params, "Body", &body, true); e != nil {
		return nil, e
	}
	if body.Count == nil {
		return nil, errMissing("Body.Count")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.poolLocked(c.ClusterId, req.params.Get("NodepoolId"))
	if e != nil {
		return nil, e
	}
	now := s.cfg.Now()
	st := p.status(now)
	switch {
	case st.State == StateFailed:
		return nil, &apiError{status: 400, code: "BadRequest", message: "Request param error. The node pool has failed; remove its failed nodes first."}
	case *body.Count <= st.TotalNodes || *body.Count > MaxDesiredSize:
		return nil, errInvalid("Count", "must exceed the current node count "+strconv.Itoa(int(st.TotalNodes))+" and be at most "+strconv.Itoa(MaxDesiredSize))
	}
	p.Batches = append(p.Batches, batch{At: now, Count: *body.Count - st.TotalNodes, Provision: s.provision})
	if err := s.st.put(bucketPools, []byte(p.NodepoolId), p); err != nil {
		p.Batches = p.Batches[:len(p.Batches)-1]
		return nil, errInternal(err)
	}
	return map[string]any{}, nil
}

// deleteClusterNodePool removes the pool at once (the real API deletes
// asynchronously; the simulator has no "deleting" state).
func (s *Server) deleteClusterNodePool(req *request) (map[string]any, *apiError) {
	c, e := s.cluster(req.params.Get("ClusterId"))
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.poolLocked(c.ClusterId, req.params.Get("NodepoolId"))
	if e != nil {
		return nil, e
	}
	if err := s.st.delete(bucketPools, []byte(p.NodepoolId)); err != nil {
		return nil, errInternal(err)
	}
	delete(s.pools, p.NodepoolId)
	return map[string]any{}, nil
}
