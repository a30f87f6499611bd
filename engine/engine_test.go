package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	_ "github.com/dbsync/dbsync/connectors/sqlite"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

// bundle is one test's source (a SQLite file with a users table), store and engine.
type bundle struct {
	src    *sql.DB
	srcDSN string
	st     *store.Store
	stDSN  string // the store's, to read its tables directly
	engine *engine.Engine
	sync   config.Sync
}

const ts = "2006-01-02 15:04:05.000000"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, storeBackend testdb.Store) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{srcDSN: testdb.SQLite(t)}
	var err error
	if b.src, err = sql.Open("sqlite", b.srcDSN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.src.Close() })
	b.exec(t, `CREATE TABLE users (
		row_id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, plan TEXT, score REAL, updated_at DATETIME)`)
	b.stDSN = storeBackend.DSN(t)
	if b.st, err = store.Open(ctx, storeBackend.Driver, b.stDSN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.st.Close() })
	log := logrus.New()
	log.SetOutput(io.Discard)
	b.engine = &engine.Engine{Store: b.st, Settings: identity.DefaultSettings(), Log: log}
	b.sync = config.Sync{
		Name:        "users",
		Source:      config.Source{Type: "sqlite", DSN: b.srcDSN},
		Table:       "users",
		Watermark:   &config.Watermark{Column: "updated_at", Key: "row_id"},
		BatchSize:   10,
		Identifiers: config.Identifiers{ID: "user_id", Email: "email"},
		Exclude:     []string{"row_id", "updated_at"},
		Nulls:       config.NullsIgnore,
	}
	return b
}

func (b *bundle) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := b.src.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// insert adds users u<from>..u<to-1>, updated at t0 plus their number of seconds.
func (b *bundle) insert(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		b.exec(t, `INSERT INTO users (row_id, user_id, email, plan, score, updated_at) VALUES (?, ?, ?, 'free', ?, ?)`,
			i, fmt.Sprintf("u%d", i), fmt.Sprintf("u%d@x.io", i), float64(i), t0.Add(time.Duration(i)*time.Second).Format(ts))
	}
}

func (b *bundle) run(t *testing.T, opt engine.Options) *engine.Result {
	t.Helper()
	res := b.engine.Run(context.Background(), b.sync, opt)
	if res.Err != nil {
		t.Fatalf("run: %v", res.Err)
	}
	return res
}

func counts(r *engine.Result) string {
	return fmt.Sprintf("read %d created %d updated %d unchanged %d rejected %d",
		r.RowsRead, r.Created, r.Updated, r.Unchanged, r.Rejected)
}

func TestRunsReadOnlyWhatChanged(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			b.insert(t, 1, 36)
			if got := counts(b.run(t, engine.Options{})); got != "read 35 created 35 updated 0 unchanged 0 rejected 0" {
				t.Fatalf("first run: %s", got)
			}
			if got := counts(b.run(t, engine.Options{})); got != "read 0 created 0 updated 0 unchanged 0 rejected 0" {
				t.Fatalf("a run with nothing changed: %s", got)
			}
			b.exec(t, `UPDATE users SET plan = 'pro', updated_at = ? WHERE row_id IN (3, 30)`, t0.Add(time.Hour).Format(ts))
			b.insert(t, 36, 38)
			res := b.run(t, engine.Options{})
			if got := counts(res); got != "read 4 created 2 updated 2 unchanged 0 rejected 0" {
				t.Fatalf("after 2 updates and 2 inserts: %s", got)
			}
			p, err := b.st.FindPerson(context.Background(), identity.DefaultSettings(), "u30")
			if err != nil || string(p.Attributes["plan"]) != `"pro"` {
				t.Fatalf("u30 = %+v, %v; want plan pro", p, err)
			}
			runs, err := b.st.Runs(context.Background(), "users", 10)
			if err != nil || len(runs) != 3 || runs[0].Status != store.RunOK || runs[0].RowsRead != 4 || runs[0].CursorBefore == "" {
				t.Fatalf("run history = %+v, %v", runs, err)
			}
		})
	}
}

