package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// dbsync runs a command line in process and returns its exit code and output.
func dbsync(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut}
	code = e.main(context.Background(), args)
	return code, out.String(), errOut.String()
}

// writeConfig writes a config file for a store and returns its path. syncs is the
// YAML of the syncs: list; a placeholder sync is used when it is empty.
func writeConfig(t *testing.T, driver, dsn, workspace, syncs string) string {
	t.Helper()
	if syncs == "" {
		syncs = `
  - name: placeholder
    source: {type: sqlite, dsn: unused.db}
    table: users
    identifiers: {id: id}`
	}
	if workspace == "" {
		workspace = "identifiers: [id, email]"
	}
	body := fmt.Sprintf("store:\n  driver: %s\n  dsn: %q\nworkspace:\n  %s\nsyncs:%s\n", driver, dsn, workspace, syncs)
	path := filepath.Join(t.TempDir(), "dbsync.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPeopleGet(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", "")

			// Before the store exists (SQLite) or has tables (PostgreSQL): no one, exit 3.
			if code, _, _ := dbsync(t, "people", "get", "-c", cfg, "u1"); code != exitNotFound {
				t.Fatalf("people get on a store never written: exit %d, want %d", code, exitNotFound)
			}

			st, err := store.Open(ctx, backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			pl := &identity.Planner{Settings: identity.DefaultSettings(), Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
			var created string
			err = st.InTx(ctx, func(tx *store.Tx) error {
				recs := []*record.Record{
					{Key: "1", ID: "AB100", Email: "Ann@Example.com", Attrs: []record.Attr{{Name: "plan", Value: json.RawMessage(`"pro"`)}}},
					{Key: "2", Email: "lead@example.com"},
				}
				people, err := pl.Plan(ctx, tx, "test", recs)
				if err != nil {
					return err
				}
				created = recs[0].Person
				return tx.Write(ctx, "test", 0, recs, people)
			})
			if err != nil {
				t.Fatal(err)
			}

			for _, ident := range []string{"AB100", "ann@example.com", "ANN@EXAMPLE.COM", "cio_" + created} {
				code, out, errOut := dbsync(t, "people", "get", "-c", cfg, ident)
				if code != 0 {
					t.Fatalf("people get %s: exit %d: %s", ident, code, errOut)
				}
				var got map[string]any
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("people get %s printed %q: %v", ident, out, err)
				}
				want := map[string]any{
					"internal_customer_id": created, "id": "AB100", "email": "Ann@Example.com",
					"attributes": map[string]any{"plan": "pro"}, "created_at": 1.7e9, "updated_at": 1.7e9,
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("people get %s = %v\nwant %v", ident, got, want)
				}
			}
			code, out, _ := dbsync(t, "people", "get", "-c", cfg, "lead@example.com")
			if code != 0 || !strings.Contains(out, `"id":null`) {
				t.Errorf("a lead: exit %d, %s; want id null", code, out)
			}
			// No one: an id of another case, an unknown email, a cio_id no one has, an empty one.
			for _, ident := range []string{"ab100", "nobody@example.com", "cio_ffffffff", "cio_", ""} {
				if code, out, _ := dbsync(t, "people", "get", "-c", cfg, ident); code != exitNotFound || out != "" {
					t.Errorf("people get %q: exit %d, printed %q; want exit 3 and nothing", ident, code, out)
				}
			}
			if code, _, _ := dbsync(t, "people", "get", "-c", cfg); code != exitUsage {
				t.Errorf("people get without an identifier: exit %d, want 2", code)
			}
		})
	}
}

func TestPeopleGetBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("store: {driver: oracle}\nsyncs: []\nbogus: 1\n"), 0o600)
	code, _, errOut := dbsync(t, "people", "get", "-c", path, "u1")
	if code != exitUsage {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"store.driver (line 1)", "bogus (line 3)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not name %s", errOut, want)
		}
	}
}
