package fcadapter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

func TestFromContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ctx    context.Context
		wantOK bool
		wantID string
	}{
		{"background", context.Background(), false, ""},
		{"typed nil FcContext (SDK would panic)", fccontext.NewContext(context.Background(), nil), false, ""},
		{"sdk", fcCtx(t, "r-1"), true, "r-1"},
		{"ours", NewContext(context.Background(), Invocation{RequestID: "r-2"}), true, "r-2"},
	}
	for _, tt := range tests {
		inv, ok := FromContext(tt.ctx)
		if ok != tt.wantOK || inv.RequestID != tt.wantID {
			t.Errorf("%s: got %q %v, want %q %v", tt.name, inv.RequestID, ok, tt.wantID, tt.wantOK)
		}
	}
	inv, _ := FromContext(fcCtx(t, "r-3"))
	if inv.FunctionName != "webhook" || inv.Timeout != 10*time.Second || inv.Region != "cn-hangzhou" || inv.Deadline.IsZero() {
		t.Errorf("got %+v", inv)
	}
	cr, ok := CredentialsFrom(fcCtx(t, "r-4"))
	if want := (Credentials{"ak", "sk", "tok"}); !ok || cr != want {
		t.Errorf("credentials: got %+v %v, want %+v", cr, ok, want)
	}
	if _, ok := CredentialsFrom(context.Background()); ok {
		t.Error("credentials outside FC")
	}
}

// TestWithInvocationConcurrent shows that after WithInvocation concurrent
// readers never touch fccontext (whose FromContext writes to shared state).
func TestWithInvocationConcurrent(t *testing.T) {
	t.Parallel()
	ctx := WithInvocation(fcCtx(t, "r-5"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got := RequestID(ctx); got != "r-5" {
				t.Errorf("got %q", got)
			}
		})
	}
	wg.Wait()
	if WithInvocation(context.Background()) != context.Background() {
		t.Error("WithInvocation changed a non-FC context")
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(3*time.Second))
	defer cancel()
	if got, want := BudgetAt(ctx, now), 3*time.Second; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := BudgetAt(ctx, now.Add(time.Hour)); got > 0 {
		t.Errorf("past deadline: got %v", got)
	}
	if got := Budget(context.Background()); got != NoDeadline {
		t.Errorf("no deadline: got %v", got)
	}
}
