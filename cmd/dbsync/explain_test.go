package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/internal/testdb"
)

// storySource is a users table whose rows, read in order, produce every kind of
// change log entry and every reason: u1 is created, refused an id change and an
// email change, then a lead is merged into it.
func storySource(t *testing.T) string {
	t.Helper()
	dsn := testdb.Postgres(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	long := func(n int) string { return strings.Repeat("x", n) }
	rows := []struct {
		userID, email, cio, plan, bio any
	}{
		{"u1", "a@x.io", nil, "free", nil},         // 1 profile_create
		{"u9", "a@x.io", nil, nil, nil},            // 2 id_change_not_allowed (found by email)
		{"u1", "b@x.io", nil, nil, nil},            // 3 email_change_not_allowed
		{nil, "lead@x.io", nil, "pro", "hi"},       // 4 a lead
		{"u1", "lead@x.io", nil, nil, nil},         // 5 profile_merge (and the email stays)
		{long(151), nil, nil, nil, nil},            // 6 id_too_long
		{"u7", nil, nil, nil, long(1001)},          // 7 value_too_long: bio
		{nil, nil, "cio_ffffffffffff", "pro", nil}, // 8 cio_id_not_found
		{nil, nil, nil, "pro", nil},                // 9 no_identifier
		{"u10", "not-an-address", nil, nil, nil},   // 10 invalid_email
		{"u1", nil, nil, "team", nil},              // 11 attribute_change
		{"u10", "a@x.io", nil, nil, nil},           // 12 email_belongs_to_another_person
	}
	if _, err := db.Exec(`CREATE TABLE users (id int PRIMARY KEY, user_id text, email text, cio text, plan text, bio text, updated_at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		_, err := db.Exec(`INSERT INTO users VALUES ($1, $2, $3, $4, $5, $6, '2026-01-01'::timestamptz + $7 * interval '1 second')`,
			i+1, r.userID, r.email, r.cio, r.plan, r.bio, i+1)
		if err != nil {
			t.Fatal(err)
		}
	}
	return dsn
}

const storySync = `
  - name: users
    source: {type: postgres, dsn: %q}
    table: users
    watermark: {column: updated_at, key: id}
    identifiers: {id: user_id, email: email, cio_id: cio}
    exclude: [id, updated_at]`

func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		recs = append(recs, m)
	}
	return recs
}

func TestExplainEveryOutcome(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			src := storySource(t)
			cfg := writeConfig(t, backend.Driver, backend.DSN(t),
				"identifiers: [id, email]\n  merge_duplicates: true", fmt.Sprintf(storySync, src))
			if code, out, errOut := dbsyncTerm(t, "run", "-c", cfg); code != 0 {
				t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
			}

			// u1's whole story, oldest first, the merged lead's creation included.
			code, out, _ := dbsync(t, "people", "log", "-c", cfg, "u1")
			if code != 0 {
				t.Fatalf("people log: exit %d", code)
			}
			var story []string
			for _, r := range jsonLines(t, out) {
				if r["time"] == nil || r["sync"] != "users" {
					t.Errorf("entry without time or sync: %v", r)
				}
				story = append(story, fmt.Sprintf("%v %v %v>%v %v", r["kind"], r["attribute"], r["from"], r["to"], r["reason"]))
			}
			want := []string{
				"profile_create <nil> <nil>>map[email:a@x.io id:u1] <nil>",
				"failed_attribute_change id <nil>>u9 id_change_not_allowed",
				"failed_attribute_change email <nil>>b@x.io email_change_not_allowed",
				"profile_create <nil> <nil>>map[email:lead@x.io] <nil>",
				"profile_merge <nil> %s>%s <nil>",
				"attribute_change bio <nil>>hi <nil>",
				"failed_attribute_change email <nil>>lead@x.io email_change_not_allowed",
				"attribute_change plan free>team <nil>",
			}
			if len(story) != len(want) {
				t.Fatalf("people log u1:\n%s\nwant %d entries", strings.Join(story, "\n"), len(want))
			}
			for i := range want {
				if strings.Contains(want[i], "%s") {
					if !strings.HasPrefix(story[i], "profile_merge <nil> ") {
						t.Errorf("entry %d = %q, want the merge", i, story[i])
					}
					continue
				}
				if story[i] != want[i] {
					t.Errorf("entry %d = %q\n          want %q", i, story[i], want[i])
				}
			}
			// The email_belongs entry is u10's, not u1's: it must not be in u1's log.
			if strings.Contains(out, "email_belongs_to_another_person") {
				code, u10, _ := dbsync(t, "people", "log", "-c", cfg, "u10")
				t.Fatalf("u1's log holds u10's refused change (exit %d):\n%s", code, u10)
			}

			code, out, _ = dbsync(t, "people", "log", "-c", cfg, "u10", "--json")
			var reasons []string
			for _, r := range jsonLines(t, out) {
				if r["reason"] != nil {
					reasons = append(reasons, r["reason"].(string))
				}
			}
			if code != 0 || strings.Join(reasons, ",") != "invalid_email,email_belongs_to_another_person" {
				t.Errorf("people log u10: exit %d, reasons %q", code, reasons)
			}
			if code, _, _ := dbsync(t, "people", "log", "-c", cfg, "nobody"); code != exitNotFound {
				t.Errorf("people log of no one: exit %d, want 3", code)
			}

			code, out, _ = dbsync(t, "rejected", "-c", cfg, "--sync", "users")
			var got []string
			for _, r := range jsonLines(t, out) {
				got = append(got, fmt.Sprintf("%v %v", r["key"], r["reason"]))
				if first, ok := r["time"].(float64); !ok || first == 0 || r["last_seen"] != first {
					t.Errorf("rejected entry after one run: time %v, last_seen %v; want both the run's", r["time"], r["last_seen"])
				}
			}
			wantRejected := []string{
				"6 id_too_long: id (151 bytes > 150)",
				"7 value_too_long: bio (1001 bytes > 1000)",
				`8 cio_id_not_found: no person has cio_id "ffffffffffff"`,
				"9 no_identifier: the row has none of cio_id, id, email",
			}
			if code != 0 || strings.Join(got, "\n") != strings.Join(wantRejected, "\n") {
				t.Errorf("rejected:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantRejected, "\n"))
			}
			if _, out, _ := dbsync(t, "rejected", "-c", cfg, "--since", "1h"); len(jsonLines(t, out)) != 4 {
				t.Errorf("rejected --since 1h: %s", out)
			}
			if _, out, _ := dbsync(t, "rejected", "-c", cfg, "--sync", "other"); out != "" {
				t.Errorf("rejected of another sync: %s", out)
			}

			code, out, _ = dbsync(t, "runs", "-c", cfg, "--json")
			runs := jsonLines(t, out)
			if code != 0 || len(runs) != 1 {
				t.Fatalf("runs: exit %d\n%s", code, out)
			}
			r := runs[0]
			if r["status"] != "ok" || r["rows_read"] != 12.0 || r["created"] != 3.0 || r["rejected"] != 4.0 ||
				r["cursor_before"] != nil || !strings.HasSuffix(r["cursor_after"].(string), " / 12") || r["end"] == nil {
				t.Errorf("runs: %v", r)
			}
		})
	}
}
