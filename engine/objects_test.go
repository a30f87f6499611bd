package engine_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// objBundle is one test's accounts table (a SQLite source), store and engine, with
// a clock that moves only when the test moves it.
type objBundle struct {
	src   *sql.DB
	st    *store.Store
	eng   *engine.Engine
	sync  config.Sync
	clock time.Time
	next  int // the next row_id
}

func setupObjects(t *testing.T, backend testdb.Store, batch int) *objBundle {
	t.Helper()
	b := &objBundle{clock: time.Unix(1_800_000_000, 0), next: 1}
	dsn := testdb.SQLite(t)
	var err error
	if b.src, err = sql.Open("sqlite", dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.src.Close() })
	if _, err := b.src.Exec(`CREATE TABLE accounts (
		row_id INTEGER PRIMARY KEY, account_id TEXT, plan TEXT, seats INTEGER, note TEXT, deleted_at DATETIME, updated_at DATETIME)`); err != nil {
		t.Fatal(err)
	}
	if b.st, err = store.Open(context.Background(), backend.Driver, backend.DSN(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.st.Close() })
	log := logrus.New()
	log.SetOutput(io.Discard)
	b.eng = &engine.Engine{Store: b.st, Settings: identity.DefaultSettings(), Log: log, Now: func() time.Time { return b.clock }}
	b.sync = config.Sync{
		Name:       "accounts",
		Kind:       config.KindObjects,
		ObjectType: "account",
		ObjectID:   "account_id",
		Source:     config.Source{Type: "sqlite", DSN: dsn},
		Table:      "accounts",
		Watermark:  &config.Watermark{Column: "updated_at", Key: "row_id"},
		BatchSize:  batch,
		Exclude:    []string{"row_id", "updated_at"},
		Nulls:      config.NullsIgnore,
		Delete:     "deleted_at", // SPEC §10: a non-NULL time deletes the object
	}
	return b
}

// account is a source row; nil fields are NULL. A non-nil gone is deleted_at: the
// row deletes the object.
type account struct {
	id, plan, note any
	seats          any
	gone           any
}

