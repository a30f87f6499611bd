package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// people is the kind of a people sync: the identity rules (SPEC §1–§2) resolve each
// record to a person, and the store writes the people with the records. A backfill
// takes a shortcut: see guess.
type people struct {
	planner  *identity.Planner
	sync     string
	now      func() time.Time
	mayGuess bool // false in a dry run
	// planAhead: batches may be planned ahead (PlanAhead), where the store is a
	// server whose writing the planning then overlaps. A SQLite store writes on this
	// process's CPUs, which planning ahead competes for: there it bought no time
	// and held a planned batch more (7 MiB of peak RSS, docs/benchmarks.md).
	planAhead bool
	fresh     bool // the last batch's lookups found no one already in the store
	// wasFresh is fresh as the last Apply left it, for PlanAhead, which runs on the
	// reader's goroutine while Apply runs.
	wasFresh atomic.Bool
}

// Apply plans the batch's records by the identity rules and writes them in tx.
func (k *people) Apply(ctx context.Context, tx *store.Tx, recs []*record.Record) error {
	return k.ApplyAhead(ctx, tx, recs, nil)
}

// ApplyAhead is Apply, given what PlanAhead made of recs (or nil): see ahead.
func (k *people) ApplyAhead(ctx context.Context, tx *store.Tx, recs []*record.Record, planned any) error {
	todo := unrefused(recs)
	if len(todo) == 0 {
		// Nothing to plan (every row refused, or read again by a lookback): the batch
		// says nothing of whether the next one's lookups find anyone.
		return tx.Write(ctx, k.sync, k.now().Unix(), recs, nil)
	}
	// A backfill: the last batch's lookups found no one, so this one is planned as
	// all new people, without them, and the guess is checked (checkGuess). Another
	// attempt at this batch looks people up.
	guessed := k.mayGuess && k.fresh && !hasCioID(todo)
	k.fresh = false
	var (
		writes []identity.Write
		err    error
		found  int // people the lookups found
	)
	var g *guess
	if guessed {
		g = &guess{suppressions: tx}
		a, _ := planned.(*ahead)
		var took bool
		if took, err = a.take(ctx, g, todo); err != nil {
			return err
		}
		if took {
			writes = a.writes
		} else if writes, err = k.planner.Plan(ctx, g, k.sync, todo); err != nil {
			return err
		}
		if guessed, err = checkGuess(ctx, tx, g.named, writes); err != nil {
			return err
		}
		if !guessed {
			for _, r := range todo {
				r.Outcome = record.Outcome{}
			}
		}
	}
	if !guessed {
		if writes, err = k.planner.Plan(ctx, counting{tx, &found}, k.sync, todo); err != nil {
			return err
		}
	}
	if err := tx.Write(ctx, k.sync, k.now().Unix(), recs, writes); err != nil {
		if guessed && store.IsUniqueViolation(err) {
			// Someone in the store holds a key the guess gave a new person.
			return fmt.Errorf("%w: %w", errPlanAgain, err)
		}
		return err
	}
	if guessed {
		if err := g.checkSuppressed(ctx); err != nil {
			return err
		}
	}
	k.fresh = guessed || found == 0
	k.wasFresh.Store(k.fresh)
	return nil
}

// unrefused is recs without the records mapping refused.
func unrefused(recs []*record.Record) []*record.Record {
	var todo []*record.Record
	for _, r := range recs {
		if !r.Refused() {
			todo = append(todo, r)
		}
	}
	return todo
}

// PlanAhead plans a batch as all new people before its transaction, while the batch
// before it is written, so that planning leaves the writer's path: in a backfill it
// was a third of the writer's CPU, spent while the store waited. It plans when the
// last batch was new people (the next is likely too) and returns nil otherwise.
func (k *people) PlanAhead(ctx context.Context, recs []*record.Record) any {
	todo := unrefused(recs)
	if !k.planAhead || !k.mayGuess || !k.wasFresh.Load() || len(todo) == 0 || hasCioID(todo) {
		return nil
	}
	// The records are the reader's until it hands them over: the plan is made on
	// them, and its outcomes are moved aside, so that each attempt at the batch
	// starts from the records as mapping left them.
	a := &ahead{todo: todo, outcomes: make([]record.Outcome, len(todo))}
	writes, err := k.planner.Plan(ctx, a, k.sync, todo)
	for i, r := range todo {
		a.outcomes[i], r.Outcome = r.Outcome, record.Outcome{}
	}
	if err != nil {
		return nil // planned again in the transaction, where the error is reported
	}
	a.writes = writes
	return a
}

// ahead is a batch planned by PlanAhead: the plan the guess would make (no one in
// the store), with every suppression answered "none". It is exact when it is taken:
// only for the very records it was planned for, when Apply would guess, and after
// the store has said, in the batch's transaction, that no identifier the plan asked
// about is suppressed. The plan then had the inputs the guess's plan would have,
// and is the plan it would make; the guess is checked after it as always
// (checkGuess, checkSuppressed).
type ahead struct {
	todo     []*record.Record // the records planned, in order
	outcomes []record.Outcome // the outcomes the plan gave them
	writes   []identity.Write
	named    identity.Keys  // the keys the plan looked up
	asked    *identity.Keys // the suppressions it asked about, if it asked
}

