package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
)

// TestLongPreviewDoesNotBlockRun: a preview that reads for about 12 s (a source
// that sends a row every 0.1 s: a query is read once, streamed, and PostgreSQL
// calls the napping function after the query's own sort, as it sends each row;
// each row outgrows the server's send buffer) and a run of another sync started while
// it goes, on one SQLite store: the run finishes while the preview still reads, and
// both succeed. The preview used to hold the store's write lock throughout, and the
// run failed after the 10 s busy timeout.
func TestLongPreviewDoesNotBlockRun(t *testing.T) {
	srcDSN, src := pgSource(t, 30)
	if _, err := src.Exec(`CREATE TABLE slow AS SELECT * FROM users`); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Exec(`INSERT INTO slow SELECT i, 'u' || i, 'u' || i || '@x.io', 'free', '2026-02-01'::timestamptz + i * interval '1 second'
		FROM generate_series(31, 120) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Exec(`CREATE FUNCTION nap(i bigint) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
		BEGIN PERFORM pg_sleep(0.1); RETURN i; END $$`); err != nil {
		t.Fatal(err)
	}
	storePath := testdb.SQLite(t)
	cfg := writeConfig(t, "sqlite", storePath, "", usersSync("users", srcDSN, 100)+fmt.Sprintf(`
  - name: slow
    source: {type: postgres, dsn: %q}
    query: SELECT id, user_id, email, updated_at, nap(id::bigint) AS n, repeat(email, 1000) AS pad
      FROM slow ORDER BY updated_at, id LIMIT 1000
    watermark: {column: updated_at, key: id}
    batch_size: 10
    identifiers: {id: user_id, email: email}
    exclude: [id, updated_at, n, pad]`, srcDSN))
	// The store exists and holds people, as it would in production.
	if code, out, errOut := dbsyncTerm(t, "run", "-c", cfg, "--sync", "users"); code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := src.Exec(`UPDATE users SET plan = 'gold', updated_at = updated_at + interval '1 day'`); err != nil {
		t.Fatal(err)
	}
	preview, out := process(t, "preview", "-c", cfg, "--sync", "slow", "--limit", "120")
	done := make(chan error, 1)
	go func() { done <- preview.Wait() }()
	eventually(t, "the preview to show its first batch", func() bool { return strings.Contains(out.String(), `"result"`) })
	start := time.Now()
	code, stdout, errOut := dbsyncTerm(t, "run", "-c", cfg, "--sync", "users")
	if code != 0 || !strings.Contains(stdout, "users: ok") || !strings.Contains(stdout, "people updated:  30") {
		t.Fatalf("a run during a preview: exit %d after %s\n%s%s", code, time.Since(start), stdout, errOut)
	}
	select {
	case err := <-done:
		t.Fatalf("the preview ended (%v) before the run did: the test proves nothing\n%s", err, out)
	default:
	}
	if err := <-done; err != nil {
		t.Fatalf("preview: %v\n%s", err, out)
	}
	if n := strings.Count(out.String(), `"result":"created"`); n != 90 {
		t.Fatalf("the preview shows %d people created, want 90 (30 exist):\n%s", n, out)
	}
}

// TestDryRunSeesEarlierBatches: a preview and a run --dry-run apply later batches to
// what earlier ones would have written, in memory, and write nothing: not even the
// store, when it does not exist yet. On both stores.
func TestDryRunSeesEarlierBatches(t *testing.T) {
	srcDSN, src := pgSource(t, 20)
	// Rows 11..20 name the people of rows 1..10 again, with another plan.
	if _, err := src.Exec(`UPDATE users SET user_id = 'u' || (id - 10), email = 'u' || (id - 10) || '@x.io', plan = 'gold' WHERE id > 10`); err != nil {
		t.Fatal(err)
	}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", usersSync("users", srcDSN, 3))
			code, out, errOut := dbsync(t, "preview", "-c", cfg, "--sync", "users", "--limit", "20")
			if code != 0 {
				t.Fatalf("preview: exit %d\n%s%s", code, out, errOut)
			}
			lines := jsonLines(t, out)
			if len(lines) != 20 {
				t.Fatalf("preview printed %d lines:\n%s", len(lines), out)
			}
			for i, l := range lines {
				want := "created"
				if i >= 10 {
					want = "updated"
				}
				if l["result"] != want {
					t.Fatalf("row %d: %v, want %s\n%s", i+1, l["result"], want, out)
				}
			}
			code, out, errOut = dbsyncTerm(t, "run", "-c", cfg, "--dry-run")
			if code != 0 || !strings.Contains(out, "people created:  10") || !strings.Contains(out, "people updated:  10") {
				t.Fatalf("run --dry-run: exit %d\n%s%s", code, out, errOut)
			}
			// Nothing was created: no SQLite file, no tables in the PostgreSQL database.
			if backend.Driver == "sqlite" {
				if _, err := os.Stat(dsn); !os.IsNotExist(err) {
					t.Fatalf("a dry run created the store: %v", err)
				}
				return
			}
			db, err := sql.Open("postgres", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var tables int
			db.QueryRowContext(context.Background(), `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables)
			if tables != 0 {
				t.Fatalf("a dry run created %d tables", tables)
			}
		})
	}
}

