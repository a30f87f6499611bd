package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// An events batch racing a people batch that merges or deletes the person it found
// ends as one of the two orders (store/gate.go): the events are on the survivor, or
// erased with the deleted person, or (the delete first) on the new person the events
// batch then creates — never on a retired or deleted cio_id. Each round forces one
// order's overlap: the second batch starts while the first holds its lookup or its
// uncommitted writes for 30 ms.
func TestEventsBatchRacesMergeAndDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		s := identity.DefaultSettings()
		s.MergeDuplicates = true
		if err := st.CheckWorkspace(ctx, s); err != nil {
			t.Fatal(err)
		}
		people := &identity.Planner{Settings: s}
		peopleBatch := func(tx *store.Tx, rows ...*record.Record) error {
			for _, r := range rows {
				r.Outcome = record.Outcome{}
			}
			ws, err := people.Plan(ctx, tx, "people", rows)
			if err != nil {
				return err
			}
			return tx.Write(ctx, "people", 1, rows, ws)
		}
		for round := 0; round < 20; round++ {
			del, eventsFirst := round%2 == 1, round%4 < 2
			lead := &record.Record{Key: "l", Email: fmt.Sprintf("l%d@x.io", round)}
			inTx(t, st, func(tx *store.Tx) error { return peopleBatch(tx, lead) })
			var mover *record.Record
			if del {
				mover = &record.Record{Key: "d", Email: lead.Email, Delete: true}
			} else { // a person with an id takes the lead's email: the lead is merged into them
				mover = &record.Record{Key: "m", ID: fmt.Sprintf("m%d", round)}
				inTx(t, st, func(tx *store.Tx) error { return peopleBatch(tx, mover) })
				mover = &record.Record{Key: "m", ID: mover.ID, Email: lead.Email}
			}
			var evs []*record.Record
			for i := 0; i < 3; i++ {
				evs = append(evs, &record.Record{Key: fmt.Sprint(i), Email: lead.Email, EventID: fmt.Sprintf("r%d-%d", round, i),
					EventName: "purchase", Timestamp: 100, HasTimestamp: true, Data: []byte(`{}`)})
			}

			first := make(chan struct{})
			var once sync.Once
			hold := func(once *sync.Once, ch chan struct{}) {
				once.Do(func() { close(ch); time.Sleep(30 * time.Millisecond) })
			}
			errs := make(chan error, 2)
			go func() { // the events batch
				if !eventsFirst {
					<-first
				}
				errs <- st.InTx(ctx, func(tx *store.Tx) error {
					for _, r := range evs {
						r.Outcome = record.Outcome{}
					}
					if err := tx.ShareEventsGate(ctx); err != nil {
						return err
					}
					l := &heldLookup{Tx: tx, after: func() {
						if eventsFirst {
							hold(&once, first)
						}
					}}
					plan, err := (&events.Planner{People: people}).Plan(ctx, l, "orders", evs)
					if err != nil {
						return err
					}
					if err := tx.Write(ctx, "orders", 1, evs, plan.People); err != nil {
						return err
					}
					return tx.WriteEvents(ctx, plan.Events)
				})
			}()
			go func() { // the people batch that merges or deletes the lead
				if eventsFirst {
					<-first
				}
				errs <- st.InTx(ctx, func(tx *store.Tx) error {
					if err := peopleBatch(tx, mover); err != nil {
						return err
					}
					if !eventsFirst {
						hold(&once, first)
					}
					return nil
				})
			}()
			for i := 0; i < 2; i++ {
				if err := <-errs; err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}

			if got := describeEvents(t, st, lead.Person, 0); got != "" {
				t.Errorf("round %d (delete %v, events first %v): the lead %s, now retired, holds events: %s",
					round, del, eventsFirst, lead.Person, got)
			}
			var want string
			if !del || !eventsFirst { // the survivor's, or the new person's the events batch created
				want = fmt.Sprintf("orders/r%d-2 purchase 100 {}; orders/r%d-1 purchase 100 {}; orders/r%d-0 purchase 100 {}", round, round, round)
			}
			p, err := st.FindPerson(ctx, s, lead.Email)
			switch {
			case err == nil:
				if got := describeEvents(t, st, p.CioID, 0); got != want {
					t.Errorf("round %d (delete %v, events first %v): %s holds %q, want %q", round, del, eventsFirst, lead.Email, got, want)
				}
			case want != "":
				t.Errorf("round %d (delete %v, events first %v): no one holds %s: %v", round, del, eventsFirst, lead.Email, err)
			}
		}
	})
}

// heldLookup is the events batch's loader: identities without row locks, as the
// engine's, calling after once the people are looked up.
type heldLookup struct {
	*store.Tx
	after func()
}

func (l *heldLookup) LoadPeople(ctx context.Context, keys identity.Keys) ([]identity.Person, error) {
	p, err := l.LoadIdentities(ctx, keys)
	l.after()
	return p, err
}
