package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/store"
)

func accountsSync(name, dsn string, batch int) string {
	return fmt.Sprintf(`
  - name: %s
    kind: objects
    object_type: account
    source: {type: postgres, dsn: %q}
    table: accounts
    watermark: {column: updated_at, key: id}
    batch_size: %d
    object_id: account_id
    exclude: [id, updated_at]`, name, dsn, batch)
}

// TestObjectsSyncCommands: an objects sync through the command line, on both
// stores: preview shows each row's outcome and changes with its object, writing
// nothing; run's summary counts objects; runs, rejected and objects get show what
// the run did (SPEC §5, §8).
func TestObjectsSyncCommands(t *testing.T) {
	src := testdb.Postgres(t)
	db, err := sql.Open("postgres", src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE accounts (id bigint PRIMARY KEY, account_id text, plan text, seats int, updated_at timestamptz)`,
		`INSERT INTO accounts VALUES
			(1, 'Acme', 'pro', 3, '2026-01-01 00:00:01Z'),
			(2, 'acme', 'free', NULL, '2026-01-01 00:00:02Z'),
			(3, NULL, 'pro', 1, '2026-01-01 00:00:03Z'),
			(4, 'Acme', 'team', NULL, '2026-01-01 00:00:04Z')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			cfg := writeConfig(t, backend.Driver, backend.DSN(t), "", accountsSync("accounts", src, 1000))

			code, out, errOut := dbsync(t, "preview", "-c", cfg, "--sync", "accounts")
			if code != 0 {
				t.Fatalf("preview: exit %d\n%s%s", code, out, errOut)
			}
			var got []string
			for _, l := range jsonLines(t, out) {
				row := fmt.Sprintf("%v %v %v", l["key"], l["result"], or(l["object_id"]))
				if r := or(l["reason"]); r != "" {
					row += " " + r
				}
				list, _ := l["changes"].([]any)
				for _, c := range list {
					c := c.(map[string]any)
					row += strings.TrimRight(fmt.Sprintf(" %v %v %v>%v", c["kind"], or(c["attribute"]), or(c["from"]), or(c["to"])), " >")
				}
				got = append(got, row)
			}
			want := []string{
				"1 created Acme object_create",
				"2 created acme object_create",
				"3 rejected  no_object_id",
				"4 updated Acme attribute_change plan pro>team",
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("preview:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			code, out, _ = dbsyncTerm(t, "preview", "-c", cfg, "--sync", "accounts")
			if code != 0 || !strings.Contains(out, "OBJECT") || !strings.Contains(out, "new object") || strings.Contains(out, "PERSON") {
				t.Errorf("preview on a terminal: exit %d\n%s", code, out)
			}
			if code, _, _ := dbsync(t, "objects", "get", "-c", cfg, "account", "Acme"); code != exitNotFound {
				t.Fatalf("preview wrote an object: objects get exit %d", code)
			}

			code, out, errOut = dbsyncTerm(t, "run", "-c", cfg)
			if code != 0 || !strings.Contains(out, "accounts: ok") || !strings.Contains(out, "objects created: 2\n") ||
				!strings.Contains(out, "objects updated: 1\n") || !strings.Contains(out, "rows rejected:   1 (no_object_id 1)") {
				t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
			}
			code, out, _ = dbsync(t, "objects", "get", "-c", cfg, "account", "Acme")
			if code != 0 || !strings.Contains(out, `"object_type":"account","object_id":"Acme","attributes":{"plan":"team","seats":3}`) {
				t.Errorf("objects get account Acme: exit %d, %s", code, out)
			}
			code, out, _ = dbsync(t, "objects", "get", "-c", cfg, "account", "acme")
			if code != 0 || !strings.Contains(out, `"object_id":"acme","attributes":{"plan":"free"}`) {
				t.Errorf("objects get account acme: exit %d, %s", code, out)
			}
			if code, _, _ := dbsync(t, "objects", "get", "-c", cfg, "account", "ACME"); code != exitNotFound {
				t.Errorf("objects get account ACME: exit %d, want 3", code)
			}
			code, out, _ = dbsync(t, "rejected", "-c", cfg, "--json")
			if lines := jsonLines(t, out); code != 0 || len(lines) != 1 || lines[0]["key"] != "3" || !strings.HasPrefix(or(lines[0]["reason"]), "no_object_id") {
				t.Errorf("rejected: exit %d, %s", code, out)
			}

			if code, out, _ := dbsync(t, "run", "-c", cfg); code != 0 || !strings.Contains(out, `"rows_read":0`) {
				t.Errorf("a second run: exit %d, %s", code, out)
			}
			code, out, _ = dbsync(t, "runs", "-c", cfg, "--json")
			lines := jsonLines(t, out)
			if code != 0 || len(lines) != 2 {
				t.Fatalf("runs: exit %d, %s", code, out)
			}
			if r := lines[1]; r["rows_read"] != float64(4) || r["created"] != float64(2) || r["updated"] != float64(1) ||
				r["unchanged"] != float64(0) || r["rejected"] != float64(1) {
				t.Errorf("runs shows the first run as %v", r)
			}
		})
	}
}

