package engine

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// eventsKind is the kind of an events sync (SPEC §9): each row stores its event once
// per (sync, event id), for the person it finds (created when missing, never
// changed). Nothing of an event outlives its batch: the store says which are stored.
// A backfill takes a shortcut: see noneStored.
type eventsKind struct {
	planner  *events.Planner
	sync     string
	now      func() time.Time
	mayGuess bool // false in a dry run, and with Options.NoShortcuts
	fresh    bool // the last batch stored all its events: none was stored before
}

// Apply plans the batch and writes it in tx: the new people with the records (their
// profile_create entries and the rows rejected or skipped), then the new events. An
// event row writes no change log of its own.
func (k *eventsKind) Apply(ctx context.Context, tx *store.Tx, recs []*record.Record) error {
	if !slices.ContainsFunc(recs, func(r *record.Record) bool { return !r.Refused() }) {
		// Nothing to plan (every row refused, or read again by a lookback): the batch
		// says nothing of whether the next one's events are stored.
		return tx.Write(ctx, k.sync, k.now().Unix(), recs, nil)
	}
	// A backfill: the last batch found none of its events stored, so this one is
	// planned as if none of its were either, and the guess is checked (see
	// noneStored). Another attempt at this batch asks the store.
	guessed := k.mayGuess && k.fresh
	k.fresh = false
	// The people it finds are not locked: batches that would merge or delete them
	// wait for this one to commit, or this one for them (store/gate.go).
	if err := tx.ShareEventsGate(ctx); err != nil {
		return err
	}
	l := &noneStored{identities: identities{tx}, sync: k.sync, guess: guessed}
	plan, err := k.planner.Plan(ctx, l, k.sync, recs)
	if err != nil {
		return err
	}
	if guessed {
		if err := l.check(ctx, plan.Events); err != nil {
			return err
		}
	}
	if err := tx.Write(ctx, k.sync, k.now().Unix(), recs, plan.People); err != nil {
		return err
	}
	if !guessed {
		err = tx.WriteEvents(ctx, plan.Events)
	} else if err = tx.InsertEvents(ctx, plan.Events); store.IsUniqueViolation(err) {
		// An event the guess took for new is stored.
		eventGuessesWrong[0].Add(1)
		return fmt.Errorf("%w: %w", errPlanAgain, err)
	}
	if err != nil {
		return err
	}
	k.fresh = !l.found
	return nil
}

// eventGuessesWrong counts the batches planned again because the guess was wrong, by
// the insert [0] or by check [1], for the tests that make sure they saw both.
var eventGuessesWrong [2]atomic.Int64

// identities is the store's transaction as the events' planner needs it: the people
// an event row finds are never changed (SPEC §9), so only their identities are loaded,
// not their attributes (store.Tx.LoadIdentities).
type identities struct{ *store.Tx }

func (l identities) LoadPeople(ctx context.Context, keys identity.Keys) ([]identity.Person, error) {
	return l.LoadIdentities(ctx, keys)
}

// noneStored answers StoredEvents from the store, or, when guess is set, with none
// stored, keeping the ids the batch named so that the guess can be checked.
//
// Why the guess is exact (SPEC §1 rule 6: no shortcut changes an outcome). The plan
// depends on the store's events only through StoredEvents; when none of the batch's
// ids is stored, the store's answer is the guess's, and the plan is the same row for
// row. So the guess is right when no named id is stored, and it is checked in two
// parts:
//   - an id the guessed plan writes: InsertEvents refuses a stored one with a unique
//     violation, the batch's writes roll back, and the batch is planned again
//     asking the store (errPlanAgain);
//   - every other named id (its rows all refused by the identity rules, say) is
//     asked for before anything is written (check); one stored: planned again too.
//
// Usually the plan writes every named id and nothing is asked.
type noneStored struct {
	identities
	sync  string
	guess bool
	named []string // the ids a guessed StoredEvents was asked for
	found bool     // the store had one of the ids it was asked for
}

func (l *noneStored) StoredEvents(ctx context.Context, sync string, ids []string) (map[string]bool, error) {
	if l.guess {
		l.named = append(l.named, ids...)
		return map[string]bool{}, nil
	}
	stored, err := l.Tx.StoredEvents(ctx, sync, ids)
	l.found = l.found || len(stored) > 0
	return stored, err
}

// check asks the store for the named ids the guessed plan does not write (see
// noneStored): one stored means the guess was wrong.
func (l *noneStored) check(ctx context.Context, evs []events.Event) error {
	written := make(map[string]bool, len(evs))
	for _, e := range evs {
		written[e.ID] = true
	}
	var ask []string
	for _, id := range l.named {
		if !written[id] {
			ask = append(ask, id)
		}
	}
	if len(ask) == 0 {
		return nil
	}
	stored, err := l.Tx.StoredEvents(ctx, l.sync, ask)
	if err != nil {
		return fmt.Errorf("check the batch planned as new events: %w", err)
	}
	if len(stored) > 0 {
		eventGuessesWrong[1].Add(1)
		return fmt.Errorf("%w: %d of the batch's events are stored", errPlanAgain, len(stored))
	}
	return nil
}
