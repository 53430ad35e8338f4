package ledger

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// listFixture accepts 25 requests of acme a second apart (req_0 oldest),
// odd ones on cluster eck-odd, every third one active, and a few of
// another caller.
func listFixture(t *testing.T, b *bundle) {
	t.Helper()
	ctx := context.Background()
	for i := range 25 {
		r := b.reservation("acme", reqID(i), "d", reqID(i))
		if i%2 == 1 {
			r.ClusterId = "eck-odd"
		}
		b.accept(t, r)
		if i%3 == 0 {
			if err := b.l.Event(ctx, reqID(i), Event{Type: "nodepool.active", Sequence: 1, At: b.clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		if i%10 == 0 {
			b.accept(t, b.reservation("other", reqID(i), "d", "req_other"+reqID(i)[4:]))
		}
		b.clock.Advance(time.Second)
	}
}

// pages lists everything f selects, page by page.
func pages(t *testing.T, l *Ledger, caller string, f Filter) (all []string, sizes []int) {
	t.Helper()
	for range 50 {
		p, err := l.List(context.Background(), caller, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(p)...)
		sizes = append(sizes, len(p.Requests))
		if p.NextPageToken == "" {
			return all, sizes
		}
		f.PageToken = p.NextPageToken
	}
	t.Fatal("more than 50 pages")
	return nil, nil
}

// want lists the fixture's RequestIds newest first that keep passes.
func want(keep func(i int) bool) []string {
	var out []string
	for i := 24; i >= 0; i-- {
		if keep(i) {
			out = append(out, reqID(i))
		}
	}
	return out
}

// List pages newest first through a caller's own records with the
// filters; a page token it did not issue is ErrInvalid.
func TestList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	listFixture(t, b)
	start := b.clock.Now().Add(-25 * time.Second)
	for _, tc := range []struct {
		name  string
		f     Filter
		keep  func(int) bool
		sizes []int
	}{
		{"All", Filter{Limit: 10}, func(int) bool { return true }, []int{10, 10, 5}},
		{"Default", Filter{}, func(int) bool { return true }, []int{20, 5}},
		{"Exact", Filter{Limit: 25}, func(int) bool { return true }, []int{25}},
		{"ClusterId", Filter{ClusterId: "eck-odd", Limit: 5}, func(i int) bool { return i%2 == 1 }, []int{5, 5, 2}},
		{"State", Filter{State: StateActive, Limit: 4}, func(i int) bool { return i%3 == 0 }, []int{4, 4, 1}},
		{"Accepted", Filter{State: StateAccepted, ClusterId: "eck-odd"}, func(i int) bool { return i%3 != 0 && i%2 == 1 }, []int{8}},
		{"Since", Filter{Since: start.Add(20 * time.Second), Limit: 3}, func(i int) bool { return i >= 20 }, []int{3, 2}},
		{"None", Filter{ClusterId: "eck-none"}, func(int) bool { return false }, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, sizes := pages(t, b.l, "acme", tc.f)
			if w := want(tc.keep); !slices.Equal(got, w) {
				t.Fatalf("listed %v\nwant %v", got, w)
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Fatalf("page sizes %v, want %v", sizes, tc.sizes)
			}
		})
	}
	other, _ := pages(t, b.l, "other", Filter{})
	if !slices.Equal(other, []string{"req_other20", "req_other10", "req_other0"}) {
		t.Fatalf("other caller: %v", other)
	}
	p, err := b.l.List(context.Background(), "acme", Filter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Filter{
		{PageToken: p.NextPageToken[:len(p.NextPageToken)-2] + "zz"},
		{PageToken: "not-a-token"},
		{Limit: MaxLimit + 1},
		{State: "done"},
	} {
		if _, err := b.l.List(context.Background(), "acme", f); !errors.Is(err, ErrInvalid) {
			t.Errorf("List(%+v) = %v, want ErrInvalid", f, err)
		}
	}
}

// One List call reads at most Config.Scan index rows: a filter that
// matches little returns short pages with a token, and the pages together
// are complete.
func TestListScanBound(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Scan = 7 })
	listFixture(t, b)
	got, sizes := pages(t, b.l, "acme", Filter{State: StateActive, ClusterId: "eck-odd"})
	if w := want(func(i int) bool { return i%6 == 3 }); !slices.Equal(got, w) {
		t.Fatalf("listed %v, want %v", got, w)
	}
	if len(sizes) != 4 {
		t.Fatalf("page sizes %v: want 4 pages of at most 7 rows read", sizes)
	}
}
