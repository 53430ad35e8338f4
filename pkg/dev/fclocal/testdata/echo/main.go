// Command echo is the test function for pkg/dev/fclocal: a go1 function built
// with fc.Start whose behaviour is chosen by the payload.
//
//   - an FC HTTP trigger event: served by fcadapter.HTTPHandler (GET echoes
//     the request as JSON; /bin echoes the body as binary);
//   - a JSON array: an MNS CloudEvents batch, decoded with fcadapter.Decode;
//     fails if any body contains "fail";
//   - a timer event: decoded with fcadapter.DecodeTimer;
//   - {"op": "echo"|"error"|"panic"|"sleep"|"exit", ...}.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/ensnodepool/webhook/pkg/fcadapter"
)

type op struct {
	Op   string          `json:"op"`
	Msg  string          `json:"msg"`
	MS   int             `json:"ms"`
	Code int             `json:"code"`
	Data json.RawMessage `json:"data"`
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/bin", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Echo", "1")
		w.Header().Add("X-Echo", "2")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "rawPath": r.URL.RawPath, "query": r.URL.Query(),
			"header": r.Header, "body": string(b), "remoteAddr": r.RemoteAddr, "host": r.Host,
			"fcRequestId": fcadapter.RequestID(r.Context()),
		})
	})
	httpFn := fcadapter.HTTPHandler(mux, nil)

	fc.Start(func(ctx context.Context, payload json.RawMessage) (any, error) {
		ctx = fcadapter.WithInvocation(ctx)
		p := bytes.TrimSpace(payload)
		if len(p) > 0 && p[0] == '[' {
			msgs, err := fcadapter.Decode(p)
			if err != nil {
				return nil, err
			}
			bodies := make([]string, 0, len(msgs))
			for _, m := range msgs {
				if m.Err != nil {
					return nil, m.Err
				}
				if strings.Contains(m.Body, "fail") {
					return nil, fmt.Errorf("failing message %s", m.MessageID)
				}
				bodies = append(bodies, m.Body)
			}
			return map[string]any{"bodies": bodies, "raw": payload}, nil
		}
		var probe struct {
			RequestContext json.RawMessage `json:"requestContext"`
			TriggerTime    string          `json:"triggerTime"`
		}
		_ = json.Unmarshal(p, &probe)
		switch {
		case probe.RequestContext != nil:
			var ev events.HTTPTriggerEvent
			if err := json.Unmarshal(p, &ev); err != nil {
				return nil, err
			}
			return httpFn(ctx, ev)
		case probe.TriggerTime != "":
			return fcadapter.DecodeTimer(p)
		}
		var o op
		if err := json.Unmarshal(p, &o); err != nil {
			return nil, err
		}
		switch o.Op {
		case "echo":
			inv, _ := fcadapter.FromContext(ctx)
			env := map[string]string{}
			for _, k := range []string{"FC_RUNTIME_API", "FC_FUNCTION_NAME", "FC_FUNCTION_HANDLER", "FC_FUNCTION_MEMORY_SIZE",
				"FC_REGION", "FC_ACCOUNT_ID", "FC_INSTANCE_ID", "ALIBABA_CLOUD_ACCESS_KEY_ID", "CUSTOM"} {
				env[k] = os.Getenv(k)
			}
			return map[string]any{"data": o.Data, "invocation": inv, "budgetMs": fcadapter.Budget(ctx).Milliseconds(), "env": env}, nil
		case "error":
			return nil, errors.New(o.Msg)
		case "panic":
			panic(o.Msg)
		case "sleep":
			time.Sleep(time.Duration(o.MS) * time.Millisecond)
			return map[string]any{"slept": o.MS, "instance": os.Getenv("FC_INSTANCE_ID")}, nil
		case "exit":
			os.Exit(o.Code)
		}
		return nil, fmt.Errorf("unknown op %q", o.Op)
	})
}
