package jsontext

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzAppendString: the output is valid JSON and decodes to the text given.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\`, "<tag>&", "\x00\x01\n\r\t\x1f", "ünï ✓"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // callers check text first
		}
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil || back != s {
			t.Fatalf("%q gave %s, which decodes to %q (%v)", s, out, back, err)
		}
	})
}
