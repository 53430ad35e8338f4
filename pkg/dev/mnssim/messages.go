package mnssim

import (
	"container/heap"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (s *Server) messageOp(rw *responder, req *request, name string) {
	if e := checkQueueName(name); e != nil {
		rw.error(e)
		return
	}
	switch req.r.Method {
	case http.MethodPost:
		if e := s.sendFault(name); e != nil {
			rw.error(e)
			return
		}
		s.send(rw, req, name)
	case http.MethodGet:
		s.receive(rw, req, name)
	case http.MethodDelete:
		if h, ok := req.param("ReceiptHandle"); ok || len(strings.TrimSpace(string(req.body))) == 0 {
			s.deleteOne(rw, name, h)
		} else {
			s.deleteBatch(rw, req, name)
		}
	case http.MethodPut:
		s.changeVisibility(rw, req, name)
	default:
		rw.error(errMethod)
	}
}

// lockQueue locks the live queue name, with the server read-locked so
// that no queue is deleted meanwhile. unlock releases the queue, runs then
// (still under the server's read lock, so another queue may be locked
// safely), and releases the server; call it exactly once. On
// QueueNotExist nothing stays locked.
func (s *Server) lockQueue(name string) (q *queue, unlock func(then ...func()), e *apiError) {
	s.mu.RLock()
	q = s.qs[name]
	if q == nil {
		s.mu.RUnlock()
		return nil, nil, errQueueNotExist
	}
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		s.mu.RUnlock()
		return nil, nil, errQueueNotExist
	}
	return q, func(then ...func()) {
		q.mu.Unlock()
		for _, f := range then {
			f()
		}
		s.mu.RUnlock()
	}, nil
}

// newMessage validates one <Message> against the queue's attributes.
func newMessage(a queueAttrs, x sendReqXML) (*message, *apiError) {
	if x.MessageBody == nil {
		return nil, invalidArg("MessageBody is required.")
	}
	if int64(len(*x.MessageBody)) > a.MaximumMessageSize {
		return nil, invalidArg("The length of MessageBody should be less than " + strconv.FormatInt(a.MaximumMessageSize, 10) + " bytes.")
	}
	m := &message{Body: *x.MessageBody, Priority: 8}
	delay := a.DelaySeconds
	if x.DelaySeconds != nil && strings.TrimSpace(*x.DelaySeconds) != "" {
		d, err := strconv.ParseInt(strings.TrimSpace(*x.DelaySeconds), 10, 64)
		if err != nil || d < 0 || d > 604800 {
			return nil, invalidArg("The value of DelaySeconds should between 0 and 604800 seconds.")
		}
		if d > 0 { // 0 (always sent by the Go SDK) means the queue's DelaySeconds
			delay = d
		}
	}
	if x.Priority != nil && strings.TrimSpace(*x.Priority) != "" {
		p, err := strconv.ParseInt(strings.TrimSpace(*x.Priority), 10, 64)
		if err != nil || p < 0 || p > 16 {
			return nil, invalidArg("The value of Priority should between 1 and 16.")
		}
		if p > 0 { // 0 (the Go SDK's zero value) means the default, 8
			m.Priority = p
		}
	}
	m.Visible = delay * 1000 // relative until enqueued
	return m, nil
}

func (s *Server) send(rw *responder, req *request, name string) {
	xs, batch, err := decodeSend(req.body)
	if err != nil {
		rw.error(asAPI(err))
		return
	}
	q, unlock, e := s.lockQueue(name)
	if e != nil {
		rw.error(e)
		return
	}
	now := s.nowMs()
	msgs := make([]*message, len(xs))
	errs := make([]*apiError, len(xs))
	failed, total := false, 0
	for i, x := range xs {
		msgs[i], errs[i] = newMessage(q.meta.Attrs, x)
		if errs[i] != nil {
			failed = true
		} else {
			total += len(msgs[i].Body)
		}
	}
	if batch && !failed && total > 65536 {
		unlock()
		rw.error(invalidArg("The total size of messages in a batch should be less than 65536 bytes."))
		return
	}
	ops := make([]op, 0, len(xs))
	for _, m := range msgs {
		if m == nil {
			continue
		}
		m.Seq = s.st.nextSeq()
		m.MD5 = bodyMD5(m.Body)
		m.Enqueue = now
		m.Visible += now
		q.add(m)
		ops = append(ops, putMsgOp(name, m))
	}
	if len(ops) > 0 {
		q.wake()
	}
	p, err := s.st.submit(ops...)
	results := make([]sendResultXML, len(xs))
	for i, m := range msgs {
		if errs[i] != nil {
			results[i] = sendResultXML{ErrorCode: errs[i].Code, ErrorMessage: errs[i].Message}
		} else {
			results[i] = sendResultXML{MessageID: q.messageID(m.Seq), MessageBodyMD5: m.MD5}
		}
	}
	unlock()
	err = settled(p, err)
	switch {
	case err != nil:
		s.internal(rw, err)
	case !batch && errs[0] != nil:
		rw.error(errs[0])
	case !batch:
		results[0].Xmlns = xmlns
		rw.xml(http.StatusCreated, results[0])
	case failed:
		rw.xml(http.StatusInternalServerError, sendResultsXML{Xmlns: xmlns, Messages: results})
	default:
		rw.xml(http.StatusCreated, sendResultsXML{Xmlns: xmlns, Messages: results})
	}
}

