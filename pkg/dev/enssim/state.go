package enssim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ensnodepool/webhook/pkg/ens"
	bolt "go.etcd.io/bbolt"
)

// Node pool states the simulator reports. ENS documents only "active" for
// pools (SDK example); "initial" mirrors the node state, "scaling" and
// "failed" follow ACK, whose node pool machinery ENS edge clusters share
// (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/cluster-abnormal-states).
const (
	StateInitial = "initial"
	StateScaling = "scaling"
	StateActive  = "active"
	StateFailed  = "failed"
)

// batch is a group of nodes requested at once (the create, then each
// scale-out); its nodes arrive evenly over provision.
type batch struct {
	At        time.Time     `json:"at"`
	Count     int32         `json:"count"`
	Provision time.Duration `json:"provision"`
}

// arrived is how many of b's nodes are serving at t.
func (b batch) arrived(t time.Time) int32 {
	el := t.Sub(b.At)
	switch {
	case el <= 0:
		return 0
	case el >= b.Provision:
		return b.Count
	}
	return int32(int64(b.Count) * int64(el) / int64(b.Provision))
}

// pool is a simulated node pool as stored.
type pool struct {
	Seq              int64                 `json:"seq"`
	ClusterId        string                `json:"clusterId"`
	NodepoolId       string                `json:"nodepoolId"`
	Name             string                `json:"name"`
	EnsRegionId      string                `json:"ensRegionId"`
	ScalingGroup     ens.ScalingGroup      `json:"scalingGroup"`
	KubernetesConfig *ens.KubernetesConfig `json:"kubernetesConfig,omitempty"`
	CreatedAt        time.Time             `json:"createdAt"`
	Batches          []batch               `json:"batches"`
	FailAt           time.Time             `json:"failAt,omitzero"`
}

// status derives the pool's Status at now from its batches: no background
// work is needed, the clock alone moves provisioning forward.
func (p *pool) status(now time.Time) ens.NodePoolStatus {
	failed := !p.FailAt.IsZero() && !now.Before(p.FailAt)
	t := now
	if failed {
		t = p.FailAt
	}
	var total, serving int32
	for _, b := range p.Batches {
		total += b.Count
		serving += b.arrived(t)
	}
	st := ens.NodePoolStatus{DesiredNodes: total, TotalNodes: total, ServingNodes: serving, InitialNodes: total - serving}
	switch {
	case failed:
		st.State = StateFailed
	case serving == total:
		st.State = StateActive
	case len(p.Batches) == 1:
		st.State = StateInitial
	default:
		st.State = StateScaling
	}
	return st
}

// view is the pool in the API's response shape at now.
func (p *pool) view(now time.Time) ens.NodePool {
	sg := p.ScalingGroup
	sg.DesiredSize = 0 // absent in responses
	if sg.Password != "" {
		sg.Password = "**********"
	}
	sg.DataDisks = append([]ens.DataDisk(nil), sg.DataDisks...)
	kc := &ens.KubernetesConfig{}
	if p.KubernetesConfig != nil {
		*kc = *p.KubernetesConfig
	}
	return ens.NodePool{
		ClusterId:        p.ClusterId,
		NodepoolInfo:     ens.NodepoolInfo{Name: p.Name, NodepoolId: p.NodepoolId, EnsRegionId: p.EnsRegionId},
		ScalingGroup:     sg,
		KubernetesConfig: kc,
		Status:           p.status(now),
	}
}

// failRule makes pools named Name in ClusterId fail After their creation
// (default: half the provisioning time).
type failRule struct {
	ClusterId string        `json:"clusterId"`
	Name      string        `json:"name"`
	After     time.Duration `json:"after,omitempty"`
}

func ruleKey(clusterID, name string) string { return clusterID + "/" + name }

// Buckets of the bbolt file.
var (
	bucketPools    = []byte("pools")
	bucketRules    = []byte("failRules")
	bucketSettings = []byte("settings")
	keyProvision   = []byte("provisionTime")
)

// store persists state in a bbolt file; a nil *store keeps nothing (the
// in-memory mode).
type store struct{ db *bolt.DB }

func openStore(dir string) (*store, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("enssim: data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "enssim.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("enssim: open store: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPools, bucketRules, bucketSettings} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("enssim: init store: %w", err)
	}
	return &store{db: db}, nil
}

func (st *store) close() error {
	if st == nil {
		return nil
	}
	return st.db.Close()
}

// load reads all pools, rules and the provisioning time (0 if unset).
func (st *store) load() (pools []*pool, rules []failRule, provision time.Duration, err error) {
	if st == nil {
		return nil, nil, 0, nil
	}
	err = st.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketPools).ForEach(func(_, v []byte) error {
			p := &pool{}
			if err := json.Unmarshal(v, p); err != nil {
				return err
			}
			pools = append(pools, p)
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRules).ForEach(func(_, v []byte) error {
			var r failRule
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			rules = append(rules, r)
			return nil
		}); err != nil {
			return err
		}
		if v := tx.Bucket(bucketSettings).Get(keyProvision); v != nil {
			return json.Unmarshal(v, &provision)
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("enssim: load store: %w", err)
	}
	return pools, rules, provision, err
}

func (st *store) put(bucket, key []byte, v any) error {
	if st == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, b) })
}

func (st *store) delete(bucket, key []byte) error {
	if st == nil {
		return nil
	}
	return st.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete(key) })
}

// reset empties the pools and rules buckets and the settings.
func (st *store) reset() error {
	if st == nil {
		return nil
	}
	return st.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPools, bucketRules, bucketSettings} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
}
