package identity

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dbsync/dbsync/record"
)

// FuzzPrepare: identifier normalization never panics on any input, and a row it
// accepts keeps the limits and the email rule.
func FuzzPrepare(f *testing.F) {
	for _, s := range [][4]string{
		{"", "u1", "a@x.io", "plan"},
		{"cio_abc", "", "", "n"},
		{"", "Lead@X.io", "", "a"},
		{"", "u\xff", "a@@x", ""},
		{"", strings.Repeat("i", 151), " b@x.io ", strings.Repeat("n", 151)},
		{"cio_", "\x00", "a\x00@x.io", "\x00"},
	} {
		f.Add(s[0], s[1], s[2], s[3], `"v"`)
	}
	f.Fuzz(func(t *testing.T, cio, id, email, name, value string) {
		row := record.Record{Key: id, CioID: cio, ID: id, Email: email, Attrs: []record.Attr{{Name: name, Value: json.RawMessage(value)}}}
		for _, s := range []Settings{DefaultSettings(), {IDIdentifies: true}, {EmailIdentifies: true}} {
			r, bad := prepare(s, &row)
			if !utf8.ValidString(r.key) || strings.IndexByte(r.key, 0) >= 0 {
				t.Fatalf("a row key that is not printable text: %q", r.key)
			}
			if bad != nil {
				if bad.reason == "" || bad.detail == "" {
					t.Fatalf("a rejection without reason or detail: %+v", bad)
				}
				continue
			}
			if len(r.id) > MaxIDBytes || (r.email != "" && !ValidEmail(r.email)) || strings.HasPrefix(r.cio, "cio_") && cio != "cio_"+r.cio {
				t.Fatalf("accepted a row it should not have: %+v", r)
			}
			if !r.hasCio && !(s.IDIdentifies && r.id != "") && !(s.EmailIdentifies && r.email != "") {
				t.Fatalf("accepted a row without an identifier: %+v", r)
			}
			if r.email != "" && r.emailKey != strings.ToLower(r.email) {
				t.Fatalf("email key %q of %q", r.emailKey, r.email)
			}
		}
	})
}
