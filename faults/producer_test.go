package faults

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ensnodepool/webhook/pkg/callback"
	"github.com/ensnodepool/webhook/pkg/dev/enssim"
)

// hostileMarker is the password a contract-breaking producer puts on the
// requests queue in clear: it may appear in that queue's traffic (the
// producer put it there) and in the ENS call of the one proper request
// that carries it, nowhere else.
const hostileMarker = "Hq4hostileMARKER9z"

// 5. Security: a producer that breaks the envelope contract puts clear
// passwords on the requests queue under JSON-escaped member names, in any
// case encoding/json folds, duplicated, deep in arrays, inside a JSON
// string or base64, and in bodies that do not parse; and a proper request
// with the same password meets an ENS create that times out (its error
// quotes the URL the parameters travel in). Every captured byte — the
// logs of the three functions and the stack, every callback, all MNS
// traffic but the requests queue's (dead-letter records and the tracking
// queue included) — is scanned for the password in any form.
func testHostileProducer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{seed: 11})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	requests := e.st.Config().RequestsQueue
	q := e.queueClient().Queue(requests)
	received := time.Now().UTC().Format(time.RFC3339)
	const m = hostileMarker
	escapedValue := `\u0048q4hostileMARKER9\u007a` // the marker, escaped
	// envelope is a version-1 envelope for pool name whose ScalingGroup
	// holds members (raw JSON text) instead of a key pair.
	envelope := func(id, name, members string) string {
		var r map[string]any
		if err := json.Unmarshal(e.request(name, e.rcv.url+"/ok"), &r); err != nil {
			t.Fatal(err)
		}
		sg := r["ScalingGroup"].(map[string]any)
		delete(sg, "KeyPairName")
		sg["HOLE"] = 0
		b, err := json.Marshal(map[string]any{"Version": 1, "RequestId": id, "ReceivedAt": received, "Source": "queue", "Request": r})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Replace(string(b), `"HOLE":0`, members, 1)
	}
	nest := func(n int, inner string) string { return strings.Repeat("[", n) + inner + strings.Repeat("]", n) }
	told := map[string]string{} // RequestId → pool name: told nodepool.failed
	var bodies []string
	add := func(id, name, body string) {
		bodies = append(bodies, body)
		if id != "" {
			told[id] = name
		}
	}
	add("req_hp_escaped", "hp-escaped", envelope("req_hp_escaped", "hp-escaped", `"Pass\u0077ord":"`+m+`"`))
	add("req_hp_case", "hp-case", envelope("req_hp_case", "hp-case", `"password":"`+m+`","PASSWORD":"`+m+`","pa\u017fsword":"`+m+`"`))
	add("req_hp_dup", "hp-dup", envelope("req_hp_dup", "hp-dup", `"Password":"`+m+`","Password":"`+m+`"`))
	add("req_hp_value", "hp-value", envelope("req_hp_value", "hp-value", `"\u0050assword":"`+escapedValue+`"`))
	add("req_hp_nested", "hp-nested", envelope("req_hp_nested", "hp-nested", `"Extra":`+nest(40, `{"pA\u017fSWORD":"`+m+`"}`)))
	add("req_hp_deep", "hp-deep", envelope("req_hp_deep", "hp-deep", `"Extra":`+nest(100, `{"Password":"`+m+`"}`)))
	add("req_hp_b64", "hp-b64", base64.StdEncoding.EncodeToString([]byte(envelope("req_hp_b64", "hp-b64", `"Pass\u0077ord":"`+m+`"`))))
	inString, _ := json.Marshal(envelope("req_hp_str", "hp-str", `"Pass\u0077ord":"`+m+`"`))
	add("", "", string(inString))
	add("", "", `Password=`+m+`&ClusterId=eck-demo0001`)
	add("", "", base64.StdEncoding.EncodeToString([]byte(`{"Password":"`+m+`"`)))
	add("", "", `{"Request":{"ScalingGroup":{"Password":"`+m+`"}}`) // cut short
	for _, b := range bodies {
		if _, err := q.Send(ctx, b, 0); err != nil {
			t.Fatal(err)
		}
	}
	want := expectation{}
	e.mu.Lock()
	for id, name := range told {
		want[id] = callback.TypeFailed
		e.accepted[id], e.names[name] = name, true
	}
	e.mu.Unlock()

	// The proper path with the same password: the create times out
	// (past the client's 10 s read timeout) and is then adopted.
	if err := e.ens.InjectFault(enssim.Fault{Action: "CreateClusterNodePool", Count: 1, Delay: enssim.Duration{Duration: 11 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	want[e.submit("hp-proper", passwordRequest(t, e, "hp-proper", m, "ens.sn1.small"))] = callback.TypeActive

	r := e.settle(fmt.Sprintf("Security: hostile producer, %d clear-password messages on the queue; 1 password request, create timed out", len(bodies)),
		want, 90*time.Second, "")
	if r.DLQ < len(bodies) {
		t.Errorf("dead letters = %d, want ≥ %d (every message recorded)", r.DLQ, len(bodies))
	}
	if r.Pools != 1 {
		t.Errorf("pools created = %d, want 1 (hp-proper)", r.Pools)
	}

	// Split the MNS traffic: the requests queue's own (where the producer
	// put the password) and everything else.
	var own, rest bytes.Buffer
	for _, x := range strings.Split(e.mnsF.wire.String(), "\n> ") {
		line, _, _ := strings.Cut(x, "\n")
		if strings.Contains(line, "/queues/"+requests+"/") {
			own.WriteString(x)
		} else {
			rest.WriteString(x)
		}
	}
	forms := markerForms(m)
	forms = append(forms, escapedValue)
	captured := map[string][]byte{
		"function and stack logs":                                e.out.Bytes(),
		"callbacks (headers + bodies)":                           e.rcv.rawBytes(),
		"MNS traffic outside the requests queue (DLQ, tracking)": rest.Bytes(),
	}
	total := 0
	for where, b := range captured {
		total += len(b)
		for _, f := range forms {
			if i := bytes.Index(b, []byte(f)); i >= 0 {
				t.Errorf("password (%q) found in %s: …%s…", f, where, b[max(0, i-200):min(len(b), i+100)])
			}
		}
	}
	// Positive controls: the scan looks where the password would be.
	if !bytes.Contains(own.Bytes(), []byte(m)) {
		t.Errorf("positive control: the marker is not in the requests queue's traffic")
	}
	if !bytes.Contains(e.ensF.wire.Bytes(), []byte(m)) {
		t.Errorf("positive control: the proper request's password never reached ENS")
	}
	for _, s := range []string{`******`, "BodyWithheld", "BodySealed", "hp-deep"} {
		if !bytes.Contains(rest.Bytes(), []byte(s)) {
			t.Errorf("positive control: %q not in the dead-letter traffic", s)
		}
	}
	if !bytes.Contains(e.out.Bytes(), []byte("ens: call failed")) {
		t.Errorf("positive control: the timed-out create was not logged")
	}
	t.Logf("scanned %d bytes for %d forms of the password", total, len(forms))
}

// markerForms are the forms a password can take in captured bytes: as is
// and base64-encoded at each of the three alignments.
func markerForms(m string) []string {
	forms := []string{m}
	for k := range 3 {
		s := m[k:]
		enc := base64.StdEncoding.EncodeToString([]byte(s))
		forms = append(forms, enc[:4*(len(s)/3)])
	}
	return forms
}
