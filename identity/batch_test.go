package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// snapshot is everything a run leaves in the store: people (all fields), the change
// log and the suppressions, as text.
type snapshot struct {
	people, log, suppressed []string
}

func takeSnapshot(t *testing.T, st *store.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	var s snapshot
	err := st.EachPerson(ctx, func(p identity.Person) error {
		s.people = append(s.people, fmt.Sprintf("%s|%s|%s|%s|%d|%d|%s|%v|%v", p.CioID, p.ID, p.Email,
			describe(p), p.CreatedAt, p.UpdatedAt, p.MergedInto, p.Deleted, p.Suppressed))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.EachChange(ctx, func(c record.Change) error {
		s.log = append(s.log, fmt.Sprintf("%d|%s|%s|%s|%s|%s|%s|%s|%s", c.Time, c.Sync, c.RowKey, c.CioID,
			c.Kind, c.Attribute, c.From, c.To, c.Reason))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.EachSuppression(ctx, func(kind, value, cio string, at int64) error {
		s.suppressed = append(s.suppressed, fmt.Sprintf("%s|%s|%s|%d", kind, value, cio, at))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s snapshot) diff(o snapshot) string {
	if d := firstDiff("people", s.people, o.people); d != "" {
		return d
	}
	if d := firstDiff("change log", s.log, o.log); d != "" {
		return d
	}
	return firstDiff("suppressions", s.suppressed, o.suppressed)
}

func firstDiff(what string, a, b []string) string {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("%s differ at %d (of %d and %d):\n  %s\n  %s", what, i, len(a), len(b), x, y)
		}
	}
	return ""
}

// sequentialCioIDs makes cio_ids c000001, c000002, ... so two runs that create people
// in the same order give byte-identical stores.
func sequentialCioIDs() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("c%06d", n) }
}

// applyInBatches applies rows in batches of size n, each batch in its own transaction.
func applyInBatches(t *testing.T, st *store.Store, s identity.Settings, rows []record.Record, n int) {
	t.Helper()
	ctx := context.Background()
	clock := time.Unix(1_700_000_000, 0)
	pl := &identity.Planner{Settings: s, Now: func() time.Time { return clock }, NewCioID: sequentialCioIDs()}
	for start := 0; start < len(rows); start += n {
		batch := rows[start:min(start+n, len(rows))]
		recs := records(batch)
		err := st.InTx(ctx, func(tx *store.Tx) error {
			people, err := pl.Plan(ctx, tx, "test", recs)
			if err != nil {
				return err
			}
			return tx.Write(ctx, "test", clock.Unix(), recs, people)
		})
		if err != nil {
			t.Fatalf("batch at row %d: %v", start, err)
		}
	}
}

func openStore(t *testing.T, backend testdb.Store, s identity.Settings) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), backend.Driver, backend.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CheckWorkspace(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return st
}

// randomRows draws rows over a small pool of people, so ids, emails and cio_ids collide
// often: leads, customers, case variants, email changes, merges, unsets, bad rows.
func randomRows(seed int64, n, pool int) []record.Record {
	rng := rand.New(rand.NewSource(seed))
	pick := func(f string) string { return fmt.Sprintf(f, rng.Intn(pool)) }
	email := func() string {
		e := pick("e%d@x.io")
		if rng.Intn(5) == 0 {
			e = strings.ToUpper(e)
		}
		return e
	}
	rows := make([]record.Record, n)
	for i := range rows {
		r := record.Record{Key: fmt.Sprint(i)}
		switch k := rng.Intn(20); {
		case k < 6:
			r.ID = pick("u%d")
		case k < 10:
			r.Email = email()
		case k < 16:
			r.ID, r.Email = pick("u%d"), email()
		case k < 18:
			r.CioID = fmt.Sprintf("cio_c%06d", 1+rng.Intn(pool*2))
			if rng.Intn(2) == 0 {
				r.Email = email()
			} else {
				r.ID = pick("u%d")
			}
		case k < 19:
			r.ID = pick("U%d") // case variant: another person
		default:
			r.ID, r.Email = pick("u%d"), pick("bad%d") // invalid email
		}
		// Deletes and suppressions (SPEC §10), rare enough that people remain: a
		// suppression blocks its identifiers for the rest of the stream.
		switch k := rng.Intn(100); {
		case k < 4:
			r.Delete = true
		case k < 5:
			r.Suppress = true
		}
		for _, name := range []string{"plan", "n", "tags"} {
			switch rng.Intn(6) {
			case 0:
				r.Attrs = append(r.Attrs, record.Attr{Name: name}) // unset
			case 1, 2:
				r.Attrs = append(r.Attrs, attrs(name, rng.Intn(4))...)
			}
		}
		rows[i] = r
	}
	return rows
}

// TestBatchSizeDoesNotMatter is SPEC §1 rule 6: a batch of any size gives the same
// store, change log and cio_ids as a batch size of 1.
func TestBatchSizeDoesNotMatter(t *testing.T) {
	settings := []identity.Settings{idEmail, idOnly, emailOnly, merge(idEmail), allow(merge(idEmail)), allow(idEmail)}
	forEachStore(t, func(t *testing.T, backend testdb.Store) {
		for i, s := range settings {
			t.Run(label(s), func(t *testing.T) {
				t.Parallel()
				n := 4000
				if backend.Driver == "postgres" {
					n = 2000 // one transaction per row costs more there
				}
				rows := randomRows(int64(42+i), n, 300)
				one := openStore(t, backend, s)
				applyInBatches(t, one, s, rows, 1)
				many := openStore(t, backend, s)
				applyInBatches(t, many, s, rows, 1000)

				a, b := takeSnapshot(t, one), takeSnapshot(t, many)
				if len(a.people) < 100 || len(a.log) < len(a.people) {
					t.Fatalf("too little happened to prove anything: %d people, %d log entries", len(a.people), len(a.log))
				}
				deleted := 0
				for _, p := range a.people {
					if strings.HasSuffix(p, "|true|false") || strings.HasSuffix(p, "|true|true") {
						deleted++
					}
				}
				if deleted < 10 || len(a.suppressed) < 5 {
					t.Fatalf("too few deletes to prove anything: %d deleted, %d suppressed identifiers", deleted, len(a.suppressed))
				}
				if d := a.diff(b); d != "" {
					t.Fatalf("batch size 1 and 1000 differ: %s", d)
				}
			})
		}
	})
}

// TestBatchScenarios checks the in-batch cases the issue names, each applied as one
// batch, against their expected outcome and against one row at a time.
func TestBatchScenarios(t *testing.T) {
	cases := []struct {
		name     string
		settings identity.Settings
		given    []record.Record
		batch    []record.Record
		results  []record.Result
		people   []string
	}{
		{
			name:     "duplicates of one person",
			settings: idEmail,
			batch: []record.Record{
				person("u1", "a@x.io", "n", 1), person("u1", "", "n", 2), person("", "A@x.io", "n", 3), person("u1", "a@x.io", "n", 3),
			},
			results: []record.Result{record.Created, record.Updated, record.Updated, record.Unchanged},
			people:  []string{`u1|a@x.io|{"n":3}`},
		},
		{
			name:     "a lead created by email is given an id two rows later",
			settings: idEmail,
			batch:    []record.Record{person("", "lead@x.io"), person("u9", "other@x.io"), person("u1", "LEAD@x.io", "plan", "pro")},
			results:  []record.Result{record.Created, record.Created, record.Updated},
			people:   []string{`u1|lead@x.io|{"plan":"pro"}`, `u9|other@x.io|{}`},
		},
		{
			name:     "emails swapped between two people by cio_id",
			settings: idEmail,
			given:    []record.Record{person("u1", "a@x.io"), person("u2", "b@x.io")},
			batch: []record.Record{
				byCio("@0", "", "tmp@x.io"), byCio("@1", "", "a@x.io"), byCio("@0", "", "b@x.io"),
				person("", "tmp@x.io"), // the freed address makes a new lead
			},
			results: []record.Result{record.Updated, record.Updated, record.Updated, record.Created},
			people:  []string{`u1|b@x.io|{}`, `u2|a@x.io|{}`, `|tmp@x.io|{}`},
		},
		{
			name:     "an email freed by one row is taken by id two rows later",
			settings: allow(idEmail),
			given:    []record.Record{person("u1", "a@x.io"), person("u2", "b@x.io")},
			batch:    []record.Record{person("u1", "c@x.io"), person("u9", "z@x.io"), person("u2", "a@x.io")},
			results:  []record.Result{record.Updated, record.Created, record.Updated},
			people:   []string{`u1|c@x.io|{}`, `u2|a@x.io|{}`, `u9|z@x.io|{}`},
		},
		{
			name:     "a person created and merged away in the same batch",
			settings: merge(idEmail),
			batch: []record.Record{
				person("u1", "", "a", 1), person("", "b@x.io", "b", 2), person("u1", "b@x.io"), person("", "B@x.io", "c", 3),
			},
			results: []record.Result{record.Created, record.Created, record.Updated, record.Updated},
			people:  []string{`merged→u1|b@x.io|{"a":1,"b":2,"c":3}`, `u1|b@x.io|{"a":1,"b":2,"c":3}`},
		},
	}
	forEachStore(t, func(t *testing.T, backend testdb.Store) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				together := setup(t, backend, tc.settings)
				together.planner.NewCioID = sequentialCioIDs()
				alone := setup(t, backend, tc.settings)
				alone.planner.NewCioID = sequentialCioIDs()
				if len(tc.given) > 0 {
					together.apply(t, tc.given...)
					alone.apply(t, tc.given...)
				}
				batch := together.apply(t, tc.batch...)
				for i, r := range tc.batch {
					alone.apply(t, r)
					if got := batch.recs[i].Result; got != tc.results[i] {
						t.Errorf("row %d: %s (%s), want %s", i, got, batch.recs[i].Detail, tc.results[i])
					}
				}
				if got := together.dump(t); !equal(got, sorted(tc.people)) {
					t.Errorf("store = %q\nwant %q", got, sorted(tc.people))
				}
				if d := takeSnapshot(t, together.st).diff(takeSnapshot(t, alone.st)); d != "" {
					t.Errorf("one batch and one row at a time differ: %s", d)
				}
			})
		}
	})
}

