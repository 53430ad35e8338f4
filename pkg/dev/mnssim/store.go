package mnssim

import (
	"container/heap"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// queueAttrs are the settable attributes of a queue, in MNS units (seconds, bytes).
type queueAttrs struct {
	DelaySeconds       int64             `json:"delay"`
	MaximumMessageSize int64             `json:"maxSize"`
	RetentionPeriod    int64             `json:"retention"`
	VisibilityTimeout  int64             `json:"visibility"`
	PollingWaitSeconds int64             `json:"pollingWait"`
	LoggingEnabled     bool              `json:"logging"`
	DeadLetter         *DeadLetterPolicy `json:"dlq,omitempty"`
}

func defaultAttrs() queueAttrs {
	return queueAttrs{MaximumMessageSize: 65536, RetentionPeriod: 345600, VisibilityTimeout: 30}
}

func (a queueAttrs) equal(b queueAttrs) bool {
	da, db := a.DeadLetter, b.DeadLetter
	if (da == nil) != (db == nil) || (da != nil && *da != *db) {
		return false
	}
	a.DeadLetter, b.DeadLetter = nil, nil
	return a == b
}

// DeadLetterPolicy moves a message to another queue instead of delivering it once it has been
// received MaxReceiveCount times (MNS "DlqPolicy", https://www.alibabacloud.com/help/en/mns/). On the wire it is the
// <DlqPolicy> element of <Queue> (an extension of the XML API; unknown to the SDKs, which ignore it).
type DeadLetterPolicy struct {
	// Enabled switches the policy on.
	Enabled bool `json:"enabled"`
	// TargetQueue is the dead-letter queue; it must exist when a message is moved.
	TargetQueue string `json:"target"`
	// MaxReceiveCount is how many receives a message gets before the next one moves it (≥ 1).
	MaxReceiveCount int64 `json:"max"`
}

// queueMeta is the persisted description of a queue.
type queueMeta struct {
	Name     string     `json:"name"`
	Gen      uint64     `json:"gen"` // incarnation; part of every message id
	Created  int64      `json:"created"`
	Modified int64      `json:"modified"`
	Attrs    queueAttrs `json:"attrs"`
}

// message is one stored message. Times are Unix milliseconds.
type message struct {
	Seq          uint64 `json:"s"`
	Body         string `json:"b"`
	MD5          string `json:"m"`
	Priority     int64  `json:"p"`
	Enqueue      int64  `json:"e"`
	FirstDequeue int64  `json:"f,omitempty"`
	DequeueCount int64  `json:"c,omitempty"`
	Visible      int64  `json:"v"`           // next visible time (enqueue+delay, or receive+visibility)
	Receipt      uint64 `json:"r,omitempty"` // current receipt token; 0 = none

	index int // heap position
}

// queue is the in-memory state of one queue; mu guards everything below it.
type queue struct {
	mu      sync.Mutex
	meta    queueMeta
	msgs    map[uint64]*message
	ready   msgHeap       // all messages ordered by (Visible, Priority, Seq)
	notify  chan struct{} // closed (and replaced) whenever a message is added or made visible
	deleted bool
}

func newQueue(meta queueMeta) *queue {
	return &queue{meta: meta, msgs: map[uint64]*message{}, notify: make(chan struct{})}
}

func (q *queue) add(m *message) {
	q.msgs[m.Seq] = m
	heap.Push(&q.ready, m)
}

func (q *queue) remove(m *message) {
	delete(q.msgs, m.Seq)
	heap.Remove(&q.ready, m.index)
}

// wake wakes every long poll waiting on q. Callers hold q.mu.
func (q *queue) wake() {
	close(q.notify)
	q.notify = make(chan struct{})
}

func (q *queue) expired(m *message, now int64) bool {
	return now >= m.Enqueue+q.meta.Attrs.RetentionPeriod*1000
}

func (q *queue) messageID(seq uint64) string {
	return fmt.Sprintf("%016X%016X", q.meta.Gen, seq)
}

func (q *queue) receipt(m *message) string {
	return fmt.Sprintf("%016X%016X-%016X", q.meta.Gen, m.Seq, m.Receipt)
}

// parseReceipt splits a receipt handle "<gen:16hex><seq:16hex>-<token:16hex>".
func parseReceipt(h string) (gen, seq, token uint64, ok bool) {
	if len(h) != 49 || h[32] != '-' {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	gen, err1 = strconv.ParseUint(h[:16], 16, 64)
	seq, err2 = strconv.ParseUint(h[16:32], 16, 64)
	token, err3 = strconv.ParseUint(h[33:], 16, 64)
	return gen, seq, token, err1 == nil && err2 == nil && err3 == nil && token != 0
}

// lookup finds the message a receipt handle names, if the handle is still current.
func (q *queue) lookup(h string, now int64) (*message, *apiError) {
	gen, seq, token, ok := parseReceipt(h)
	if !ok {
		return nil, errReceiptHandle
	}
	m := q.msgs[seq]
	if gen != q.meta.Gen || m == nil || m.Receipt != token || m.Visible <= now || q.expired(m, now) {
		return nil, errMessageNotExist
	}
	return m, nil
}

func newToken() uint64 {
	for {
		if t := rand.Uint64(); t != 0 {
			return t
		}
	}
}

// msgHeap orders messages by visibility, then priority (1 = highest), then arrival.
type msgHeap []*message

func (h msgHeap) Len() int { return len(h) }
func (h msgHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.Visible != b.Visible {
		return a.Visible < b.Visible
	}
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	return a.Seq < b.Seq
}
func (h msgHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *msgHeap) Push(x any) {
	m := x.(*message)
	m.index = len(*h)
	*h = append(*h, m)
}
func (h *msgHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	m.index = -1
	return m
}

// ---- persistence ----

var (
	bucketQueues = []byte("queues")
	bucketMsgs   = []byte("messages")
	bucketMeta   = []byte("meta")
	keySeq       = []byte("seq")
)

type opKind uint8

const (
	opPutQueue opKind = iota + 1
	opDelQueue
	opPutMsg
	opDelMsg
)

// op is one change to the store, encoded while the queue lock is held so that the writer applies
// changes in exactly the order they were made in memory.
type op struct {
	kind  opKind
	queue string
	seq   uint64
	val   []byte
}

func putMsgOp(queue string, m *message) op {
	b, _ := json.Marshal(m) // cannot fail: plain struct
	return op{kind: opPutMsg, queue: queue, seq: m.Seq, val: b}
}

func delMsgOp(queue string, seq uint64) op { return op{kind: opDelMsg, queue: queue, seq: seq} }

func putQueueOp(meta queueMeta) op {
	b, _ := json.Marshal(meta)
	return op{kind: opPutQueue, queue: meta.Name, val: b}
}

type writeReq struct {
	ops  []op
	done chan error
}

// pending is a submitted write; wait blocks until it is committed. A nil pending is a no-op.
type pending struct{ r *writeReq }

// settled waits for a write that submit accepted; err is submit's own
// error, returned as it is.
func settled(p pending, err error) error {
	if err != nil {
		return err
	}
	return p.wait()
}

func (p pending) wait() error {
	if p.r == nil {
		return nil
	}
	return <-p.r.done
}

// store persists queue state to bbolt with group commit: one writer goroutine applies every
// queued change in one transaction, so concurrent requests share a commit.
type store struct {
	db      *bolt.DB // nil in in-memory mode
	ch      chan *writeReq
	done    chan struct{}
	mu      sync.RWMutex // guards closed against submit
	closed  bool
	lastSeq atomic.Uint64
}

func openStore(dir string, fsync bool) (*store, map[string]*queue, error) {
	st := &store{}
	queues := map[string]*queue{}
	if dir == "" {
		return st, queues, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("mnssim: data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "mns.db"), 0o600, &bolt.Options{Timeout: 2e9, NoSync: !fsync, NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: 256 << 20})
	if err != nil {
		return nil, nil, fmt.Errorf("mnssim: open store: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketQueues, bucketMsgs, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if v := tx.Bucket(bucketMeta).Get(keySeq); len(v) == 8 {
			st.lastSeq.Store(binary.BigEndian.Uint64(v))
		}
		msgs := tx.Bucket(bucketMsgs)
		return tx.Bucket(bucketQueues).ForEach(func(k, v []byte) error {
			var meta queueMeta
			if err := json.Unmarshal(v, &meta); err != nil {
				return fmt.Errorf("queue %q: %w", k, err)
			}
			q := newQueue(meta)
			queues[meta.Name] = q
			b := msgs.Bucket(k)
			if b == nil {
				return nil
			}
			return b.ForEach(func(_, v []byte) error {
				m := &message{}
				if err := json.Unmarshal(v, m); err != nil {
					return fmt.Errorf("queue %q message: %w", k, err)
				}
				q.add(m)
				if m.Seq > st.lastSeq.Load() {
					st.lastSeq.Store(m.Seq)
				}
				return nil
			})
		})
	})
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("mnssim: load store: %w", err)
	}
	st.db = db
	st.ch = make(chan *writeReq, 1024)
	st.done = make(chan struct{})
	go st.writer()
	return st, queues, nil
}

func (st *store) nextSeq() uint64 { return st.lastSeq.Add(1) }

// submit queues ops for the writer. Call it while holding the lock that ordered the in-memory
// change; wait for the result after releasing it.
func (st *store) submit(ops ...op) (pending, error) {
	if st.db == nil || len(ops) == 0 {
		return pending{}, nil
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.closed {
		return pending{}, errors.New("mnssim: store closed")
	}
	r := &writeReq{ops: ops, done: make(chan error, 1)}
	st.ch <- r
	return pending{r}, nil
}

func (st *store) writer() {
	defer close(st.done)
	batch := make([]*writeReq, 0, 256)
	for r := range st.ch {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-st.ch:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := st.db.Update(func(tx *bolt.Tx) error {
			queues, msgs := tx.Bucket(bucketQueues), tx.Bucket(bucketMsgs)
			var key [8]byte
			for _, r := range batch {
				for _, o := range r.ops {
					if err := apply(queues, msgs, o, key[:]); err != nil {
						return err
					}
				}
			}
			binary.BigEndian.PutUint64(key[:], st.lastSeq.Load())
			return tx.Bucket(bucketMeta).Put(keySeq, key[:])
		})
		for _, r := range batch {
			r.done <- err
		}
	}
}

func apply(queues, msgs *bolt.Bucket, o op, key []byte) error {
	name := []byte(o.queue)
	switch o.kind {
	case opPutQueue:
		return queues.Put(name, o.val)
	case opDelQueue:
		if err := queues.Delete(name); err != nil {
			return err
		}
		if msgs.Bucket(name) != nil {
			return msgs.DeleteBucket(name)
		}
		return nil
	case opPutMsg:
		b, err := msgs.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		binary.BigEndian.PutUint64(key, o.seq)
		return b.Put(key, o.val)
	case opDelMsg:
		b := msgs.Bucket(name)
		if b == nil {
			return nil
		}
		binary.BigEndian.PutUint64(key, o.seq)
		return b.Delete(key)
	}
	return fmt.Errorf("unknown op %d", o.kind)
}

func (st *store) close() error {
	if st.db == nil {
		return nil
	}
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	close(st.ch)
	st.mu.Unlock()
	<-st.done
	return st.db.Close()
}

// sortedNames returns the queue names in ascending order.
func sortedNames(m map[string]*queue) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
