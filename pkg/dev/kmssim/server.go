// Package kmssim is a local KMS Secrets Manager for development and tests:
// it serves the GetSecretValue action of the KMS OpenAPI (version
// 2016-01-20, RPC style) well enough for the official Go SDK
// (github.com/alibabacloud-go/kms-20160120/v3), with the same signature
// checks as the real gateway (pkg/dev/popauth: ACS3-HMAC-SHA256 and V1
// HMAC-SHA1).
//
// Secrets live in memory. PutSecret (or POST /_emulator/secrets with
// {"SecretName","SecretData"}) adds a version that becomes ACSCurrent, as a
// rotation does; GetSecretValue returns the ACSCurrent version. Names (or
// GET /_emulator/secrets) lists the secrets by name and version, never a
// value. API
// reference: https://www.alibabacloud.com/help/en/kms/key-management-service/developer-reference/api-kms-2016-01-20-getsecretvalue
package kmssim

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ensnodepool/webhook/pkg/dev/popauth"
)

// APIVersion is the KMS OpenAPI version served.
const APIVersion = "2016-01-20"

const maxBody = 1 << 20

// Config configures a Server.
type Config struct {
	// AccessKeyID and AccessKeySecret are the only key pair accepted.
	// Required.
	AccessKeyID, AccessKeySecret string
	// Secrets seeds secret name → value (one version each).
	Secrets map[string]string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives refused calls; nil discards.
	Logger *slog.Logger
}

type version struct {
	id      string
	data    string
	created time.Time
}

// Server is the simulator; it is an http.Handler.
type Server struct {
	cfg Config

	mu      sync.Mutex
	secrets map[string][]version // newest last = ACSCurrent
	calls   int64
}

// New returns a Server holding cfg.Secrets.
func New(cfg Config) (*Server, error) {
	if cfg.AccessKeyID == "" || cfg.AccessKeySecret == "" {
		return nil, errors.New("kmssim: AccessKeyID and AccessKeySecret are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, secrets: map[string][]version{}}
	for n, v := range cfg.Secrets {
		s.PutSecret(n, v)
	}
	return s, nil
}

// PutSecret stores value as the new ACSCurrent version of name (creating
// the secret if needed) and returns the version id.
func (s *Server) PutSecret(name, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("v%d", len(s.secrets[name])+1)
	s.secrets[name] = append(s.secrets[name], version{id: id, data: value, created: s.cfg.Now()})
	return id
}

// SecretInfo describes one stored secret without its value.
type SecretInfo struct {
	// SecretName is the secret's name.
	SecretName string
	// VersionIds are its versions, oldest first; the last is ACSCurrent.
	VersionIds []string
}

// Names lists the stored secrets, sorted by name, with their versions and
// never their values.
func (s *Server) Names() []SecretInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SecretInfo, 0, len(s.secrets))
	for _, name := range slices.Sorted(maps.Keys(s.secrets)) {
		info := SecretInfo{SecretName: name}
		for _, v := range s.secrets[name] {
			info.VersionIds = append(info.VersionIds, v.id)
		}
		out = append(out, info)
	}
	return out
}

// Calls is the number of GetSecretValue calls answered (successfully or
// not) since the start.
func (s *Server) Calls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// apiError is an answer in the common error shape.
type apiError struct {
	status        int
	code, message string
}

type errorBody struct {
	RequestId string `json:"RequestId"`
	HostId    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

// ServeHTTP serves the API at / and the admin API under /_emulator/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_emulator/secrets" {
		s.admin(w, r)
		return
	}
	rid := newRequestID()
	w.Header().Set("x-acs-request-id", rid)
	body, e := s.serve(r, rid)
	if e != nil {
		s.cfg.Logger.InfoContext(r.Context(), "kmssim: refused", slog.String("code", e.code), slog.String("requestId", rid))
		writeJSON(w, e.status, errorBody{RequestId: rid, HostId: "kms.aliyuncs.com", Code: e.code, Message: e.message,
			Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.code) + "&product=Kms"})
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) serve(r *http.Request, rid string) (map[string]any, *apiError) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, &apiError{405, "UnsupportedHTTPMethod", "Only POST and GET are supported."}
	}
	if r.URL.Path != "/" {
		return nil, &apiError{404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return nil, &apiError{400, "InvalidParameter", "The request body is unreadable or too large."}
	}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &apiError{400, "InvalidParameter", "The query string is malformed."}
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" && len(body) > 0 {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, &apiError{400, "InvalidParameter", "The form body is malformed."}
		}
		for k, v := range form {
			if !params.Has(k) {
				params[k] = v
			}
		}
	}
	action := cmp.Or(r.Header.Get("x-acs-action"), params.Get("Action"))
	if action == "" {
		return nil, &apiError{400, "MissingParameter", "The input parameter Action that is mandatory for processing this request is not supplied."}
	}
	if v := cmp.Or(r.Header.Get("x-acs-version"), params.Get("Version")); v != APIVersion {
		return nil, &apiError{400, "InvalidVersion", "Specified parameter Version is not valid."}
	}
	if _, err := popauth.Verify(r, body, params, popauth.Key{AccessKeyID: s.cfg.AccessKeyID, AccessKeySecret: s.cfg.AccessKeySecret}); err != nil {
		var f *popauth.Failure
		if errors.As(err, &f) {
			return nil, &apiError{f.Status, f.Code, f.Message}
		}
		return nil, &apiError{400, "IncompleteSignature", err.Error()}
	}
	if action != "GetSecretValue" {
		return nil, &apiError{404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."}
	}
	name := params.Get("SecretName")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if name == "" {
		return nil, &apiError{400, "MissingParameter", "The input parameter SecretName that is mandatory for processing this request is not supplied."}
	}
	vs := s.secrets[name]
	if len(vs) == 0 {
		return nil, &apiError{404, "Forbidden.ResourceNotFound", "The resource is not found."}
	}
	v := vs[len(vs)-1]
	if id := params.Get("VersionId"); id != "" {
		found := false
		for _, x := range vs {
			if x.id == id {
				v, found = x, true
			}
		}
		if !found {
			return nil, &apiError{404, "Forbidden.ResourceNotFound", "The version is not found."}
		}
	}
	stages := []string{}
	if v.id == vs[len(vs)-1].id {
		stages = append(stages, "ACSCurrent")
	}
	return map[string]any{
		"RequestId": rid, "SecretName": name, "VersionId": v.id, "CreateTime": v.created.UTC().Format(time.RFC3339),
		"SecretData": v.data, "SecretDataType": "text", "SecretType": "Generic", "AutomaticRotation": "Disabled",
		"VersionStages": map[string]any{"VersionStage": stages},
	}, nil
}

// admin lists the secrets (GET: {"Secrets":[SecretInfo…]}, names and
// versions only) or stores a new version (POST {"SecretName","SecretData"}).
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string][]SecretInfo{"Secrets": s.Names()})
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET or POST only", http.StatusMethodNotAllowed)
		return
	}
	var in struct{ SecretName, SecretData string }
	d := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	d.DisallowUnknownFields()
	if err := d.Decode(&in); err != nil || strings.TrimSpace(in.SecretName) == "" {
		http.Error(w, `want {"SecretName":"…","SecretData":"…"}`, http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"SecretName": in.SecretName, "VersionId": s.PutSecret(in.SecretName, in.SecretData)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
