package mnssim

// Queue handlers: CreateQueue, SetQueueAttributes, GetQueueAttributes, DeleteQueue and ListQueue.

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

func checkQueueName(name string) *apiError {
	if len(name) == 0 || len(name) > 256 {
		return errQueueNameLength
	}
	if !queueNameRE.MatchString(name) {
		return errInvalidQueueName
	}
	return nil
}

func (s *Server) queueOp(rw *responder, req *request, name string) {
	if e := checkQueueName(name); e != nil {
		rw.error(e)
		return
	}
	switch req.r.Method {
	case http.MethodPut:
		if v, _ := req.param("metaoverride"); strings.EqualFold(v, "true") {
			s.setQueue(rw, req, name)
		} else {
			s.createQueue(rw, req, name)
		}
	case http.MethodGet:
		s.getQueue(rw, req, name)
	case http.MethodDelete:
		s.deleteQueue(rw, name)
	default:
		rw.error(errMethod)
	}
}

// applyQueueXML sets every element present in x on a, validating ranges (MNS SetQueueAttributes limits, http://mns.aliyuncs.com/doc/v1/).
func applyQueueXML(a *queueAttrs, x *queueReqXML, self string) *apiError {
	fields := []struct {
		v        *string
		dst      *int64
		name     string
		min, max int64
	}{
		{x.DelaySeconds, &a.DelaySeconds, "DelaySeconds", 0, 604800},
		{x.MaximumMessageSize, &a.MaximumMessageSize, "MaximumMessageSize", 1024, 65536},
		{x.MessageRetentionPeriod, &a.RetentionPeriod, "MessageRetentionPeriod", 60, 1296000},
		{x.VisibilityTimeout, &a.VisibilityTimeout, "VisibilityTimeout", 1, 43200},
		{x.PollingWaitSeconds, &a.PollingWaitSeconds, "PollingWaitSeconds", 0, 30},
	}
	for _, f := range fields {
		if f.v == nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(*f.v), 10, 64)
		if err != nil || n < f.min || n > f.max {
			return invalidArg(fmt.Sprintf("The value of %s should between %d and %d.", f.name, f.min, f.max))
		}
		*f.dst = n
	}
	if x.LoggingEnabled != nil {
		b, ok := parseBool(*x.LoggingEnabled)
		if !ok {
			return invalidArg("The value of LoggingEnabled should be True or False.")
		}
		a.LoggingEnabled = b
	}
	if p := x.DlqPolicy; p != nil {
		on, ok := parseBool(p.Enabled)
		if !ok {
			return invalidArg("The value of DlqPolicy.Enabled should be True or False.")
		}
		if !on {
			a.DeadLetter = nil
			return nil
		}
		if checkQueueName(p.DeadLetterTargetQueue) != nil || p.DeadLetterTargetQueue == self {
			return invalidArg("DlqPolicy.DeadLetterTargetQueue must name another queue.")
		}
		if p.MaxReceiveCount < 1 || p.MaxReceiveCount > 1000 {
			return invalidArg("The value of DlqPolicy.MaxReceiveCount should between 1 and 1000.")
		}
		a.DeadLetter = &DeadLetterPolicy{Enabled: true, TargetQueue: p.DeadLetterTargetQueue, MaxReceiveCount: p.MaxReceiveCount}
	}
	return nil
}

func (s *Server) createQueue(rw *responder, req *request, name string) {
	x, err := decodeQueue(req.body)
	if err != nil {
		rw.error(asAPI(err))
		return
	}
	attrs := defaultAttrs()
	if e := applyQueueXML(&attrs, x, name); e != nil {
		rw.error(e)
		return
	}
	s.mu.Lock()
	if q := s.qs[name]; q != nil {
		q.mu.Lock()
		same := q.meta.Attrs.equal(attrs)
		q.mu.Unlock()
		s.mu.Unlock()
		if same {
			rw.empty(http.StatusNoContent)
		} else {
			rw.error(errQueueExists)
		}
		return
	}
	now := s.nowMs()
	meta := queueMeta{Name: name, Gen: rand.Uint64() >> 1, Created: now, Modified: now, Attrs: attrs}
	s.qs[name] = newQueue(meta)
	p, err := s.st.submit(putQueueOp(meta))
	s.mu.Unlock()
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	rw.w.Header().Set("Location", queueURL(req, name))
	rw.empty(http.StatusCreated)
}

