package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

func newPeople(n int, prefix string) []*record.Record {
	recs := make([]*record.Record, n)
	for i := range recs {
		recs[i] = &record.Record{Key: fmt.Sprint(i), ID: fmt.Sprintf("%s%d", prefix, i), Email: fmt.Sprintf("%s%d@x.io", prefix, i)}
	}
	return recs
}

// A batch planned ahead (PlanAhead) is taken only for exactly the records planned,
// and not when the store holds a suppression of one of their identifiers: the
// outcome is then what planning in the transaction gives.
func TestPlanAheadIsTakenOnlyWhenExact(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, b.Driver, b.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			settings := identity.DefaultSettings()
			k := &people{planner: &identity.Planner{Settings: settings}, sync: "s", now: time.Now, mayGuess: true, planAhead: true}
			apply := func(recs []*record.Record, planned any) {
				t.Helper()
				if err := st.InTx(ctx, func(tx *store.Tx) error {
					for _, r := range recs {
						r.Outcome = record.Outcome{}
					}
					return k.ApplyAhead(ctx, tx, recs, planned)
				}); err != nil {
					t.Fatal(err)
				}
			}
			apply(newPeople(3, "a"), nil) // finds no one: the next batch is planned ahead
			if k.PlanAhead(ctx, newPeople(1, "x")) == nil {
				t.Fatal("no plan ahead after a batch of new people")
			}

			// Fewer records than planned (a lookback's re-reads taken out).
			recs := newPeople(4, "b")
			planned := k.PlanAhead(ctx, recs)
			apply(recs[2:], planned)
			for _, r := range recs[2:] {
				p, err := st.FindPerson(ctx, settings, r.ID)
				if err != nil || r.Result != record.Created || r.Person != p.CioID {
					t.Errorf("%s: %v, person %q; stored %+v, %v", r.ID, r.Result, r.Person, p, err)
				}
			}
			for _, r := range recs[:2] {
				if p, err := st.FindPerson(ctx, settings, r.ID); err == nil {
					t.Errorf("%s was not in the batch, yet stored: %+v", r.ID, p)
				}
			}

			// A suppressed identifier among the records planned.
			if _, err := st.ForgetPerson(ctx, settings, "operator", "a1", true); err != nil {
				t.Fatal(err)
			}
			apply(newPeople(2, "c"), nil)
			recs = append(newPeople(2, "d"), &record.Record{Key: "again", ID: "a1"})
			planned = k.PlanAhead(ctx, recs)
			if planned == nil {
				t.Fatal("no plan ahead after a batch of new people")
			}
			apply(recs, planned)
			if r := recs[2]; r.Result != record.Skipped || r.Reason != "suppressed" {
				t.Errorf("a row with a suppressed id: %v %q; want skipped suppressed", r.Result, r.Reason)
			}
			if p, err := st.FindPerson(ctx, settings, "a1"); err == nil {
				t.Errorf("a suppressed id created someone: %+v", p)
			}
			for _, r := range recs[:2] {
				if r.Result != record.Created {
					t.Errorf("%s: %v, want created", r.ID, r.Result)
				}
			}
		})
	}
}
