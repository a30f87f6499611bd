package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
)

// ordersSync is an events sync of an orders table: the person by user_id, the name
// from kind, the id and timestamp the watermark's, total the data.
func ordersSync(name, srcType, dsn string, batch int) string {
	return fmt.Sprintf(`
  - name: %s
    kind: events
    source: {type: %s, dsn: %q}
    table: orders
    watermark: {column: created_at, key: order_id}
    batch_size: %d
    identifiers: {id: user_id}
    event: {name_column: kind}`, name, srcType, dsn, batch)
}

// TestEventsPreview: a preview of an events sync shows what each row would do: an
// event stored (with its person created), stored already within the preview, or the
// row refused and why; it writes nothing.
func TestEventsPreview(t *testing.T) {
	srcDSN := testdb.SQLite(t)
	src, err := sql.Open("sqlite", srcDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, q := range []string{
		`CREATE TABLE orders (order_id INTEGER PRIMARY KEY, user_id TEXT, kind TEXT, total REAL, created_at DATETIME)`,
		`INSERT INTO orders VALUES (1, 'u1', 'purchase', 1.5, '2026-01-01 00:00:01'), (2, 'u1', 'refund', NULL, '2026-01-01 00:00:02'),
			(3, NULL, 'purchase', 2, '2026-01-01 00:00:03'), (4, 'u2', '', 2, '2026-01-01 00:00:04')`,
	} {
		if _, err := src.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", ordersSync("orders", "sqlite", srcDSN, 2))
			code, out, errOut := dbsync(t, "preview", "-c", cfg, "--sync", "orders", "--json")
			if code != exitOK {
				t.Fatalf("preview: exit %d\n%s%s", code, out, errOut)
			}
			var got []string
			for _, l := range jsonLines(t, out) {
				var kinds []string
				if cs, ok := l["changes"].([]any); ok {
					for _, c := range cs {
						kinds = append(kinds, c.(map[string]any)["kind"].(string))
					}
				}
				got = append(got, fmt.Sprintf("%v %v %v %v %v", l["key"], l["result"], l["event_id"], l["event"], l["reason"]))
				if len(kinds) > 0 {
					got[len(got)-1] += " " + strings.Join(kinds, ",")
				}
			}
			want := []string{
				"1 created 1 purchase <nil> profile_create",
				"2 created 2 refund <nil>",
				"3 rejected 3 purchase no_identifier",
				"4 rejected 4 <nil> invalid_event_name",
			}
			if !slices.Equal(got, want) {
				t.Errorf("preview:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			code, out, _ = dbsyncTerm(t, "preview", "-c", cfg, "--sync", "orders")
			if code != exitOK || !strings.Contains(out, `new event 1 "purchase"`) {
				t.Errorf("preview on a terminal: exit %d\n%s", code, out)
			}
			if w := watermark(t, backend.Driver, dsn, "orders"); w != "" {
				t.Errorf("a preview saved a cursor: %s", w)
			}
		})
	}
}

// TestKilledEventsSyncLosesNothing: an events sync that creates people as it goes,
// killed with SIGKILL at random moments (a real process each time) and run again
// until done, leaves the store a clean run leaves: every event once, the same people
// and the same change log, each entry once.
func TestKilledEventsSyncLosesNothing(t *testing.T) {
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
	// Half the events are for people an earlier event created; many share a
	// timestamp, so batches end inside a second.
	for _, q := range []string{
		`CREATE TABLE orders (order_id bigint PRIMARY KEY, user_id text, kind text, total numeric, created_at timestamptz)`,
		fmt.Sprintf(`INSERT INTO orders SELECT i, 'u' || (i %% %[1]d), CASE WHEN i %% 3 = 0 THEN 'refund' ELSE 'purchase' END,
			i / 100.0, '2026-01-01'::timestamptz + (i / 1000) * interval '1 second' FROM generate_series(1, %[2]d) i`, rows/2, rows),
	} {
		if _, err := src.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	const eventsQ = `SELECT e.event_id || '|' || p.external_id || '|' || e.name || '|' || e.timestamp || '|' || e.data
		FROM events e JOIN people p ON p.internal_id = e.internal_id`
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			cleanDSN := backend.DSN(t)
			clean := writeConfig(t, backend.Driver, cleanDSN, "", ordersSync("orders", "postgres", srcDSN, 2000))
			started := time.Now()
			if code, out, errOut := dbsyncTerm(t, "run", "-c", clean); code != 0 || !strings.Contains(out, fmt.Sprintf("events stored:   %d", rows)) {
				t.Fatalf("clean run: exit %d\n%s%s", code, out, errOut)
			}
			took := time.Since(started)

			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", ordersSync("orders", "postgres", srcDSN, 2000))
			rng := rand.New(rand.NewSource(int64(len(backend.Driver)) + 16))
			midRun := 0
			for kill := 0; kill < 8; kill++ {
				// Early kills within a sixth of a clean run, so that the killed
				// runs together seldom finish it.
				if killRun(t, rng, backend.Driver, dsn, "orders", cfg, kill, 50*time.Millisecond+took/6) {
					midRun++
				}
			}
			if w := watermark(t, backend.Driver, dsn, "orders"); w == "" {
				t.Fatalf("no killed run committed a batch: the test proves little")
			}
			code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
			if code != 0 || !strings.Contains(out, "orders: ok") {
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
			a, b := column(t, backend.Driver, cleanDSN, eventsQ), column(t, backend.Driver, dsn, eventsQ)
			if len(a) != rows || !slices.Equal(a, b) || hasDuplicates(b) {
				t.Fatalf("events: %d after a clean run, %d after the kills (or they differ)", len(a), len(b))
			}
		})
	}
}

