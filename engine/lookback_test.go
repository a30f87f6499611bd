package engine_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// outcomes runs a sync and lists each row's outcome in the order read: key, result,
// reason, whether a lookback re-read it unchanged, and its change kinds.
func outcomes(t *testing.T, eng *engine.Engine, s config.Sync, opt engine.Options) (*engine.Result, []string) {
	t.Helper()
	var out []string
	opt.OnBatch = func(recs []*record.Record) {
		for _, r := range recs {
			var kinds []string
			for _, c := range r.Changes {
				kinds = append(kinds, c.Kind)
			}
			out = append(out, fmt.Sprintf("%s %s %s reread=%v %s", r.Key, r.Result, r.Reason, r.Reread, strings.Join(kinds, ",")))
		}
	}
	res := eng.Run(context.Background(), s, opt)
	if res.Err != nil {
		t.Fatalf("run %s: %v", s.Name, res.Err)
	}
	return res, out
}

// memory is what the store remembers of a sync's rows for its lookback, by key.
func memory(t *testing.T, b *bundle, sync string) []string {
	t.Helper()
	db, err := sql.Open(b.st.Driver(), b.stDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := `SELECT row_key, digest, at, skipped, reason FROM lookback_rows WHERE sync = $1 ORDER BY row_key`
	if b.st.Driver() == "sqlite" {
		q = strings.Replace(q, "$1", "?", 1)
	}
	rows, err := db.Query(q, sync)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			key    string
			digest []byte
			at     int64
			skip   bool
			reason sql.NullString
		)
		if err := rows.Scan(&key, &digest, &at, &skip, &reason); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %d %v %s", key, hex.EncodeToString(digest), at, skip, reason.String))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// storeExec runs a statement on the store's database, ? placeholders on both.
func storeExec(t *testing.T, b *bundle, q string, args ...any) {
	t.Helper()
	db, err := sql.Open(b.st.Driver(), b.stDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if b.st.Driver() == "postgres" {
		for n := 1; strings.Contains(q, "?"); n++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", n), 1)
		}
	}
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func keysOf(mem []string) []string {
	var out []string
	for _, m := range mem {
		out = append(out, strings.Fields(m)[0])
	}
	return out
}

// A re-read row that did not change writes nothing (SPEC §3): no attribute change,
// no delete and re-creation, no refused change, and its rejected or skipped entry
// only moves last_seen; it counts as it did (unchanged, rejected, skipped). A row
// changed in place inside the lookback is applied; one changed only in a column the
// sync does not use is not. A dry run reads the memory and writes none of it, a
// person deleted by hand stays deleted, and a state reset forgets the memory of its
// sync only, so the next run applies every row again.
func TestLookbackRereadWritesNothing(t *testing.T) {
	for _, backend := range testdb.Stores() {
		for _, batch := range []int{1, 10} {
			t.Run(fmt.Sprintf("%s/batch%d", backend.Driver, batch), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				s := identity.DefaultSettings()
				b := newEquivBundle(t, backend, s, batch)
				clock := time.Unix(1_800_000_000, 0)
				b.engine.Now = func() time.Time { return clock }
				b.sync.Lookback = config.Duration(time.Hour)
				b.add(t,
					srcRow{id: "u1", email: "u1@x.io", plan: "a"},
					srcRow{id: "u1", gone: "delete"},
					srcRow{id: "u1", plan: "b"},             // a new person u1
					srcRow{plan: "lost"},                    // no identifier
					srcRow{id: "ghost", gone: "delete"},     // no one to delete
					srcRow{id: "u6", email: "not an email"}, // a refused change
					srcRow{id: "u7", email: "u7@x.io", plan: "x"},
				)
				res, got := outcomes(t, b.engine, b.sync, engine.Options{})
				want := []string{
					"1 created  reread=false profile_create",
					"2 deleted  reread=false profile_delete",
					"3 created  reread=false profile_create",
					"4 rejected no_identifier reread=false ",
					"5 skipped not_found reread=false ",
					"6 created  reread=false profile_create,failed_attribute_change",
					"7 created  reread=false profile_create",
				}
				if !slices.Equal(got, want) {
					t.Fatalf("first run:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				u1 := cioOf(t, b.st, s, "u1")
				before := storeText(t, b.bundle)
				rejected := rejectedText(t, b.st)
				if mem := memory(t, b.bundle, "users"); len(mem) != 7 {
					t.Fatalf("remembered %d rows, want 7:\n%s", len(mem), strings.Join(mem, "\n"))
				}

				reread := []string{
					"1 unchanged  reread=true ",
					"2 unchanged  reread=true ",
					"3 unchanged  reread=true ",
					"4 rejected no_identifier reread=true ",
					"5 skipped not_found reread=true ",
					"6 unchanged  reread=true ",
					"7 unchanged  reread=true ",
				}
				// A dry run sees the re-reads and writes nothing, the memory neither.
				mem := memory(t, b.bundle, "users")
				clock = clock.Add(time.Hour)
				if _, got := outcomes(t, b.engine, b.sync, engine.Options{DryRun: true}); !slices.Equal(got, reread) {
					t.Fatalf("dry run:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(reread, "\n"))
				}
				if d := firstDifference("memory", mem, memory(t, b.bundle, "users")); d != "" {
					t.Fatalf("a dry run wrote the memory: %s", d)
				}
				if d := firstDifference("rejected", rejected, rejectedText(t, b.st)); d != "" {
					t.Fatalf("a dry run wrote a rejected row: %s", d)
				}

				for run := 2; run <= 3; run++ {
					clock = clock.Add(time.Hour)
					res, got = outcomes(t, b.engine, b.sync, engine.Options{})
					if !slices.Equal(got, reread) {
						t.Fatalf("run %d:\n%s\nwant\n%s", run, strings.Join(got, "\n"), strings.Join(reread, "\n"))
					}
					if c := relCounts(res); c != "read 7 created 0 updated 0 unchanged 5 rejected 1 skipped 1 failed 0" {
						t.Errorf("run %d: %s", run, c)
					}
					if d := firstDifference("store", before, storeText(t, b.bundle)); d != "" {
						t.Fatalf("run %d: a re-read wrote: %s", run, d)
					}
					// One entry each, first seen at the first run, last seen now.
					var last []string
					b.st.EachRejected(ctx, "users", 0, func(r store.Rejection) error {
						last = append(last, fmt.Sprintf("%s %s %d %d", r.Key, r.Reason, r.Time, r.LastSeen))
						return nil
					})
					first := clock.Add(-time.Duration(run) * time.Hour).Unix()
					if want := []string{fmt.Sprintf("4 no_identifier %d %d", first, clock.Unix()),
						fmt.Sprintf("5 not_found %d %d", first, clock.Unix())}; !slices.Equal(last, want) {
						t.Errorf("run %d: rejected = %q, want %q", run, last, want)
					}
				}
				if cioOf(t, b.st, s, "u1") != u1 {
					t.Fatal("u1 was deleted and created again")
				}

				// Changed in place, inside the lookback: applied. Changed only in a
				// column the sync excludes: the row as the sync reads it did not change.
				b.exec(t, `UPDATE users SET plan = 'y' WHERE row_id = 7`)
				b.exec(t, `UPDATE users SET score = 99 WHERE row_id = 3`)
				clock = clock.Add(time.Hour)
				res, got = outcomes(t, b.engine, b.sync, engine.Options{})
				if got[6] != "7 updated  reread=false attribute_change" || got[2] != "3 unchanged  reread=true " {
					t.Fatalf("after changes in place:\n%s", strings.Join(got, "\n"))
				}
				if p, err := b.st.FindPerson(ctx, s, "u7"); err != nil || string(p.Attributes["plan"]) != `"y"` {
					t.Fatalf("u7 = %+v, %v; want plan y", p, err)
				}

				// Deleted by hand: a re-read row does not bring u1 back (SPEC §10).
				if _, err := b.st.ForgetPerson(ctx, s, "operator:test", "u1", false); err != nil {
					t.Fatal(err)
				}
				clock = clock.Add(time.Hour)
				if _, got = outcomes(t, b.engine, b.sync, engine.Options{}); !slices.Equal(got, reread) {
					t.Fatalf("after people delete:\n%s", strings.Join(got, "\n"))
				}
				if _, err := b.st.FindPerson(ctx, s, "u1"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("u1 after people delete and a re-read: %v", err)
				}

				// A state reset forgets this sync's memory, not another's: the next run
				// reads every row as new, and u1 comes back.
				b.exec(t, `CREATE TABLE others (row_id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, plan TEXT, score REAL,
					updated_at DATETIME, gone_at DATETIME, suppressed BOOLEAN)`)
				b.exec(t, `INSERT INTO others SELECT * FROM users WHERE row_id = 7`)
				other := b.sync
				other.Name, other.Table = "others", "others"
				b.runSync(t, other, engine.Options{})
				if _, err := b.st.ResetWatermark(ctx, "users"); err != nil {
					t.Fatal(err)
				}
				if mem := memory(t, b.bundle, "users"); len(mem) != 0 {
					t.Fatalf("after state reset the memory holds %q", mem)
				}
				if mem := memory(t, b.bundle, other.Name); len(mem) != 1 {
					t.Fatalf("state reset of users: %s remembers %d rows, want 1", other.Name, len(mem))
				}
				clock = clock.Add(time.Hour)
				_, got = outcomes(t, b.engine, b.sync, engine.Options{})
				if got[0] != "1 created  reread=false profile_create" || got[3] != "4 rejected no_identifier reread=false " {
					t.Fatalf("after state reset:\n%s", strings.Join(got, "\n"))
				}
				if cioOf(t, b.st, s, "u1") == u1 {
					t.Fatal("after state reset u1 is the deleted person")
				}
			})
		}
	}
}

// The memory holds about a lookback's worth of rows: after a run, the rows whose
// watermark column is within the lookback before the cursor, the next run's re-reads.
func TestLookbackMemoryStaysBounded(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			b.sync.Lookback = config.Duration(10 * time.Second)
			b.sync.BatchSize = 7
			b.insert(t, 1, 101) // u1..u100 at t0 + 1..100 s
			b.run(t, engine.Options{})
			var want []string
			for i := 90; i <= 100; i++ {
				want = append(want, fmt.Sprint(i))
			}
			slices.Sort(want)
			if got := keysOf(memory(t, b, "users")); !slices.Equal(got, want) {
				t.Fatalf("remembered %q, want %q", got, want)
			}
			b.insert(t, 101, 131)
			res := b.run(t, engine.Options{})
			if res.RowsRead != 41 || res.Created != 30 || res.Unchanged != 11 {
				t.Fatalf("second run: %s", counts(res))
			}
			want = want[:0]
			for i := 120; i <= 130; i++ {
				want = append(want, fmt.Sprint(i))
			}
			slices.Sort(want)
			if got := keysOf(memory(t, b, "users")); !slices.Equal(got, want) {
				t.Fatalf("after the second run remembered %q, want %q", got, want)
			}
		})
	}
}

// TestLookbackBatchSizeDoesNotMatter is SPEC §1 rule 6 with a lookback: several runs
// that re-read rows, of rows changed in place inside the lookback, rows moved on,
// rows committed late and people deleted by hand between runs, give the same rows'
// outcomes, store, rejected rows (last seen too) and memory at batch sizes 1, 3 and
// 1000, and with no shortcuts; and a dry run before each run shows what it does.
func TestLookbackBatchSizeDoesNotMatter(t *testing.T) {
	type variant struct {
		batch int
		opt   engine.Options
	}
	variants := []variant{{1, engine.Options{}}, {3, engine.Options{}}, {1000, engine.Options{}}, {1000, engine.Options{NoShortcuts: true}}}
	merging := identity.Settings{IDIdentifies: true, EmailIdentifies: true, AllowEmailUpdateByID: true, MergeDuplicates: true}
	cases := []struct {
		name     string
		settings identity.Settings
		query    string // a query: sync instead of the table
	}{
		{"default", identity.DefaultSettings(), ""},
		{"merging", merging, ""},
		// Keys that are not unique (the sync's error, but one it cannot see): every
		// third row's key comes again 12 rows on, in the same batch, run or lookback.
		{"repeated keys", merging, "SELECT CASE WHEN row_id % 3 = 0 THEN -(row_id % 4) ELSE row_id END AS k, " +
			"user_id, email, plan, score, updated_at, gone_at, suppressed FROM users"},
	}
	for _, backend := range testdb.Stores() {
		for i, tc := range cases {
			s := tc.settings
			t.Run(backend.Driver+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				const runs, perRun = 5, 40
				seed := int64(7310 + i)
				rows := randomRuns(seed, runs, perRun)
				rng := rand.New(rand.NewSource(seed))
				clock := time.Unix(1_800_000_000, 0)
				bundles := make([]*equivBundle, len(variants))
				for j, v := range variants {
					bundles[j] = newEquivBundle(t, backend, s, v.batch)
					bundles[j].engine.Now = func() time.Time { return clock }
					bundles[j].sync.Lookback = config.Duration(30 * time.Second)
					if tc.query != "" {
						bundles[j].sync.Table, bundles[j].sync.Query = "", tc.query
						bundles[j].sync.Watermark.Key = "k"
						bundles[j].sync.Exclude = []string{"k", "updated_at", "score"}
					}
				}
				var rereads, changedRereads int
				read := map[string]bool{} // keys read by an earlier run
				for n := range runs {
					// What changes between runs, the same for every store.
					type change struct {
						q    string
						args func(b *equivBundle) []any
					}
					var changes []change
					last := bundles[0].next - 1 // the latest row_id
					for range 2 + rng.Intn(6) { // changed in place: mostly inside the lookback
						id := last - rng.Intn(perRun)
						if id < 1 {
							continue
						}
						switch rng.Intn(3) {
						case 0:
							plan := fmt.Sprint("q", rng.Intn(3))
							changes = append(changes, change{`UPDATE users SET plan = ? WHERE row_id = ?`, func(*equivBundle) []any { return []any{plan, id} }})
						case 1:
							changes = append(changes, change{`UPDATE users SET gone_at = ? WHERE row_id = ?`, func(*equivBundle) []any { return []any{t0.Format(ts), id} }})
						default:
							changes = append(changes, change{`UPDATE users SET gone_at = NULL, suppressed = NULL WHERE row_id = ?`, func(*equivBundle) []any { return []any{id} }})
						}
					}
					for range rng.Intn(3) { // moved on: read again as new
						id := last - rng.Intn(perRun)
						if id < 1 {
							continue
						}
						changes = append(changes, change{`UPDATE users SET updated_at = ? WHERE row_id = ?`, func(b *equivBundle) []any {
							b.next++
							return []any{t0.Add(time.Duration(b.next-1) * time.Second).Format(ts), id}
						}})
					}
					for range rng.Intn(3) { // committed late, inside the lookback
						late := time.Duration(rng.Intn(25)) * time.Second
						id := fmt.Sprint("late", rng.Intn(10))
						changes = append(changes, change{`INSERT INTO users (row_id, user_id, plan, updated_at) VALUES (?, ?, 'late', ?)`, func(b *equivBundle) []any {
							b.next++
							return []any{b.next - 1, id, t0.Add(time.Duration(last)*time.Second - late).Format(ts)}
						}})
					}
					var forget string // deleted by hand before the run
					if n > 0 && rng.Intn(2) == 0 {
						forget = rows[n-1][rng.Intn(perRun)].id
					}
					clock = clock.Add(time.Hour)
					var want []string
					for j, b := range bundles {
						if n > 0 {
							for _, c := range changes {
								b.exec(t, c.q, c.args(b)...)
							}
						}
						b.add(t, rows[n]...)
						if forget != "" {
							cio, err := b.st.ForgetPerson(ctx, s, "operator:test", forget, false)
							if err != nil && !errors.Is(err, store.ErrNotFound) {
								t.Fatal(err)
							}
							// The store stamps an operator's delete with the time now.
							storeExec(t, b.bundle, `UPDATE people SET updated_at = ? WHERE internal_id = ?`, clock.Unix(), cio)
							storeExec(t, b.bundle, `UPDATE change_log SET at = ? WHERE internal_id = ? AND sync = 'operator:test'`, clock.Unix(), cio)
						}
						dryOpt := variants[j].opt
						dryOpt.DryRun = true
						_, dry := outcomes(t, b.engine, b.sync, dryOpt)
						res, got := outcomes(t, b.engine, b.sync, variants[j].opt)
						if d := firstDifference("rows", got, dry); d != "" {
							t.Fatalf("run %d, variant %v: the dry run differs from the run: %s", n+1, variants[j], d)
						}
						if j == 0 {
							want = got
							for _, o := range got {
								key := strings.Fields(o)[0]
								switch {
								case strings.Contains(o, "reread=true"):
									rereads++
								case read[key]:
									changedRereads++
								}
								read[key] = true
							}
							continue
						}
						if d := firstDifference("rows", want, got); d != "" {
							t.Fatalf("run %d, variant %v: %s (%s)", n+1, variants[j], d, relCounts(res))
						}
						w, g := bundles[0], b
						if d := firstDifference("store", storeText(t, w.bundle), storeText(t, g.bundle)); d != "" {
							t.Fatalf("run %d, variant %v: %s", n+1, variants[j], d)
						}
						if d := firstDifference("rejected", rejectedText(t, w.st), rejectedText(t, g.st)); d != "" {
							t.Fatalf("run %d, variant %v: %s", n+1, variants[j], d)
						}
						if d := firstDifference("memory", memory(t, w.bundle, "users"), memory(t, g.bundle, "users")); d != "" {
							t.Fatalf("run %d, variant %v: %s", n+1, variants[j], d)
						}
					}
				}
				people, log := canonical(t, bundles[0].st)
				if rereads < 60 || changedRereads < 5 || len(people) < 40 || countKinds(log, record.ProfileDelete, record.ProfileSuppress) < 3 {
					t.Fatalf("too little happened to prove anything: %d re-reads unchanged, %d changed, %d people, %d deletes",
						rereads, changedRereads, len(people), countKinds(log, record.ProfileDelete, record.ProfileSuppress))
				}
				t.Logf("%d re-reads unchanged, %d re-read changed, %d people", rereads, changedRereads, len(people))
			})
		}
	}
}

