package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/dbsync/dbsync/events"
)

// A transaction answers what an events planner asks.
var _ events.Loader = (*Tx)(nil)

type eventKey struct{ sync, id string }

// StoredEvents says which of ids sync has stored already, in one statement however
// many there are. The planner asks under the sync's lease, so no other writer stores
// the sync's events meanwhile; nothing is locked.
func (t *Tx) StoredEvents(ctx context.Context, sync string, ids []string) (map[string]bool, error) {
	stored, err := t.storedEvents(ctx, sync, ids)
	if err != nil || t.dry == nil {
		return stored, err
	}
	return t.dry.events().stored(sync, ids, stored), nil
}

func (t *Tx) storedEvents(ctx context.Context, sync string, ids []string) (map[string]bool, error) {
	stored := map[string]bool{}
	if len(ids) == 0 {
		return stored, nil
	}
	q := `SELECT event_id FROM events WHERE sync = ? AND ` + t.d.inList("event_id")
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(q), sync, t.d.listArg(ids))
	if err != nil {
		return nil, fmt.Errorf("read the stored events of %s: %w", sync, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read the stored events of %s: %w", sync, err)
		}
		stored[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the stored events of %s: %w", sync, err)
	}
	return stored, nil
}

// eventsCopy: on PostgreSQL new events go in with COPY, the bulk load, rather than
// INSERT … ON CONFLICT DO NOTHING (see WriteEvents). A variable for the benchmark
// that compares the two.
var eventsCopy = true

// WriteEvents stores new events, each pending for the next warehouse export. An event
// the batch repeats is written once, the first. The planner writes only events
// StoredEvents does not know; should one be stored all the same (a writer outside the
// lease), the primary key refuses it: on SQLite the insert skips it (ON CONFLICT DO
// NOTHING), on PostgreSQL the COPY fails with a unique violation, which InTx takes for
// a collision and runs the batch again, and the planner then sees it stored. Either
// way no event is stored twice.
func (t *Tx) WriteEvents(ctx context.Context, evs []events.Event) error {
	return t.writeEvents(ctx, evs, true)
}

// writeEvents inserts evs; skip: on SQLite, a stored event is skipped rather than
// failing the insert.
func (t *Tx) writeEvents(ctx context.Context, evs []events.Event, skip bool) error {
	evs = firstEvents(evs)
	if t.dry != nil {
		t.dry.events().write(evs)
		return nil
	}
	cols := []string{"sync", "event_id", "internal_id", "name", "timestamp", "data"}
	suffix := " ON CONFLICT (sync, event_id) DO NOTHING"
	if t.d.copy && eventsCopy || !skip {
		suffix = ""
	}
	return t.insertRows(ctx, "events", cols, suffix, len(evs), func(i int, f *fields) {
		e := &evs[i]
		f.Text(e.Sync)
		f.Text(e.ID)
		f.Text(e.CioID)
		f.Text(e.Name)
		f.Int(e.Timestamp)
		if len(e.Data) == 0 {
			f.Text("{}")
		} else {
			f.Bytes(e.Data)
		}
	})
}

// InsertEvents is WriteEvents for a batch planned without asking StoredEvents (the
// engine's backfill guess): on both stores an event already stored fails the insert
// with a unique violation (IsUniqueViolation), so that the batch is planned again.
func (t *Tx) InsertEvents(ctx context.Context, evs []events.Event) error {
	return t.writeEvents(ctx, evs, false)
}

// firstEvents drops the events that repeat an earlier one's (sync, id): one statement
// may not insert a key twice.
func firstEvents(evs []events.Event) []events.Event {
	seen := make(map[eventKey]bool, len(evs))
	var out []events.Event // nil until the first repeat: then a copy, the caller's slice left alone
	for i, e := range evs {
		k := eventKey{e.Sync, e.ID}
		if seen[k] {
			if out == nil {
				out = append(make([]events.Event, 0, len(evs)), evs[:i]...)
			}
			continue
		}
		seen[k] = true
		if out != nil {
			out = append(out, e)
		}
	}
	if out == nil {
		return evs
	}
	return out
}

// PersonEvents calls fn for a person's events, newest first (ties by sync and event id,
// descending, the index's order read backwards), at most limit of them when limit > 0.
// It streams: one row at a time, however many the person has. A store never written,
// or not yet upgraded to hold events, has none.
func (s *Store) PersonEvents(ctx context.Context, cioID string, limit int, fn func(events.Event) error) error {
	q := `SELECT sync, event_id, internal_id, name, timestamp, data FROM events WHERE internal_id = ?
		ORDER BY timestamp DESC, sync DESC, event_id DESC`
	args := []any{cioID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if s.d.missing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the events of %s: %w", cioID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e events.Event
		var data string
		if err := rows.Scan(&e.Sync, &e.ID, &e.CioID, &e.Name, &e.Timestamp, &data); err != nil {
			return fmt.Errorf("read the events of %s: %w", cioID, err)
		}
		e.Data = json.RawMessage(data)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the events of %s: %w", cioID, err)
	}
	return nil
}

// moveEvents hands the events of each merged person to the one they were merged into
// (SPEC §8), through any survivor the batch merged away too. A moved event is pending
// for the export again, so the next one carries it under the survivor (docs/decisions.md).
func (t *Tx) moveEvents(ctx context.Context, merged []string, survivor map[string]string) error {
	if len(merged) == 0 {
		return nil
	}
	into := map[string][]string{}
	for _, cio := range merged {
		s := finalSurvivor(survivor, cio)
		into[s] = append(into[s], cio)
	}
	if t.dry != nil {
		t.dry.events().move(into)
		return nil
	}
	survivors := make([]string, 0, len(into))
	for s := range into {
		survivors = append(survivors, s)
	}
	sort.Strings(survivors) // one order for every writer's row locks
	q := t.d.rebind(`UPDATE events SET internal_id = ?, export_seq = NULL WHERE ` + t.d.inList("internal_id"))
	for _, s := range survivors {
		if _, err := t.tx.ExecContext(ctx, q, s, t.d.listArg(into[s])); err != nil {
			return fmt.Errorf("move the events of merged people to %s: %w", s, err)
		}
	}
	return nil
}

// finalSurvivor is the person cio's merge leads to within a batch.
func finalSurvivor(survivor map[string]string, cio string) string {
	for hops := 0; hops < 64; hops++ {
		next, ok := survivor[cio]
		if !ok {
			return cio
		}
		cio = next
	}
	return cio
}

// eraseEvents deletes the people's events (SPEC §10). The export's people row
// (deleted: true) tells a warehouse to drop the events it holds for them.
func (t *Tx) eraseEvents(ctx context.Context, cioIDs []string) error {
	if len(cioIDs) == 0 {
		return nil
	}
	if t.dry != nil {
		return t.dry.events().erase(ctx, t, cioIDs)
	}
	q := `DELETE FROM events WHERE ` + t.d.inList("internal_id")
	if _, err := t.tx.ExecContext(ctx, t.d.rebind(q), t.d.listArg(cioIDs)); err != nil {
		return fmt.Errorf("erase the events of deleted people: %w", err)
	}
	return nil
}