// TestEventsSyncMoveOnMerge: events stored by an events sync for a lead move to the
// customer it merges into (SPEC §8), and `people events` lists them by the survivor's
// id, the merged email and the retired cio_id, newest first.
func TestEventsSyncMoveOnMerge(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			srcDSN := testdb.SQLite(t)
			src, err := sql.Open("sqlite", srcDSN)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			exec := func(q string) {
				t.Helper()
				if _, err := src.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec(`CREATE TABLE users (row_id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, updated_at DATETIME)`)
			exec(`CREATE TABLE orders (order_id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, kind TEXT, total REAL, created_at DATETIME)`)
			exec(`INSERT INTO users VALUES (1, 'u1', NULL, '2026-01-01 00:00:01'), (2, NULL, 'B@x.io', '2026-01-01 00:00:02')`)
			exec(`INSERT INTO orders VALUES (1, 'u1', NULL, 'purchase', 10, '2026-01-01 00:00:01'),
				(2, NULL, 'b@x.io', 'visit', NULL, '2026-01-01 00:00:02'), (3, NULL, 'b@x.io', 'purchase', 2.5, '2026-01-01 00:00:03')`)
			syncs := fmt.Sprintf(`
  - name: users
    source: {type: sqlite, dsn: %[1]q}
    table: users
    watermark: {column: updated_at, key: row_id}
    identifiers: {id: user_id, email: email}
    exclude: [row_id, updated_at]
  - name: orders
    kind: events
    source: {type: sqlite, dsn: %[1]q}
    table: orders
    watermark: {column: created_at, key: order_id}
    identifiers: {id: user_id, email: email}
    event: {name_column: kind}`, srcDSN)
			cfg := writeConfig(t, backend.Driver, backend.DSN(t), "identifiers: [id, email]\n  merge_duplicates: true", syncs)
			run := func(sync string) {
				t.Helper()
				if code, out, errOut := dbsync(t, "run", "-c", cfg, "--sync", sync); code != exitOK {
					t.Fatalf("run %s: exit %d\n%s%s", sync, code, out, errOut)
				}
			}
			list := func(ident string) string {
				t.Helper()
				code, out, errOut := dbsync(t, "people", "events", "-c", cfg, ident)
				if code != exitOK {
					t.Fatalf("people events %s: exit %d: %s", ident, code, errOut)
				}
				var evs []string
				for _, l := range jsonLines(t, out) {
					data, _ := json.Marshal(l["data"])
					evs = append(evs, fmt.Sprintf("%v/%v %v %s", l["sync"], l["event_id"], l["name"], data))
				}
				return strings.Join(evs, ", ")
			}
			run("users")
			run("orders")
			code, out, _ := dbsync(t, "people", "get", "-c", cfg, "b@x.io")
			if code != exitOK {
				t.Fatalf("people get b@x.io: exit %d", code)
			}
			lead := "cio_" + jsonLines(t, out)[0]["internal_customer_id"].(string)
			if got, want := list("b@x.io"), `orders/3 purchase {"total":2.5}, orders/2 visit {}`; got != want {
				t.Fatalf("the lead's before the merge: %s, want %s", got, want)
			}
			exec(`INSERT INTO users VALUES (3, 'u1', 'b@x.io', '2026-01-01 00:00:03')`)
			run("users")
			want := `orders/3 purchase {"total":2.5}, orders/2 visit {}, orders/1 purchase {"total":10}`
			for _, ident := range []string{"u1", "B@X.IO", lead} {
				if got := list(ident); got != want {
					t.Errorf("people events %s after the merge: %s, want %s", ident, got, want)
				}
			}
		})
	}
}
