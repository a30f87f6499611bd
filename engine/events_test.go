package engine_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// orders adds the source's orders table and returns its events sync: a person by
// user_id, email or cio_id, the event's name from event_name, its id and timestamp
// the watermark's (order_id, created_at), and note and total its data.
func (b *bundle) orders(t *testing.T) config.Sync {
	t.Helper()
	b.exec(t, `CREATE TABLE orders (order_id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, cio_id TEXT,
		event_name TEXT, note TEXT, total REAL, created_at DATETIME)`)
	return config.Sync{
		Name:        "orders",
		Kind:        config.KindEvents,
		Source:      b.sync.Source,
		Table:       "orders",
		Watermark:   &config.Watermark{Column: "created_at", Key: "order_id"},
		BatchSize:   b.sync.BatchSize,
		Identifiers: config.Identifiers{ID: "user_id", Email: "email", CioID: "cio_id"},
		Event:       &config.Event{NameColumn: "event_name"},
		Nulls:       config.NullsIgnore,
	}
}

// order is one row of the orders table; "" and a nil total are NULL.
type order struct {
	id, email, cio, name, note string
	total                      any
}

// addOrder writes an orders row (a new one, or one again, changed).
func (b *bundle) addOrder(t *testing.T, oid int, o order, at time.Time) {
	t.Helper()
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	b.exec(t, `INSERT OR REPLACE INTO orders (order_id, user_id, email, cio_id, event_name, note, total, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, oid, null(o.id), null(o.email), null(o.cio), null(o.name), null(o.note), o.total, at.Format(ts))
}

// eventsOf is a person's events as `people events` lists them, newest first.
func eventsOf(t *testing.T, st *store.Store, cio string) []string {
	t.Helper()
	var out []string
	if err := st.PersonEvents(context.Background(), cio, 0, func(e events.Event) error {
		out = append(out, fmt.Sprintf("%s/%s %s %d %s", e.Sync, e.ID, e.Name, e.Timestamp, e.Data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// storedEvents counts the store's events, and their distinct (sync, id)s.
func storedEvents(t *testing.T, dsn, driver string) (n, distinct int) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT sync || '/' || event_id) FROM events`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	return n, distinct
}

// TestEventSync is SPEC §9's events through the engine, on both stores: events for
// people found by id and email (never changed) and for a new person; each limit and
// reason; and each event stored once whatever re-reads it: a state reset, a changed
// row of a stored event, a lookback.
func TestEventSync(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := identity.DefaultSettings()
			b := setup(t, backend)
			clock := time.Unix(1_800_000_000, 0)
			b.engine.Now = func() time.Time { return clock }
			b.exec(t, `INSERT INTO users (row_id, user_id, email, plan, updated_at) VALUES (1, 'u1', 'u1@x.io', 'pro', ?)`, t0.Format(ts))
			b.run(t, engine.Options{})
			u1 := cioOf(t, b.st, s, "u1")
			before := personText(t, b.st, u1)

			o := b.orders(t)
			at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
			rows := []order{
				1: {id: "u1", email: "other@x.io", name: "purchase", note: "first", total: 19.99}, // by id; the email is not set
				2: {id: "n1", email: "n1@x.io", name: "purchase", total: int64(5)},                // a new person
				3: {cio: "cio_0123456789abcdef", name: "login"},
				4: {name: "login", note: "no one"},
				5: {id: "u1"}, // no name
				6: {id: "u1", name: strings.Repeat("n", events.MaxNameBytes+1)},
				7: {id: "u1", name: "big", note: strings.Repeat("x", events.MaxDataBytes)},
				8: {email: "U1@X.IO", name: "login"}, // by email; NULLs are left out of the data
				9: {id: "u1", name: strings.Repeat("n", events.MaxNameBytes), note: strings.Repeat("x", events.MaxDataBytes-11)},
			}
			for i := 1; i < len(rows); i++ {
				b.addOrder(t, i, rows[i], at(i))
			}
			clock = clock.Add(time.Hour)
			created := clock.Unix()
			res := b.runSync(t, o, engine.Options{})
			if got, want := relCounts(res), "read 9 created 4 updated 0 unchanged 0 rejected 4 skipped 1 failed 0"; got != want {
				t.Fatalf("first run: %s, want %s", got, want)
			}
			var sum bytes.Buffer
			res.WriteSummary(&sum)
			if !strings.Contains(sum.String(), "events stored:   4\n") || strings.Contains(sum.String(), "updated") {
				t.Errorf("summary:\n%s", sum.String())
			}
			if now := personText(t, b.st, u1); now != before {
				t.Errorf("an events row changed a person:\n%s\nnow\n%s", before, now)
			}
			n1 := cioOf(t, b.st, s, "n1")
			if p := personText(t, b.st, n1); p != fmt.Sprintf("%s|n1|n1@x.io||%d|%d||false\n%d|orders|2|profile_create||{\"id\":\"n1\",\"email\":\"n1@x.io\"}|", n1, created, created, created) {
				t.Errorf("the new person:\n%s", p)
			}
			u1Events := []string{
				fmt.Sprintf(`orders/9 %s %d {"note":"%s"}`, rows[9].name, at(9).Unix(), rows[9].note),
				fmt.Sprintf(`orders/8 login %d {}`, at(8).Unix()),
				fmt.Sprintf(`orders/1 purchase %d {"note":"first","total":19.99}`, at(1).Unix()),
			}
			if got := eventsOf(t, b.st, u1); !slices.Equal(got, u1Events) {
				t.Errorf("u1's events:\n  %.200q\nwant\n  %.200q", got, u1Events)
			}
			if got, want := eventsOf(t, b.st, n1), []string{fmt.Sprintf(`orders/2 purchase %d {"total":5}`, at(2).Unix())}; !slices.Equal(got, want) {
				t.Errorf("n1's events = %q, want %q", got, want)
			}
			var refused []string
			b.st.EachRejected(ctx, "orders", 0, func(r store.Rejection) error {
				refused = append(refused, fmt.Sprintf("%s %s %v", r.Key, r.Reason, r.Skipped))
				return nil
			})
			if want := []string{"3 cio_id_not_found true", "4 no_identifier false", "5 invalid_event_name false",
				"6 invalid_event_name false", "7 event_too_large false"}; !slices.Equal(refused, want) {
				t.Errorf("rejected = %q, want %q", refused, want)
			}

			// A state reset reads every row again and writes nothing.
			was := storeText(t, b)
			if _, err := b.st.ResetWatermark(ctx, "orders"); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(time.Hour)
			if got, want := relCounts(b.runSync(t, o, engine.Options{})), "read 9 created 0 updated 0 unchanged 4 rejected 4 skipped 1 failed 0"; got != want {
				t.Fatalf("after a state reset: %s, want %s", got, want)
			}
			if d := firstDifference("store", was, storeText(t, b)); d != "" {
				t.Errorf("a re-read wrote: %s", d)
			}

			// A changed row of a stored event changes nothing, nor creates its new person.
			b.addOrder(t, 1, order{id: "n2", name: "refund", note: "changed"}, at(20))
			clock = clock.Add(time.Hour)
			if got, want := relCounts(b.runSync(t, o, engine.Options{})), "read 1 created 0 updated 0 unchanged 1 rejected 0 skipped 0 failed 0"; got != want {
				t.Fatalf("a changed row: %s, want %s", got, want)
			}
			if d := firstDifference("store", was, storeText(t, b)); d != "" {
				t.Errorf("a changed row of a stored event wrote: %s", d)
			}

			// A lookback re-reads the rows near the cursor: the late one is stored, the
			// others once already.
			o.Lookback = config.Duration(time.Hour)
			b.addOrder(t, 10, order{id: "u1", name: "late"}, at(15))
			clock = clock.Add(time.Hour)
			if got, want := relCounts(b.runSync(t, o, engine.Options{})), "read 10 created 1 updated 0 unchanged 4 rejected 4 skipped 1 failed 0"; got != want {
				t.Fatalf("a lookback: %s, want %s", got, want)
			}
			if got, want := relCounts(b.runSync(t, o, engine.Options{})), "read 10 created 0 updated 0 unchanged 5 rejected 4 skipped 1 failed 0"; got != want {
				t.Fatalf("a lookback again: %s, want %s", got, want)
			}
			if n, distinct := storedEvents(t, b.stDSN, b.st.Driver()); n != 5 || distinct != 5 {
				t.Errorf("%d events stored (%d distinct), want 5", n, distinct)
			}
		})
	}
}

