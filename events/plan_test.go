package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// ev is an events row of a person by id (who; "" none), valid unless changed.
func ev(id, name, who string) record.Record {
	return record.Record{Key: id, EventID: id, EventName: name, ID: who, HasTimestamp: true, Timestamp: 1_700_000_000,
		Data: json.RawMessage(`{"total":1}`)}
}

// dataOf is data of n bytes exactly: {"x":"aaa…"}.
func dataOf(n int) json.RawMessage {
	return json.RawMessage(`{"x":"` + strings.Repeat("a", n-8) + `"}`)
}

// eventCase is one batch planned against a store holding the person k1 and the
// sync's event e0, and what each row must become: "created", "created new" (its
// person created with it), "unchanged" (and no one created), or "rejected:R" /
// "skipped:R".
type eventCase struct {
	name string
	rows []record.Record
	want []string
}

func TestEventPlan(t *testing.T) {
	long := strings.Repeat("é", 50) // 100 bytes
	noTime := ev("t1", "login", "k1")
	noTime.HasTimestamp = false
	unknown := ev("c1", "login", "")
	unknown.CioID = "cio_0123456789abcdef"
	cases := []eventCase{
		{"limits", []record.Record{
			ev("l1", "", "k1"), ev("l2", "  ", "k1"), ev("l3", long+"a", "k1"), ev("l4", long, "k1"),
			func() record.Record { r := ev("l5", "big", "k1"); r.Data = dataOf(events.MaxDataBytes + 1); return r }(),
			func() record.Record { r := ev("l6", "big", "k1"); r.Data = dataOf(events.MaxDataBytes); return r }(),
			ev("", "login", "k1"), noTime, ev(strings.Repeat("i", events.MaxIDBytes), "login", "k1"),
			ev(strings.Repeat("i", events.MaxIDBytes+1), "login", "k1"),
		}, []string{"rejected:invalid_event_name", "rejected:invalid_event_name", "rejected:invalid_event_name", "created",
			"rejected:event_too_large", "created", "rejected:no_event_id", "rejected:no_event_timestamp",
			"created", "rejected:event_id_too_long"}},
		{"people", []record.Record{ev("p1", "login", "k1"), ev("p2", "login", "n1"), unknown, ev("p3", "login", "")},
			[]string{"created", "created new", "skipped:cio_id_not_found", "rejected:no_identifier"}},
		{"a stored event creates no one", []record.Record{ev("e0", "login", "n2"), ev("s1", "login", "n3")},
			[]string{"unchanged", "created new"}},
		// The first row of an id that stores its event does; the rows before it are
		// refused as they would be alone, those after it are unchanged and create no one.
		{"repeated in the batch", []record.Record{
			ev("r1", "login", "n4"), ev("r1", "login", "n5"),
			func() record.Record { r := unknown; r.EventID, r.Key = "r2", "r2"; return r }(), ev("r2", "login", ""),
			ev("r2", "login", "n6"), ev("r2", "logout", "n7"), ev("r1", "login", "k1"),
		}, []string{"created new", "unchanged", "skipped:cio_id_not_found", "rejected:no_identifier", "created new", "unchanged", "unchanged"}},
		{"a later row finds the person an earlier one created", []record.Record{ev("f1", "login", "n8"), ev("f2", "login", "n8")},
			[]string{"created new", "created"}},
	}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, backend.Driver, backend.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			clock := time.Unix(1_800_000_000, 0)
			people := &identity.Planner{Settings: identity.DefaultSettings(), Now: func() time.Time { return clock }}
			pl := &events.Planner{People: people}
			k1 := []*record.Record{{Key: "k1", ID: "k1"}}
			if err := st.InTx(ctx, func(tx *store.Tx) error {
				w, err := people.Plan(ctx, tx, "people", k1)
				if err != nil {
					return err
				}
				if err := tx.Write(ctx, "people", clock.Unix(), k1, w); err != nil {
					return err
				}
				return tx.WriteEvents(ctx, []events.Event{{Sync: "s", ID: "e0", CioID: k1[0].Person, Name: "login", Timestamp: 1, Data: json.RawMessage(`{}`)}})
			}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range cases {
				recs := make([]*record.Record, len(tc.rows))
				for i := range tc.rows {
					r := tc.rows[i]
					recs[i] = &r
				}
				var plan *events.Plan
				if err := st.InTx(ctx, func(tx *store.Tx) error {
					var err error
					if plan, err = pl.Plan(ctx, tx, "s", recs); err != nil {
						return err
					}
					if err := tx.Write(ctx, "s", clock.Unix(), recs, plan.People); err != nil {
						return err
					}
					return tx.WriteEvents(ctx, plan.Events)
				}); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				var got, wantEvents, gotEvents []string
				newPeople := 0
				for _, r := range recs {
					out := r.Result.String()
					switch {
					case r.Refused():
						out += ":" + r.Reason
					case len(r.Changes) == 1 && r.Changes[0].Kind == record.ProfileCreate:
						out += " new"
						newPeople++
					case len(r.Changes) > 0:
						out += fmt.Sprintf(" with changes %+v", r.Changes)
					}
					if r.Result == record.Unchanged && r.Person != "" {
						out += " found " + r.Person
					}
					if r.Result == record.Created {
						wantEvents = append(wantEvents, fmt.Sprintf("%s %s %s %s", r.EventID, r.Person, r.EventName, r.Data))
					}
					got = append(got, out)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s: rows\n  %s\nwant\n  %s", tc.name, strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
				}
				if len(plan.People) != newPeople {
					t.Errorf("%s: %d people to write, %d rows created one", tc.name, len(plan.People), newPeople)
				}
				for _, e := range plan.Events {
					gotEvents = append(gotEvents, fmt.Sprintf("%s %s %s %s", e.ID, e.CioID, e.Name, e.Data))
					if e.Sync != "s" || e.Timestamp != 1_700_000_000 {
						t.Errorf("%s: event %+v", tc.name, e)
					}
				}
				if !slices.Equal(gotEvents, wantEvents) {
					t.Errorf("%s: events %q, want %q", tc.name, gotEvents, wantEvents)
				}
			}
			// The people a stored or repeated event named were never created.
			for _, id := range []string{"n2", "n5", "n7"} {
				if p, err := st.FindPerson(ctx, identity.DefaultSettings(), id); err == nil {
					t.Errorf("person %s was created: %+v", id, p)
				}
			}
			// Planning the same rows again stores nothing more: every event is stored.
			r := ev("r2", "login", "n9")
			recs := []*record.Record{&r}
			if err := st.InTx(ctx, func(tx *store.Tx) error {
				plan, err := pl.Plan(ctx, tx, "s", recs)
				if err == nil && (len(plan.Events) > 0 || len(plan.People) > 0) {
					err = fmt.Errorf("plan %+v", plan)
				}
				return err
			}); err != nil || r.Result != record.Unchanged {
				t.Errorf("a stored event again: %v, %+v", err, r)
			}
		})
	}
}
