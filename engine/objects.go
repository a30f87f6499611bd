package engine

import (
	"context"
	"time"

	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// objectsKind is the kind of an objects sync (SPEC §8): each row creates or updates
// one object of the sync's type, and the store writes the objects, their change log
// and the refused rows from the records.
type objectsKind struct {
	planner *objects.ObjectPlanner
	sync    string
	now     func() time.Time
}

// Apply plans the batch's records as objects and writes them in tx.
func (k *objectsKind) Apply(ctx context.Context, tx *store.Tx, recs []*record.Record) error {
	todo := make([]*record.Record, 0, len(recs)) // what mapping did not refuse
	for _, r := range recs {
		if !r.Refused() {
			todo = append(todo, r)
		}
	}
	writes, err := k.planner.Plan(ctx, tx, k.sync, todo)
	if err != nil {
		return err
	}
	if err := tx.WriteObjects(ctx, writes, objects.ChangesOf(todo)); err != nil {
		return err
	}
	return tx.WriteRefused(ctx, k.sync, k.now().Unix(), recs)
}
