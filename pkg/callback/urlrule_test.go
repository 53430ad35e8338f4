package callback_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/callbackurl"
)

// TestURLRule: the static rule refuses what the sender could never call,
// and on IP literals it agrees with the sender's own check (the one rule
// that request validation applies at intake).
func TestURLRule(t *testing.T) {
	t.Parallel()
	rule := callbackurl.Rule{}
	s, err := callback.NewDeliverer(callback.Config{Secrets: []string{"whsec_AgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for url, ok := range map[string]bool{
		"https://203.0.114.9/cb":                            true,
		"https://203.0.114.9:65535/cb":                      true,
		"https://203.0.114.9:70000/cb":                      false,
		"https://203.0.114.9:0/cb":                          false,
		"https://203.0.114.9:/cb":                           false,
		"https://203.0.114.9:-1/cb":                         false,
		"http://203.0.114.9/cb":                             false,
		"ftp://203.0.114.9/cb":                              false,
		"https://u:p@203.0.114.9/cb":                        false,
		"https://203.0.114.9/cb#x":                          false,
		"https:///cb":                                       false,
		"https://127.0.0.1/cb":                              false,
		"https://[::1]/cb":                                  false,
		"https://100.100.100.200/cb":                        false,
		"https://169.254.169.254/":                          false,
		"/relative":                                         false,
		"https://[::ffff:10.0.0.1]/x":                       false,
		"https://203.0.114.9/" + string(make([]byte, 2100)): false,
	} {
		err := rule.Check(url)
		if (err == nil) != ok {
			t.Errorf("Check(%.60q) = %v, want ok=%v", url, err, ok)
		}
		if err != nil && !errors.Is(err, callbackurl.ErrRefused) {
			t.Errorf("Check(%.60q) = %v, not ErrRefused", url, err)
		}
		if serr := s.CheckURL(context.Background(), url); (serr == nil) != ok {
			t.Errorf("Deliverer.CheckURL(%.60q) = %v, rule says ok=%v", url, serr, ok)
		}
	}
	allowed := callbackurl.Rule{AllowHTTP: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if err := allowed.Check("http://127.0.0.1:8080/cb"); err != nil {
		t.Errorf("allowed loopback: %v", err)
	}
}
