package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/store"
)

// membershipsSync is a relationships sync of a memberships table: the person by
// user_id or email, the account by account_id, the role, and removed.
func membershipsSync(name, srcType, dsn string, batch int) string {
	return fmt.Sprintf(`
  - name: %s
    kind: relationships
    object_type: account
    source: {type: %s, dsn: %q}
    table: memberships
    watermark: {column: updated_at, key: m_id}
    batch_size: %d
    object_id: account_id
    identifiers: {id: user_id, email: email}
    attributes: {role: role}
    remove: removed`, name, srcType, dsn, batch)
}

// TestRelationshipsMoveOnMerge: a people sync with merge_duplicates merging a lead
// into a customer moves the lead's relationships to the survivor, which `people
// relationships` shows by the survivor's id, the merged email and the retired cio_id;
// where both had one with the same object, the survivor's stays (SPEC §8, §1 rule 4).
func TestRelationshipsMoveOnMerge(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			srcDSN := testdb.SQLite(t)
			src, err := sql.Open("sqlite", srcDSN)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := src.Exec(q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec(`CREATE TABLE users (row_id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, plan TEXT, updated_at DATETIME)`)
			exec(`CREATE TABLE memberships (m_id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, account_id TEXT, role TEXT,
				removed BOOLEAN, updated_at DATETIME)`)
			exec(`INSERT INTO users VALUES (1, 'u1', NULL, 'pro', '2026-01-01 00:00:01'), (2, NULL, 'B@x.io', 'trial', '2026-01-01 00:00:02')`)
			exec(`INSERT INTO memberships VALUES (1, 'u1', NULL, 'a1', 'admin', false, '2026-01-01 00:00:01'),
				(2, NULL, 'b@x.io', 'a2', 'member', false, '2026-01-01 00:00:02'),
				(3, NULL, 'b@x.io', 'a1', 'viewer', false, '2026-01-01 00:00:03'),
				(4, NULL, 'b@x.io', 'a3', 'gone', false, '2026-01-01 00:00:04'),
				(5, NULL, 'b@x.io', 'a3', NULL, true, '2026-01-01 00:00:05')`)
			users := fmt.Sprintf(`
  - name: users
    source: {type: sqlite, dsn: %q}
    table: users
    watermark: {column: updated_at, key: row_id}
    identifiers: {id: user_id, email: email}
    exclude: [row_id, updated_at]`, srcDSN)
			cfg := writeConfig(t, backend.Driver, backend.DSN(t), "identifiers: [id, email]\n  merge_duplicates: true",
				users+membershipsSync("memberships", "sqlite", srcDSN, 2))
			run := func(sync string) {
				t.Helper()
				if code, out, errOut := dbsync(t, "run", "-c", cfg, "--sync", sync); code != exitOK {
					t.Fatalf("run %s: exit %d\n%s%s", sync, code, out, errOut)
				}
			}
			relationships := func(ident string) string {
				t.Helper()
				code, out, errOut := dbsync(t, "people", "relationships", "-c", cfg, ident)
				if code != exitOK {
					t.Fatalf("people relationships %s: exit %d: %s", ident, code, errOut)
				}
				var objs []string
				for _, l := range jsonLines(t, out) {
					attrs, _ := json.Marshal(l["attributes"])
					objs = append(objs, fmt.Sprintf("%s/%s %s", l["object_type"], l["object_id"], attrs))
				}
				return strings.Join(objs, ", ")
			}
			run("users")
			run("memberships")
			code, out, _ := dbsync(t, "people", "get", "-c", cfg, "b@x.io")
			if code != exitOK {
				t.Fatalf("people get b@x.io: exit %d", code)
			}
			lead := "cio_" + jsonLines(t, out)[0]["internal_customer_id"].(string)
			if got, want := relationships("b@x.io"), `account/a1 {"role":"viewer"}, account/a2 {"role":"member"}`; got != want {
				t.Fatalf("the lead's before the merge: %s, want %s", got, want)
			}

			exec(`INSERT INTO users VALUES (3, 'u1', 'b@x.io', NULL, '2026-01-01 00:00:03')`)
			run("users")
			want := `account/a1 {"role":"admin"}, account/a2 {"role":"member"}`
			for _, ident := range []string{"u1", "B@X.IO", lead} {
				if got := relationships(ident); got != want {
					t.Errorf("people relationships %s after the merge: %s, want %s", ident, got, want)
				}
			}
		})
	}
}