func TestLookbackCatchesLateRowsAndRewritesNothing(t *testing.T) {
	b := setup(t, testdb.Stores()[0])
	b.sync.Lookback = config.Duration(time.Minute)
	b.insert(t, 1, 21)
	b.run(t, engine.Options{})
	// A row committed late, with a time 30 s before the cursor.
	b.exec(t, `INSERT INTO users (row_id, user_id, email, updated_at) VALUES (100, 'late', 'late@x.io', ?)`,
		t0.Add(20*time.Second-30*time.Second).Format(ts))
	res := b.run(t, engine.Options{})
	// Rows within the minute before the cursor are read again; only the late one writes.
	if res.Created != 1 || res.Updated != 0 || res.Unchanged != res.RowsRead-1 || res.RowsRead < 2 {
		t.Fatalf("second run: %s", counts(res))
	}
	if _, err := b.st.FindPerson(context.Background(), identity.DefaultSettings(), "late"); err != nil {
		t.Fatalf("the late row was not synced: %v", err)
	}
}

func TestBadRowsAreRecordedAndTheRunGoesOn(t *testing.T) {
	b := setup(t, testdb.Stores()[0])
	b.insert(t, 1, 6)
	b.exec(t, `UPDATE users SET score = ? WHERE row_id = 2`, "x\x00y")          // text with NUL in a score column
	b.exec(t, `UPDATE users SET user_id = NULL, email = NULL WHERE row_id = 3`) // no identifier
	b.exec(t, `INSERT INTO users (row_id, user_id, updated_at) VALUES (9, 'never', NULL)`)
	res := b.run(t, engine.Options{})
	if got := counts(res); got != "read 5 created 3 updated 0 unchanged 0 rejected 2" {
		t.Fatalf("run: %s", got)
	}
	if res.NullCursorRows != 1 {
		t.Errorf("NULL cursor rows = %d, want 1", res.NullCursorRows)
	}
	var got []string
	b.st.EachRejected(context.Background(), "users", 0, func(r store.Rejection) error {
		got = append(got, r.Key+" "+r.Reason+" "+r.Detail)
		return nil
	})
	if len(got) != 2 || !strings.HasPrefix(got[0], `2 invalid_value column "score"`) || !strings.HasPrefix(got[1], "3 no_identifier") {
		t.Fatalf("rejected rows = %q", got)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			b.insert(t, 1, 26)
			res := b.run(t, engine.Options{DryRun: true})
			if got := counts(res); got != "read 25 created 25 updated 0 unchanged 0 rejected 0" {
				t.Fatalf("dry run: %s", got)
			}
			ctx := context.Background()
			n := 0
			b.st.EachPerson(ctx, func(identity.Person) error { n++; return nil })
			wm, _ := b.st.Watermark(ctx, "users")
			runs, _ := b.st.Runs(ctx, "", 10)
			if n != 0 || wm.Cursor != "" || len(runs) != 0 {
				t.Fatalf("a dry run wrote: %d people, cursor %q, %d runs", n, wm.Cursor, len(runs))
			}
			if got := counts(b.run(t, engine.Options{})); got != "read 25 created 25 updated 0 unchanged 0 rejected 0" {
				t.Fatalf("the real run after it: %s", got)
			}
		})
	}
}

