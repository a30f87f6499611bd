package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

func ev(sync, id, cio, name string, ts int64, data string) events.Event {
	return events.Event{Sync: sync, ID: id, CioID: cio, Name: name, Timestamp: ts, Data: json.RawMessage(data)}
}

func writeEvents(t *testing.T, st *store.Store, evs ...events.Event) {
	t.Helper()
	inTx(t, st, func(tx *store.Tx) error { return tx.WriteEvents(context.Background(), evs) })
}

// describeEvents is "sync/id name ts data" for each of a person's events, newest first.
func describeEvents(t *testing.T, st *store.Store, cio string, limit int) string {
	t.Helper()
	var out []string
	err := st.PersonEvents(context.Background(), cio, limit, func(e events.Event) error {
		if e.CioID != cio {
			return fmt.Errorf("event %s/%s of %s read as %s's", e.Sync, e.ID, e.CioID, cio)
		}
		out = append(out, fmt.Sprintf("%s/%s %s %d %s", e.Sync, e.ID, e.Name, e.Timestamp, e.Data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "; ")
}

func storedEvents(t *testing.T, st *store.Store, sync string, ids ...string) string {
	t.Helper()
	var got map[string]bool
	inTx(t, st, func(tx *store.Tx) error {
		var err error
		got, err = tx.StoredEvents(context.Background(), sync, ids)
		return err
	})
	return setString(got)
}

func setString(m map[string]bool) string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Each (sync, event id) is stored once (SPEC §9); ids are case-sensitive and belong
// to their sync; a person's events read newest first, with --limit's bound.
func TestEventsStoredOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		writeEvents(t, st,
			ev("orders", "A1", "c1", "purchase", 100, `{"total":"12.50"}`),
			ev("orders", "a1", "c1", "purchase", 300, `{"total":1}`),
			ev("orders", "A1", "c1", "refund", 999, `{}`), // the batch repeats A1: the first is kept
			ev("logins", "A1", "c1", "login", 200, `{"ip":"10.0.0.1"}`),
			ev("orders", "b2", "c2", "purchase", 50, `{}`),
		)
		if got, want := storedEvents(t, st, "orders", "A1", "a1", "b2", "B2", "zz"), "A1,a1,b2"; got != want {
			t.Errorf("stored orders: %s, want %s", got, want)
		}
		if got, want := storedEvents(t, st, "logins", "A1", "a1"), "A1"; got != want {
			t.Errorf("stored logins: %s, want %s", got, want)
		}
		if got := storedEvents(t, st, "orders"); got != "" {
			t.Errorf("no ids asked: %s", got)
		}
		want := `orders/a1 purchase 300 {"total":1}; logins/A1 login 200 {"ip":"10.0.0.1"}; orders/A1 purchase 100 {"total":"12.50"}`
		if got := describeEvents(t, st, "c1", 0); got != want {
			t.Errorf("events of c1:\n got %s\nwant %s", got, want)
		}
		if got, want := describeEvents(t, st, "c1", 2), `orders/a1 purchase 300 {"total":1}; logins/A1 login 200 {"ip":"10.0.0.1"}`; got != want {
			t.Errorf("limit 2:\n got %s\nwant %s", got, want)
		}
		if got := describeEvents(t, st, "nobody", 0); got != "" {
			t.Errorf("events of no one: %s", got)
		}

		// Written again, outside the planner's check: never stored twice. SQLite skips
		// it; PostgreSQL's COPY refuses the batch with a unique violation, which InTx
		// runs again as a collision with another writer.
		err := st.InTx(ctx, func(tx *store.Tx) error {
			return tx.WriteEvents(ctx, []events.Event{ev("orders", "A1", "c9", "purchase", 5, `{}`)})
		})
		if err != nil && !store.IsUniqueViolation(err) {
			t.Fatalf("write a stored event again: %v", err)
		}
		if got := describeEvents(t, st, "c9", 0); got != "" {
			t.Errorf("a stored event was stored again: %s", got)
		}
		if got := describeEvents(t, st, "c1", 0); got != want {
			t.Errorf("events of c1 after the repeat:\n got %s\nwant %s", got, want)
		}
	})
}