// TestCrashLeavesNoPartialBatch: a batch whose transaction does not commit (context
// cancelled half way, or rolled back after its writes) leaves the store as it was,
// and applying it again gives the store a clean run gives.
func TestCrashLeavesNoPartialBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, backend testdb.Store) {
		s := merge(idEmail)
		rows := randomRows(7, 600, 80)
		first, second := rows[:300], rows[300:]

		clean := openStore(t, backend, s)
		applyInBatches(t, clean, s, rows, 300)

		st := openStore(t, backend, s)
		applyInBatches(t, st, s, first, 300)
		before := takeSnapshot(t, st)

		pl := &identity.Planner{Settings: s, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }, NewCioID: sequentialCioIDs()}
		for i := 0; i < countPeople(t, st); i++ { // continue where the first half stopped
			pl.NewCioID()
		}
		for _, crash := range []string{"cancelled during the writes", "rolled back after the writes"} {
			ctx, cancel := context.WithCancel(context.Background())
			tx, err := st.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			recs := records(second)
			people, err := pl.Plan(ctx, tx, "test", recs)
			if err != nil {
				t.Fatal(err)
			}
			at := pl.Now().Unix()
			if crash == "cancelled during the writes" {
				cancel()
				if err := tx.Write(ctx, "test", at, recs, people); !errors.Is(err, context.Canceled) {
					t.Fatalf("%s: write = %v, want context.Canceled", crash, err)
				}
			} else if err := tx.Write(ctx, "test", at, recs, people); err != nil {
				t.Fatal(err)
			}
			tx.Rollback()
			cancel()
			if d := before.diff(takeSnapshot(t, st)); d != "" {
				t.Fatalf("%s: the store changed: %s", crash, d)
			}
		}

		// The retry must reuse the same cio_ids as the clean run for the stores to match.
		retry := &identity.Planner{Settings: s, Now: pl.Now, NewCioID: sequentialCioIDs()}
		for i := 0; i < countPeople(t, st); i++ {
			retry.NewCioID()
		}
		err := st.InTx(context.Background(), func(tx *store.Tx) error {
			recs := records(second)
			people, err := retry.Plan(context.Background(), tx, "test", recs)
			if err != nil {
				return err
			}
			return tx.Write(context.Background(), "test", retry.Now().Unix(), recs, people)
		})
		if err != nil {
			t.Fatal(err)
		}
		if d := takeSnapshot(t, clean).diff(takeSnapshot(t, st)); d != "" {
			t.Fatalf("after the retry the store differs from a clean run: %s", d)
		}
	})
}

