package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// TestPeopleEvents: the person's events newest first, one JSON object a line with
// event_id, sync, name, timestamp and data, all of them unless --limit; found by id,
// email or any cio_id, a retired one included, with the events of everyone merged
// into them; none is no output, exit 0; no one is exit 3 (SPEC §5, §8, §10).
func TestPeopleEvents(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "identifiers: [id, email]\n  merge_duplicates: true", "")
			if code, out, _ := dbsync(t, "people", "events", "-c", cfg, "u1"); code != exitNotFound || out != "" {
				t.Fatalf("on a store never written: exit %d, %q; want 3", code, out)
			}
			st, err := store.Open(ctx, backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			settings := identity.DefaultSettings()
			settings.MergeDuplicates = true
			pl := &identity.Planner{Settings: settings, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
			plan := func(recs ...*record.Record) {
				t.Helper()
				err := st.InTx(ctx, func(tx *store.Tx) error {
					people, err := pl.Plan(ctx, tx, "test", recs)
					if err != nil {
						return err
					}
					return tx.Write(ctx, "test", 0, recs, people)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			a, b, c := &record.Record{Key: "1", ID: "u1"}, &record.Record{Key: "2", Email: "lead@example.com"}, &record.Record{Key: "3", ID: "u3"}
			plan(a, b, c)
			ev := func(sync, id, cio, name string, ts int64, data string) events.Event {
				return events.Event{Sync: sync, ID: id, CioID: cio, Name: name, Timestamp: ts, Data: json.RawMessage(data)}
			}
			err = st.InTx(ctx, func(tx *store.Tx) error {
				return tx.WriteEvents(ctx, []events.Event{
					ev("orders", "o1", a.Person, "purchase", 100, `{"total":"12.50"}`),
					ev("orders", "o2", b.Person, "purchase", 300, `{"sku":"A-1"}`),
					ev("logins", "l1", a.Person, "login", 200, `{}`),
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			plan(&record.Record{Key: "4", ID: "u1", Email: "lead@example.com"}) // merges the lead into u1

			want := `{"event_id":"o2","sync":"orders","name":"purchase","timestamp":300,"data":{"sku":"A-1"}}
{"event_id":"l1","sync":"logins","name":"login","timestamp":200,"data":{}}
{"event_id":"o1","sync":"orders","name":"purchase","timestamp":100,"data":{"total":"12.50"}}
`
			for _, ident := range []string{"u1", "LEAD@example.com", "cio_" + a.Person, "cio_" + b.Person} {
				for _, run := range []func(*testing.T, ...string) (int, string, string){dbsync, dbsyncTerm} {
					code, out, errOut := run(t, "people", "events", "-c", cfg, ident, "--json")
					if code != exitOK || out != want {
						t.Errorf("people events %s: exit %d (%s)\n%s want\n%s", ident, code, errOut, out, want)
					}
				}
			}
			first2 := strings.Join(strings.SplitAfter(want, "\n")[:2], "")
			if code, out, errOut := dbsync(t, "people", "events", "--limit", "2", "-c", cfg, "u1"); code != exitOK || out != first2 {
				t.Errorf("--limit 2: exit %d (%s)\n%s want\n%s", code, errOut, out, first2)
			}
			if code, out, _ := dbsync(t, "people", "events", "-c", cfg, "u3"); code != exitOK || out != "" {
				t.Errorf("a person without events: exit %d, %q; want exit 0 and nothing", code, out)
			}
			for _, ident := range []string{"U1", "nobody@example.com", "cio_ffff", ""} {
				if code, out, _ := dbsync(t, "people", "events", "-c", cfg, ident); code != exitNotFound || out != "" {
					t.Errorf("people events %q: exit %d, %q; want 3", ident, code, out)
				}
			}
			if err := st.DeletePerson(ctx, a.Person); err != nil {
				t.Fatal(err)
			}
			if code, _, _ := dbsync(t, "people", "events", "-c", cfg, "cio_"+a.Person); code != exitNotFound {
				t.Errorf("a deleted person: exit %d, want 3", code)
			}
			n := 0
			if err := st.PersonEvents(ctx, a.Person, 0, func(events.Event) error { n++; return nil }); err != nil || n != 0 {
				t.Errorf("a deleted person still has %d events (%v)", n, err)
			}
		})
	}
}

// TestPeopleEventsManyInOrder: a person with many events (more than one SQLite insert holds) prints
// every one, newest first, in order.
func TestPeopleEventsManyInOrder(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.SQLite(t)
	cfg := writeConfig(t, "sqlite", dsn, "", "")
	st, err := store.Open(ctx, "sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var cio string
	err = st.InTx(ctx, func(tx *store.Tx) error {
		recs := []*record.Record{{Key: "1", ID: "u1"}}
		people, err := (&identity.Planner{Settings: identity.DefaultSettings()}).Plan(ctx, tx, "test", recs)
		if err != nil {
			return err
		}
		cio = recs[0].Person
		if err := tx.Write(ctx, "test", 0, recs, people); err != nil {
			return err
		}
		var evs []events.Event
		for i := 0; i < 20000; i++ {
			evs = append(evs, events.Event{Sync: "views", ID: fmt.Sprint(i), CioID: cio, Name: "page_view", Timestamp: int64(i), Data: json.RawMessage(`{}`)})
		}
		return tx.WriteEvents(ctx, evs)
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := dbsync(t, "people", "events", "-c", cfg, "u1")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := jsonLines(t, out)
	if len(lines) != 20000 {
		t.Fatalf("%d events printed, want 20000", len(lines))
	}
	for i, l := range lines {
		if l["event_id"] != fmt.Sprint(19999-i) {
			t.Fatalf("line %d is event %v, want %d", i, l["event_id"], 19999-i)
		}
	}
}
