package otssim

import (
	"cmp"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// APIVersion is the x-ots-apiversion every request carries.
const APIVersion = "2015-12-31"

// Config configures a Server. The AccessKey pair is required.
type Config struct {
	// AccessKeyID and AccessKeySecret are the only key pair whose
	// signatures are accepted.
	AccessKeyID, AccessKeySecret string
	// SecurityToken, if set, is the only STS token accepted in
	// x-ots-ststoken (requests without the header are accepted too);
	// empty accepts any token.
	SecurityToken string
	// Dir is the data directory; "" keeps the data in a temporary
	// directory removed by Close.
	Dir string
	// Fsync makes every commit fsync the database (power-loss
	// durability). Without it a committed write survives a crash or
	// SIGKILL of the process, not of the machine.
	Fsync bool
	// MaxClockSkew is how far x-ots-date may be from Now; default 15
	// minutes.
	MaxClockSkew time.Duration
	// MaxRequestBytes bounds a request body; default 5 MiB.
	MaxRequestBytes int64
	// DefaultDeviation is a new table's deviation_cell_version_in_sec
	// when CreateTable does not set it; default 86400 (one day).
	DefaultDeviation int64
	// Now is the clock (versions, TTL, x-ots-date, faults); default
	// time.Now.
	Now func() time.Time
	// Logger receives request logs; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.MaxClockSkew = cmp.Or(c.MaxClockSkew, 15*time.Minute)
	c.MaxRequestBytes = cmp.Or(c.MaxRequestBytes, 5<<20)
	c.DefaultDeviation = cmp.Or(c.DefaultDeviation, 86400)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return errors.New("otssim: Config.AccessKeyID and Config.AccessKeySecret are required")
	}
	if c.MaxClockSkew < 0 || c.MaxRequestBytes < 0 || c.DefaultDeviation < 0 {
		return errors.New("otssim: Config.MaxClockSkew, MaxRequestBytes and DefaultDeviation must not be negative")
	}
	return nil
}

// Server is the Tablestore-compatible service. It implements http.Handler
// and is safe for concurrent use. Close it to release the store.
type Server struct {
	cfg Config
	st  *store

	// mu orders table operations (held exclusively) against row
	// operations (held shared), so a row operation sees one table
	// description for its whole transaction.
	mu     sync.RWMutex
	tables map[string]*tableMeta // by tableKey

	faults faultSet
	stats  counters
	closed chan struct{}
	once   sync.Once
}

// New opens (or creates) the store under cfg.Dir and returns a ready
// Server.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, tables, err := openStore(cfg.Dir, cfg.Fsync)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, st: st, tables: map[string]*tableMeta{}, closed: make(chan struct{})}
	for _, m := range tables {
		s.tables[string(m.key())] = m
	}
	s.stats.init()
	cfg.Logger.Info("otssim: opened", slog.String("dir", cfg.Dir), slog.Int("tables", len(tables)))
	return s, nil
}

// Close ends injected faults (a refused listener comes back when its
// fault's time is up) and closes the store; requests after Close
// fail with OTSInternalServerError. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		s.faults.mu.Lock()
		s.faults.active = nil
		s.faults.mu.Unlock()
		s.mu.Lock()
		defer s.mu.Unlock()
		err = s.st.close()
	})
	return err
}

// call is one API request after authentication.
type call struct {
	op       string
	instance string // lower case
	body     []byte
	now      time.Time
	nowMs    int64
}

// opFunc serves one operation: a response message (nil: empty body) or an
// error, which an *apiError carries to the client.
type opFunc func(s *Server, c *call) (protoadapt.MessageV1, error)

var ops = map[string]opFunc{
	"CreateTable":   (*Server).createTable,
	"ListTable":     (*Server).listTable,
	"DescribeTable": (*Server).describeTable,
	"UpdateTable":   (*Server).updateTable,
	"DeleteTable":   (*Server).deleteTable,
	"PutRow":        (*Server).putRow,
	"GetRow":        (*Server).getRow,
	"UpdateRow":     (*Server).updateRow,
	"DeleteRow":     (*Server).deleteRow,
	"BatchGetRow":   (*Server).batchGetRow,
	"BatchWriteRow": (*Server).batchWriteRow,
	"GetRange":      (*Server).getRange,
}

// ServeHTTP serves the Tablestore API: POST <any prefix>/<Operation>. The
// operation is the last path segment, as the Go SDK keeps the endpoint's
// path (and may send //Op) while the Node.js SDK drops it. Requests under
// AdminPrefix go to the admin API instead.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isAdmin(r) {
		s.serveAdmin(w, r)
		return
	}
	rw := &responder{w: w, reqID: newRequestID(), now: s.cfg.Now(), akID: s.cfg.AccessKeyID, secret: s.cfg.AccessKeySecret}
	path := strings.TrimRight(r.URL.Path, "/")
	rw.op = path[strings.LastIndexByte(path, '/')+1:]
	if r.Method != http.MethodPost {
		s.finish(r, rw, nil, newErr(CodeMethodNotAllowed, "Only POST is supported."))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.finish(r, rw, nil, newErr(CodeRequestBodyTooLarge, "The request body is larger than %d bytes.", s.cfg.MaxRequestBytes))
			return
		}
		s.finish(r, rw, nil, errParam("The request body could not be read."))
		return
	}
	f := s.faults.take(rw.op)
	if f != nil && s.applyFault(w, r, rw, f) {
		return
	}
	instance, e := s.authenticate(r, rw.op, body, rw.now)
	if e == nil && ops[rw.op] == nil {
		e = newErr(CodeUnsupportOperation, "Unsupported operation: '%s'.", rw.op)
	}
	if e != nil {
		s.finish(r, rw, nil, e)
		return
	}
	c := &call{op: rw.op, instance: instance, body: body, now: rw.now, nowMs: rw.now.UnixMilli()}
	msg, err := s.dispatch(c)
	if f != nil && f.Mode == FaultDrop && f.After {
		s.drop(w, rw) // applied, but the answer is lost
		return
	}
	s.finish(r, rw, msg, err)
}