// Thousands of ids are asked in one statement and written in one call (more rows
// than one SQLite statement holds).
func TestEventsLargeBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		const n = 12000
		var evs []events.Event
		var ids []string
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("e%05d", i)
			ids = append(ids, id)
			if i%2 == 0 {
				evs = append(evs, ev("views", id, fmt.Sprintf("c%d", i%7), "page_view", int64(i), `{"path":"/x"}`))
			}
		}
		writeEvents(t, st, evs...)
		var got map[string]bool
		inTx(t, st, func(tx *store.Tx) error {
			var err error
			got, err = tx.StoredEvents(context.Background(), "views", ids)
			return err
		})
		if len(got) != n/2 {
			t.Fatalf("%d stored, want %d", len(got), n/2)
		}
		for _, e := range evs {
			if !got[e.ID] {
				t.Fatalf("%s not stored", e.ID)
			}
		}
	})
}

// A dry run's events are seen by its later batches and never reach the store.
func TestDryRunEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		open(t, driver, dsn) // create the schema
		writeEvents(t, open(t, driver, dsn), ev("orders", "1", "c1", "purchase", 10, `{}`))
		ctx := context.Background()
		dry, err := store.OpenDryRun(ctx, driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer dry.Close()
		tx, err := dry.BeginDryRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.WriteEvents(ctx, []events.Event{ev("orders", "2", "c1", "purchase", 20, `{}`)}); err != nil {
			t.Fatal(err)
		}
		got, err := tx.StoredEvents(ctx, "orders", []string{"1", "2", "3"})
		if err != nil {
			t.Fatal(err)
		}
		if s := setString(got); s != "1,2" {
			t.Errorf("stored in the dry run: %s, want 1,2", s)
		}
		tx.Rollback()
		if got := describeEvents(t, open(t, driver, dsn), "c1", 0); got != "orders/1 purchase 10 {}" {
			t.Errorf("after the dry run the store holds %s", got)
		}
	})
}

// merge plans and writes one row that merges the person with email into the one with
// id (SPEC §1 rule 4), in tx.
func merge(t *testing.T, tx *store.Tx, key, id, email string) {
	t.Helper()
	ctx := context.Background()
	pl := &identity.Planner{Settings: identity.DefaultSettings(), Now: func() time.Time { return time.Unix(1000, 0) }}
	pl.Settings.MergeDuplicates = true
	recs := []*record.Record{{Key: key, ID: id, Email: email}}
	batch, err := pl.Plan(ctx, tx, "test", recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(ctx, "test", 0, recs, batch); err != nil {
		t.Fatal(err)
	}
}

// deleteInBatch writes cio deleted, as a people sync's delete column does, in tx.
func deleteInBatch(t *testing.T, tx *store.Tx, cio string) {
	t.Helper()
	ctx := context.Background()
	people, err := tx.LoadPeople(ctx, identity.Keys{CioIDs: []string{cio}})
	if err != nil || len(people) != 1 {
		t.Fatalf("load %s: %v %v", cio, people, err)
	}
	p := people[0]
	p.Deleted, p.ID, p.Email, p.Attributes = true, "", "", nil
	if err := tx.Write(ctx, "test", 0, nil, []identity.Write{{Person: &p, ClearKeys: true}}); err != nil {
		t.Fatal(err)
	}
}

// A merge moves the merged person's events to the survivor (SPEC §8); they stay
// stored once.
func TestMergeMovesEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		apply(t, st, &record.Record{Key: "1", ID: "a1"}, &record.Record{Key: "2", Email: "b@x.io"})
		a, b := cioOf(t, st, "a1"), cioOf(t, st, "b@x.io")
		writeEvents(t, st, ev("orders", "1", a, "purchase", 10, `{}`), ev("orders", "2", b, "purchase", 20, `{}`),
			ev("logins", "1", b, "login", 5, `{}`))
		inTx(t, st, func(tx *store.Tx) error { merge(t, tx, "3", "a1", "b@x.io"); return nil })
		if cioOf(t, st, "b@x.io") != a {
			t.Fatal("b was not merged into a")
		}
		if got, want := describeEvents(t, st, a, 0), "orders/2 purchase 20 {}; orders/1 purchase 10 {}; logins/1 login 5 {}"; got != want {
			t.Errorf("the survivor's events:\n got %s\nwant %s", got, want)
		}
		if got := describeEvents(t, st, b, 0); got != "" {
			t.Errorf("the merged person kept %s", got)
		}
		if got := storedEvents(t, st, "orders", "1", "2"); got != "1,2" {
			t.Errorf("stored after the merge: %s", got)
		}
	})
}

