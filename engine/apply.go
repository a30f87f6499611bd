package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// Kind plans and writes one kind of row: people (people.go), and after them objects
// and relationships (SPEC §8) and events (§9). The engine reads, maps and commits; the kind decides
// what each row does. It is all the engine knows of a kind.
type Kind interface {
	// Apply plans a batch and writes it in tx, filling in each record's outcome and
	// changes; the records already refused (by mapping, or as a lookback's re-read
	// of a refused row) it writes as they are. It is
	// called again for the batch, in a new transaction and from the records as mapping
	// left them, when the transaction is tried again, and once more when its error
	// wraps errPlanAgain.
	Apply(ctx context.Context, tx *store.Tx, recs []*record.Record) error
}

// aheadKind is a Kind that can plan part of a batch before the batch's transaction,
// on the reader's goroutine while the batch before it is written (people.go).
type aheadKind interface {
	Kind
	// PlanAhead plans recs outside any transaction; it returns nil when it does not.
	PlanAhead(ctx context.Context, recs []*record.Record) any
	// ApplyAhead is Apply, given what PlanAhead returned for the same records.
	ApplyAhead(ctx context.Context, tx *store.Tx, recs []*record.Record, planned any) error
}

// errPlanAgain, wrapped in a Kind's error, asks for the batch once more in a new
// transaction: a shortcut the kind took turned out wrong, and the store refused the
// writes. The kind takes no shortcut the next time.
var errPlanAgain = errors.New("plan the batch again")

// kind picks the Kind that plans a sync's rows: the one place the engine tells kinds
// apart.
func (e *Engine) kind(s config.Sync, opt Options) Kind {
	switch s.Kind {
	case config.KindObjects:
		return &objectsKind{planner: &objects.ObjectPlanner{Type: s.ObjectType, Now: e.Now}, sync: s.Name, now: e.now}
	case config.KindEvents:
		return &eventsKind{planner: &events.Planner{People: &identity.Planner{Settings: e.Settings, Now: e.Now}}, sync: s.Name, now: e.now,
			mayGuess: !opt.DryRun && !opt.NoShortcuts}
	case config.KindRelationships:
		return &relationships{
			planner: &objects.RelationshipPlanner{People: &identity.Planner{Settings: e.Settings, Now: e.Now}, ObjectType: s.ObjectType},
			sync:    s.Name,
			now:     e.now,
		}
	}
	return &people{
		planner: &identity.Planner{Settings: e.Settings, Now: e.Now},
		sync:    s.Name,
		now:     e.now,
		// A dry run's overlay of earlier batches is not behind the store's unique
		// keys, which the guess relies on.
		mayGuess:  !opt.DryRun && !opt.NoShortcuts,
		planAhead: !e.Store.InProcess(),
	}
}

// apply has the sync's kind plan and write a batch, and commits its writes with its
// cursor and its counts in one transaction. The transaction does not see ctx's
// cancellation: a SIGTERM lets the batch commit.
func (r *reader) apply(ctx context.Context, p prepared) error {
	s, res := r.sync, r.res
	recs := p.records
	// The rows mapping refused stay refused; the others are the kind's to decide,
	// afresh in each attempt at the transaction.
	var todo []*record.Record
	for _, rec := range recs {
		if !rec.Refused() {
			todo = append(todo, rec)
		}
	}
	write := func(tx *store.Tx) error {
		wctx := context.WithoutCancel(ctx)
		for _, rec := range todo {
			rec.Outcome = record.Outcome{}
		}
		if r.lease != nil {
			if err := tx.RenewLease(wctx, r.lease.Name, r.lease.Holder, r.lease.Expiry()); err != nil {
				return err
			}
		}
		// A lookback's re-reads of rows that did not change are not the kind's to
		// apply again (lookback.go).
		batch := recs
		var repeats []repeat
		if r.lookback != nil {
			var err error
			if batch, repeats, err = r.lookback.sift(wctx, tx, recs); err != nil {
				return err
			}
		}
		// What was planned ahead serves the first attempt only: another starts
		// from the records as mapping left them.
		planned := p.ahead
		p.ahead = nil
		var err error
		if ak, ok := r.kind.(aheadKind); ok && planned != nil {
			err = ak.ApplyAhead(wctx, tx, batch, planned)
		} else {
			err = r.kind.Apply(wctx, tx, batch)
		}
		if err != nil {
			return err
		}
		if r.lookback != nil {
			settle(repeats)
			if err := r.lookback.remember(wctx, tx, recs, p.cursor); err != nil {
				return err
			}
		}
		if err := tx.RecordProgress(wctx, r.runID, progressOf(recs), p.encoded); err != nil {
			return err
		}
		if p.cursor == nil {
			return nil
		}
		return tx.SaveCursor(wctx, s.Name, p.encoded)
	}
	var err error
	if r.dryTx != nil {
		err = write(r.dryTx)
	} else {
		err = r.engine.Store.InTx(context.WithoutCancel(ctx), write)
		if errors.Is(err, errPlanAgain) {
			err = r.engine.Store.InTx(context.WithoutCancel(ctx), write)
		}
	}
	if err != nil {
		return fmt.Errorf("sync %s: apply batch: %w", s.Name, err)
	}

	res.add(recs)
	if p.cursor != nil {
		res.CursorAfter = p.cursor
	}
	if r.opt.OnBatch != nil {
		r.opt.OnBatch(recs)
	}
	return nil
}

// progressOf counts a planned batch's records for its run's history, before the
// batch commits, so that the counts commit with the batch.
func progressOf(recs []*record.Record) store.Counts {
	p := store.Counts{RowsRead: int64(len(recs))}
	for _, rec := range recs {
		switch rec.Result {
		case record.Created:
			p.Created++
		case record.Updated:
			p.Updated++
		case record.Unchanged:
			p.Unchanged++
		case record.Rejected:
			p.Rejected++
		case record.Skipped:
			p.Skipped++
		case record.Deleted:
			p.Deleted++
		case record.Suppressed:
			p.Suppressed++
		}
		for _, c := range rec.Changes {
			if c.Kind == record.FailedAttributeChange {
				p.FailedChanges++
			}
		}
	}
	return p
}

// add counts a committed batch's records into the run's result.
func (res *Result) add(recs []*record.Record) {
	p := progressOf(recs)
	res.RowsRead += p.RowsRead
	res.Created += p.Created
	res.Updated += p.Updated
	res.Unchanged += p.Unchanged
	res.Rejected += p.Rejected
	res.Skipped += p.Skipped
	res.FailedChanges += p.FailedChanges
	res.Deleted += p.Deleted
	res.Suppressed += p.Suppressed
	for _, rec := range recs {
		if rec.Refused() {
			res.RejectedBy[rec.Reason]++
		}
		for _, c := range rec.Changes {
			if c.Kind == record.FailedAttributeChange {
				res.FailedBy[c.Reason]++
			}
		}
	}
}