func (b *objBundle) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := b.src.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// add appends rows, each updated one second after the one before.
func (b *objBundle) add(t *testing.T, rows ...account) {
	t.Helper()
	for _, r := range rows {
		b.exec(t, `INSERT INTO accounts (row_id, account_id, plan, seats, note, deleted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			b.next, r.id, r.plan, r.seats, r.note, r.gone, t0.Add(time.Duration(b.next)*time.Second).Format(ts))
		b.next++
	}
}

// touch moves row_ids to the end of the cursor order, so the next run reads them again.
func (b *objBundle) touch(t *testing.T, set string, rowIDs ...int) {
	t.Helper()
	for _, id := range rowIDs {
		b.exec(t, `UPDATE accounts SET `+set+`updated_at = ? WHERE row_id = ?`, t0.Add(time.Duration(b.next)*time.Second).Format(ts), id)
		b.next++
	}
}

func (b *objBundle) run(t *testing.T) *engine.Result {
	t.Helper()
	res := b.eng.Run(context.Background(), b.sync, engine.Options{})
	if res.Err != nil {
		t.Fatalf("run: %v", res.Err)
	}
	b.clock = b.clock.Add(time.Minute)
	return res
}

// objectsText is every object and every object log entry, whole, as text: two
// stores that hold the same compare byte-equal.
func objectsText(t *testing.T, st *store.Store) (objs, log []string) {
	t.Helper()
	ctx := context.Background()
	err := st.EachObject(ctx, func(o objects.Object) error {
		objs = append(objs, fmt.Sprintf("%s|%s|%s|%d|%d|%v", o.Type, o.ID, attrText(o.Attributes), o.CreatedAt, o.UpdatedAt, o.Deleted))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.EachObjectLog(ctx, func(c objects.Change) error {
		log = append(log, fmt.Sprintf("%d|%s|%s|%s|%s|%s|%s|%s|%s|%s", c.Time, c.Sync, c.RowKey, c.ObjectType, c.ObjectID,
			c.Kind, c.Attribute, c.From, c.To, c.Reason))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return objs, log
}

func rejectedText(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	err := st.EachRejected(context.Background(), "", 0, func(r store.Rejection) error {
		out = append(out, fmt.Sprintf("%d|%d|%s|%s|%v|%s|%s", r.Time, r.LastSeen, r.Sync, r.Key, r.Skipped, r.Reason, r.Detail))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func objCounts(r *engine.Result) string {
	return fmt.Sprintf("read %d created %d updated %d unchanged %d rejected %d", r.RowsRead, r.Created, r.Updated, r.Unchanged, r.Rejected)
}

// TestObjectsSyncConformance is an objects sync through the engine on both stores
// (SPEC §8, with §2's rules): creation, updates, unchanged rows that write nothing,
// NULLs ignored and unset, the limits, case-sensitive ids, rows without an id; the
// counts in the result and the run history, and the summary naming objects.
func TestObjectsSyncConformance(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setupObjects(t, backend, 10)
			b.add(t,
				account{id: "Acme", plan: "pro", seats: 3},
				account{id: "acme", plan: "free"},
				account{plan: "pro"}, // no object id
				account{id: strings.Repeat("x", objects.MaxIDBytes+1)},
				account{id: "Big", note: strings.Repeat("n", identity.MaxValueBytes+1)},
				account{id: "Acme", plan: "team"}, // the same batch: sees row 1
			)
			res := b.run(t)
			if got := objCounts(res); got != "read 6 created 2 updated 1 unchanged 0 rejected 3" {
				t.Fatalf("first run: %s", got)
			}
			var sum bytes.Buffer
			res.WriteSummary(&sum)
			if !strings.Contains(sum.String(), "  objects created: 2\n") || !strings.Contains(sum.String(), "  objects updated: 1\n") ||
				!strings.Contains(sum.String(), "rows rejected:   3 (no_object_id 1, object_id_too_long 1, value_too_long 1)") {
				t.Errorf("summary:\n%s", sum.String())
			}
			first := b.clock.Add(-time.Minute).Unix()
			objs, log := objectsText(t, b.st)
			wantObjs := []string{
				fmt.Sprintf(`account|Acme|plan="team";seats=3;|%d|%d|false`, first, first),
				fmt.Sprintf(`account|acme|plan="free";|%d|%d|false`, first, first),
			}
			wantLog := []string{
				fmt.Sprintf(`%d|accounts|1|account|Acme|object_create||||`, first),
				fmt.Sprintf(`%d|accounts|2|account|acme|object_create||||`, first),
				fmt.Sprintf(`%d|accounts|6|account|Acme|attribute_change|plan|"pro"|"team"|`, first),
			}
			if d := firstDifference("objects", wantObjs, objs); d != "" {
				t.Fatal(d)
			}
			if d := firstDifference("object log", wantLog, log); d != "" {
				t.Fatal(d)
			}
			var rejected []string
			for _, r := range rejectedText(t, b.st) {
				f := strings.Split(r, "|")
				rejected = append(rejected, f[3]+" "+f[5])
			}
			if got := strings.Join(rejected, ", "); got != "3 no_object_id, 4 object_id_too_long, 5 value_too_long" {
				t.Errorf("rejected rows: %s", got)
			}

			if got := objCounts(b.run(t)); got != "read 0 created 0 updated 0 unchanged 0 rejected 0" {
				t.Fatalf("a run with nothing changed: %s", got)
			}
			// Rows read again with the values stored: nothing written, updated_at kept.
			b.touch(t, "", 2, 6)
			if got := objCounts(b.run(t)); got != "read 2 created 0 updated 0 unchanged 2 rejected 0" {
				t.Fatalf("rows read again unchanged: %s", got)
			}
			// A NULL leaves the attribute as it is.
			b.touch(t, "seats = NULL, ", 1)
			b.touch(t, "plan = 'team', ", 1)
			if got := objCounts(b.run(t)); got != "read 1 created 0 updated 0 unchanged 1 rejected 0" {
				t.Fatalf("a NULL under nulls: ignore: %s", got)
			}
			objs, log = objectsText(t, b.st)
			if d := firstDifference("objects", wantObjs, objs); d != "" {
				t.Fatalf("unchanged rows wrote: %s", d)
			}
			if d := firstDifference("object log", wantLog, log); d != "" {
				t.Fatalf("unchanged rows logged: %s", d)
			}
			// Under nulls: unset it removes it, and an update moves updated_at.
			b.sync.Nulls = config.NullsUnset
			b.touch(t, "", 1)
			now := b.clock.Unix()
			if got := objCounts(b.run(t)); got != "read 1 created 0 updated 1 unchanged 0 rejected 0" {
				t.Fatalf("a NULL under nulls: unset: %s", got)
			}
			o, err := b.st.FindObject(ctx, "account", "Acme")
			if err != nil || attrText(o.Attributes) != `plan="team";` || o.CreatedAt != first || o.UpdatedAt != now {
				t.Fatalf("Acme after unset = %+v, %v", o, err)
			}
			if _, log = objectsText(t, b.st); log[len(log)-1] != fmt.Sprintf(`%d|accounts|1|account|Acme|attribute_change|seats|3||`, now) {
				t.Errorf("the unset's log entry: %s", log[len(log)-1])
			}

			runs, err := b.st.Runs(ctx, "accounts", 10)
			if err != nil || len(runs) != 5 {
				t.Fatalf("runs = %+v, %v", runs, err)
			}
			if r := runs[len(runs)-1]; r.RowsRead != 6 || r.Created != 2 || r.Updated != 1 || r.Rejected != 3 || r.Status != store.RunOK {
				t.Errorf("the first run's history: %+v", r)
			}
		})
	}
}

// TestObjectsTooManyAttributes: a row giving an object more than 300 attributes is
// rejected naming the limit; 300 are stored (SPEC §2), on both stores.
func TestObjectsTooManyAttributes(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setupObjects(t, backend, 10)
			b.add(t, account{id: "Wide"}, account{id: "Ok"})
			// 300 attributes each, and a 301st for Wide (a NULL is no attribute).
			cols := make([]string, 0, identity.MaxAttributes)
			for i := 1; i <= identity.MaxAttributes; i++ {
				cols = append(cols, fmt.Sprintf("%d AS a%d", i, i))
			}
			b.sync.Table = ""
			b.sync.Query = `SELECT row_id, account_id, deleted_at, updated_at, ` + strings.Join(cols, ", ") + `,
				CASE WHEN account_id = 'Wide' THEN 1 END AS a301 FROM accounts`
			res := b.run(t)
			if got := objCounts(res); got != "read 2 created 1 updated 0 unchanged 0 rejected 1" || res.RejectedBy[identity.ReasonTooManyAttributes] != 1 {
				t.Fatalf("run: %s %v", got, res.RejectedBy)
			}
			o, err := b.st.FindObject(context.Background(), "account", "Ok")
			if err != nil || len(o.Attributes) != identity.MaxAttributes {
				t.Fatalf("Ok = %v attributes, %v", len(o.Attributes), err)
			}
			if _, err := b.st.FindObject(context.Background(), "account", "Wide"); err != store.ErrNotFound {
				t.Errorf("Wide was stored: %v", err)
			}
			rej := rejectedText(t, b.st)
			if len(rej) != 1 || !strings.Contains(rej[0], "too_many_attributes|the object would have 301 attributes (> 300)") {
				t.Errorf("rejected: %v", rej)
			}
		})
	}
}

// randomAccounts draws a run's rows: ids from a small pool (with case variants, so
// Acme and acme meet in a batch) and fresh ones, NULLs, now and then no id, a value
// over the limit or a delete (of an object there, gone already, or never made).
func randomAccounts(rng *rand.Rand, n int, fresh *int) []account {
	pool := []string{"Acme", "acme", "ACME", "Beta", "beta", "Gamma"}
	out := make([]account, n)
	for i := range out {
		var r account
		switch k := rng.Intn(20); {
		case k == 0: // no object id
		case k < 8:
			*fresh++
			r.id = fmt.Sprintf("o%d", *fresh)
		default:
			r.id = pool[rng.Intn(len(pool))]
		}
		if k := rng.Intn(5); k > 0 {
			r.plan = fmt.Sprint("p", k)
		}
		if k := rng.Intn(4); k > 0 {
			r.seats = k
		}
		if rng.Intn(25) == 0 {
			r.note = strings.Repeat("n", identity.MaxValueBytes+1)
		} else if rng.Intn(4) == 0 {
			r.note = "hi"
		}
		// Now and then the row deletes its object (SPEC §10); one with an id no row
		// creates is not found.
		if k := rng.Intn(8); k == 0 {
			r.gone = t0.Format(ts)
			if r.id == nil && rng.Intn(2) == 0 {
				r.id = "Nobody"
			}
		}
		out[i] = r
	}
	return out
}

// relate gives people r1..r3 a live relationship with each object of the pool,
// straight through the store (as a relationships sync would), so that deletes have
// relationships to remove; one removed by a delete is live again after the next call.
func (b *objBundle) relate(t *testing.T) {
	t.Helper()
	var ws []objects.RelationshipWrite
	for _, cio := range []string{"r1", "r2", "r3"} {
		for _, id := range []string{"Acme", "acme", "ACME", "Beta", "beta", "Gamma"} {
			ws = append(ws, objects.RelationshipWrite{Relationship: &objects.Relationship{CioID: cio, ObjectType: "account", ObjectID: id,
				Attributes: map[string]json.RawMessage{"role": json.RawMessage(`"` + cio + `"`)}, CreatedAt: b.clock.Unix(), UpdatedAt: b.clock.Unix()}})
		}
	}
	err := b.st.InTx(context.Background(), func(tx *store.Tx) error {
		if err := tx.WriteRelationships(context.Background(), ws[:1]); err != nil { // the first ever is an insert
			return err
		}
		return tx.WriteRelationships(context.Background(), ws)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// relationshipsText is every relationship, tombstones included, whole, as text.
func relationshipsText(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	err := st.EachRelationship(context.Background(), func(r objects.Relationship) error {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|%d|%d|%v", r.CioID, r.ObjectType, r.ObjectID, attrText(r.Attributes), r.CreatedAt, r.UpdatedAt, r.Removed))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestObjectsBatchSizeDoesNotMatter: several runs of random rows, some of them read
// again, some deleting objects (SPEC §10), give byte-equal objects, object change
// logs, relationships and rejected rows at batch sizes 1, 2, 7 and 1000 (SPEC §1 rule
// 6 for objects), under both NULL settings, on both stores.
func TestObjectsBatchSizeDoesNotMatter(t *testing.T) {
	sizes := []int{1, 2, 7, 1000}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			for _, nulls := range []string{config.NullsIgnore, config.NullsUnset} {
				t.Run(nulls, func(t *testing.T) {
					bundles := make([]*objBundle, len(sizes))
					for j, size := range sizes {
						bundles[j] = setupObjects(t, backend, size)
						bundles[j].sync.Nulls = nulls
					}
					rng := rand.New(rand.NewSource(int64(len(nulls))))
					fresh := 0
					for run := 0; run < 4; run++ {
						rows := randomAccounts(rng, 60, &fresh)
						var again []int // rows of earlier runs read again, some with changed values
						for i := 0; run > 0 && i < 10; i++ {
							again = append(again, 1+rng.Intn(bundles[0].next-1))
						}
						set := []string{"", "plan = 'p9', ", "seats = NULL, "}[rng.Intn(3)]
						for j, b := range bundles {
							b.relate(t)
							b.add(t, rows...)
							b.touch(t, set, again...)
							b.run(t)
							if j == 0 {
								continue
							}
							wo, wl := objectsText(t, bundles[0].st)
							gotObjs, gl := objectsText(t, b.st)
							if d := firstDifference("objects", wo, gotObjs); d != "" {
								t.Fatalf("after run %d, batch size 1 and %d differ: %s", run+1, sizes[j], d)
							}
							if d := firstDifference("object log", wl, gl); d != "" {
								t.Fatalf("after run %d, batch size 1 and %d differ: %s", run+1, sizes[j], d)
							}
							if d := firstDifference("rejected", rejectedText(t, bundles[0].st), rejectedText(t, b.st)); d != "" {
								t.Fatalf("after run %d, batch size 1 and %d differ: %s", run+1, sizes[j], d)
							}
							if d := firstDifference("relationships", relationshipsText(t, bundles[0].st), relationshipsText(t, b.st)); d != "" {
								t.Fatalf("after run %d, batch size 1 and %d differ: %s", run+1, sizes[j], d)
							}
						}
					}
					objs, log := objectsText(t, bundles[0].st)
					var updates, deletes, gone, removed, notFound int
					for _, l := range log {
						switch {
						case strings.Contains(l, "|attribute_change|"):
							updates++
						case strings.Contains(l, "|object_delete|"):
							deletes++
						}
					}
					for _, o := range objs {
						if strings.HasSuffix(o, "|true") {
							gone++
						}
					}
					for _, r := range relationshipsText(t, bundles[0].st) {
						if strings.HasSuffix(r, "|true") {
							removed++
						}
					}
					for _, r := range rejectedText(t, bundles[0].st) {
						if strings.Contains(r, "|not_found|") {
							notFound++
						}
					}
					if len(objs) < 50 || updates < 50 || len(rejectedText(t, bundles[0].st)) < 5 || deletes < 5 || removed < 3 || notFound < 2 {
						t.Fatalf("too little happened to prove anything: %d objects (%d deleted), %d attribute changes, %d deletes, %d relationships removed, %d not found",
							len(objs), gone, updates, deletes, removed, notFound)
					}
				})
			}
		})
	}
}

// TestObjectsDryRun: a dry run of an objects sync gives every row the outcome a real
// run gives, later batches seeing what earlier ones would have written, and writes
// nothing: no object, no log entry, no rejected row (SPEC §5 preview), on both stores.
func TestObjectsDryRun(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			rows := []account{{id: "Acme", plan: "pro"}, {id: "acme"}, {id: "Acme", plan: "team"}, {plan: "x"}, {id: "Acme", plan: "team"}, {id: "Beta"}}
			outcomes := func(dry bool) (string, *objBundle) {
				b := setupObjects(t, backend, 2)
				b.add(t, rows...)
				var got []string
				res := b.eng.Run(context.Background(), b.sync, engine.Options{DryRun: dry, OnBatch: func(recs []*record.Record) {
					for _, r := range recs {
						got = append(got, fmt.Sprintf("%s %s %s %d", r.Key, r.Result, r.Reason, len(r.Changes)))
					}
				}})
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				return strings.Join(got, ", "), b
			}
			real, _ := outcomes(false)
			dry, b := outcomes(true)
			if want := "1 created  1, 2 created  1, 3 updated  1, 4 rejected no_object_id 0, 5 unchanged  0, 6 created  1"; real != want || dry != real {
				t.Errorf("outcomes:\nreal %s\ndry  %s\nwant %s", real, dry, want)
			}
			objs, log := objectsText(t, b.st)
			if len(objs)+len(log)+len(rejectedText(t, b.st)) != 0 {
				t.Errorf("the dry run wrote: %v %v %v", objs, log, rejectedText(t, b.st))
			}
		})
	}
}

// TestObjectsDeleteDryRun: a dry run (preview) of rows that delete objects shows each
// row's outcome as a real run gives it (deleted, not_found, created again; later
// batches seeing earlier deletes) and changes nothing: the objects, their log, their
// relationships and the rejected rows stay as they were. The real run after it
// removes the relationships. On both stores.
func TestObjectsDeleteDryRun(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			gone := t0.Format(ts)
			setup := func() *objBundle {
				b := setupObjects(t, backend, 2)
				b.add(t, account{id: "Acme", plan: "pro"}, account{id: "Beta"})
				b.run(t)
				b.relate(t)
				b.add(t, account{id: "Acme", gone: gone}, account{id: "Nobody", gone: gone}, account{id: "Acme", gone: gone},
					account{id: "Acme", plan: "team"}, account{id: "Acme", gone: gone}, account{id: "Beta", seats: 2})
				return b
			}
			outcomes := func(b *objBundle, dry bool) string {
				var got []string
				res := b.eng.Run(context.Background(), b.sync, engine.Options{DryRun: dry, OnBatch: func(recs []*record.Record) {
					for _, r := range recs {
						got = append(got, fmt.Sprintf("%s %s %s %d", r.Key, r.Result, r.Reason, len(r.Changes)))
					}
				}})
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				if res.Deleted != 2 || res.Skipped != 2 || res.RejectedBy[identity.ReasonNotFound] != 2 {
					t.Errorf("dry %v: %d deleted, %d skipped (%v), want 2 and 2 not_found", dry, res.Deleted, res.Skipped, res.RejectedBy)
				}
				return strings.Join(got, ", ")
			}
			b := setup()
			objs, log := objectsText(t, b.st)
			rels, rej := relationshipsText(t, b.st), rejectedText(t, b.st)
			dry := outcomes(b, true)
			want := "3 deleted  2, 4 skipped not_found 0, 5 skipped not_found 0, 6 created  2, 7 deleted  2, 8 updated  1"
			if dry != want {
				t.Errorf("dry run outcomes:\n%s\nwant\n%s", dry, want)
			}
			objs2, log2 := objectsText(t, b.st)
			for _, d := range []string{firstDifference("objects", objs, objs2), firstDifference("object log", log, log2),
				firstDifference("relationships", rels, relationshipsText(t, b.st)), firstDifference("rejected", rej, rejectedText(t, b.st))} {
				if d != "" {
					t.Errorf("the dry run wrote: %s", d)
				}
			}
			if real := outcomes(b, false); real != dry {
				t.Errorf("the real run's outcomes:\n%s\ndry run's\n%s", real, dry)
			}
			var removed []string
			for _, r := range relationshipsText(t, b.st) {
				if strings.HasSuffix(r, "|true") {
					removed = append(removed, strings.SplitN(r, "|", 2)[0]+" "+strings.Split(r, "|")[2])
				}
			}
			if got := strings.Join(removed, ", "); got != "r1 Acme, r2 Acme, r3 Acme" {
				t.Errorf("relationships removed by the real run: %s", got)
			}
			if _, err := b.st.FindObject(context.Background(), "account", "Acme"); err != store.ErrNotFound {
				t.Errorf("Acme after the real run: %v, want not found (deleted)", err)
			}
		})
	}
}
