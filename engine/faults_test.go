package engine_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	_ "github.com/dbsync/dbsync/connectors/mysql"
	_ "github.com/dbsync/dbsync/connectors/postgres"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// dropper is a source whose connections a test can cut from the server side.
type dropper struct {
	typ, dsn string
	admin    *sql.DB
	drop     func(t *testing.T) int // kills the source's connections, returns how many
}

func pgDropper(t *testing.T, rows int) dropper {
	dsn := testdb.Postgres(t)
	b := make([]byte, 4)
	rand.Read(b)
	app := "dbsync_src_" + hex.EncodeToString(b)
	admin, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	mustExec(t, admin, `CREATE TABLE users (id bigint PRIMARY KEY, user_id text, email text, updated_at timestamptz)`)
	mustExec(t, admin, fmt.Sprintf(`INSERT INTO users SELECT i, 'u' || i, 'u' || i || '@x.io',
		'2026-01-01'::timestamptz + i * interval '1 millisecond' FROM generate_series(1, %d) i`, rows))
	return dropper{typ: "postgres", dsn: dsn + "&application_name=" + app, admin: admin, drop: func(t *testing.T) int {
		var n int
		err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
		if err != nil {
			t.Error(err)
		}
		return n
	}}
}

func myDropper(t *testing.T, rows int) dropper {
	dsn := testdb.MySQL(t)
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	admin.SetMaxOpenConns(1)
	mustExec(t, admin, `CREATE TABLE users (id bigint PRIMARY KEY, user_id varchar(32), email varchar(64), updated_at datetime(6), INDEX (updated_at, id))`)
	mustExec(t, admin, fmt.Sprintf(`INSERT INTO users SELECT seq, CONCAT('u', seq), CONCAT('u', seq, '@x.io'),
		TIMESTAMPADD(MICROSECOND, seq * 1000, '2026-01-01') FROM seq_1_to_%d`, rows))
	var db string
	admin.QueryRow(`SELECT DATABASE()`).Scan(&db)
	return dropper{typ: "mysql", dsn: dsn, admin: admin, drop: func(t *testing.T) int {
		rows, err := admin.Query(`SELECT id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()`, db)
		if err != nil {
			t.Error(err)
			return 0
		}
		var ids []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			admin.Exec(fmt.Sprintf("KILL %d", id))
		}
		return len(ids)
	}}
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// A source connection dropped in the middle of a run (pg_terminate_backend, MariaDB
// KILL) costs nothing: the driver's pool reconnects, or the read is opened again
// after the last batch read. The run completes with every row once.
func TestSourceConnectionDroppedMidRun(t *testing.T) {
	for name, source := range map[string]func(*testing.T, int) dropper{
		"postgres": pgDropper, "mariadb": myDropper, "postgres query": pgDropper, "mariadb query": myDropper,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const rows = 20_000
			src := source(t, rows)
			st, eng, s, logged := faultSetup(t, "sqlite", testdb.SQLite(t), src.typ, src.dsn, 1000)
			eng.RetryPause = 10 * time.Millisecond
			s.Identifiers = config.Identifiers{ID: "user_id", Email: "email"}
			if strings.HasSuffix(name, "query") { // read once, streamed
				s.Table, s.Query = "", "SELECT id, user_id, email, updated_at FROM users"
			}
			batches, dropped := 0, 0
			res := eng.Run(context.Background(), s, engine.Options{OnBatch: func([]*record.Record) {
				if batches++; batches == 3 || batches == 9 {
					dropped += src.drop(t)
				}
			}})
			if res.Err != nil {
				t.Fatalf("run: %v\n%s", res.Err, logged.String())
			}
			if dropped == 0 {
				t.Fatal("no source connection was dropped: the test proves nothing")
			}
			if res.Created != rows || res.RowsRead != rows {
				t.Fatalf("read %d, created %d; want %d each", res.RowsRead, res.Created, rows)
			}

			n := 0
			st.EachChange(context.Background(), func(record.Change) error { n++; return nil })
			if n != rows {
				t.Fatalf("%d change log entries, want one per row (%d)", n, rows)
			}
		})
	}
}