// pgAccounts makes an accounts table of n rows in a fresh PostgreSQL schema: each
// of n/2 accounts twice, first as free and then, n/2 rows later, as pro, with an
// updated_at shared by runs of 1000 rows (ties on the cursor).
func pgAccounts(t *testing.T, n int) string {
	t.Helper()
	dsn := testdb.Postgres(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE accounts (id bigint PRIMARY KEY, account_id text, plan text, seats int, updated_at timestamptz)`,
		fmt.Sprintf(`INSERT INTO accounts SELECT i, 'a' || (i %% %[2]d), CASE WHEN i <= %[2]d THEN 'free' ELSE 'pro' END, i %% 7,
			'2026-01-01'::timestamptz + (i / 1000) * interval '1 second' FROM generate_series(1, %[1]d) i`, n, n/2),
		`CREATE INDEX accounts_cursor ON accounts (updated_at, id)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return dsn
}

// objectsOf describes every object by key and attributes, and the object log as
// (row key, object, kind, attribute, from, to), both sorted: two stores built by
// different runs compare equal when they hold the same.
func objectsOf(t *testing.T, driver, dsn string) (objs, log []string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.EachObject(ctx, func(o objects.Object) error {
		objs = append(objs, fmt.Sprintf("%s|%s|%s|%v", o.Type, o.ID, describeAttrs(o.Attributes), o.Deleted))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.EachObjectLog(ctx, func(c objects.Change) error {
		log = append(log, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s", c.RowKey, c.ObjectType, c.ObjectID, c.Kind, c.Attribute, c.From, c.To))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(objs)
	slices.Sort(log)
	return objs, log
}

// TestKilledObjectsSyncLosesNothing: an objects sync killed with SIGKILL at random
// moments (a real process each time) and run again until done leaves the objects
// and object log a clean run leaves: each object created once, each change logged
// once, on both stores (SPEC §3).
func TestKilledObjectsSyncLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("100k rows, 10 kills")
	}
	const rows = 100_000
	src := pgAccounts(t, rows)
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			cleanDSN := backend.DSN(t)
			clean := writeConfig(t, backend.Driver, cleanDSN, "", accountsSync("accounts", src, 2000))
			if code, out, errOut := dbsyncTerm(t, "run", "-c", clean); code != 0 {
				t.Fatalf("clean run: exit %d\n%s%s", code, out, errOut)
			}

			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", accountsSync("accounts", src, 2000))
			rng := rand.New(rand.NewSource(int64(len(backend.Driver))))
			midRun := 0
			for kill := 0; kill < 10; kill++ {
				cmd, _ := process(t, "run", "-c", cfg)
				time.Sleep(time.Duration(100+rng.Intn(1000)) * time.Millisecond)
				cmd.Process.Kill()
				cmd.Wait()
				if runningSync(t, backend.Driver, dsn, "accounts") {
					midRun++
				}
				expire(t, backend.Driver, dsn)
			}
			code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
			if code != 0 || !strings.Contains(out, "accounts: ok") {
				t.Fatalf("the run after the kills: exit %d\n%s%s", code, out, errOut)
			}
			// The killed runs must have committed some batches, or they prove little.
			if code, out, _ := dbsync(t, "runs", "-c", cfg, "--json", "--limit", "1"); code != 0 ||
				strings.Contains(out, fmt.Sprintf(`"rows_read":%d,`, rows)) {
				t.Fatalf("the run after the kills read every row: %s", out)
			}
			t.Logf("%d of 10 kills landed in the middle of a run", midRun)
			if midRun < 3 {
				t.Fatalf("only %d kills landed mid-run: the test proves little", midRun)
			}
			wantObjs, wantLog := objectsOf(t, backend.Driver, cleanDSN)
			gotObjs, gotLog := objectsOf(t, backend.Driver, dsn)
			if len(wantObjs) != rows/2 || !slices.Equal(wantObjs, gotObjs) {
				t.Fatalf("objects differ from a clean run's: %d and %d", len(wantObjs), len(gotObjs))
			}
			if !slices.Equal(wantLog, gotLog) || hasDuplicates(gotLog) {
				t.Fatalf("object logs differ: %d entries after a clean run, %d after the kills", len(wantLog), len(gotLog))
			}
			creates := 0
			for _, l := range gotLog {
				if strings.Contains(l, "|"+objects.KindObjectCreate+"|") {
					creates++
				}
			}
			if creates != rows/2 {
				t.Fatalf("%d object_create entries for %d objects", creates, rows/2)
			}
		})
	}
}

// runningSync says whether the last run of a sync recorded is still "running": its
// process died.
func runningSync(t *testing.T, driver, dsn, sync string) bool {
	t.Helper()
	st, err := store.OpenExisting(context.Background(), driver, dsn)
	if err != nil {
		return false
	}
	defer st.Close()
	runs, _ := st.Runs(context.Background(), sync, 1)
	return len(runs) == 1 && runs[0].Status == store.RunRunning
}

// TestObjectsDeleteCommands: an objects sync with delete: (SPEC §10) through the
// command line, on both stores: preview shows the delete and the skip without
// applying them; run's summary, run --json and runs (JSON and the table) count the
// deleted object and the row skipped as not_found; the object is gone after.
func TestObjectsDeleteCommands(t *testing.T) {
	src := testdb.Postgres(t)
	db, err := sql.Open("postgres", src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE accounts (id bigint PRIMARY KEY, account_id text, plan text, deleted_at timestamptz, updated_at timestamptz)`)
	exec(`INSERT INTO accounts VALUES (1, 'Acme', 'pro', NULL, '2026-01-01 00:00:01Z'), (2, 'Beta', 'free', NULL, '2026-01-01 00:00:02Z')`)
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			cfg := writeConfig(t, backend.Driver, backend.DSN(t), "", accountsSync("accounts", src, 1000)+"\n    delete: deleted_at")
			if code, out, errOut := dbsync(t, "run", "-c", cfg); code != 0 || !strings.Contains(out, `"created":2`) {
				t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
			}
			exec(`INSERT INTO accounts VALUES (3, 'Acme', NULL, '2026-01-02 00:00:00Z', '2026-01-01 00:00:03Z'),
				(4, 'Nobody', NULL, '2026-01-02 00:00:00Z', '2026-01-01 00:00:04Z')`)
			defer exec(`DELETE FROM accounts WHERE id > 2`)

			code, out, errOut := dbsync(t, "preview", "-c", cfg, "--sync", "accounts")
			var got []string
			for _, l := range jsonLines(t, out) {
				got = append(got, fmt.Sprintf("%v %v %v", l["key"], l["result"], or(l["reason"])))
			}
			if code != 0 || strings.Join(got, ", ") != "3 deleted , 4 skipped not_found" {
				t.Fatalf("preview: exit %d: %v\n%s", code, got, errOut)
			}
			if code, _, _ := dbsync(t, "objects", "get", "-c", cfg, "account", "Acme"); code != 0 {
				t.Fatalf("preview deleted Acme: objects get exit %d", code)
			}

			code, out, errOut = dbsyncTerm(t, "run", "-c", cfg)
			if code != 0 || !strings.Contains(out, "  objects deleted: 1\n") || !strings.Contains(out, "rows rejected:   1 (not_found 1)") {
				t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
			}
			if code, _, _ := dbsync(t, "objects", "get", "-c", cfg, "account", "Acme"); code != exitNotFound {
				t.Errorf("objects get account Acme after its delete: exit %d, want 3", code)
			}
			// Read again from the start (a state reset): Acme is created again by its
			// first row and deleted again by its delete row, as one at a time.
			if code, _, errOut := dbsync(t, "state", "reset", "-c", cfg, "--sync", "accounts"); code != 0 {
				t.Fatalf("state reset: exit %d %s", code, errOut)
			}
			code, out, _ = dbsync(t, "run", "-c", cfg)
			lines := jsonLines(t, out)
			if code != 0 || len(lines) != 1 {
				t.Fatalf("run --json: exit %d %s", code, out)
			}
			if r := lines[0]; r["rows_read"] != float64(4) || r["created"] != float64(1) || r["unchanged"] != float64(1) || r["deleted"] != float64(1) ||
				r["skipped"] != float64(1) || r["rejected"] != float64(1) || r["suppressed"] != float64(0) || fmt.Sprint(r["rejected_by"]) != "map[not_found:1]" {
				t.Errorf("run --json after a reset: %v", r)
			}

			code, out, _ = dbsync(t, "runs", "-c", cfg, "--json")
			lines = jsonLines(t, out)
			if code != 0 || len(lines) != 3 {
				t.Fatalf("runs: exit %d, %s", code, out)
			}
			if r := lines[1]; r["rows_read"] != float64(2) || r["deleted"] != float64(1) || r["skipped"] != float64(1) ||
				r["rejected"] != float64(1) || r["suppressed"] != float64(0) || r["created"] != float64(0) || r["updated"] != float64(0) {
				t.Errorf("runs shows the deleting run as %v", r)
			}
			code, out, _ = dbsyncTerm(t, "runs", "-c", cfg)
			rows := strings.Split(strings.TrimSpace(out), "\n")
			if code != 0 || len(rows) != 4 || !strings.Contains(rows[0], "REJECTED  SKIPPED  DELETED  SUPPRESSED") {
				t.Fatalf("runs on a terminal: exit %d\n%s", code, out)
			}
			if f := strings.Fields(rows[2]); len(f) < 11 || strings.Join(f[4:11], " ") != "2 0 0 0 1 1 1" {
				t.Errorf("runs on a terminal shows the deleting run as %q\n%s", rows[2], out)
			}
		})
	}
}