// TestReadCommandsOnReadOnlyStore: a SQLite store file the process may not write
// (0444, in a 0555 directory, so SQLite cannot create its WAL index either) is read
// by people get and log, rejected, runs, state show and preview, and is not changed.
// The commands run as another user (the tests run as root, whom modes do not stop).
func TestReadCommandsOnReadOnlyStore(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the commands as another user")
	}
	srcDSN, src := pgSource(t, 30)
	dir, err := os.MkdirTemp("", "dbsync-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir+"/store", 0o755); os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	os.Mkdir(dir+"/store", 0o755)
	storePath := dir + "/store/dbsync.db"
	cfg := writeConfig(t, "sqlite", storePath, "", usersSync("users", srcDSN, 7))
	body, _ := os.ReadFile(cfg)
	cfg = dir + "/dbsync.yaml"
	os.WriteFile(cfg, body, 0o644)
	if code, out, errOut := dbsyncTerm(t, "run", "-c", cfg); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := src.Exec(`INSERT INTO users SELECT i, 'u' || i, 'u' || i || '@x.io', 'free', '2026-03-01'
		FROM generate_series(31, 35) i`); err != nil {
		t.Fatal(err)
	}
	bin, _ := os.ReadFile(os.Args[0])
	os.WriteFile(dir+"/dbsync", bin, 0o755)
	os.Chmod(storePath, 0o444)
	os.Chmod(dir+"/store", 0o555)
	before, _ := os.ReadFile(storePath)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"people", "get", "u7"}, `"id":"u7"`},
		{[]string{"people", "log", "u7"}, `"kind":"profile_create"`},
		{[]string{"people", "relationships", "u7"}, ``},
		{[]string{"people", "events", "u7"}, ``},
		{[]string{"rejected"}, ``},
		{[]string{"runs"}, `"status":"ok"`},
		{[]string{"state", "show"}, `"cursor":"2026-01-01T00:00:00Z / 30"`},
		{[]string{"preview", "--sync", "users"}, `"result":"created"`},
		{[]string{"run", "--dry-run"}, `"dry_run":true,"rows_read":5,"created":5`},
	} {
		cmd := exec.Command(dir+"/dbsync", append(c.args, "-c", cfg)...)
		cmd.Env = append(os.Environ(), "DBSYNC_TEST_AS_DBSYNC=1")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if err != nil || !strings.Contains(out.String(), c.want) {
			t.Errorf("dbsync %s on a read-only store: %v\n%s%s", strings.Join(c.args, " "), err, out.String(), errOut.String())
		}
	}
	after, _ := os.ReadFile(storePath)
	if !bytes.Equal(before, after) {
		t.Fatal("the read commands changed the store file")
	}
	if entries, _ := os.ReadDir(dir + "/store"); len(entries) != 1 {
		t.Fatalf("the store directory holds %d files", len(entries))
	}
}
