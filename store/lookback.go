package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/dbsync/dbsync/record"
)

// Remembered is what the store keeps of a row a sync with a lookback applied or
// refused (SPEC §3), under the row's key: a later read of the key with the same
// digest is a re-read of a row that did not change (engine/lookback.go).
type Remembered struct {
	Digest  []byte
	Reason  string // why the row was rejected or skipped; "" when it was applied
	Detail  string
	Skipped bool // refused: skipped rather than rejected
}

// RecallRows returns what the store remembers of the sync's rows with these keys;
// a key it has no entry for is not in the map. A dry run sees what its own earlier
// batches remembered first.
func (t *Tx) RecallRows(ctx context.Context, sync string, keys []string) (map[string]Remembered, error) {
	out := make(map[string]Remembered, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	q := `SELECT row_key, digest, reason, detail, skipped FROM lookback_rows WHERE sync = ? AND ` + t.d.inList("row_key")
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(q), sync, t.d.listArg(keys))
	if err != nil {
		return nil, fmt.Errorf("recall the rows a lookback read before: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key            string
			m              Remembered
			reason, detail sql.NullString
		)
		if err := rows.Scan(&key, &m.Digest, &reason, &detail, &m.Skipped); err != nil {
			return nil, fmt.Errorf("recall the rows a lookback read before: %w", err)
		}
		m.Reason, m.Detail = reason.String, detail.String
		out[key] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recall the rows a lookback read before: %w", err)
	}
	if t.dry != nil {
		for _, k := range keys {
			if m, ok := t.dry.remembered[sync+"\x00"+k]; ok {
				out[k] = m
			}
		}
	}
	return out, nil
}

// RememberRows keeps each record's Digest and outcome under its Key, the last record
// of a key winning, and forgets the sync's entries whose row's At is before from:
// where the next run's lookback starts, so they will not be read again. Records
// before from are not kept at all. A dry run keeps them in memory and writes nothing.
func (t *Tx) RememberRows(ctx context.Context, sync string, recs []*record.Record, from int64) error {
	last := make(map[string]int, len(recs)) // key -> the index of its last record
	var keep []*record.Record
	for _, r := range recs {
		if r.At < from {
			continue
		}
		if i, ok := last[r.Key]; ok {
			keep[i] = r // an upsert may not touch a row twice
			continue
		}
		last[r.Key] = len(keep)
		keep = append(keep, r)
	}
	if t.dry != nil {
		if t.dry.remembered == nil {
			t.dry.remembered = map[string]Remembered{}
		}
		for _, r := range keep {
			t.dry.remembered[sync+"\x00"+r.Key] = remembered(r)
		}
		return nil
	}
	cols := []string{"sync", "row_key", "digest", "at", "skipped", "reason", "detail"}
	const upsert = ` ON CONFLICT (sync, row_key) DO UPDATE SET digest = excluded.digest, at = excluded.at,
		skipped = excluded.skipped, reason = excluded.reason, detail = excluded.detail`
	args := make([]any, 0, len(cols))
	err := t.insert(ctx, "lookback_rows", cols, upsert, len(keep), func(i int) []any {
		r := keep[i]
		m := remembered(r)
		args = append(args[:0], sync, r.Key, r.Digest, r.At, m.Skipped, nullable(m.Reason), nullable(m.Detail))
		return args
	})
	if err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, t.d.rebind(`DELETE FROM lookback_rows WHERE sync = ? AND at < ?`), sync, from); err != nil {
		return fmt.Errorf("forget the rows the lookback has passed: %w", err)
	}
	return nil
}

// remembered is what RememberRows keeps of a record.
func remembered(r *record.Record) Remembered {
	m := Remembered{Digest: r.Digest}
	if r.Refused() {
		m.Reason, m.Detail, m.Skipped = r.Reason, r.Detail, r.Result == record.Skipped
	}
	return m
}