// TestEventSyncDryRun: a dry run of an events sync counts what a run would do and
// writes nothing; the real run after it does the same.
func TestEventSyncDryRun(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			b.sync.BatchSize = 4
			o := b.orders(t)
			o.BatchSize = 4
			// Two people, the second created by the first of its rows; an event id
			// repeated (an own id column) across batches.
			o.Event.IDColumn = "note"
			for i := 1; i <= 13; i++ {
				b.addOrder(t, i, order{id: fmt.Sprint("u", i%2), name: "e", note: fmt.Sprint("n", i%9)}, t0.Add(time.Duration(i)*time.Second))
			}
			dry := relCounts(b.runSync(t, o, engine.Options{DryRun: true}))
			if want := "read 13 created 9 updated 0 unchanged 4 rejected 0 skipped 0 failed 0"; dry != want {
				t.Fatalf("dry run: %s, want %s", dry, want)
			}
			if text := storeText(t, b); len(text) != 0 {
				t.Fatalf("a dry run wrote: %q", text)
			}
			if got := relCounts(b.runSync(t, o, engine.Options{})); got != dry {
				t.Fatalf("the run after it: %s, want %s", got, dry)
			}
		})
	}
}

// TestEventsMoveWithAMerge: when a person is merged (SPEC §1 rule 4), their events
// move to the survivor (§8), and `people events` lists them there.
func TestEventsMoveWithAMerge(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			s := identity.DefaultSettings()
			s.MergeDuplicates = true
			b.engine.Settings = s
			b.exec(t, `INSERT INTO users (row_id, user_id, email, updated_at) VALUES (1, 'u1', NULL, ?), (2, NULL, 'lead@x.io', ?)`,
				t0.Format(ts), t0.Format(ts))
			b.run(t, engine.Options{})
			u1, lead := cioOf(t, b.st, s, "u1"), cioOf(t, b.st, s, "lead@x.io")
			o := b.orders(t)
			b.addOrder(t, 1, order{id: "u1", name: "a"}, t0.Add(time.Minute))
			b.addOrder(t, 2, order{email: "lead@x.io", name: "b"}, t0.Add(2*time.Minute))
			b.runSync(t, o, engine.Options{})
			if len(eventsOf(t, b.st, lead)) != 1 || len(eventsOf(t, b.st, u1)) != 1 {
				t.Fatalf("before the merge: u1 %q, lead %q", eventsOf(t, b.st, u1), eventsOf(t, b.st, lead))
			}
			b.exec(t, `UPDATE users SET email = 'lead@x.io', updated_at = ? WHERE row_id = 1`, t0.Add(time.Hour).Format(ts))
			b.run(t, engine.Options{})
			survivor := cioOf(t, b.st, s, "lead@x.io")
			merged := lead
			if survivor == lead {
				merged = u1
			}
			want := []string{fmt.Sprintf("orders/2 b %d {}", t0.Add(2*time.Minute).Unix()), fmt.Sprintf("orders/1 a %d {}", t0.Add(time.Minute).Unix())}
			if got := eventsOf(t, b.st, survivor); !slices.Equal(got, want) {
				t.Errorf("the survivor's events = %q, want %q", got, want)
			}
			if got := eventsOf(t, b.st, merged); len(got) != 0 {
				t.Errorf("the merged person kept events: %q", got)
			}
		})
	}
}