// A cancelled context (SIGTERM) lets the batch being written commit, then stops; the
// next run continues from that batch's cursor.
func TestInterruptedRunResumes(t *testing.T) {
	b := setup(t, testdb.Stores()[0])
	b.insert(t, 1, 51)
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	res := b.engine.Run(ctx, b.sync, engine.Options{OnBatch: func([]*record.Record) {
		if batches++; batches == 2 {
			cancel()
		}
	}})
	if res.Err != engine.ErrInterrupted || res.RowsRead != 20 || res.Status != store.RunFailed {
		t.Fatalf("interrupted run: %v, %s", res.Err, counts(res))
	}
	runs, _ := b.st.Runs(context.Background(), "users", 1)
	if len(runs) != 1 || runs[0].Status != store.RunFailed || !strings.HasPrefix(runs[0].Error, "interrupted") {
		t.Fatalf("the interrupted run is recorded as %+v", runs)
	}
	if wm, _ := b.st.Watermark(context.Background(), "users"); wm.LastSyncTime != 0 {
		t.Fatalf("an interrupted run set last_sync_time")
	}
	if got := counts(b.run(t, engine.Options{})); got != "read 30 created 30 updated 0 unchanged 0 rejected 0" {
		t.Fatalf("the run after: %s", got)
	}
}

// A second run of a sync while one holds its lease is skipped, and recorded so.
func TestOneRunAtATime(t *testing.T) {
	b := setup(t, testdb.Stores()[1])
	b.insert(t, 1, 5)
	ctx := context.Background()
	lease, err := state.Acquire(ctx, b.st, state.SyncLease("users"), "someone-else", nil)
	if err != nil {
		t.Fatal(err)
	}
	res := b.engine.Run(ctx, b.sync, engine.Options{})
	if res.Status != store.RunAlreadyRunning || res.RowsRead != 0 {
		t.Fatalf("run while another holds the lease: %s, %v", res.Status, res.Err)
	}
	lease.Release(ctx)
	if res := b.run(t, engine.Options{}); res.Created != 4 {
		t.Fatalf("run after release: %s", counts(res))
	}
	runs, _ := b.st.Runs(ctx, "users", 10)
	if len(runs) != 2 || runs[1].Status != store.RunAlreadyRunning || runs[0].Status != store.RunOK {
		t.Fatalf("run history: %+v", runs)
	}
}

// Off a terminal a long run logs its progress: rows read, rows/s, how far behind.
func TestProgressIsLogged(t *testing.T) {
	b := setup(t, testdb.Stores()[0])
	b.insert(t, 1, 31)
	var logged strings.Builder
	log := logrus.New()
	log.SetOutput(&logged)
	log.SetFormatter(&logrus.JSONFormatter{})
	b.engine.Progress = &engine.Progress{Every: time.Nanosecond, Log: log}
	b.run(t, engine.Options{})
	lines := strings.Count(logged.String(), `"msg":"progress"`)
	if lines != 3 || !strings.Contains(logged.String(), `"rows":30`) || !strings.Contains(logged.String(), `"cursor_lag_seconds"`) {
		t.Fatalf("want a progress line per batch (every 1ns) with rows and lag, got:\n%s", logged.String())
	}
}

// A run that panics is recorded as failed (and does not move last_sync_time); the
// panic goes on to the caller, which serve recovers.
func TestPanicIsRecordedAsFailure(t *testing.T) {
	b := setup(t, testdb.Stores()[0])
	b.insert(t, 1, 21)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		b.engine.Run(context.Background(), b.sync, engine.Options{OnBatch: func([]*record.Record) {
			panic("boom")
		}})
	}()
	ctx := context.Background()
	runs, _ := b.st.Runs(ctx, "users", 1)
	if len(runs) != 1 || runs[0].Status != store.RunFailed || runs[0].Error != "panic: boom" {
		t.Fatalf("run history: %+v", runs)
	}
	if wm, _ := b.st.Watermark(ctx, "users"); wm.LastSyncTime != 0 {
		t.Fatal("a panicked run set last_sync_time")
	}
}

// A run cancelled at any moment is interrupted, never ok with rows left unread: an ok
// run moves last_sync_time, and a query: sync would then skip the rows it never read.
func TestCancelledRunIsNeverOK(t *testing.T) {
	b := setup(t, testdb.Stores()[0])
	b.insert(t, 1, 301)
	for i := 0; i < 30; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		delay := time.Duration(i%10) * 100 * time.Microsecond
		res := b.engine.Run(ctx, b.sync, engine.Options{OnBatch: func([]*record.Record) {
			go func() { time.Sleep(delay); cancel() }()
		}})
		cancel()
		wm, _ := b.st.Watermark(context.Background(), "users")
		if res.Status == store.RunOK && !strings.HasSuffix(wm.Cursor, `"value":"300"}}`) {
			t.Fatalf("attempt %d: a cancelled run ended ok at cursor %s", i, wm.Cursor)
		}
		if res.Status == store.RunOK {
			break
		}
	}
}

