package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	util "github.com/alibabacloud-go/tea-utils/v2/service"
	"github.com/alibabacloud-go/tea/tea"
)

// Credentials sign the KMS calls: the function's STS credentials (or a
// key pair for local runs).
type Credentials struct {
	AccessKeyID, AccessKeySecret, SecurityToken string
}

// KMSConfig configures a KMS reader.
type KMSConfig struct {
	// Endpoint is host[:port] of the KMS API, e.g. kms.cn-hangzhou.aliyuncs.com
	// (kms-vpc.<region>.aliyuncs.com inside a VPC) or the local simulator.
	// Required.
	Endpoint string
	// Protocol is HTTPS (default) or HTTP (the local simulator).
	Protocol string
	// RegionID is the region of the secrets.
	RegionID string
	// Timeout bounds one call; default 5 s.
	Timeout time.Duration
}

// KMS reads secret values from KMS Secrets Manager (GetSecretValue,
// ACSCurrent version) through the official SDK,
// github.com/alibabacloud-go/kms-20160120/v3.
type KMS struct {
	cfg KMSConfig
}

// NewKMS checks cfg and returns a reader.
func NewKMS(cfg KMSConfig) (*KMS, error) {
	cfg.Protocol = strings.ToUpper(cfg.Protocol)
	if cfg.Protocol == "" {
		cfg.Protocol = "HTTPS"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	var errs []error
	switch {
	case cfg.Endpoint == "":
		errs = append(errs, errors.New("secrets: KMS endpoint is required"))
	case strings.Contains(cfg.Endpoint, "://") || strings.ContainsAny(cfg.Endpoint, "@/?# "):
		// Never quoted: an endpoint with user info would print a secret.
		errs = append(errs, errors.New("secrets: KMS endpoint: want host[:port] without a scheme, user info or path"))
	}
	if cfg.Protocol != "HTTPS" && cfg.Protocol != "HTTP" {
		errs = append(errs, fmt.Errorf("secrets: KMS protocol %q: want HTTPS or HTTP", cfg.Protocol))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &KMS{cfg: cfg}, nil
}

// GetSecretValue returns the current value of the named secret, read with
// cr. Errors name the secret, never its value.
func (k *KMS) GetSecretValue(ctx context.Context, cr Credentials, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if cr.AccessKeyID == "" || cr.AccessKeySecret == "" {
		return "", fmt.Errorf("secrets: reading %s: no credentials", name)
	}
	oc := &openapi.Config{
		AccessKeyId:     tea.String(cr.AccessKeyID),
		AccessKeySecret: tea.String(cr.AccessKeySecret),
		Endpoint:        tea.String(k.cfg.Endpoint),
		Protocol:        tea.String(k.cfg.Protocol),
	}
	if cr.SecurityToken != "" {
		oc.SecurityToken = tea.String(cr.SecurityToken)
	}
	if k.cfg.RegionID != "" {
		oc.RegionId = tea.String(k.cfg.RegionID)
	}
	c, err := kms.NewClient(oc)
	if err != nil {
		return "", fmt.Errorf("secrets: KMS client: %w", err)
	}
	budget := k.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl))
	}
	ms := int(max(budget.Milliseconds(), 1))
	rt := &util.RuntimeOptions{ReadTimeout: tea.Int(ms), ConnectTimeout: tea.Int(ms), Autoretry: tea.Bool(false)}
	res, err := c.GetSecretValueWithOptions(&kms.GetSecretValueRequest{SecretName: tea.String(name)}, rt)
	if err != nil {
		var se *tea.SDKError
		if errors.As(err, &se) {
			return "", fmt.Errorf("secrets: reading %s from KMS: %s (HTTP %d, request %s)", name,
				tea.StringValue(se.Code), tea.IntValue(se.StatusCode), requestID(se))
		}
		return "", fmt.Errorf("secrets: reading %s from KMS: %w", name, err)
	}
	if res.Body == nil || res.Body.SecretData == nil {
		return "", fmt.Errorf("secrets: reading %s from KMS: the answer has no SecretData", name)
	}
	data := tea.StringValue(res.Body.SecretData)
	if strings.EqualFold(tea.StringValue(res.Body.SecretDataType), "binary") {
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return "", fmt.Errorf("secrets: reading %s from KMS: binary SecretData is not base64", name)
		}
		data = string(b)
	}
	return data, nil
}

// requestID digs the request id out of the error's JSON data.
func requestID(se *tea.SDKError) string {
	var d struct{ RequestId string }
	if se.Data != nil && json.Unmarshal([]byte(*se.Data), &d) == nil && d.RequestId != "" {
		return d.RequestId
	}
	return "unknown"
}