// randomEventRuns draws several runs of people rows and event rows over shared pools
// of ids and emails: events for new people and known ones, by id, email or both, an
// unknown cio_id, no identifier, a bad name, too much data, and event ids (an own id
// column) repeated within a run and across runs, for another person too.
func randomEventRuns(seed int64, runs, users, evs int) (people [][]srcRow, orders [][]order) {
	rng := rand.New(rand.NewSource(seed))
	fresh := 0
	var ids, emails []string
	pick := func(pool []string, prefix, suffix string) string {
		if len(pool) == 0 || rng.Intn(3) == 0 {
			fresh++
			return fmt.Sprintf("%s%d%s", prefix, fresh, suffix)
		}
		return pool[rng.Intn(len(pool))]
	}
	remember := func(id, email string) {
		if id != "" {
			ids = append(ids, id)
		}
		if email != "" {
			emails = append(emails, strings.ToLower(email))
		}
	}
	eventIDs := 0
	people, orders = make([][]srcRow, runs), make([][]order, runs)
	for run := 0; run < runs; run++ {
		for i := 0; i < users; i++ {
			var r srcRow
			switch k := rng.Intn(10); {
			case k < 3:
				r.id = pick(ids, "n", "")
			case k < 5:
				r.email = pick(emails, "m", "@x.io")
			default:
				r.id, r.email = pick(ids, "n", ""), pick(emails, "m", "@x.io")
			}
			if rng.Intn(2) == 0 {
				r.plan = fmt.Sprint("p", rng.Intn(3))
			}
			remember(r.id, r.email)
			people[run] = append(people[run], r)
		}
		for i := 0; i < evs; i++ {
			var o order
			switch k := rng.Intn(20); {
			case k < 6:
				o.id = pick(ids, "n", "")
			case k < 10:
				o.email = pick(emails, "m", "@x.io")
			case k < 16:
				o.id, o.email = pick(ids, "n", ""), pick(emails, "m", "@x.io")
			case k < 17:
				o.cio = "cio_0123456789abcdef"
			case k < 18: // no identifier
			default:
				o.id = pick(ids, "n", "")
			}
			remember(o.id, o.email)
			// The event's id: new mostly, else one drawn before (this run's or an
			// earlier's), for whoever this row names.
			if eventIDs > 0 && rng.Intn(4) == 0 {
				o.note = fmt.Sprint("e", 1+rng.Intn(eventIDs))
			} else {
				eventIDs++
				o.note = fmt.Sprint("e", eventIDs)
			}
			switch k := rng.Intn(30); {
			case k == 0:
				o.name = ""
			case k == 1:
				o.name = strings.Repeat("n", events.MaxNameBytes+1)
			default:
				o.name = fmt.Sprint("ev", rng.Intn(3))
			}
			if rng.Intn(2) == 0 {
				o.total = float64(rng.Intn(1000)) / 4
			}
			orders[run] = append(orders[run], o)
		}
	}
	return people, orders
}

