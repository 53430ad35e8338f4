package termtext

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"req_abc", "req_abc"},
		{"tab\tand\nnewline", "tab\tand\nnewline"},
		{"\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"over\rwrite", `over\rwrite`},
		{"bell\a back\b del\x7f", `bell\a back\b del\x7f`},
		{"c1 \u009b2J", `c1 \u009b2J`},
		{"bidi \u202eevil\u202c \u2066x\u2069", `bidi \u202eevil\u202c \u2066x\u2069`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"ünïcödé ✓", "ünïcödé ✓"},
	} {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestWriterSplitsRunes: a rune split across writes is written whole, an
// unfinished one at the end escaped by Flush.
func TestWriterSplitsRunes(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	in := []byte("a✓b\x1bc\u009bd")
	for i := range in {
		if n, err := w.Write(in[i : i+1]); n != 1 || err != nil {
			t.Fatal(n, err)
		}
	}
	if _, err := w.Write([]byte("\xe2\x9c")); err != nil { // two thirds of ✓
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), `a✓b\x1bc\u009bd\xe2\x9c`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzWriter: whatever is written and however it is cut, the output holds
// no control character but tab and newline, no C1 or bidi control and no
// invalid UTF-8, and is Escape of the input.
func FuzzWriter(f *testing.F) {
	f.Add([]byte("\x1b]0;title\a\x1b[2J"), uint8(3))
	f.Add([]byte("ok ✓ \u009b\xff"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		var out bytes.Buffer
		w := NewWriter(&out)
		n := int(step%7) + 1
		for i := 0; i < len(in); i += n {
			if _, err := w.Write(in[i:min(i+n, len(in))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 in %q", s)
		}
		for _, r := range s {
			if unsafe(r) {
				t.Fatalf("unsafe %U in %q", r, s)
			}
		}
		if want := Escape(string(in)); s != want {
			t.Fatalf("written %q, Escape %q", s, want)
		}
	})
}
