package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
)

// EachPerson calls fn for every person, retired and deleted ones included, in
// internal_customer_id order. It streams: memory stays flat however many there are.
func (s *Store) EachPerson(ctx context.Context, fn func(identity.Person) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+personColumns+` FROM people ORDER BY internal_id`)
	if err != nil {
		return fmt.Errorf("read people: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EachChange calls fn for every change log entry, oldest first. With cioIDs it reads
// only the entries of those people. The profile_create entries kept on people rows
// (store/changelog.go) come in their place, by their seq.
func (s *Store) EachChange(ctx context.Context, fn func(record.Change) error, cioIDs ...string) error {
	var args []any
	where := func(q, keyword string) string {
		if len(cioIDs) == 0 {
			return q
		}
		args = append(args, s.d.listArg(cioIDs))
		return q + keyword + s.d.inList("internal_id")
	}
	q := where(`SELECT seq, at, sync, row_key, internal_id, kind, attribute, from_value, to_value, reason FROM change_log`, ` WHERE `)
	// A store not yet upgraded, opened for reading, has every entry in change_log.
	if v, err := s.schemaVersion(ctx); err != nil || v >= 13 {
		q += ` UNION ALL ` + where(`SELECT created_seq, created_at, created_sync, created_key, internal_id, 'profile_create', NULL, NULL, created_to, NULL
		FROM people WHERE created_seq IS NOT NULL`, ` AND `)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q+` ORDER BY 1`), args...)
	if err != nil {
		return fmt.Errorf("read change log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c                              record.Change
			rowKey, attr, from, to, reason sql.NullString
		)
		var seq int64
		if err := rows.Scan(&seq, &c.Time, &c.Sync, &rowKey, &c.CioID, &c.Kind, &attr, &from, &to, &reason); err != nil {
			return fmt.Errorf("read change log: %w", err)
		}
		c.RowKey, c.Attribute, c.Reason = rowKey.String, attr.String, reason.String
		if from.Valid {
			c.From = []byte(from.String)
		}
		if to.Valid {
			c.To = []byte(to.String)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Rejection is a recorded rejected or skipped row: one entry per sync, key and reason.
type Rejection struct {
	Time     int64 // first seen
	LastSeen int64
	Sync     string
	Key      string
	Skipped  bool
	Reason   string
	Detail   string
}

// EachRejected calls fn for each rejected or skipped row of a sync ("" for every
// sync) last seen at or after since (Unix seconds), in the order first seen.
func (s *Store) EachRejected(ctx context.Context, sync string, since int64, fn func(Rejection) error) error {
	q := `SELECT at, last_seen, sync, row_key, skipped, reason, detail FROM rejected WHERE last_seen >= ?`
	args := []any{since}
	if sync != "" {
		q += ` AND sync = ?`
		args = append(args, sync)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q+` ORDER BY seq`), args...)
	if s.d.missing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read rejected rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Rejection
		var key, detail sql.NullString
		if err := rows.Scan(&r.Time, &r.LastSeen, &r.Sync, &key, &r.Skipped, &r.Reason, &detail); err != nil {
			return fmt.Errorf("read rejected rows: %w", err)
		}
		r.Key, r.Detail = key.String, detail.String
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PersonHistory lists the cio_ids whose change log belongs to a person: their own and
// those of everyone merged into them, directly or through others.
func (s *Store) PersonHistory(ctx context.Context, cioID string) ([]string, error) {
	ids := []string{cioID}
	for next := []string{cioID}; len(next) > 0; {
		rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT internal_id FROM people WHERE merged_into IS NOT NULL AND `+s.d.inList("merged_into")), s.d.listArg(next))
		if err != nil {
			return nil, fmt.Errorf("read merges into %s: %w", cioID, err)
		}
		next = next[:0:0]
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			next = append(next, id)
		}
		rows.Close()
		ids = append(ids, next...)
		if len(ids) > 10000 {
			break
		}
	}
	return ids, nil
}
