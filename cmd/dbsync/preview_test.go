package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/internal/testdb"
)

// TestPreviewShowsEachRowsOwnOutcome: preview shows every source row from its own
// record, also when rows share a key: a query without a watermark keys its rows by
// their identifiers, so three rows of one person are three rows with the key u1, each
// with its own result and changes; and a row read twice under a watermark is the
// duplicate_key it is, beside the first read. Preview used to hand every change
// logged under a key to the first row with that key.
func TestPreviewShowsEachRowsOwnOutcome(t *testing.T) {
	src := testdb.Postgres(t)
	syncs := fmt.Sprintf(`
  - name: nokey
    source: {type: postgres, dsn: %[1]q}
    query: >-
      SELECT n, user_id, email, plan FROM (VALUES
        (1, 'u1', 'a@x.io', 'free'), (2, 'u1', 'a@x.io', 'pro'), (3, 'u1', 'not-an-address', 'pro'), (4, 'u2', 'b@x.io', 'free')
      ) AS v(n, user_id, email, plan) ORDER BY n
    identifiers: {id: user_id, email: email}
    exclude: [n]
  - name: twice
    source: {type: postgres, dsn: %[1]q}
    query: >-
      SELECT id, user_id, updated_at FROM (VALUES
        (1, 'u1', TIMESTAMPTZ '2026-01-01 00:00:01Z'), (1, 'u1', TIMESTAMPTZ '2026-01-01 00:00:01Z'), (2, 'u2', TIMESTAMPTZ '2026-01-01 00:00:02Z')
      ) AS v(id, user_id, updated_at)
    watermark: {column: updated_at, key: id}
    identifiers: {id: user_id}
    exclude: [id, updated_at]`, src)
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			cfg := writeConfig(t, backend.Driver, backend.DSN(t), "", syncs)
			for _, tc := range []struct {
				sync string
				want []string // key, result, reason and changes of each row, in order
			}{
				{"nokey", []string{
					"u1 created [profile_create]",
					"u1 updated [attribute_change plan]",
					"u1 unchanged [failed_attribute_change email invalid_email]",
					"u2 created [profile_create]",
				}},
				{"twice", []string{
					"1 created [profile_create]",
					"1 rejected duplicate_key []",
					"2 created [profile_create]",
				}},
			} {
				code, out, errOut := dbsync(t, "preview", "-c", cfg, "--sync", tc.sync)
				if code != 0 {
					t.Fatalf("preview %s: exit %d\n%s%s", tc.sync, code, out, errOut)
				}
				var got []string
				persons := map[string]string{}
				for _, l := range jsonLines(t, out) {
					var changes []string
					list, _ := l["changes"].([]any)
					for _, c := range list {
						c := c.(map[string]any)
						changes = append(changes, strings.TrimSpace(fmt.Sprint(c["kind"], " ", or(c["attribute"]), " ", or(c["reason"]))))
					}
					row := fmt.Sprintf("%v %v", l["key"], l["result"])
					if r := or(l["reason"]); r != "" {
						row += " " + r
					}
					got = append(got, fmt.Sprintf("%s [%s]", row, strings.Join(changes, ", ")))
					if cio := or(l["cio_id"]); cio != "" {
						if p, seen := persons[or(l["key"])]; seen && p != cio {
							t.Errorf("%s: rows with key %v resolved to two people", tc.sync, l["key"])
						}
						persons[or(l["key"])] = cio
					}
				}
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Errorf("preview %s:\n%s\nwant\n%s\n%s", tc.sync, strings.Join(got, "\n"), strings.Join(tc.want, "\n"), out)
				}
			}
		})
	}
}

// or is a JSON field as text, "" when absent.
func or(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