// TestEventBatchSizeDoesNotMatter is SPEC §1 rule 6 for events: several runs of a
// people sync and an events sync over one store give byte-equal people, change log,
// events and rejected rows at batch sizes 1, 2, 7 and 1000, on both stores.
func TestEventBatchSizeDoesNotMatter(t *testing.T) {
	settings := []identity.Settings{
		{IDIdentifies: true, EmailIdentifies: true, AllowEmailUpdateByID: true, MergeDuplicates: true},
		{IDIdentifies: true, EmailIdentifies: true},
		{EmailIdentifies: true},
	}
	sizes := []int{1, 2, 7, 1000}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			for i, s := range settings {
				t.Run(fmt.Sprintf("%s,merge=%v", strings.Join(s.Identifiers(), "+"), s.MergeDuplicates), func(t *testing.T) {
					people, orders := randomEventRuns(int64(1600+i), 3, 20, 60)
					bundles := make([]*equivBundle, len(sizes))
					syncs := make([]config.Sync, len(sizes))
					for j, size := range sizes {
						bundles[j] = newEquivBundle(t, backend, s, size)
						syncs[j] = bundles[j].orders(t)
						syncs[j].Event.IDColumn = "note" // so that ids repeat
					}
					next := 1
					var first []string
					for n := range people {
						for j, b := range bundles {
							b.add(t, people[n]...)
							b.run(t, engine.Options{})
							for k, o := range orders[n] {
								b.addOrder(t, next+k, o, t0.Add(time.Duration(next+k)*time.Second))
							}
							b.runSync(t, syncs[j], engine.Options{})
							text := storeText(t, b.bundle)
							if j == 0 {
								first = text
								continue
							}
							if d := firstDifference("stores", first, text); d != "" {
								t.Fatalf("after run %d, batch size 1 and %d differ: %s", n+1, sizes[j], d)
							}
						}
						next += len(orders[n])
					}
					var evs, rejected, created int
					for _, line := range first {
						switch {
						case strings.HasPrefix(line, "event "):
							evs++
						case strings.HasPrefix(line, "rejected ") && strings.Contains(line, "|orders|"):
							rejected++
						case strings.HasPrefix(line, "log ") && strings.Contains(line, "|orders|"):
							created++
						}
					}
					t.Logf("%d events, %d rows refused, %d people created by events", evs, rejected, created)
					if evs < 60 || rejected < 5 || created < 5 {
						t.Fatalf("too little happened to prove anything: %d events, %d refused, %d people created", evs, rejected, created)
					}
				})
			}
		})
	}
}