// dispatch runs the operation unless the server is closed.
func (s *Server) dispatch(c *call) (protoadapt.MessageV1, error) {
	select {
	case <-s.closed:
		return nil, errInternal
	default:
	}
	return ops[c.op](s, c)
}

// finish writes the answer and records it.
func (s *Server) finish(r *http.Request, rw *responder, msg protoadapt.MessageV1, err error) {
	var body []byte
	if err == nil && msg != nil {
		body, err = proto.Marshal(protoadapt.MessageV2Of(msg))
	}
	e := s.asAPI(r, rw, err)
	if e != nil {
		s.stats.record(rw.op, e.code)
		s.cfg.Logger.InfoContext(r.Context(), "otssim: error", slog.String("op", rw.op), slog.String("code", e.code),
			slog.String("message", e.message), slog.String("requestId", rw.reqID))
		rw.error(e)
		return
	}
	s.stats.record(rw.op, "")
	s.cfg.Logger.DebugContext(r.Context(), "otssim: ok", slog.String("op", rw.op), slog.String("requestId", rw.reqID))
	rw.write(http.StatusOK, body)
}

// asAPI turns err into the error answer: an *apiError as is, anything else
// (the store, encoding) logged and answered OTSInternalServerError.
func (s *Server) asAPI(r *http.Request, rw *responder, err error) *apiError {
	if err == nil {
		return nil
	}
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	s.cfg.Logger.ErrorContext(r.Context(), "otssim: internal failure", slog.String("op", rw.op),
		slog.String("err", err.Error()), slog.String("requestId", rw.reqID))
	return errInternal
}

// decode parses a request body into m, enforcing proto2 required fields
// as the service does.
func decode(body []byte, m protoadapt.MessageV1) error {
	if err := proto.Unmarshal(body, protoadapt.MessageV2Of(m)); err != nil {
		return errParam("Failed to parse the request body: %v.", err)
	}
	return nil
}

// tableRequest is a request message that names one table.
type tableRequest[T any] interface {
	*T
	protoadapt.MessageV1
	GetTableName() string
}

// withTable decodes a request for one table and runs fn with the table's
// description, holding the shared lock (so no table operation
// interleaves).
func withTable[T any, PT tableRequest[T]](s *Server, c *call, fn func(req PT, m *tableMeta) (protoadapt.MessageV1, error)) (protoadapt.MessageV1, error) {
	req := PT(new(T))
	if err := decode(c.body, req); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, err := s.table(c.instance, req.GetTableName())
	if err != nil {
		return nil, err
	}
	return fn(req, m)
}

// responder writes answers with the headers Tablestore sends.
type responder struct {
	w     http.ResponseWriter
	reqID string
	op    string
	now   time.Time
	akID  string
	// secret signs the answer's headers.
	secret string
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// write answers status with body. Besides x-ots-requestid, which the SDKs
// read, it sends the headers the Python SDK checks: x-ots-contentmd5,
// x-ots-date, x-ots-contenttype and an Authorization signature over them
// (aliyun/aliyun-tablestore-python-sdk tablestore/protocol.py).
func (rw *responder) write(status int, body []byte) {
	sum := md5.Sum(body)
	hdr := map[string]string{
		"x-ots-contentmd5":  base64.StdEncoding.EncodeToString(sum[:]),
		"x-ots-contenttype": "protocol buffer",
		"x-ots-date":        rw.now.UTC().Format("2006-01-02T15:04:05.000000Z"),
		"x-ots-requestid":   rw.reqID,
	}
	names := make([]string, 0, len(hdr))
	for k, v := range hdr {
		rw.w.Header().Set(k, v)
		names = append(names, k+":"+v)
	}
	sort.Strings(names)
	mac := hmac.New(sha1.New, []byte(rw.secret))
	mac.Write([]byte(strings.Join(names, "\n") + "\n/" + rw.op))
	rw.w.Header().Set("Authorization", "OTS "+rw.akID+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	rw.w.Header().Set("Content-Type", "application/x-protobuf")
	rw.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rw.w.WriteHeader(status)
	_, _ = rw.w.Write(body)
}

// error answers e as an Error message (code, message).
func (rw *responder) error(e *apiError) {
	b, err := proto.Marshal(protoadapt.MessageV2Of(&otsprotocol.Error{Code: &e.code, Message: &e.message}))
	if err != nil { // cannot happen: the only required field is set
		b = nil
	}
	rw.write(e.status, b)
}

var _ http.Handler = (*Server)(nil)