func (a *ahead) LoadPeople(_ context.Context, keys identity.Keys) ([]identity.Person, error) {
	a.named = keys
	return nil, nil
}

func (a *ahead) Suppressed(_ context.Context, keys identity.Keys) (identity.Keys, error) {
	a.asked = &keys
	return identity.Keys{}, nil
}

// take gives todo the outcomes planned ahead and g what the guess's plan would have
// told it, and reports whether it could: a nil a, other records, or a suppressed
// identifier leave todo and g as they were for Plan.
func (a *ahead) take(ctx context.Context, g *guess, todo []*record.Record) (bool, error) {
	if a == nil || len(todo) != len(a.todo) {
		return false, nil
	}
	for i, r := range todo {
		if r != a.todo[i] {
			return false, nil
		}
	}
	if a.asked != nil {
		held, err := g.Suppressed(ctx, *a.asked)
		if err != nil {
			return false, err
		}
		if len(held.IDs)+len(held.Emails) > 0 {
			return false, nil
		}
	}
	for i, r := range todo {
		r.Outcome = a.outcomes[i]
	}
	g.named = a.named
	return true, nil
}

// counting is a Loader that counts the people it loads.
type counting struct {
	identity.Loader
	n *int
}

func (c counting) LoadPeople(ctx context.Context, keys identity.Keys) ([]identity.Person, error) {
	people, err := c.Loader.LoadPeople(ctx, keys)
	*c.n += len(people)
	return people, err
}

// guess is a Loader for a batch planned as all new people: it finds no one, and
// keeps the keys the batch names so that the guess can be checked (see checkGuess).
// The suppressions it asks the store: they are no part of the guess.
type guess struct {
	named        identity.Keys
	asked        identity.Keys // what the plan asked of the suppressions
	held         int           // how many of them were suppressed
	suppressions interface {
		Suppressed(ctx context.Context, keys identity.Keys) (identity.Keys, error)
	}
}

func (g *guess) Suppressed(ctx context.Context, keys identity.Keys) (identity.Keys, error) {
	held, err := g.suppressions.Suppressed(ctx, keys)
	g.asked, g.held = keys, len(held.IDs)+len(held.Emails)
	return held, err
}

// checkSuppressed asks again, after the guessed batch's writes, for the suppressions
// the plan saw. A guessed batch locks no stored person, so an operator's suppression
// of one may commit after the plan read the suppressions: then the batch's insert of
// a new person with the suppressed person's key waited for it, or came after it, and
// this second look sees it, and the batch is planned again with lookups (which lock).
func (g *guess) checkSuppressed(ctx context.Context) error {
	if len(g.asked.IDs)+len(g.asked.Emails) == 0 {
		return nil
	}
	held, err := g.suppressions.Suppressed(ctx, g.asked)
	if err != nil {
		return err
	}
	if len(held.IDs)+len(held.Emails) != g.held {
		return fmt.Errorf("%w: a suppression came in while the batch was written", errPlanAgain)
	}
	return nil
}

func (g *guess) LoadPeople(_ context.Context, keys identity.Keys) ([]identity.Person, error) {
	g.named = keys
	return nil, nil
}

// checkGuess reports whether a batch planned as all new people is the plan its
// lookups would have given (SPEC §1 rule 6: no shortcut changes an outcome).
//
// Why it is exact. Plan loads the people holding a key the batch names (its rows'
// ids and emails that identify; a batch naming a cio_id is never guessed) and then
// decides from those alone. When no one in the store holds a named key, the lookup
// loads no one and the real plan is the guessed plan, row for row. So the guess is
// right when no named key is held in the store, and it is checked in two parts:
//   - a named key that one of the guessed writes holds at the end of the batch: the
//     guess writes only new people and leaves every stored person as stored, so a
//     stored holder of the key still holds it and the insert fails on the unique key,
//     and the batch is planned again with lookups (errPlanAgain);
//   - every other named key (an email released later in the batch: moved by
//     allow_email_update_by_id, or dropped by a merge) is looked up here; a holder
//     found means the guess is wrong.
//
// Usually the writes hold every named key and nothing is looked up.
func checkGuess(ctx context.Context, l identity.Loader, named identity.Keys, writes []identity.Write) (bool, error) {
	heldIDs := make(map[string]struct{}, len(named.IDs))
	heldEmails := make(map[string]struct{}, len(named.Emails))
	for _, w := range writes {
		if w.IDKey != "" {
			heldIDs[w.IDKey] = struct{}{}
		}
		if w.EmailKey != "" {
			heldEmails[w.EmailKey] = struct{}{}
		}
	}
	var check identity.Keys
	for _, k := range named.IDs {
		if _, ok := heldIDs[k]; !ok {
			check.IDs = append(check.IDs, k)
		}
	}
	for _, k := range named.Emails {
		if _, ok := heldEmails[k]; !ok {
			check.Emails = append(check.Emails, k)
		}
	}
	if len(check.IDs)+len(check.Emails) == 0 {
		return true, nil
	}
	people, err := l.LoadPeople(ctx, check)
	if err != nil {
		return false, fmt.Errorf("check the batch planned as new people: %w", err)
	}
	return len(people) == 0, nil
}

// hasCioID: a row naming a cio_id needs its person looked up, whatever the guess.
func hasCioID(recs []*record.Record) bool {
	for _, r := range recs {
		if r.CioID != "" {
			return true
		}
	}
	return false
}