// Deleting a person erases their events (SPEC §10), by hand or by a batch; a re-read
// event of theirs is then no longer stored (it would go to whoever the row finds).
func TestDeletePersonErasesEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		apply(t, st, &record.Record{Key: "1", ID: "u1"}, &record.Record{Key: "2", ID: "u2"}, &record.Record{Key: "3", ID: "u3"})
		u1, u2, u3 := cioOf(t, st, "u1"), cioOf(t, st, "u2"), cioOf(t, st, "u3")
		writeEvents(t, st, ev("orders", "1", u1, "purchase", 1, `{}`), ev("orders", "2", u2, "purchase", 2, `{}`),
			ev("orders", "3", u3, "purchase", 3, `{}`))
		if err := st.DeletePerson(ctx, u1); err != nil {
			t.Fatal(err)
		}
		inTx(t, st, func(tx *store.Tx) error { deleteInBatch(t, tx, u3); return nil })
		if got := storedEvents(t, st, "orders", "1", "2", "3"); got != "2" {
			t.Errorf("stored after deleting u1 and u3: %s, want 2", got)
		}
		if got := describeEvents(t, st, u2, 0); got != "orders/2 purchase 2 {}" {
			t.Errorf("u2's events: %s", got)
		}
	})
}

// In a dry run a merge moves events and a delete erases them in memory: a later
// batch sees the deleted survivor's events, its own and those merged into it, no
// longer stored; the store is untouched.
func TestDryRunMergeAndDeleteEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		apply(t, st, &record.Record{Key: "1", ID: "a1"}, &record.Record{Key: "2", Email: "b@x.io"}, &record.Record{Key: "3", ID: "c1"})
		a, b, c := cioOf(t, st, "a1"), cioOf(t, st, "b@x.io"), cioOf(t, st, "c1")
		writeEvents(t, st, ev("orders", "a", a, "purchase", 1, `{}`), ev("orders", "b", b, "purchase", 2, `{}`),
			ev("orders", "c", c, "purchase", 3, `{}`))
		dry, err := store.OpenDryRun(ctx, driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer dry.Close()
		tx, err := dry.BeginDryRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.WriteEvents(ctx, []events.Event{ev("orders", "new-b", b, "purchase", 4, `{}`)}); err != nil {
			t.Fatal(err)
		}
		merge(t, tx, "4", "a1", "b@x.io")
		deleteInBatch(t, tx, a)
		got, err := tx.StoredEvents(ctx, "orders", []string{"a", "b", "c", "new-b"})
		if err != nil {
			t.Fatal(err)
		}
		if s := setString(got); s != "c" {
			t.Errorf("stored after a dry-run merge and delete: %s, want c", s)
		}
		tx.Rollback()
		if got := storedEvents(t, st, "orders", "a", "b", "c", "new-b"); got != "a,b,c" {
			t.Errorf("the store after the dry run: %s", got)
		}
	})
}
