// Package termtext makes text that came from elsewhere safe to print on an
// operator's terminal: every control character — the C0 set but tab and
// newline, DEL, the C1 set (U+0080–U+009F, whose CSI a terminal may obey
// like ESC [), the bidirectional overrides and isolates that reorder what
// is shown — and every byte that is not UTF-8 is written as a visible Go
// escape (\x1b, \u009b, \u202e, \xff). A RequestId, a pool name or a caller
// a queue producer chose can then neither clear nor redraw the screen, nor
// hide text behind a carriage return.
//
// The operator tools (scripts/deadletter, scripts/queues, scripts/enqueue)
// and the local stack's receiver print through it.
package termtext

import (
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// unsafe reports whether r must be escaped.
func unsafe(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e || r == 0x200f || r == 0x061c:
		return true // bidi embeddings, overrides, isolates and marks
	}
	return false
}

// Escape returns s with every unsafe character (see the package comment)
// written as a Go escape; s itself when there is none.
func Escape(s string) string {
	if !needs(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	write(&b, []byte(s))
	return b.String()
}

// needs reports whether s holds anything to escape.
func needs(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unsafe(r) {
			return true
		}
		i += n
	}
	return false
}

// write appends p to b, escaped.
func write(b *strings.Builder, p []byte) {
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(p[0])>>4, 16) + strconv.FormatUint(uint64(p[0])&0xf, 16))
		case unsafe(r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\u009b'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.Write(p[:n])
		}
		p = p[n:]
	}
}

// Writer escapes everything written through it (Escape) before passing it
// on. A UTF-8 sequence split across two writes is held back until it is
// whole; Flush writes (escaped) what is still held at the end. Not safe for
// concurrent use.
type Writer struct {
	w       io.Writer
	pending []byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write implements io.Writer; it reports all of p written unless w fails.
func (w *Writer) Write(p []byte) (int, error) {
	data := append(w.pending, p...)
	cut := len(data)
	start := len(data) - 1
	for start > 0 && len(data)-start < utf8.UTFMax && !utf8.RuneStart(data[start]) {
		start--
	}
	if start >= 0 && !utf8.FullRune(data[start:]) {
		cut = start
	}
	w.pending = append([]byte(nil), data[cut:]...)
	if err := w.emit(data[:cut]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what a Write held back (an unfinished UTF-8 sequence,
// escaped byte by byte).
func (w *Writer) Flush() error {
	p := w.pending
	w.pending = nil
	return w.emit(p)
}

func (w *Writer) emit(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if !needs(string(p)) {
		_, err := w.w.Write(p)
		return err
	}
	var b strings.Builder
	write(&b, p)
	_, err := io.WriteString(w.w, b.String())
	return err
}