// view renders m for a receive (withReceipt) or a peek.
func (q *queue) view(m *message, withReceipt bool) messageXML {
	x := messageXML{
		MessageID: q.messageID(m.Seq), MessageBodyMD5: m.MD5, MessageBody: m.Body, EnqueueTime: m.Enqueue,
		FirstDequeueTime: m.FirstDequeue, DequeueCount: m.DequeueCount, Priority: m.Priority,
	}
	if withReceipt {
		x.ReceiptHandle = q.receipt(m)
		x.NextVisibleTime = m.Visible
	}
	if x.FirstDequeueTime == 0 {
		x.FirstDequeueTime = m.Enqueue
	}
	return x
}

type takeResult struct {
	msgs     []messageXML
	next     int64 // earliest future visibility in the queue, 0 if none
	notify   <-chan struct{}
	pollWait int64
}

// take receives (or peeks) up to n visible messages, moving over-received ones to the
// dead-letter queue, and commits the change before returning.
func (s *Server) take(name string, n int, peek bool) (takeResult, *apiError, error) {
	q, unlock, e := s.lockQueue(name)
	if e != nil {
		return takeResult{}, e, nil
	}
	now := s.nowMs()
	res := takeResult{pollWait: q.meta.Attrs.PollingWaitSeconds}
	if peek {
		var vis []*message
		for _, m := range q.msgs {
			if m.Visible <= now && !q.expired(m, now) {
				vis = append(vis, m)
			}
		}
		sort.Slice(vis, func(i, j int) bool {
			if vis[i].Priority != vis[j].Priority {
				return vis[i].Priority < vis[j].Priority
			}
			return vis[i].Seq < vis[j].Seq
		})
		for _, m := range vis[:min(n, len(vis))] {
			res.msgs = append(res.msgs, q.view(m, false))
		}
		unlock()
		return res, nil, nil
	}
	var dst *queue
	pol := q.meta.Attrs.DeadLetter
	if pol != nil {
		if d := s.qs[pol.TargetQueue]; d != nil && d != q {
			dst = d
		}
	}
	var ops []op
	var moved []*message
	vt := q.meta.Attrs.VisibilityTimeout * 1000
	for len(res.msgs) < n && q.ready.Len() > 0 {
		m := q.ready[0]
		if m.Visible > now {
			break
		}
		if q.expired(m, now) {
			q.remove(m)
			ops = append(ops, delMsgOp(name, m.Seq))
			continue
		}
		if dst != nil && m.DequeueCount >= pol.MaxReceiveCount {
			q.remove(m)
			nm := &message{Seq: s.st.nextSeq(), Body: m.Body, MD5: m.MD5, Priority: m.Priority, Enqueue: m.Enqueue, Visible: now}
			ops = append(ops, delMsgOp(name, m.Seq), putMsgOp(dst.meta.Name, nm))
			moved = append(moved, nm)
			continue
		}
		m.DequeueCount++
		if m.FirstDequeue == 0 {
			m.FirstDequeue = now
		}
		m.Visible = now + vt
		m.Receipt = newToken()
		heap.Fix(&q.ready, 0)
		ops = append(ops, putMsgOp(name, m))
		res.msgs = append(res.msgs, q.view(m, true))
	}
	if len(res.msgs) == 0 {
		res.notify = q.notify
		if q.ready.Len() > 0 {
			res.next = q.ready[0].Visible
		}
	}
	p, err := s.st.submit(ops...)
	unlock(func() {
		if len(moved) == 0 {
			return
		}
		dst.mu.Lock()
		for _, m := range moved {
			dst.add(m)
		}
		dst.wake()
		dst.mu.Unlock()
		s.cfg.Logger.Info("mnssim: dead-lettered messages", "queue", name, "target", dst.meta.Name, "count", len(moved))
	})
	err = settled(p, err)
	return res, nil, err
}

