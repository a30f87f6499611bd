package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/internal/testdb"
)

// TestRunJSONLines: off a terminal (or with --json) run prints one JSON object a
// line per sync on stdout, with the counts runs shows and the cursors; logs, among
// them a "sync started" line naming the sync and its cursor, go to stderr only. -c
// defaults to $DBSYNC_CONFIG.
func TestRunJSONLines(t *testing.T) {
	srcDSN, _ := pgSource(t, 30)
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			cfg := writeConfig(t, backend.Driver, backend.DSN(t), "", usersSync("users", srcDSN, 100)+usersSync("again", srcDSN, 100))
			t.Setenv("DBSYNC_CONFIG", cfg)
			code, out, errOut := dbsync(t, "run")
			if code != 0 {
				t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("want one line per sync, got:\n%s", out)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &v); err != nil {
				t.Fatalf("not a JSON line: %q: %v", lines[0], err)
			}
			for _, k := range []string{"sync", "status", "rows_read", "created", "updated", "unchanged", "rejected", "cursor_before", "cursor_after", "duration_seconds"} {
				if _, ok := v[k]; !ok {
					t.Errorf("no %q in %s", k, lines[0])
				}
			}
			if v["sync"] != "users" || v["status"] != "ok" || v["rows_read"] != 30.0 || v["created"] != 30.0 || v["cursor_after"] != "2026-01-01T00:00:00Z / 30" {
				t.Errorf("run line: %s", lines[0])
			}
			if _, ok := v["reason"]; ok {
				t.Errorf("a reason on an ok run: %s", lines[0])
			}
			if !strings.Contains(errOut, `"msg":"sync started"`) || !strings.Contains(errOut, `"sync":"users"`) || !strings.Contains(errOut, `"cursor":"(start)"`) {
				t.Errorf("no sync started log line with the sync and its cursor on stderr:\n%s", errOut)
			}
			// On a terminal a summary; with --json JSON lines again, the cursor logged.
			code, out, _ = dbsyncTerm(t, "run", "--sync", "users")
			if code != 0 || !strings.Contains(out, "users: ok") || strings.Contains(out, "{") {
				t.Errorf("run on a terminal: exit %d\n%s", code, out)
			}
			code, out, errOut = dbsyncTerm(t, "run", "--sync", "users", "--json")
			if code != 0 || !strings.HasPrefix(out, `{"sync":"users","status":"ok"`) || !strings.Contains(out, `"cursor_before":"2026-01-01T00:00:00Z / 30"`) {
				t.Errorf("run --json on a terminal: exit %d\n%s", code, out)
			}
			if !strings.Contains(errOut, `"cursor":"2026-01-01T00:00:00Z / 30"`) {
				t.Errorf("sync started does not log the cursor:\n%s", errOut)
			}
			// state show: one line per sync with sync, cursor, last_run.
			code, out, _ = dbsync(t, "state", "show")
			if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"sync":"users","cursor":"2026-01-01T00:00:00Z / 30"`) || !strings.Contains(out, `"last_run":{`) {
				t.Errorf("state show: exit %d\n%s", code, out)
			}
		})
	}
}

// TestLogLevel: --log-level (or DBSYNC_LOG_LEVEL) on every command; error hides
// the info lines.
func TestLogLevel(t *testing.T) {
	srcDSN, _ := pgSource(t, 5)
	cfg := writeConfig(t, "sqlite", testdb.SQLite(t), "", usersSync("users", srcDSN, 100))
	if code, _, errOut := dbsync(t, "run", "-c", cfg, "--log-level", "error"); code != 0 || strings.Contains(errOut, "sync started") {
		t.Errorf("--log-level error: exit %d, stderr %s", code, errOut)
	}
	t.Setenv("DBSYNC_LOG_LEVEL", "warn")
	if code, _, errOut := dbsync(t, "run", "-c", cfg); code != 0 || strings.Contains(errOut, "sync started") {
		t.Errorf("DBSYNC_LOG_LEVEL=warn: exit %d, stderr %s", code, errOut)
	}
	if code, _, errOut := dbsync(t, "run", "-c", cfg, "--log-level", "info"); code != 0 || !strings.Contains(errOut, "sync started") {
		t.Errorf("--log-level info over DBSYNC_LOG_LEVEL: exit %d, stderr %s", code, errOut)
	}
}

// TestStoreOnlyCommands: commands that touch only the store expand only the store's
// ${VAR}s: an unset source secret is no error for them, while run and validate
// --connect name it (exit 2).
func TestStoreOnlyCommands(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Setenv("DBSYNC_TEST_STORE_DSN", backend.DSN(t))
			cfg := writeConfig(t, backend.Driver, "${DBSYNC_TEST_STORE_DSN}", "", `
  - name: users
    source: {type: postgres, dsn: "postgres://app:${DBSYNC_TEST_UNSET_SOURCE_PW}@db/app"}
    table: users
    identifiers: {id: id}`)
			for _, args := range [][]string{
				{"runs", "-c", cfg},
				{"rejected", "-c", cfg},
				{"state", "show", "-c", cfg},
				{"people", "get", "-c", cfg, "nobody"},
				{"people", "relationships", "-c", cfg, "nobody"},
				{"people", "events", "-c", cfg, "nobody"},
				{"objects", "get", "-c", cfg, "account", "nothing"},
				{"validate", "-c", cfg},
			} {
				code, out, errOut := dbsync(t, args...)
				if code == exitUsage || strings.Contains(errOut, "DBSYNC_TEST_UNSET_SOURCE_PW") {
					t.Errorf("dbsync %s with an unset source secret: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
				}
			}
			for _, args := range [][]string{{"run", "-c", cfg}, {"validate", "--connect", "-c", cfg}} {
				code, _, errOut := dbsync(t, args...)
				if code != exitUsage || !strings.Contains(errOut, "syncs[0].source.dsn (line 8): environment variable DBSYNC_TEST_UNSET_SOURCE_PW is not set") {
					t.Errorf("dbsync %s with an unset source secret: exit %d\n%s", strings.Join(args, " "), code, errOut)
				}
			}
			// The store's own ${VAR}s still must be set.
			t.Setenv("DBSYNC_TEST_STORE_DSN", "")
			os.Unsetenv("DBSYNC_TEST_STORE_DSN")
			if code, _, errOut := dbsync(t, "runs", "-c", cfg); code != exitUsage || !strings.Contains(errOut, "store.dsn") {
				t.Errorf("runs with the store's DSN unset: exit %d\n%s", code, errOut)
			}
		})
	}
}
