package caller

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse: whatever the bytes, Parse never panics; an error never
// carries any "whsec_" value of the input nor its base64 text; a parsed
// set has unique Ids, non-empty Clusters, and every caller is found by its
// Id.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"Id":"a","Clusters":["*"],"Secrets":["` + goodSecret + `"]}]`))
	f.Add([]byte(`[{"Id":"a","Clusters":["eck-*"],"Chat":["slack:T/*","feishu:ou"],"MaxDesiredSize":3,"AllowPassword":false}]`))
	f.Add([]byte(`[{"Id":"a","Clusters":[]},{"Id":"a","Secrets":["whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"]}]`))
	f.Add([]byte(`[{"Id":"a","Clusters":"whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if s != nil {
				t.Fatal("set and error")
			}
			msg := err.Error()
			for _, part := range strings.Split(string(data), `"`) {
				if rest, ok := strings.CutPrefix(part, "whsec_"); ok && len(rest) >= 8 && utf8.ValidString(rest) && strings.Contains(msg, rest) {
					t.Fatalf("error carries secret text %q: %s", rest, msg)
				}
			}
			return
		}
		seen := map[string]bool{}
		for _, c := range s.Callers() {
			if seen[c.Id] || len(c.Clusters) == 0 {
				t.Fatalf("bad caller %q", c.Id)
			}
			seen[c.Id] = true
			if got, ok := s.Lookup(c.Id); !ok || got != c {
				t.Fatalf("Lookup(%q)", c.Id)
			}
		}
	})
}
