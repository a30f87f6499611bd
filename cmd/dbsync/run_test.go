package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// The test binary doubles as the dbsync binary, so tests can run real processes
// (and kill them) without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("DBSYNC_TEST_AS_DBSYNC") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// process starts `dbsync args...` as its own process.
func process(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "DBSYNC_TEST_AS_DBSYNC=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// pgSource makes a users table of n rows in a fresh PostgreSQL schema: ids u1..un,
// emails, a plan and an updated_at shared by runs of 1000 rows (ties on the cursor).
func pgSource(t *testing.T, n int) (dsn string, db *sql.DB) {
	t.Helper()
	dsn = testdb.Postgres(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`CREATE TABLE users (id bigint PRIMARY KEY, user_id text, email text, plan text, updated_at timestamptz)`,
		fmt.Sprintf(`INSERT INTO users SELECT i, 'u' || i, 'u' || i || '@x.io', (ARRAY['free','pro','team'])[1 + i %% 3],
			'2026-01-01'::timestamptz + (i / 1000) * interval '1 second' FROM generate_series(1, %d) i`, n),
		`CREATE INDEX users_cursor ON users (updated_at, id)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, db
}

func usersSync(name, dsn string, batch int) string {
	return fmt.Sprintf(`
  - name: %s
    source: {type: postgres, dsn: %q}
    table: users
    watermark: {column: updated_at, key: id}
    batch_size: %d
    identifiers: {id: user_id, email: email}
    exclude: [id, updated_at]`, name, dsn, batch)
}

// people describes every person by identifiers and attributes, sorted: two stores
// built by different runs compare equal when they hold the same people.
func people(t *testing.T, driver, dsn string) []string {
	t.Helper()
	st, err := store.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []string
	st.EachPerson(context.Background(), func(p identity.Person) error {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s", p.ID, p.Email, describeAttrs(p.Attributes), p.MergedInto))
		return nil
	})
	slices.Sort(out)
	return out
}

// changes lists the change log as (row key, kind, attribute, from, to, reason), sorted.
func changes(t *testing.T, driver, dsn string) []string {
	t.Helper()
	st, err := store.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []string
	st.EachChange(context.Background(), func(c record.Change) error {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|%s|%s", c.RowKey, c.Kind, c.Attribute, c.From, c.To, c.Reason))
		return nil
	})
	slices.Sort(out)
	return out
}

func describeAttrs(attrs map[string]json.RawMessage) string {
	b, _ := json.Marshal(attrs)
	return string(b)
}

func hasDuplicates(sorted []string) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return true
		}
	}
	return false
}

func st2(t *testing.T, path string) *store.Store {
	st, err := store.Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestTwoProcessesOneRun: two dbsync run processes of the same sync started together
// on a shared PostgreSQL store: one runs, the other reports already running.
func TestTwoProcessesOneRun(t *testing.T) {
	srcDSN, _ := pgSource(t, 100_000)
	storeDSN := testdb.Postgres(t)
	cfg := writeConfig(t, "postgres", storeDSN, "", usersSync("users", srcDSN, 5000))
	// Create the schema first, so both processes race on the lease, not the migration.
	st, err := store.Open(context.Background(), "postgres", storeDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	a, outA := process(t, "run", "-c", cfg)
	b, outB := process(t, "run", "-c", cfg)
	errA, errB := a.Wait(), b.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("exit: %v, %v\n%s\n%s", errA, errB, outA, outB)
	}
	ran := strings.Count(outA.String()+outB.String(), `"sync":"users","status":"ok"`)
	skipped := strings.Count(outA.String()+outB.String(), `"sync":"users","status":"skipped: already running"`)
	if ran != 1 || skipped != 1 {
		t.Fatalf("want one run and one skip, got %d and %d:\n%s\n%s", ran, skipped, outA, outB)
	}
	runs, _ := st.Runs(context.Background(), "users", 10)
	statuses := []string{runs[0].Status, runs[1].Status}
	slices.Sort(statuses)
	if len(runs) != 2 || statuses[0] != store.RunOK || statuses[1] != store.RunAlreadyRunning {
		t.Fatalf("run history: %+v", runs)
	}
	if n := len(people(t, "postgres", storeDSN)); n != 100_000 {
		t.Fatalf("%d people, want 100000", n)
	}
}

// TestSourceDown: a source that is down fails its sync with an error naming the sync
// and host but not the password, exit 1, its state untouched; the other syncs run.
func TestSourceDown(t *testing.T) {
	srcDSN, _ := pgSource(t, 50)
	storePath := testdb.SQLite(t)
	down := "postgres://app:s3cret-pw@127.0.0.1:1/app?sslmode=disable&connect_timeout=5"
	cfg := writeConfig(t, "sqlite", storePath, "", usersSync("broken", down, 100)+usersSync("users", srcDSN, 100))
	code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	all := out + errOut
	if strings.Contains(all, "s3cret-pw") {
		t.Fatalf("the password was printed:\n%s", all)
	}
	if !strings.Contains(out, "broken: failed") || !strings.Contains(all, "127.0.0.1:1") || !strings.Contains(out, "users: ok") {
		t.Fatalf("want the broken sync and its host named and the other sync run:\n%s%s", out, errOut)
	}
	st := st2(t, storePath)
	if wm, _ := st.Watermark(context.Background(), "broken"); wm.Cursor != "" || wm.LastSyncTime != 0 {
		t.Fatalf("the broken sync's state changed: %+v", wm)
	}
	if n := len(people(t, "sqlite", storePath)); n != 50 {
		t.Fatalf("%d people, want 50", n)
	}
}

// TestBadConfigWritesNothing: exit 2, every problem named, and no store created.
func TestBadConfigWritesNothing(t *testing.T) {
	storePath := filepath.Join(t.TempDir(), "never.db")
	cfg := writeConfig(t, "sqlite", storePath, "", `
  - name: users
    source: {type: postgres, dsn: "postgres://x"}
    query: SELECT * FROM users
    watermark: {column: updated_at}
    identifiers: {}
  - name: users
    source: {type: oracle}
    table: t
    identifiers: {id: id}`)
	code, _, errOut := dbsyncTerm(t, "run", "-c", cfg)
	if code != exitUsage {
		t.Fatalf("exit %d, want 2\n%s", code, errOut)
	}
	for _, want := range []string{"syncs[0].query", "syncs[0].watermark.key", "syncs[0].identifiers", "syncs[1].name", "syncs[1].source.type"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not name %s:\n%s", want, errOut)
		}
	}
	if _, err := os.Stat(storePath); !os.IsNotExist(err) {
		t.Fatalf("a bad config created the store: %v", err)
	}
}

func TestStateShowAndReset(t *testing.T) {
	srcDSN, _ := pgSource(t, 30)
	storePath := testdb.SQLite(t)
	cfg := writeConfig(t, "sqlite", storePath, "", usersSync("users", srcDSN, 100))
	if code, out, errOut := dbsyncTerm(t, "run", "-c", cfg); code != 0 {
		t.Fatalf("run: %d %s %s", code, out, errOut)
	}
	code, out, _ := dbsync(t, "state", "show", "-c", cfg)
	if code != 0 || !strings.Contains(out, `"sync":"users"`) || !strings.Contains(out, `"cursor":"2026-01-01T00:00:00Z / 30"`) {
		t.Fatalf("state show: exit %d\n%s", code, out)
	}
	if code, out, errOut := dbsync(t, "state", "reset", "-c", cfg, "--sync", "users"); code != 0 {
		t.Fatalf("state reset: exit %d %s %s", code, out, errOut)
	}
	code, out, _ = dbsyncTerm(t, "run", "-c", cfg)
	if code != 0 || !strings.Contains(out, "rows read:       30") || !strings.Contains(out, "unchanged:       30") {
		t.Fatalf("the run after a reset reads everything again (and changes nothing): exit %d\n%s", code, out)
	}
	if code, _, _ := dbsync(t, "state", "reset", "-c", cfg, "--sync", "nope"); code != exitUsage {
		t.Fatalf("reset of an unknown sync: exit %d, want 2", code)
	}
}

func TestPreviewWritesNothing(t *testing.T) {
	srcDSN, src := pgSource(t, 30)
	src.Exec(`UPDATE users SET user_id = NULL, email = NULL WHERE id = 2`)
	storePath := testdb.SQLite(t)
	cfg := writeConfig(t, "sqlite", storePath, "", usersSync("users", srcDSN, 100))
	code, out, errOut := dbsync(t, "preview", "-c", cfg, "--sync", "users", "--limit", "3")
	if code != 0 {
		t.Fatalf("preview: exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"result":"created"`) || !strings.Contains(lines[1], `"reason":"no_identifier"`) {
		t.Fatalf("preview printed:\n%s", out)
	}
	if n := len(people(t, "sqlite", storePath)); n != 0 {
		t.Fatalf("preview wrote %d people", n)
	}
}

// TestStateShowLastRunCounts: state show's last_run carries the counts the run
// recorded (a run that created 30 people says created 30), on both stores.
func TestStateShowLastRunCounts(t *testing.T) {
	srcDSN, _ := pgSource(t, 30)
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			cfg := writeConfig(t, backend.Driver, backend.DSN(t), "", usersSync("users", srcDSN, 7))
			if code, out, errOut := dbsyncTerm(t, "run", "-c", cfg); code != 0 {
				t.Fatalf("run: %d %s %s", code, out, errOut)
			}
			code, out, errOut := dbsync(t, "state", "show", "-c", cfg, "--json")
			lines := jsonLines(t, out)
			if code != 0 || len(lines) != 1 {
				t.Fatalf("state show: exit %d\n%s%s", code, out, errOut)
			}
			last, _ := lines[0]["last_run"].(map[string]any)
			if last["rows_read"] != 30.0 || last["created"] != 30.0 || last["updated"] != 0.0 || last["status"] != "ok" ||
				last["cursor_after"] != "2026-01-01T00:00:00Z / 30" {
				t.Fatalf("state show last_run = %v", last)
			}
		})
	}
}

// TestRunJSON: `run --json` prints one JSON object per sync with its status, the
// counts `runs` shows and the cursors (SPEC §5: every command that prints records
// accepts --json).
func TestRunJSON(t *testing.T) {
	srcDSN, _ := pgSource(t, 30)
	for _, st := range []struct{ driver, dsn string }{{"sqlite", testdb.SQLite(t)}, {"postgres", testdb.Postgres(t)}} {
		t.Run(st.driver, func(t *testing.T) {
			cfg := writeConfig(t, st.driver, st.dsn, "", usersSync("users", srcDSN, 7))
			code, out, errOut := dbsync(t, "run", "-c", cfg, "--json")
			if code != 0 {
				t.Fatalf("run --json: exit %d\n%s\n%s", code, out, errOut)
			}
			var got runResult
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, out)
			}
			if got.Sync != "users" || got.Status != "ok" || got.RowsRead != 30 || got.Created != 30 ||
				got.CursorBefore != "" || got.CursorAfter != "2026-01-01T00:00:00Z / 30" {
				t.Fatalf("run --json printed %+v", got)
			}
		})
	}
}