func (s *Server) setQueue(rw *responder, req *request, name string) {
	x, err := decodeQueue(req.body)
	if err != nil {
		rw.error(asAPI(err))
		return
	}
	q, unlock, e := s.lockQueue(name)
	if e != nil {
		rw.error(e)
		return
	}
	attrs := q.meta.Attrs
	if e := applyQueueXML(&attrs, x, name); e != nil {
		unlock()
		rw.error(e)
		return
	}
	q.meta.Attrs = attrs
	q.meta.Modified = s.nowMs()
	p, err := s.st.submit(putQueueOp(q.meta))
	q.wake()
	unlock()
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	rw.empty(http.StatusNoContent)
}

func queueURL(req *request, name string) string {
	scheme := "http"
	if req.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.r.Host + req.prefix + "/queues/" + name
}

// attrsXML reports q's attributes and message counts; it also drops expired messages.
func (s *Server) attrsXML(q *queue) (queueAttrsXML, []op) {
	now := s.nowMs()
	a := q.meta.Attrs
	x := queueAttrsXML{
		QueueName: q.meta.Name, CreateTime: q.meta.Created / 1000, LastModifyTime: q.meta.Modified / 1000,
		DelaySeconds: a.DelaySeconds, MaximumMessageSize: a.MaximumMessageSize, MessageRetentionPeriod: a.RetentionPeriod,
		VisibilityTimeout: a.VisibilityTimeout, PollingWaitSeconds: a.PollingWaitSeconds, LoggingEnabled: boolString(a.LoggingEnabled),
	}
	if p := a.DeadLetter; p != nil {
		x.DlqPolicy = &dlqPolicyXML{Enabled: "true", DeadLetterTargetQueue: p.TargetQueue, MaxReceiveCount: p.MaxReceiveCount}
	}
	var ops []op
	for _, m := range q.msgs {
		switch {
		case q.expired(m, now):
			q.remove(m)
			ops = append(ops, delMsgOp(q.meta.Name, m.Seq))
		case m.Visible <= now:
			x.ActiveMessages++
		case m.DequeueCount > 0:
			x.InactiveMessages++
		default:
			x.DelayMessages++
		}
	}
	return x, ops
}

func (s *Server) getQueue(rw *responder, req *request, name string) {
	q, unlock, e := s.lockQueue(name)
	if e != nil {
		rw.error(e)
		return
	}
	x, ops := s.attrsXML(q)
	p, err := s.st.submit(ops...)
	unlock()
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	x.Xmlns = xmlns
	rw.xml(http.StatusOK, x)
}

// deleteQueue drops the queue and its messages; a missing queue is a success, as MNS.
func (s *Server) deleteQueue(rw *responder, name string) {
	s.mu.Lock()
	q := s.qs[name]
	if q == nil {
		s.mu.Unlock()
		rw.empty(http.StatusNoContent)
		return
	}
	delete(s.qs, name)
	q.mu.Lock()
	q.deleted = true
	q.wake()
	p, err := s.st.submit(op{kind: opDelQueue, queue: name})
	q.mu.Unlock()
	s.mu.Unlock()
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	rw.empty(http.StatusNoContent)
}

func (s *Server) listQueues(rw *responder, req *request) {
	h := req.r.Header
	limit := 1000
	if v := h.Get("x-mns-ret-number"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 1000 {
			rw.error(invalidArg("The value of x-mns-ret-number should between 1 and 1000."))
			return
		}
		limit = n
	}
	prefix, marker := h.Get("x-mns-prefix"), h.Get("x-mns-marker")
	withMeta := strings.EqualFold(h.Get("x-mns-with-meta"), "true")
	s.mu.RLock()
	var names []string
	for _, n := range sortedNames(s.qs) {
		if strings.HasPrefix(n, prefix) && n >= marker {
			names = append(names, n)
		}
	}
	next := ""
	if len(names) > limit {
		next = names[limit]
		names = names[:limit]
	}
	var details []queueAttrsXML
	var urls []queueURLXML
	for _, n := range names {
		if withMeta {
			q := s.qs[n]
			q.mu.Lock()
			x, _ := s.attrsXML(q) // expired messages it drops are deleted on disk by the next write
			q.mu.Unlock()
			x.QueueURL = queueURL(req, n)
			details = append(details, x)
		} else {
			urls = append(urls, queueURLXML{QueueURL: queueURL(req, n)})
		}
	}
	s.mu.RUnlock()
	if withMeta {
		rw.xml(http.StatusOK, queueDetailsXML{Xmlns: xmlns, Queues: details, NextMarker: next})
		return
	}
	rw.xml(http.StatusOK, queuesXML{Xmlns: xmlns, Queues: urls, NextMarker: next})
}