func countPeople(t *testing.T, st *store.Store) int {
	n := 0
	st.EachPerson(context.Background(), func(identity.Person) error { n++; return nil })
	return n
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestDeletedPersonIsNoOne: a deleted person is no one (SPEC §1): a batch that loads
// them (here by their cio_id) neither finds them by their id or email nor gives them
// their keys back; those rows create a new person.
func TestDeletedPersonIsNoOne(t *testing.T) {
	forEachStore(t, func(t *testing.T, backend testdb.Store) {
		for _, s := range []identity.Settings{idEmail, idOnly, emailOnly, allow(merge(idEmail))} {
			t.Run(label(s), func(t *testing.T) {
				b := setup(t, backend, s)
				b.apply(t, person("u1", "a@x.io", "plan", "free"))
				if err := b.st.DeletePerson(context.Background(), b.cio(0)); err != nil {
					t.Fatal(err)
				}
				batch := b.apply(t, byCio("@0", "", "", "plan", "x"), person("u1", "a@x.io", "plan", "pro"))
				if r := batch.recs[0]; r.Result != record.Skipped || r.Reason != identity.ReasonCioIDNotFound {
					t.Errorf("row naming the deleted cio_id: %s %s", r.Result, r.Reason)
				}
				if r := batch.recs[1]; r.Result != record.Created {
					t.Errorf("row with the deleted person's identifiers: %s, want created", r.Result)
				}
				for _, w := range batch.writes {
					if w.Person.CioID == b.cio(0) {
						t.Errorf("the deleted person is written back: %+v", w)
					}
				}
				ident := "u1"
				if !s.IDIdentifies {
					ident = "a@x.io"
				}
				p, err := b.st.FindPerson(context.Background(), s, ident)
				if err != nil || p.CioID != b.cio(2) || string(p.Attributes["plan"]) != `"pro"` {
					t.Errorf("people get %s = %+v, %v; want the new person", ident, p, err)
				}
			})
		}
	})
}

// A person stored with an external id in an [email] workspace (before the id was an
// attribute there) is seen with the id as the attribute "id", and stored so when a row
// changes them.
func TestEmailWorkspaceLegacyIDBecomesAttribute(t *testing.T) {
	forEachStore(t, func(t *testing.T, backend testdb.Store) {
		b := setup(t, backend, emailOnly)
		ctx := context.Background()
		legacy := &identity.Person{CioID: "c1", ID: "u1", Email: "a@x.io", Attributes: map[string]json.RawMessage{}, CreatedAt: 1, UpdatedAt: 1}
		err := b.st.InTx(ctx, func(tx *store.Tx) error {
			return tx.Write(ctx, "test", 1, nil, []identity.Write{{Person: legacy, EmailKey: "a@x.io", Insert: true}})
		})
		if err != nil {
			t.Fatal(err)
		}
		if o := b.apply(t, person("u1", "a@x.io")).recs[0]; o.Result != record.Unchanged {
			t.Errorf("the same id again: %s", o.Result)
		}
		b.apply(t, person("u1", "a@x.io", "plan", "pro"))
		if got := b.dump(t); !equal(got, []string{`|a@x.io|{"id":"u1","plan":"pro"}`}) {
			t.Errorf("store = %q", got)
		}
	})
}