// eventsOfUsers makes a faults test's users sync an events sync: each row one signup
// of the person of its user_id and email, the id and time its watermark's.
func eventsOfUsers(s config.Sync) config.Sync {
	s.Kind = config.KindEvents
	s.Event = &config.Event{Name: "signup"}
	s.Identifiers = config.Identifiers{ID: "user_id", Email: "email"}
	s.Exclude = nil
	return s
}

// A source connection dropped in the middle of an events run costs nothing: the read
// is opened again after the last batch, and every event is stored once.
func TestEventsSourceConnectionDroppedMidRun(t *testing.T) {
	const rows = 20_000
	src := pgDropper(t, rows)
	storeDSN := testdb.SQLite(t)
	_, eng, s, logged := faultSetup(t, "sqlite", storeDSN, src.typ, src.dsn, 1000)
	s = eventsOfUsers(s)
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
		t.Fatalf("read %d, stored %d; want %d each", res.RowsRead, res.Created, rows)
	}
	if n, distinct := storedEvents(t, storeDSN, "sqlite"); n != rows || distinct != rows {
		t.Fatalf("%d events stored (%d distinct), want %d", n, distinct, rows)
	}
}

// The store's server restarted in the middle of an events run: the batch in flight
// is planned and written again in a new transaction once the server is back (or the
// run fails cleanly and the next completes it); every event is stored once, every
// person created once.
func TestEventsStoreRestartedMidRun(t *testing.T) {
	const rows = 30_000
	src := pgDropper(t, rows)
	cluster := testdb.OwnPostgres(t, "")
	ctx := context.Background()
	st, eng, s, logged := faultSetup(t, "postgres", cluster.DSN(), "postgres", src.dsn, 1000)
	s = eventsOfUsers(s)
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
		cluster.Wait()
		if res = eng.Run(ctx, s, engine.Options{}); res.Err != nil {
			t.Fatalf("the run after the restart: %v\n%s", res.Err, logged.String())
		}
	}
	if n, distinct := storedEvents(t, cluster.DSN(), "postgres"); n != rows || distinct != rows {
		t.Fatalf("%d events stored (%d distinct), want %d", n, distinct, rows)
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

// TestEventSyncWithoutWatermark: an events sync with no watermark names its id and
// timestamp columns and reads every row each run, storing each event once; a row
// without a timestamp, or with one that is no time, is rejected naming why.
func TestEventSyncWithoutWatermark(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, backend)
			o := b.orders(t)
			o.Watermark = nil
			o.Event = &config.Event{Name: "visit", IDColumn: "order_id", TimestampColumn: "created_at"}
			for i := 1; i <= 5; i++ {
				b.addOrder(t, i, order{id: fmt.Sprint("u", i)}, t0.Add(time.Duration(i)*time.Second))
			}
			b.exec(t, `INSERT INTO orders (order_id, user_id) VALUES (6, 'u6')`)
			b.exec(t, `INSERT INTO orders (order_id, user_id, created_at) VALUES (7, 'u7', 'not a time')`)
			if got, want := relCounts(b.runSync(t, o, engine.Options{})), "read 7 created 5 updated 0 unchanged 0 rejected 2 skipped 0 failed 0"; got != want {
				t.Fatalf("first run: %s, want %s", got, want)
			}
			if got, want := relCounts(b.runSync(t, o, engine.Options{})), "read 7 created 0 updated 0 unchanged 5 rejected 2 skipped 0 failed 0"; got != want {
				t.Fatalf("second run: %s, want %s", got, want)
			}
			var refused []string
			b.st.EachRejected(ctx, "orders", 0, func(r store.Rejection) error {
				refused = append(refused, fmt.Sprintf("%s %s", r.Key, r.Reason))
				if r.Reason == "invalid_value" && !strings.Contains(r.Detail, `column "created_at"`) {
					t.Errorf("the rejection does not name the column: %s", r.Detail)
				}
				return nil
			})
			if want := []string{"6 no_event_timestamp", "7 invalid_value"}; !slices.Equal(refused, want) {
				t.Errorf("rejected = %q, want %q", refused, want)
			}
			if n, distinct := storedEvents(t, b.stDSN, b.st.Driver()); n != 5 || distinct != 5 {
				t.Errorf("%d events stored (%d distinct), want 5", n, distinct)
			}
		})
	}
}