// A backfill plans batches as all new people once a batch's lookups found no one; a
// batch that does name someone already stored collides on their id or email key and
// is planned again with lookups: the result is what lookups would have given.
func TestBackfillGuessFallsBack(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			b.insert(t, 1, 41)
			// u25 is already a customer; u35's email is already a lead.
			ctx := context.Background()
			pl := &identity.Planner{Settings: identity.DefaultSettings()}
			err := b.st.InTx(ctx, func(tx *store.Tx) error {
				recs := []*record.Record{
					{Key: "a", ID: "u25", Attrs: []record.Attr{{Name: "plan", Value: []byte(`"old"`)}}},
					{Key: "b", Email: "u35@x.io"},
				}
				people, err := pl.Plan(ctx, tx, "earlier", recs)
				if err != nil {
					return err
				}
				return tx.Write(ctx, "earlier", 0, recs, people)
			})
			if err != nil {
				t.Fatal(err)
			}
			res := b.run(t, engine.Options{})
			if got := counts(res); got != "read 40 created 38 updated 2 unchanged 0 rejected 0" {
				t.Fatalf("backfill: %s", got)
			}
			n := 0
			b.st.EachPerson(ctx, func(identity.Person) error { n++; return nil })
			p, _ := b.st.FindPerson(ctx, identity.DefaultSettings(), "u35@x.io")
			if n != 40 || p == nil || p.ID != "u35" {
				t.Fatalf("%d people (want 40); the lead: %+v", n, p)
			}
		})
	}
}

// SPEC §3: config column names match the source's exactly, or ignoring case when one
// column matches, in every part of a run: the watermark too.
func TestColumnNamesMatchIgnoringCase(t *testing.T) {
	b := setup(t, testdb.Stores()[0])
	b.insert(t, 1, 6)
	b.sync.Watermark = &config.Watermark{Column: "Updated_At", Key: "ROW_ID"}
	b.sync.Identifiers = config.Identifiers{ID: "User_ID", Email: "EMAIL"}
	b.sync.Exclude = []string{"Row_Id", "UPDATED_AT", "Score"}
	res := b.run(t, engine.Options{})
	if got := counts(res); got != "read 5 created 5 updated 0 unchanged 0 rejected 0" {
		t.Fatalf("run: %s", got)
	}
	p, err := b.st.FindPerson(context.Background(), identity.DefaultSettings(), "u3")
	if err != nil || p.Email != "u3@x.io" || len(p.Attributes) != 1 || string(p.Attributes["plan"]) != `"free"` {
		t.Fatalf("u3 = %+v, %v", p, err)
	}
}

// SPEC §2: an unmapped column named like an identifier stops the run before it writes.
func TestUnmappedIdentifierColumnStopsTheRun(t *testing.T) {
	b := setup(t, testdb.Stores()[0])
	b.insert(t, 1, 6)
	b.sync.Identifiers = config.Identifiers{ID: "user_id"}
	res := b.engine.Run(context.Background(), b.sync, engine.Options{})
	if res.Err == nil || !strings.Contains(res.Err.Error(), `column "email"`) || res.RowsRead != 0 {
		t.Fatalf("run: %v, %s; want an error naming column email", res.Err, counts(res))
	}
	n := 0
	b.st.EachPerson(context.Background(), func(identity.Person) error { n++; return nil })
	if wm, _ := b.st.Watermark(context.Background(), "users"); n != 0 || wm.Cursor != "" {
		t.Fatalf("the run wrote %d people, cursor %q", n, wm.Cursor)
	}
}