// TestKilledRelationshipsSyncLosesNothing: a relationships sync that creates people
// and objects, then updates and removes relationships, killed with SIGKILL at random
// moments (a real process each time) and run again until done, leaves the store a
// clean run leaves: the same people, relationships, objects and logs, each entry once.
func TestKilledRelationshipsSyncLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("100k rows, 8 kills")
	}
	const rows = 100_000
	srcDSN := testdb.Postgres(t)
	src, err := sql.Open("postgres", srcDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// Each person and account pair comes twice: first added, then, in the second
	// half, changed to owner or removed.
	for _, q := range []string{
		`CREATE TABLE memberships (m_id bigint PRIMARY KEY, user_id text, email text, account_id text, role text,
			removed boolean, updated_at timestamptz)`,
		fmt.Sprintf(`INSERT INTO memberships SELECT i, 'u' || (i %% %[1]d), NULL, 'a' || (i %% 1000),
			CASE WHEN i > %[1]d THEN 'owner' ELSE 'member' END, i > %[1]d AND i %% 7 = 0,
			'2026-01-01'::timestamptz + (i / 1000) * interval '1 second' FROM generate_series(1, %[2]d) i`, rows/2, rows),
	} {
		if _, err := src.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			cleanDSN := backend.DSN(t)
			clean := writeConfig(t, backend.Driver, cleanDSN, "", membershipsSync("memberships", "postgres", srcDSN, 2000))
			started := time.Now()
			if code, out, errOut := dbsyncTerm(t, "run", "-c", clean); code != 0 {
				t.Fatalf("clean run: exit %d\n%s%s", code, out, errOut)
			}
			took := time.Since(started)

			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", membershipsSync("memberships", "postgres", srcDSN, 2000))
			rng := rand.New(rand.NewSource(int64(len(backend.Driver))))
			midRun := 0
			for kill := 0; kill < 8; kill++ {
				// Early kills within a sixth of a clean run, so that the killed
				// runs together seldom finish it.
				if killRun(t, rng, backend.Driver, dsn, "memberships", cfg, kill, 50*time.Millisecond+took/6) {
					midRun++
				}
			}
			if w := watermark(t, backend.Driver, dsn, "memberships"); w == "" {
				t.Fatalf("no killed run committed a batch: the test proves little")
			}
			code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
			if code != 0 || !strings.Contains(out, "memberships: ok") {
				t.Fatalf("the run after the kills: exit %d\n%s%s", code, out, errOut)
			}
			if _, last, _ := dbsync(t, "runs", "-c", cfg, "--json", "--limit", "1"); jsonLines(t, last)[0]["rows_read"].(float64) >= rows {
				t.Fatalf("the killed runs left the last one everything to do: %s", last)
			}
			t.Logf("%d of 8 kills landed in the middle of a run (a clean run took %s)", midRun, took.Round(time.Millisecond))
			if midRun < 2 {
				t.Fatalf("only %d kills landed mid-run: the test proves little", midRun)
			}
			if a, b := people(t, backend.Driver, cleanDSN), people(t, backend.Driver, dsn); len(a) != rows/2 || !slices.Equal(a, b) {
				t.Fatalf("people differ from a clean run's: %d and %d", len(a), len(b))
			}
			if a, b := changes(t, backend.Driver, cleanDSN), changes(t, backend.Driver, dsn); !slices.Equal(a, b) || hasDuplicates(b) {
				t.Fatalf("change logs differ: %d entries after a clean run, %d after the kills", len(a), len(b))
			}
			for _, q := range []string{
				`SELECT p.external_id || '|' || r.object_type || '|' || r.object_id || '|' || r.attributes || '|' ||
					CASE WHEN r.removed THEN 'removed' ELSE 'live' END FROM relationships r JOIN people p ON p.internal_id = r.internal_id`,
				`SELECT object_type || '|' || object_id || '|' || attributes FROM objects`,
				`SELECT object_type || '|' || object_id || '|' || kind || '|' || row_key FROM object_log`,
			} {
				a, b := column(t, backend.Driver, cleanDSN, q), column(t, backend.Driver, dsn, q)
				if len(a) < 1000 || !slices.Equal(a, b) || hasDuplicates(b) {
					t.Fatalf("%s: %d rows after a clean run, %d after the kills (or repeated)", q, len(a), len(b))
				}
			}
		})
	}
}

// watermark is the sync's stored cursor, "" when none.
func watermark(t *testing.T, driver, dsn, sync string) string {
	t.Helper()
	st, err := store.OpenExisting(context.Background(), driver, dsn)
	if err != nil {
		return ""
	}
	defer st.Close()
	w, _ := st.Watermark(context.Background(), sync)
	return w.Cursor
}

// column reads a query's one text column, sorted.
func column(t *testing.T, driver, dsn, q string) []string {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
