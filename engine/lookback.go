package engine

import (
	"bytes"
	"context"
	"time"

	"cloud.google.com/go/civil"

	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/value"
)

// lookback keeps SPEC §3's promise for a sync with a lookback: each run reads the
// rows within the lookback before the cursor again, and those that did not change
// write nothing — no attribute change, no refused change, no delete or re-creation;
// a row rejected or skipped the first time is recorded again only as seen again
// (`rejected`'s last_seen moves). Applying such a row again is not harmless: rows
// [u: plan a] [u: delete] [u: plan b] would delete and re-create u on every run,
// and a row re-read after `people delete` would bring u back.
//
// How. Where a row is read (prepare), stamp gives each row mapping did not refuse
// a digest (record.Sum: the row as mapped, with its cursor) and its watermark time.
// In the batch's transaction, before the kind plans it, sift recalls what the store
// remembers of the batch's keys: a row whose key and digest match is a re-read of a
// row that did not change, and the kind never sees it (a refused one it sees as
// refused, so it records it again). After the kind, remember keeps the rows it
// decided and forgets those before where the next run's lookback starts, so the
// memory holds about a lookback's worth of rows.
//
// Why it is exact (SPEC §1 rule 6). The entry a row is compared with is the last row
// of its key before it: in this batch when there is one, else in the store, which
// holds every earlier batch's. So each row is sifted as it would be in a batch of its
// own, and the kind plans the same rows in the same order at any batch size. A
// retried batch sifts again in its new transaction. A dry run remembers in memory.
type lookback struct {
	sync   string
	window time.Duration
	loc    *time.Location // the sync's timezone, as lookbackStart takes it
}

// stamp sets a record's Digest and At from its cursor. A cursor that is not a time
// is left unstamped: lookbackStart refuses it before any row is re-read.
func (lb *lookback) stamp(rec *record.Record, c value.Cursor) error {
	at, ok := micros(c.Value)
	if !ok {
		return nil
	}
	enc, err := state.EncodeCursor(&c)
	if err != nil {
		return err
	}
	rec.Digest, rec.At = rec.Sum(enc), at
	return nil
}

// repeat is a row that repeats an earlier row of its batch, key and digest: it takes
// that row's outcome once the kind has decided it (settle).
type repeat struct{ rec, of *record.Record }

// sift marks the batch's re-read rows that did not change and returns the records
// for the kind: all but those re-read rows that were applied the first time. A
// re-read row that was rejected or skipped is refused again, for the same reason.
func (lb *lookback) sift(ctx context.Context, tx *store.Tx, recs []*record.Record) ([]*record.Record, []repeat, error) {
	var keys []string
	for _, r := range recs {
		if r.Digest != nil {
			keys = append(keys, r.Key)
		}
	}
	if len(keys) == 0 {
		return recs, nil, nil
	}
	stored, err := tx.RecallRows(ctx, lb.sync, keys)
	if err != nil {
		return nil, nil, err
	}
	kept := make([]*record.Record, 0, len(recs))
	var repeats []repeat
	latest := map[string]*record.Record{} // the batch's last row of a key that goes to the kind
	for _, r := range recs {
		if r.Digest == nil {
			kept = append(kept, r)
			continue
		}
		if prev := latest[r.Key]; prev != nil {
			if bytes.Equal(prev.Digest, r.Digest) {
				repeats = append(repeats, repeat{r, prev})
				continue
			}
		} else if m, ok := stored[r.Key]; ok && bytes.Equal(m.Digest, r.Digest) {
			switch {
			case m.Reason == "":
				r.Outcome = record.Outcome{Result: record.Unchanged, Reread: true}
				continue
			case m.Skipped:
				r.Skip(m.Reason, m.Detail)
			default:
				r.Reject(m.Reason, m.Detail)
			}
			r.Reread = true
			kept = append(kept, r)
			continue
		}
		latest[r.Key] = r
		kept = append(kept, r)
	}
	return kept, repeats, nil
}

// settle gives each repeated row the outcome of the row it repeats: refused for the
// same reason (recorded already, by that row), or unchanged.
func settle(repeats []repeat) {
	for _, p := range repeats {
		p.rec.Outcome = record.Outcome{Result: record.Unchanged, Reread: true}
		if p.of.Refused() {
			p.rec.Outcome = record.Outcome{Result: p.of.Result, Reason: p.of.Reason, Detail: p.of.Detail, Reread: true}
		}
	}
}

// remember keeps, in the batch's transaction, the rows of the batch that the kind
// decided, and forgets the sync's rows before where a lookback from the batch's
// cursor starts: the cursor only moves on (a state reset forgets them all), so no
// later run reads them again.
func (lb *lookback) remember(ctx context.Context, tx *store.Tx, recs []*record.Record, cursor *value.Cursor) error {
	if cursor == nil {
		return nil
	}
	if _, ok := micros(cursor.Value); !ok {
		return nil // no row was stamped; the next run's lookbackStart refuses the cursor
	}
	start, err := lookbackStart(cursor, lb.window, lb.loc)
	if err != nil {
		return err
	}
	from, _ := micros(start.Value)
	var decided []*record.Record
	for _, r := range recs {
		if r.Digest != nil && !r.Reread {
			decided = append(decided, r)
		}
	}
	return tx.RememberRows(ctx, lb.sync, decided, from)
}

// micros is a watermark time in Unix microseconds, a wall clock read as UTC: the
// order of the times, which is all the memory needs (see remember).
func micros(v any) (int64, bool) {
	switch v := v.(type) {
	case time.Time:
		return v.UnixMicro(), true
	case civil.DateTime:
		return v.In(time.UTC).UnixMicro(), true
	}
	return 0, false
}
