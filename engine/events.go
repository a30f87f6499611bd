package engine

import (
	"context"
	"time"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// eventsKind is the kind of an events sync (SPEC §9): each row stores its event once
// per (sync, event id), for the person it finds (created when missing, never
// changed). Nothing of an event outlives its batch: the store says which are stored.
type eventsKind struct {
	planner *events.Planner
	sync    string
	now     func() time.Time
}

// Apply plans the batch and writes it in tx: the new people with the records (their
// profile_create entries and the rows rejected or skipped), then the new events. An
// event row writes no change log of its own.
func (k *eventsKind) Apply(ctx context.Context, tx *store.Tx, recs []*record.Record) error {
	plan, err := k.planner.Plan(ctx, tx, k.sync, recs)
	if err != nil {
		return err
	}
	if err := tx.Write(ctx, k.sync, k.now().Unix(), recs, plan.People); err != nil {
		return err
	}
	return tx.WriteEvents(ctx, plan.Events)
}
