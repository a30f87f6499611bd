package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// people delete, suppress and unsuppress (SPEC §10): exit 3 for no one (a store not
// yet created included, which they do not create), one line saying what happened,
// the operator in the change log, and the person found as `people get` finds them.
func TestPeopleDeleteSuppressUnsuppress(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", "")
			for _, sub := range []string{"delete", "suppress", "unsuppress"} {
				if code, _, stderr := dbsync(t, "people", sub, "-c", cfg, "u1"); code != exitNotFound {
					t.Errorf("people %s on a store never written: exit %d (%s), want %d", sub, code, stderr, exitNotFound)
				}
			}
			if backend.Driver == "sqlite" {
				if _, err := os.Stat(dsn); !os.IsNotExist(err) {
					t.Errorf("the commands created the store: %v", err)
				}
			} else if dump := testdb.Dump(t, backend.Driver, dsn); dump != "" {
				t.Errorf("the commands created the store's tables:\n%s", dump)
			}

			st, err := store.Open(ctx, backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			recs := []*record.Record{{Key: "1", ID: "AB100", Email: "Ann@Example.com"}, {Key: "2", ID: "u2", Email: "b@example.com"}}
			err = st.InTx(ctx, func(tx *store.Tx) error {
				people, err := (&identity.Planner{Settings: identity.DefaultSettings()}).Plan(ctx, tx, "test", recs)
				if err != nil {
					return err
				}
				return tx.Write(ctx, "test", 1, recs, people)
			})
			if err != nil {
				t.Fatal(err)
			}
			ann, b := recs[0].Person, recs[1].Person

			code, stdout, stderr := dbsync(t, "people", "delete", "-c", cfg, "ANN@example.com")
			var out forgetOut
			if code != exitOK || json.Unmarshal([]byte(stdout), &out) != nil || out.Action != "deleted" || out.InternalCustomerID != ann ||
				!strings.HasPrefix(out.Sync, "operator:") || !strings.Contains(out.Sync, "@") {
				t.Fatalf("people delete: exit %d %q %s", code, stdout, stderr)
			}
			for _, id := range []string{"AB100", "ann@example.com", "cio_" + ann} {
				if code, _, _ := dbsync(t, "people", "get", "-c", cfg, id); code != exitNotFound {
					t.Errorf("people get %s after the delete: exit %d", id, code)
				}
				if code, _, _ := dbsync(t, "people", "delete", "-c", cfg, id); code != exitNotFound {
					t.Errorf("people delete %s again: exit %d", id, code)
				}
			}
			var log []record.Change
			st.EachChange(ctx, func(c record.Change) error { log = append(log, c); return nil }, ann)
			if last := log[len(log)-1]; last.Kind != record.ProfileDelete || last.Sync != out.Sync {
				t.Errorf("the last log entry: %+v, want profile_delete by %s", last, out.Sync)
			}

			if code, stdout, _ := dbsyncTerm(t, "people", "suppress", "-c", cfg, "cio_"+b); code != exitOK ||
				!strings.HasPrefix(stdout, "suppressed cio_"+b) || strings.Count(stdout, "\n") != 1 {
				t.Errorf("people suppress on a terminal: exit %d %q", code, stdout)
			}
			if code, _, _ := dbsync(t, "people", "unsuppress", "-c", cfg, "AB100"); code != exitNotFound {
				t.Errorf("unsuppress of an id deleted, not suppressed: exit %d", code)
			}
			if code, stdout, _ := dbsync(t, "people", "unsuppress", "--json", "-c", cfg, "B@EXAMPLE.COM"); code != exitOK ||
				!strings.Contains(stdout, `"action":"unsuppressed"`) || !strings.Contains(stdout, b) {
				t.Errorf("people unsuppress: exit %d %q", code, stdout)
			}
			if code, _, _ := dbsync(t, "people", "unsuppress", "-c", cfg, "u2"); code != exitNotFound {
				t.Errorf("unsuppress of the id released with the email: exit %d", code)
			}
		})
	}
}

// The commands follow the conventions: -h on stdout with an example, a stray
// argument or a missing one a usage error, a near subcommand suggested.
func TestPeopleForgetUsage(t *testing.T) {
	for _, sub := range []string{"delete", "suppress", "unsuppress"} {
		if code, stdout, _ := dbsync(t, "people", sub, "-h"); code != exitOK || !strings.Contains(stdout, "dbsync people "+sub+" -c dbsync.yaml") {
			t.Errorf("people %s -h: exit %d %q", sub, code, stdout)
		}
		if code, _, stderr := dbsync(t, "people", sub, "-c", "x.yaml", "a", "b"); code != exitUsage || !strings.Contains(stderr, `"b"`) {
			t.Errorf("people %s with two identifiers: exit %d %q", sub, code, stderr)
		}
		if code, _, _ := dbsync(t, "people", sub, "-c", "x.yaml"); code != exitUsage {
			t.Errorf("people %s without an identifier: exit %d", sub, code)
		}
	}
	if code, _, stderr := dbsync(t, "people", "supress", "x"); code != exitUsage || !strings.Contains(stderr, `did you mean "suppress"`) {
		t.Errorf("people supress: exit %d %q", code, stderr)
	}
}

// preview shows what a sync's delete and suppress columns would do, each row seeing
// the rows before it (batches of 2 here), and writes nothing.
func TestPreviewDeleteAndSuppress(t *testing.T) {
	src := testdb.Postgres(t)
	syncs := fmt.Sprintf(`
  - name: users
    source: {type: postgres, dsn: %q}
    query: >-
      SELECT n, user_id, email, gone, sup, updated_at FROM (VALUES
        (1, 'u1', 'a@x.io', FALSE, FALSE, TIMESTAMPTZ '2026-01-01 00:00:01Z'),
        (2, 'u1', NULL, TRUE, FALSE, TIMESTAMPTZ '2026-01-01 00:00:02Z'),
        (3, 'u1', NULL, FALSE, FALSE, TIMESTAMPTZ '2026-01-01 00:00:03Z'),
        (4, 'u1', NULL, FALSE, TRUE, TIMESTAMPTZ '2026-01-01 00:00:04Z'),
        (5, 'u1', 'z@x.io', FALSE, FALSE, TIMESTAMPTZ '2026-01-01 00:00:05Z'),
        (6, 'nobody', NULL, TRUE, FALSE, TIMESTAMPTZ '2026-01-01 00:00:06Z')
      ) AS v(n, user_id, email, gone, sup, updated_at)
    watermark: {column: updated_at, key: n}
    batch_size: 2
    identifiers: {id: user_id, email: email}
    delete: gone
    suppress: sup
    exclude: [n, updated_at]`, src)
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", syncs)
			code, out, errOut := dbsync(t, "preview", "-c", cfg, "--sync", "users")
			if code != 0 {
				t.Fatalf("preview: exit %d\n%s%s", code, out, errOut)
			}
			var got []string
			for _, l := range jsonLines(t, out) {
				row := fmt.Sprintf("%v %v", l["key"], l["result"])
				if r := or(l["reason"]); r != "" {
					row += " " + r
				}
				got = append(got, row)
			}
			want := "1 created,2 deleted,3 created,4 suppressed,5 skipped suppressed,6 skipped not_found"
			if strings.Join(got, ",") != want {
				t.Errorf("preview:\n%s\nwant\n%s", strings.Join(got, ","), want)
			}
			if code, _, _ := dbsync(t, "people", "get", "-c", cfg, "u1"); code != exitNotFound {
				t.Errorf("the preview wrote: people get u1 exit %d", code)
			}
		})
	}
}
