package engine

import (
	"context"
	"fmt"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/store"
)

// apply plans a batch and commits its writes with its cursor in one transaction.
// The transaction does not see ctx's cancellation: a SIGTERM lets the batch commit.
func (r *reader) apply(ctx context.Context, planner *identity.Planner, p prepared) error {
	s, res := r.sync, r.res
	rows, outcomes, planned, cursor, encoded := p.rows, p.outcomes, p.planned, p.cursor, p.encoded
	var err error
	var (
		batch   *identity.Batch
		attempt int
		guessed bool // planned without looking anyone up
		found   int  // people the lookups found
	)
	write := func(tx *store.Tx) error {
		wctx := context.WithoutCancel(ctx)
		if r.lease != nil {
			if err := tx.RenewLease(wctx, r.lease.Name, r.lease.Holder, r.lease.Expiry()); err != nil {
				return err
			}
		}
		attempt++
		// A backfill: the last batch's lookups found no one, so this one is planned
		// as all new people, without them, and the guess is checked (checkGuess).
		guessed = r.fresh && attempt == 1 && r.dryTx == nil && !hasCioID(rows)
		found = 0
		var err error
		if guessed {
			g := &guess{}
			if batch, err = planner.Plan(wctx, g, s.Name, rows); err != nil {
				return err
			}
			if guessed, err = checkGuess(wctx, tx, g.named, batch.Writes); err != nil {
				return err
			}
		}
		if !guessed {
			if batch, err = planner.Plan(wctx, counting{tx, &found}, s.Name, rows); err != nil {
				return err
			}
		}
		batch.Rejected = mergeRejected(outcomes, planned, batch, s.Name, r.engine.now().Unix())
		if err := tx.Write(wctx, batch); err != nil {
			return err
		}
		if err := tx.RecordProgress(wctx, r.runID, batchProgress(outcomes, planned, batch), encoded); err != nil {
			return err
		}
		if cursor == nil {
			return nil
		}
		return tx.SaveCursor(wctx, s.Name, encoded)
	}
	if r.dryTx != nil {
		err = write(r.dryTx)
	} else {
		err = r.engine.Store.InTx(context.WithoutCancel(ctx), write)
		if err != nil && guessed && store.IsUniqueViolation(err) {
			err = r.engine.Store.InTx(context.WithoutCancel(ctx), write)
		}
	}
	if err != nil {
		return fmt.Errorf("sync %s: apply batch: %w", s.Name, err)
	}
	r.fresh = guessed || found == 0

	for j, o := range batch.Outcomes {
		outcomes[planned[j]].Outcome = o
	}
	res.RowsRead += int64(len(outcomes))
	for _, o := range outcomes {
		switch o.Outcome.Result {
		case identity.Created:
			res.Created++
		case identity.Updated:
			res.Updated++
		case identity.Unchanged:
			res.Unchanged++
		case identity.Rejected:
			res.Rejected++
			res.RejectedBy[o.Outcome.Reason]++
		case identity.Skipped:
			res.Skipped++
			res.RejectedBy[o.Outcome.Reason]++
		}
		for _, f := range o.Outcome.Failed {
			res.FailedBy[f.Reason]++
		}
	}
	if cursor != nil {
		res.CursorAfter = cursor
	}
	if r.opt.OnBatch != nil {
		r.opt.OnBatch(outcomes, batch.Log)
	}
	return nil
}

// mergeRejected lists the batch's rejected and skipped rows in source order: those
// mapping refused and those the identity rules did.
func mergeRejected(outcomes []RowOutcome, planned []int, b *identity.Batch, sync string, now int64) []identity.Rejection {
	if len(planned) == len(outcomes) {
		return b.Rejected
	}
	out := make([]identity.Rejection, 0, len(b.Rejected)+len(outcomes)-len(planned))
	fromPlan := b.Rejected
	next := 0 // index into planned
	for i, o := range outcomes {
		if next < len(planned) && planned[next] == i {
			if r := b.Outcomes[next].Result; r == identity.Rejected || r == identity.Skipped {
				out = append(out, fromPlan[0])
				fromPlan = fromPlan[1:]
			}
			next++
			continue
		}
		out = append(out, identity.Rejection{Time: now, Sync: sync, Key: o.Key, Reason: o.Outcome.Reason, Detail: o.Outcome.Detail})
	}
	return out
}
