package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/dbsync/dbsync/objects"
)

// EachObject calls fn for every object, deleted ones included, in key order. It
// streams: memory stays flat however many there are.
func (s *Store) EachObject(ctx context.Context, fn func(objects.Object) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+objectColumns+` FROM objects ORDER BY object_type, object_id`)
	if s.d.missing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read objects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return err
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EachObjectLog calls fn for every entry of the objects' change log, oldest first.
func (s *Store) EachObjectLog(ctx context.Context, fn func(objects.Change) error) error {
	return s.eachObjectLog(ctx, "", fn)
}

// eachObjectLog reads the object log entries that where (a WHERE clause, or "")
// selects, oldest first.
func (s *Store) eachObjectLog(ctx context.Context, where string, fn func(objects.Change) error, args ...any) error {
	q := s.d.rebind(`SELECT at, sync, row_key, object_type, object_id, kind, attribute, from_value, to_value, reason
		FROM object_log ` + where + ` ORDER BY seq`)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if s.d.missing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read object change log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c                              objects.Change
			rowKey, attr, from, to, reason sql.NullString
		)
		if err := rows.Scan(&c.Time, &c.Sync, &rowKey, &c.ObjectType, &c.ObjectID, &c.Kind, &attr, &from, &to, &reason); err != nil {
			return fmt.Errorf("read object change log: %w", err)
		}
		c.RowKey, c.Attribute, c.Reason = rowKey.String, attr.String, reason.String
		if from.Valid {
			c.From = json.RawMessage(from.String)
		}
		if to.Valid {
			c.To = json.RawMessage(to.String)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EachRelationship calls fn for every relationship, removed ones (tombstones)
// included, in key order. It streams, as EachObject does.
func (s *Store) EachRelationship(ctx context.Context, fn func(objects.Relationship) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+relationshipColumns+` FROM relationships ORDER BY internal_id, object_type, object_id`)
	if s.d.missing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read relationships: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRelationship(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