// A source that stays down fails the run after the retries; the cursor stays at the
// last committed batch and the next run completes.
func TestSourceDownMidRunFailsCleanly(t *testing.T) {
	const rows = 5_000
	src := pgDropper(t, rows)
	st, eng, s, _ := faultSetup(t, "sqlite", testdb.SQLite(t), "postgres", src.dsn, 500)
	eng.RetryPause = time.Millisecond
	s.Exclude = []string{"id", "updated_at", "email"}
	batches := 0
	res := eng.Run(context.Background(), s, engine.Options{OnBatch: func([]*record.Record) {
		if batches++; batches == 2 {
			mustExec(t, src.admin, `ALTER TABLE users RENAME TO users_gone`) // every new read fails
			src.drop(t)
		}
	}})
	if res.Err == nil || res.Status != store.RunFailed {
		t.Fatalf("run with the source gone: %v %s", res.Err, res.Status)
	}
	if res.Created < 1000 || res.Created >= rows {
		t.Fatalf("created %d before failing", res.Created)
	}
	mustExec(t, src.admin, `ALTER TABLE users_gone RENAME TO users`)
	res = eng.Run(context.Background(), s, engine.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	total := 0
	st.EachPerson(context.Background(), func(identity.Person) error { total++; return nil })
	if total != rows || res.Unchanged != 0 {
		t.Fatalf("after the next run: %d people (want %d), %d re-read unchanged", total, rows, res.Unchanged)
	}
}

// A read whose connection is cut while its query runs (pg_terminate_backend) is
// opened again after the last batch read, with a growing pause, and the run completes.
// The query is read once, streamed: its rows are many batches and wide enough (15 MB
// in all) that the cut comes before the client has them all.
func TestSourceReadRetriedAfterLostConnection(t *testing.T) {
	const rows = 3_000
	src := pgDropper(t, rows)
	_, eng, s, logged := faultSetup(t, "sqlite", testdb.SQLite(t), "postgres", src.dsn, 100)
	eng.RetryPause = 10 * time.Millisecond
	s.Table, s.Query = "", `SELECT u.id, u.user_id, u.updated_at, repeat(u.user_id, 1000) AS pad
		FROM users u CROSS JOIN (SELECT pg_sleep(0.2)) AS pause`
	s.Exclude = append(s.Exclude, "pad")
	cut := make(chan int, 1)
	first := make(chan struct{})
	go func() { // after the first batch, cut the query's connection
		<-first
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			var n int
			src.admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1 AND query LIKE '%pg_sleep%'`,
				strings.TrimPrefix(src.dsn[strings.Index(src.dsn, "application_name="):], "application_name=")).Scan(&n)
			if n > 0 {
				cut <- n
				return
			}
		}
		cut <- 0
	}()
	batches := 0
	res := eng.Run(context.Background(), s, engine.Options{OnBatch: func([]*record.Record) {
		if batches++; batches == 1 {
			close(first)
		}
	}})
	if n := <-cut; n == 0 {
		t.Fatal("no running query was cut: the test proves nothing")
	}
	if res.Err != nil {
		t.Fatalf("run: %v\n%s", res.Err, logged.String())
	}
	if res.Created != rows || !strings.Contains(logged.String(), "source read failed") {
		t.Fatalf("created %d (want %d); log:\n%s", res.Created, rows, logged.String())
	}
}

// A read that fails for another reason (here the table is gone) is not read again:
// it would fail the same way. The run fails at once with its cursor intact.
func TestSourceErrorIsNotRetried(t *testing.T) {
	src := pgDropper(t, 2_000)
	_, eng, s, _ := faultSetup(t, "sqlite", testdb.SQLite(t), "postgres", src.dsn, 500)
	eng.RetryPause = time.Hour
	s.Exclude = []string{"id", "updated_at", "email"}
	batches := 0
	start := time.Now()
	res := eng.Run(context.Background(), s, engine.Options{OnBatch: func([]*record.Record) {
		if batches++; batches == 1 {
			mustExec(t, src.admin, `DROP TABLE users`)
		}
	}})
	if res.Err == nil || time.Since(start) > time.Minute || !strings.Contains(res.Err.Error(), "does not exist") {
		t.Fatalf("run after the table was dropped: %v after %v", res.Err, time.Since(start))
	}
}

// The store's server restarted in the middle of a run: the batch in flight is
// written again once the server is back (or the run fails cleanly); after the next
// run every row is in the store once.
func TestStoreRestartedMidRun(t *testing.T) {
	const rows = 30_000
	src := pgDropper(t, rows)
	cluster := testdb.OwnPostgres(t, "")
	ctx := context.Background()
	st, eng, s, logged := faultSetup(t, "postgres", cluster.DSN(), "postgres", src.dsn, 1000)
	s.Identifiers = config.Identifiers{ID: "user_id", Email: "email"}
	batches := 0
	restarted := make(chan struct{})
	res := eng.Run(ctx, s, engine.Options{OnBatch: func([]*record.Record) {
		if batches++; batches == 5 {
			go func() { defer close(restarted); cluster.Restart() }()
		}
	}})
	<-restarted
	t.Logf("run during the restart: %s, %v (read %d)", res.Status, res.Err, res.RowsRead)
	if res.Err != nil {
		// Failing is allowed, cleanly: the next run must complete it.
		cluster.Wait()
		if res = eng.Run(ctx, s, engine.Options{}); res.Err != nil {
			t.Fatalf("the run after the restart: %v\n%s", res.Err, logged.String())
		}
	}
	people, creates := 0, 0
	st.EachPerson(ctx, func(identity.Person) error { people++; return nil })
	st.EachChange(ctx, func(c record.Change) error {
		if c.Kind == record.ProfileCreate {
			creates++
		}
		return nil
	})
	if people != rows || creates != rows {
		t.Fatalf("%d people and %d profile_create entries, want %d of each", people, creates, rows)
	}
}

// Rows whose key is not unique (the same key at the same watermark value) are
// reported as duplicate_key, inside a batch, across a batch boundary, and across
// runs: read, never passed over, and not applied on top of the first.
func TestDuplicateKeysAreReported(t *testing.T) {
	dsn := testdb.Postgres(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, `CREATE TABLE users (id int, user_id text, plan text, updated_at timestamptz)`)
	mustExec(t, db, `INSERT INTO users SELECT i, 'u' || i, 'free', '2026-01-01'::timestamptz FROM generate_series(1, 10) i`)
	mustExec(t, db, `INSERT INTO users VALUES (5, 'u5', 'DUP-boundary', '2026-01-01'), (7, 'u7', 'DUP-inside', '2026-01-01')`)
	st, eng, s, _ := faultSetup(t, "sqlite", testdb.SQLite(t), "postgres", dsn, 5)
	res := eng.Run(context.Background(), s, engine.Options{})
	if res.Err != nil || res.RowsRead != 12 || res.Created != 10 || res.RejectedBy[engine.ReasonDuplicateKey] != 2 {
		t.Fatalf("run: %v: read %d, created %d, rejected %v", res.Err, res.RowsRead, res.Created, res.RejectedBy)
	}
	// The cursor is at (2026-01-01, 10); a second row 10 arrives later.
	mustExec(t, db, `INSERT INTO users VALUES (10, 'u10', 'DUP-next-run', '2026-01-01')`)
	res = eng.Run(context.Background(), s, engine.Options{})
	if res.Err != nil || res.RowsRead != 1 || res.RejectedBy[engine.ReasonDuplicateKey] != 1 {
		t.Fatalf("next run: %v: read %d, rejected %v", res.Err, res.RowsRead, res.RejectedBy)
	}
	var keys []string
	st.EachRejected(context.Background(), "users", 0, func(r store.Rejection) error {
		keys = append(keys, r.Key+" "+r.Reason)
		return nil
	})
	if strings.Join(keys, ",") != "5 duplicate_key,7 duplicate_key,10 duplicate_key" {
		t.Fatalf("rejected rows: %q", keys)
	}
	// Which of two tied rows comes first is the database's choice; the second is
	// never applied on top of it.
	for _, id := range []string{"u5", "u7", "u10"} {
		p, _ := st.FindPerson(context.Background(), eng.Settings, id)
		n := 0
		st.EachChange(context.Background(), func(record.Change) error { n++; return nil }, p.CioID)
		if n != 1 {
			t.Errorf("%s has %d change log entries, want its creation only", id, n)
		}
	}
}

// Hostile and odd values from a source each reject their row with a reason naming
// the column, or are kept exactly; the run goes on and never crashes.
func TestHostileValues(t *testing.T) {
	dsn := testdb.Postgres(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, `CREATE TABLE users (id int PRIMARY KEY, user_id text, score float8, born timestamptz, bio text, doc jsonb, updated_at timestamptz)`)
	rows := []struct {
		id              int
		score, born     string
		bio, doc        string
		reason, outcome string
	}{
		{1, "NaN", "", "", "", `column "score": NaN`, ""},
		{2, "Infinity", "", "", "", `column "score": +Inf`, ""},
		{3, "-Infinity", "", "", "", `column "score": -Inf`, ""},
		{4, "", "0001-01-01 00:00:00+00", "", "", "", "-62135596800"},
		{5, "", "9999-12-31 23:59:59+00", "", "", "", "253402300799"},
		{6, "", "1969-07-20 20:17:40+00", "", "", "", "-14182940"},
		{7, "", "infinity", "", "", `column "born"`, ""},
		{8, "", "", strings.Repeat("x", 1<<20), "", "value_too_long: bio (1048576 bytes > 1000)", ""},
		{9, "", "", "", strings.Repeat("[", 3000) + strings.Repeat("]", 3000), "value_too_long: doc", ""},
		{10, "1.5", "", "ünïcödé ✓", `{"b": [1, {"c": null}], "a": "x"}`, "", ""},
	}
	for _, r := range rows {
		null := func(s string) any {
			if s == "" {
				return nil
			}
			return s
		}
		_, err := db.Exec(`INSERT INTO users VALUES ($1, $2, $3::float8, $4::timestamptz, $5, $6::jsonb, '2026-01-01')`,
			r.id, fmt.Sprintf("u%d", r.id), null(r.score), null(r.born), null(r.bio), null(r.doc))
		if err != nil {
			t.Fatalf("row %d: %v", r.id, err)
		}
	}
	st, eng, s, _ := faultSetup(t, "sqlite", testdb.SQLite(t), "postgres", dsn, 4)
	res := eng.Run(context.Background(), s, engine.Options{})
	if res.Err != nil || res.RowsRead != int64(len(rows)) {
		t.Fatalf("run: %v, read %d", res.Err, res.RowsRead)
	}
	rejected := map[string]string{}
	st.EachRejected(context.Background(), "users", 0, func(r store.Rejection) error {
		rejected[r.Key] = r.Reason + ": " + r.Detail
		return nil
	})
	for _, r := range rows {
		key := fmt.Sprint(r.id)
		if r.reason != "" {
			if !strings.Contains(rejected[key], r.reason) {
				t.Errorf("row %d: rejected %q, want a reason with %q", r.id, rejected[key], r.reason)
			}
			continue
		}
		if rejected[key] != "" {
			t.Errorf("row %d was rejected: %s", r.id, rejected[key])
			continue
		}
		p, err := st.FindPerson(context.Background(), eng.Settings, "u"+key)
		if err != nil {
			t.Fatalf("row %d: %v", r.id, err)
		}
		if r.outcome != "" && string(p.Attributes["born"]) != r.outcome {
			t.Errorf("row %d: born = %s, want %s", r.id, p.Attributes["born"], r.outcome)
		}
	}
	p, _ := st.FindPerson(context.Background(), eng.Settings, "u10")
	if got := fmt.Sprint(string(p.Attributes["bio"]), string(p.Attributes["doc"])); got != `"ünïcödé ✓"{"a":"x","b":[1,{"c":null}]}` {
		t.Errorf("u10: %s", got)
	}

	// The watermark column changes type under a stored cursor: a clear error naming
	// the column, the run fails, the cursor stays; a state reset starts it over.
	mustExec(t, db, `ALTER TABLE users ALTER COLUMN updated_at TYPE bigint USING extract(epoch FROM updated_at)::bigint`)
	before, _ := st.Watermark(context.Background(), "users")
	res = eng.Run(context.Background(), s, engine.Options{})
	if res.Err == nil || !strings.Contains(res.Err.Error(), `"updated_at"`) {
		t.Fatalf("a run after the cursor column changed type: %v", res.Err)
	}
	if after, _ := st.Watermark(context.Background(), "users"); after.Cursor != before.Cursor {
		t.Fatalf("the failed run moved the cursor: %s -> %s", before.Cursor, after.Cursor)
	}
	st.ResetWatermark(context.Background(), "users")
	if res = eng.Run(context.Background(), s, engine.Options{}); res.Err != nil || res.RowsRead != int64(len(rows)) {
		t.Fatalf("after a reset: %v, read %d", res.Err, res.RowsRead)
	}
}

// Text that is not valid UTF-8 or holds NUL (a SQLite file can hold anything) rejects
// its row, naming the column, whether in an attribute or in an identifier.
func TestInvalidText(t *testing.T) {
	path := testdb.SQLite(t)
	src, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mustExec(t, src, `CREATE TABLE users (id INTEGER PRIMARY KEY, user_id TEXT, bio TEXT, updated_at TEXT)`)
	mustExec(t, src, `INSERT INTO users VALUES
		(1, 'u1', CAST(x'61ff62' AS TEXT), '2026-01-01 00:00:00'),
		(2, 'u2', CAST(x'610062' AS TEXT), '2026-01-01 00:00:00'),
		(3, CAST(x'75ff33' AS TEXT), 'ok', '2026-01-01 00:00:00'),
		(4, 'u4', 'fine', '2026-01-01 00:00:00')`)
	st, eng, s, _ := faultSetup(t, "sqlite", testdb.SQLite(t), "sqlite", path, 10)
	res := eng.Run(context.Background(), s, engine.Options{})
	if res.Err != nil || res.Created != 1 || res.Rejected != 3 {
		t.Fatalf("run: %v, created %d, rejected %d", res.Err, res.Created, res.Rejected)
	}
	var got []string
	st.EachRejected(context.Background(), "users", 0, func(r store.Rejection) error {
		got = append(got, r.Key+" "+r.Reason+": "+r.Detail)
		return nil
	})
	want := []string{`1 invalid_value: column "bio": text is not valid UTF-8`, `2 invalid_value: column "bio": text holds a NUL character`, `3 invalid_value: id is not valid UTF-8`}
	for i := range want {
		if i >= len(got) || !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("rejected rows:\n%s\nwant prefixes\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// faultSetup is a sync of the users table of a source (typ, dsn) into a store of the
// test's own, in batches of batch rows, logging into logged: the setup of the tests
// above. The sync maps user_id to id and leaves id and updated_at out.
func faultSetup(t *testing.T, driver, storeDSN, typ, dsn string, batch int) (*store.Store, *engine.Engine, config.Sync, *strings.Builder) {
	t.Helper()
	st, err := store.Open(context.Background(), driver, storeDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logged := &strings.Builder{}
	log := logrus.New()
	log.SetOutput(logged)
	eng := &engine.Engine{Store: st, Settings: identity.DefaultSettings(), Log: log, RetryPause: 10 * time.Millisecond}
	s := config.Sync{
		Name: "users", Source: config.Source{Type: typ, DSN: dsn}, Table: "users",
		Watermark: &config.Watermark{Column: "updated_at", Key: "id"}, BatchSize: batch,
		Identifiers: config.Identifiers{ID: "user_id"}, Exclude: []string{"id", "updated_at"},
	}
	return st, eng, s, logged
}