func (s *Server) receive(rw *responder, req *request, name string) {
	peek := false
	if v, ok := req.param("peekonly"); ok {
		peek = strings.EqualFold(v, "true")
	}
	n, batch := 1, false
	if v, ok := req.param("numOfMessages"); ok {
		batch = true
		var err error
		if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 1 || n > 16 {
			rw.error(invalidArg("The value of numOfMessages should between 1 and 16."))
			return
		}
	}
	wait := int64(-1)
	if v, ok := req.param("waitseconds"); ok && !peek {
		w, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || w < 0 || w > 30 {
			rw.error(invalidArg("The value of waitseconds should between 0 and 30."))
			return
		}
		wait = w
	}
	var deadline time.Time
	for first := true; ; first = false {
		res, e, err := s.take(name, n, peek)
		switch {
		case err != nil:
			s.internal(rw, err)
			return
		case e != nil:
			rw.error(e)
			return
		case len(res.msgs) > 0:
			s.writeMessages(rw, res.msgs, batch)
			return
		case peek:
			rw.error(errMessageNotExist)
			return
		}
		if first {
			if wait < 0 {
				wait = res.pollWait
			}
			deadline = time.Now().Add(time.Duration(wait) * time.Second)
		}
		d := time.Until(deadline)
		if d <= 0 {
			rw.error(errMessageNotExist)
			return
		}
		if res.next > 0 {
			if dv := time.Duration(res.next-s.nowMs()) * time.Millisecond; dv < d {
				d = max(dv, time.Millisecond)
			}
		}
		t := time.NewTimer(d)
		select {
		case <-res.notify:
		case <-t.C:
		case <-req.r.Context().Done():
			t.Stop()
			rw.error(errMessageNotExist)
			return
		case <-s.stop:
			t.Stop()
			rw.error(errMessageNotExist)
			return
		}
		t.Stop()
	}
}

func (s *Server) writeMessages(rw *responder, msgs []messageXML, batch bool) {
	if !batch {
		msgs[0].Xmlns = xmlns
		rw.xml(http.StatusOK, msgs[0])
		return
	}
	rw.xml(http.StatusOK, messagesXML{Xmlns: xmlns, Messages: msgs})
}

func (s *Server) deleteOne(rw *responder, name, handle string) {
	if handle == "" {
		rw.error(errMissingReceipt)
		return
	}
	q, unlock, e := s.lockQueue(name)
	if e != nil {
		rw.error(e)
		return
	}
	m, e := q.lookup(handle, s.nowMs())
	var p pending
	var err error
	if e == nil {
		q.remove(m)
		p, err = s.st.submit(delMsgOp(name, m.Seq))
	}
	unlock()
	if e != nil {
		rw.error(e)
		return
	}
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	rw.empty(http.StatusNoContent)
}

func (s *Server) deleteBatch(rw *responder, req *request, name string) {
	handles, err := decodeReceipts(req.body)
	if err != nil {
		rw.error(asAPI(err))
		return
	}
	q, unlock, e := s.lockQueue(name)
	if e != nil {
		rw.error(e)
		return
	}
	now := s.nowMs()
	var ops []op
	var failed []deleteErrorXML
	for _, h := range handles {
		m, e := q.lookup(h, now)
		if e != nil {
			failed = append(failed, deleteErrorXML{ErrorCode: e.Code, ErrorMessage: e.Message, ReceiptHandle: h})
			continue
		}
		q.remove(m)
		ops = append(ops, delMsgOp(name, m.Seq))
	}
	p, err := s.st.submit(ops...)
	unlock()
	err = settled(p, err)
	switch {
	case err != nil:
		s.internal(rw, err)
	case len(failed) > 0:
		rw.xml(http.StatusNotFound, deleteErrorsXML{Xmlns: xmlns, Errors: failed})
	default:
		rw.empty(http.StatusNoContent)
	}
}

func (s *Server) changeVisibility(rw *responder, req *request, name string) {
	handle, ok := req.param("ReceiptHandle")
	if !ok || handle == "" {
		rw.error(errMissingReceipt)
		return
	}
	v, ok := req.param("VisibilityTimeout")
	if !ok {
		rw.error(errMissingVisibility)
		return
	}
	vt, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || vt < 1 || vt > 43200 {
		rw.error(invalidArg("The value of VisibilityTimeout should between 1 and 43200 seconds."))
		return
	}
	q, unlock, e := s.lockQueue(name)
	if e != nil {
		rw.error(e)
		return
	}
	now := s.nowMs()
	m, e := q.lookup(handle, now)
	var out changeVisibilityXML
	var p pending
	if e == nil {
		m.Visible = now + vt*1000
		m.Receipt = newToken()
		heap.Fix(&q.ready, m.index)
		q.wake()
		p, err = s.st.submit(putMsgOp(name, m))
		out = changeVisibilityXML{Xmlns: xmlns, ReceiptHandle: q.receipt(m), NextVisibleTime: m.Visible}
	}
	unlock()
	if e != nil {
		rw.error(e)
		return
	}
	err = settled(p, err)
	if err != nil {
		s.internal(rw, err)
		return
	}
	rw.xml(http.StatusOK, out)
}
