package engine

import (
	"context"
	"time"

	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// relationships is the kind of a relationships sync (SPEC §8): each row finds its
// person (created when missing, never changed) and its object (created empty when
// missing), and adds, updates or removes the relationship between them.
type relationships struct {
	planner *objects.RelationshipPlanner
	sync    string
	now     func() time.Time
}

// Apply plans the batch and writes it in tx: the new people with the records (their
// profile_create entries and the rows rejected or skipped), the new objects with
// their object_create entries, then the relationships.
func (k *relationships) Apply(ctx context.Context, tx *store.Tx, recs []*record.Record) error {
	plan, err := k.planner.Plan(ctx, tx, k.sync, recs)
	if err != nil {
		return err
	}
	if err := tx.Write(ctx, k.sync, k.now().Unix(), recs, plan.People); err != nil {
		return err
	}
	if err := tx.WriteObjects(ctx, plan.Objects, plan.ObjectChanges); err != nil {
		return err
	}
	return tx.WriteRelationships(ctx, plan.Relationships)
}
