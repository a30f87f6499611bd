package store

import (
	"context"
	"fmt"

	"github.com/dbsync/dbsync/identity"
)

// The events gate keeps an events batch and a batch that moves or erases events
// apart, without locking the people an events batch finds.
//
// An events batch writes events for the people it looked up. A concurrent batch that
// merges one of them into another, or deletes them, moves or erases their events by a
// statement that cannot see events not yet committed: had both run at once, the events
// would be left on a retired or erased cio_id. Locking each person an events batch
// finds (FOR UPDATE) kept them apart, but rewrote a spread of the people table every
// batch (docs/benchmarks.md). Instead, on PostgreSQL:
//   - an events batch locks the gate row FOR SHARE before it looks anyone up
//     (ShareEventsGate); events batches do not wait for each other;
//   - a batch that merges or deletes someone locks it FOR UPDATE before it writes
//     anything (closeEventsGate, from Write).
//
// Either the mover waits for the events batch to commit and then moves or erases its
// events, or the events batch waits for the mover and then finds the merge or delete:
// one of the two orders. The mover takes the gate before its first write, so while it
// waits it holds no uncommitted row an events batch could wait on (a new person's
// unique key): the two do not deadlock (and a deadlock would be retried, InTx).
// SQLite's write transactions are serial and take no row locks: nothing to do.
const gateRow = `SELECT name FROM locks WHERE name = 'events'`

// ShareEventsGate lets this transaction write events, keeping out batches that move
// or erase events until it ends. Call it before looking anyone up.
func (t *Tx) ShareEventsGate(ctx context.Context) error {
	return t.lockGate(ctx, " FOR SHARE")
}

// closeEventsGate waits for the events batches in flight and keeps new ones out until
// this transaction ends, when the batch's writes merge or delete someone.
func (t *Tx) closeEventsGate(ctx context.Context, writes []identity.Write) error {
	for _, w := range writes {
		if !w.Insert && (w.Person.Deleted || w.Person.MergedInto != "") {
			return t.lockGate(ctx, " FOR UPDATE")
		}
	}
	return nil
}

func (t *Tx) lockGate(ctx context.Context, mode string) error {
	if t.dry != nil || t.d.forUpdate == "" {
		return nil
	}
	var name string
	if err := t.tx.QueryRowContext(ctx, gateRow+mode).Scan(&name); err != nil {
		return fmt.Errorf("lock the events gate: %w", err)
	}
	return nil
}