// Every kind keeps the promise (SPEC §3, §8, §9): re-read object rows that deleted an
// object and created it again, relationship rows that removed a relationship and
// added it again, and an event row of a person deleted by hand write nothing.
func TestLookbackEveryKind(t *testing.T) {
	for _, backend := range testdb.Stores() {
		for _, batch := range []int{1, 10} {
			t.Run(fmt.Sprintf("%s/batch%d", backend.Driver, batch), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				allReread := func(what string, got []string) {
					t.Helper()
					for _, o := range got {
						if !strings.Contains(o, "reread=true") {
							t.Errorf("%s: a row not re-read unchanged: %s", what, o)
						}
					}
				}

				// Objects.
				ob := setupObjects(t, backend, batch)
				ob.sync.Lookback = config.Duration(time.Hour)
				ob.add(t, account{id: "A", plan: "a"}, account{id: "A", gone: t0.Format(ts)}, account{id: "A", plan: "b"},
					account{id: "B", seats: 3}, account{plan: "no id"}, account{id: "C", gone: t0.Format(ts)})
				ob.run(t)
				objs, log := objectsText(t, ob.st)
				rejected := rejectedText(t, ob.st)
				_, got := outcomes(t, ob.eng, ob.sync, engine.Options{})
				allReread("objects", got)
				if got[4] != "5 rejected no_object_id reread=true " || got[5] != "6 skipped not_found reread=true " {
					t.Errorf("objects: refused rows read again: %q", got[4:])
				}
				objs2, log2 := objectsText(t, ob.st)
				if d := firstDifference("objects", objs, objs2) + firstDifference("object log", log, log2); d != "" {
					t.Errorf("objects: a re-read wrote: %s", d)
				}
				// Seen again now: only last_seen moves.
				seen := fmt.Sprintf("|%d|", ob.clock.Unix())
				for i, r := range rejected {
					parts := strings.SplitN(r, "|", 3)
					rejected[i] = parts[0] + seen + parts[2]
				}
				if d := firstDifference("rejected", rejected, rejectedText(t, ob.st)); d != "" || len(rejected) != 2 {
					t.Errorf("objects: a re-read recorded a refused row other than as seen again: %s", d)
				}

				// Relationships.
				b := setup(t, backend)
				b.sync.BatchSize = batch
				clock := time.Unix(1_800_000_000, 0)
				b.engine.Now = func() time.Time { return clock }
				m := b.memberships(t)
				m.Lookback = config.Duration(time.Hour)
				b.addMember(t, 1, member{id: "u1", account: "A", role: "r"}, t0.Add(time.Minute))
				b.addMember(t, 2, member{id: "u1", account: "A", removed: true}, t0.Add(2*time.Minute))
				b.addMember(t, 3, member{id: "u1", account: "A", role: "s"}, t0.Add(3*time.Minute))
				b.addMember(t, 4, member{id: "u2", account: "B", role: "r"}, t0.Add(4*time.Minute))
				b.runSync(t, m, engine.Options{})
				before := storeText(t, b)
				clock = clock.Add(time.Hour)
				_, got = outcomes(t, b.engine, m, engine.Options{})
				allReread("relationships", got)
				if d := firstDifference("store", before, storeText(t, b)); d != "" {
					t.Errorf("relationships: a re-read wrote: %s", d)
				}

				// Events: a person deleted by hand stays deleted, their event erased.
				o := b.orders(t)
				o.Lookback = config.Duration(time.Hour)
				b.addOrder(t, 1, order{id: "u9", name: "purchase", total: 5.0}, t0.Add(time.Minute))
				b.addOrder(t, 2, order{id: "u2", name: "purchase", total: 7.0}, t0.Add(2*time.Minute))
				b.runSync(t, o, engine.Options{})
				if _, err := b.st.ForgetPerson(ctx, identity.DefaultSettings(), "operator:test", "u9", false); err != nil {
					t.Fatal(err)
				}
				before = storeText(t, b)
				clock = clock.Add(time.Hour)
				_, got = outcomes(t, b.engine, o, engine.Options{})
				allReread("events", got)
				if d := firstDifference("store", before, storeText(t, b)); d != "" {
					t.Errorf("events: a re-read wrote: %s", d)
				}
				if n, _ := storedEvents(t, b.stDSN, b.st.Driver()); n != 1 {
					t.Errorf("events: %d stored, want u2's one", n)
				}
			})
		}
	}
}
