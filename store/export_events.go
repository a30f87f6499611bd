package store

import (
	"context"
	"fmt"

	"github.com/dbsync/dbsync/events"
)

// The export of events (SPEC §6). Events are append-only, so their cursor is one
// column: events.export_seq, the export that carried the event, NULL while it is
// pending. StartExport claims the pending events for export N (export_seq = N) in short
// transactions; ReadEventsExport reads export N's in one snapshot; nothing is left for
// FinishExport to move. An event committed after the claim is still pending and goes
// in the next export: which events an export holds is read from the column, never from
// an insertion order, which on PostgreSQL is not the order transactions commit in. A
// redone export N reads the events it claimed before it died and claims the pending
// ones. A merge that moves an event to the survivor makes it pending again.

// claimEvents marks the pending events as export seq's, a chunk to a transaction. It
// claims at most as many as were pending when it began, so a sync storing events all
// along cannot keep it going: what comes meanwhile goes in this export or the next.
func (s *Store) claimEvents(ctx context.Context, seq int64) error {
	var pending int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE export_seq IS NULL`).Scan(&pending); err != nil {
		return fmt.Errorf("claim events for export %d: %w", seq, err)
	}
	// export_seq IS NULL again outside the subquery: a row a concurrent merge moved is
	// checked again once its lock is released (PostgreSQL's READ COMMITTED).
	q := s.d.rebind(`UPDATE events SET export_seq = ? WHERE export_seq IS NULL AND (sync, event_id) IN
		(SELECT sync, event_id FROM events WHERE export_seq IS NULL LIMIT ?)`)
	for claimed := int64(0); claimed < pending; {
		var n int64
		err := s.InTx(ctx, func(tx *Tx) error {
			res, err := tx.tx.ExecContext(ctx, q, seq, exportChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return fmt.Errorf("claim events for export %d: %w", seq, err)
		}
		if n == 0 {
			return nil
		}
		claimed += n
	}
	return nil
}

// ReadEventsExport reads export ex's events in one snapshot, streaming, in no
// particular order (the warehouse keys them by sync and event_id): those it claimed,
// or every event when ex is full. An event a merge moved is read under the survivor.
// The events of a deleted person are erased: the people file's deleted row stands
// for them.
func (s *Store) ReadEventsExport(ctx context.Context, ex *Export, fn func(e *events.Event) error) error {
	tx, err := s.exportSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("read export %d: events: %w", ex.Seq, err)
	}
	defer tx.Rollback()
	q := `SELECT sync, event_id, internal_id, name, timestamp, data FROM events`
	var args []any
	if !ex.Full {
		q += ` WHERE export_seq = ?`
		args = append(args, ex.Seq)
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("read export %d: events: %w", ex.Seq, err)
	}
	defer rows.Close()
	var (
		e    events.Event
		data []byte
	)
	for rows.Next() {
		if err := rows.Scan(&e.Sync, &e.ID, &e.CioID, &e.Name, &e.Timestamp, &data); err != nil {
			return fmt.Errorf("read export %d: events: %w", ex.Seq, err)
		}
		e.Data = data
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read export %d: events: %w", ex.Seq, err)
	}
	return nil
}