// TestEventShortcutsChangeNothing is SPEC §1 rule 6 for the events backfill's guess
// (engine/events.go, noneStored): runs of a people sync and an events sync with the
// shortcuts, at batch sizes 2, 7 and 1000, leave the store byte-equal to runs with
// none (Options.NoShortcuts), after each run: a plain one, one with a lookback that
// re-reads stored events before new ones, one after a state reset, and one more; on
// both stores and for three workspace settings. Event ids repeat within and across
// runs, so a guess is sometimes wrong, found by the insert or by the check; the test
// fails unless it saw both.
func TestEventShortcutsChangeNothing(t *testing.T) {
	settings := []identity.Settings{
		{IDIdentifies: true, EmailIdentifies: true, AllowEmailUpdateByID: true, MergeDuplicates: true},
		{IDIdentifies: true, EmailIdentifies: true},
		{EmailIdentifies: true},
	}
	sizes := []int{2, 7, 1000}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		byInsert, byCheck := engine.EventGuessesWrong()
		t.Logf("guesses found wrong: %d by the insert, %d by the check", byInsert, byCheck)
		if byInsert == 0 || byCheck == 0 {
			t.Errorf("the guess was never found wrong by the insert (%d) or the check (%d): the test proves too little", byInsert, byCheck)
		}
	})
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			for i, s := range settings {
				t.Run(fmt.Sprintf("%s,merge=%v", strings.Join(s.Identifiers(), "+"), s.MergeDuplicates), func(t *testing.T) {
					const runs = 4
					people, orders := randomEventRuns(int64(1700+i), runs, 20, 80)
					type side struct {
						b    *equivBundle
						o    config.Sync
						opts engine.Options
						name string
					}
					var sides []side
					for _, size := range append([]int{7}, sizes...) {
						sd := side{b: newEquivBundle(t, backend, s, size), name: fmt.Sprintf("batch size %d", size)}
						if len(sides) == 0 {
							sd.opts.NoShortcuts, sd.name = true, "no shortcuts, batch size 7"
						}
						sd.o = sd.b.orders(t)
						sd.o.Event.IDColumn = "note" // so that ids repeat
						sides = append(sides, sd)
					}
					next := 1
					var want []string
					for n := 0; n < runs; n++ {
						for j, sd := range sides {
							b, o := sd.b, sd.o
							b.add(t, people[n]...)
							b.run(t, sd.opts)
							for k, ord := range orders[n] {
								b.addOrder(t, next+k, ord, t0.Add(time.Duration(next+k)*time.Second))
							}
							switch n {
							case 1: // re-reads the last 30 rows of the first run, then the new ones
								o.Lookback = config.Duration(30 * time.Second)
							case 2:
								if _, err := b.st.ResetWatermark(ctx, o.Name); err != nil {
									t.Fatal(err)
								}
							}
							res := b.runSync(t, o, sd.opts)
							text := storeText(t, b.bundle)
							if j == 0 {
								want = text
								t.Logf("run %d: %s", n+1, relCounts(res))
								continue
							}
							if d := firstDifference("stores", want, text); d != "" {
								t.Fatalf("after run %d, %s and %s differ: %s", n+1, sides[0].name, sd.name, d)
							}
						}
						next += len(orders[n])
					}
				})
			}
		})
	}
}
