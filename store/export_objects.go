package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dbsync/dbsync/objects"
)

// The export of objects and relationships (SPEC §6) keeps its cursor as the people's
// does (see the top of export.go): every write sets export_pending; StartExport
// claims the pending rows into export_objects and export_relationships; the reads
// below take what export N claimed in one snapshot; FinishExport moves each object's
// exported_log_seq (relationships carry their attributes whole, so they need no log
// cursor) and forgets the claims. Every object_log entry is written with its object
// (WriteObjects), which sets export_pending, so an object not pending since the claim
// has had all its log entries committed before the snapshot: its cursor moves to its
// last entry, with no bound from the people's change_log.

// exportKind is a table exported with the people: its claims table, its key, and
// what finishing an export sets on the rows it claimed.
type exportKind struct {
	table, claims string
	key           []string
	finish        string // SET clause for the claimed rows, "" for none
}

var (
	objectsExport = exportKind{
		table: "objects", claims: "export_objects", key: []string{"object_type", "object_id"},
		finish: `exported_log_seq = CASE WHEN export_pending THEN COALESCE(exported_log_seq, 0)
			ELSE COALESCE((SELECT MAX(l.seq) FROM object_log l
				WHERE l.object_type = objects.object_type AND l.object_id = objects.object_id), 0) END`,
	}
	relationshipsExport = exportKind{
		table: "relationships", claims: "export_relationships", key: []string{"internal_id", "object_type", "object_id"},
	}
)

func (k exportKind) keys() string { return strings.Join(k.key, ", ") }

// tuple is "(a, b)" compared with "(?, ?)": a row value, which both stores order as
// their ORDER BY on the same columns does.
func (k exportKind) tuple(op string) string {
	return "(" + k.keys() + ") " + op + " (" + strings.TrimSuffix(strings.Repeat("?, ", len(k.key)), ", ") + ")"
}

// claimObjectsAndRelationships claims the pending objects and relationships for
// export seq, a chunk to a transaction, as claim does the people.
func (s *Store) claimObjectsAndRelationships(ctx context.Context, seq int64) error {
	for _, k := range []exportKind{objectsExport, relationshipsExport} {
		if err := s.claimRows(ctx, seq, k); err != nil {
			return fmt.Errorf("claim %s for export %d: %w", k.table, seq, err)
		}
	}
	return nil
}

func (s *Store) claimRows(ctx context.Context, seq int64, k exportKind) error {
	bound := s.d.rebind(`SELECT ` + k.keys() + ` FROM ` + k.table + ` WHERE export_pending ORDER BY ` + k.keys() + ` LIMIT 1 OFFSET ?`)
	for {
		upTo, err := scanKey(s.db.QueryRowContext(ctx, bound, exportChunk-1), len(k.key))
		last := errors.Is(err, sql.ErrNoRows)
		if err != nil && !last {
			return err
		}
		where, args := `export_pending`, []any{}
		if !last {
			where, args = where+` AND `+k.tuple("<="), upTo
		}
		err = s.InTx(ctx, func(tx *Tx) error {
			if err := tx.lockRows(ctx, k, where, args...); err != nil {
				return err
			}
			record := `INSERT INTO ` + k.claims + ` (export_seq, ` + k.keys() + `) SELECT ?, ` + k.keys() + ` FROM ` + k.table +
				` WHERE ` + where + ` ON CONFLICT DO NOTHING`
			if _, err := tx.tx.ExecContext(ctx, tx.d.rebind(record), append([]any{seq}, args...)...); err != nil {
				return err
			}
			// Only the rows just recorded, as claim does the people.
			_, err := tx.tx.ExecContext(ctx, tx.d.rebind(`UPDATE `+k.table+` SET export_pending = FALSE WHERE `+where+
				` AND (`+k.keys()+`) IN (SELECT `+k.keys()+` FROM `+k.claims+` WHERE export_seq = ?)`), append(args, seq)...)
			return err
		})
		if err != nil || last {
			return err
		}
	}
}

// scanKey reads a key of n text columns as arguments for the next statement.
func scanKey(row *sql.Row, n int) ([]any, error) {
	vals := make([]string, n)
	dest := make([]any, n)
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	args := make([]any, n)
	for i, v := range vals {
		args[i] = v
	}
	return args, nil
}

// lockRows takes the row locks of the rows matching where in key order, the order
// batches take them in (LoadObjects, LoadRelationships), as lockPeople does.
func (t *Tx) lockRows(ctx context.Context, k exportKind, where string, args ...any) error {
	if t.d.forUpdate == "" {
		return nil
	}
	q := `SELECT ` + k.keys() + ` FROM ` + k.table + ` WHERE ` + where + ` ORDER BY ` + k.keys() + t.d.forUpdate
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// finishObjectsAndRelationships moves the cursor of export ex's objects and forgets
// its claims, a chunk to a transaction. Run again after a crash, it sets the same.
func (s *Store) finishObjectsAndRelationships(ctx context.Context, ex *Export) error {
	for _, k := range []exportKind{objectsExport, relationshipsExport} {
		if err := s.finishRows(ctx, ex, k); err != nil {
			return fmt.Errorf("finish export %d: %s: %w", ex.Seq, k.table, err)
		}
	}
	return nil
}

func (s *Store) finishRows(ctx context.Context, ex *Export, k exportKind) error {
	var after []any
	for {
		from, fromArgs := `export_seq = ?`, []any{ex.Seq}
		if after != nil {
			from, fromArgs = from+` AND `+k.tuple(">"), append(fromArgs, after...)
		}
		bound := s.d.rebind(`SELECT ` + k.keys() + ` FROM ` + k.claims + ` WHERE ` + from + ` ORDER BY ` + k.keys() + ` LIMIT 1 OFFSET ?`)
		upTo, err := scanKey(s.db.QueryRowContext(ctx, bound, append(fromArgs, exportChunk-1)...), len(k.key))
		last := errors.Is(err, sql.ErrNoRows)
		if err != nil && !last {
			return err
		}
		chunk, args := from, fromArgs
		if !last {
			chunk, args = chunk+` AND `+k.tuple("<="), append(append([]any{}, fromArgs...), upTo...)
		}
		err = s.InTx(ctx, func(tx *Tx) error {
			if k.finish != "" {
				claimed := `(` + k.keys() + `) IN (SELECT ` + k.keys() + ` FROM ` + k.claims + ` WHERE ` + chunk + `)`
				if err := tx.lockRows(ctx, k, claimed, args...); err != nil {
					return err
				}
				if _, err := tx.tx.ExecContext(ctx, tx.d.rebind(`UPDATE `+k.table+` SET `+k.finish+` WHERE `+claimed), args...); err != nil {
					return err
				}
			}
			_, err := tx.tx.ExecContext(ctx, tx.d.rebind(`DELETE FROM `+k.claims+` WHERE `+chunk), args...)
			return err
		})
		if err != nil || last {
			return err
		}
		after = upTo
	}
}

// exportSnapshot begins the read-only transaction of one snapshot, as ReadExport's.
func (s *Store) exportSnapshot(ctx context.Context) (*sql.Tx, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.d.numbered {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return s.db.BeginTx(ctx, opts)
}

// ReadObjectsExport reads export ex's objects in one snapshot, in key order,
// streaming. For each it calls fn with the object_attributes rows to write: every
// current attribute when the object was never exported or ex is full; else each
// attribute its change log touched since its last export, with its current value or
// nil when removed. A deleted object comes without attribute rows. A full export
// reads every object, deleted ones included.
func (s *Store) ReadObjectsExport(ctx context.Context, ex *Export, fn func(o *objects.Object, attrs []ExportAttribute) error) error {
	tx, err := s.exportSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("read export %d: objects: %w", ex.Seq, err)
	}
	defer tx.Rollback()
	agg := `json_group_array(DISTINCT l.attribute)`
	if s.d.numbered {
		agg = `json_agg(DISTINCT l.attribute)::text`
	}
	q := `SELECT o.object_type, o.object_id, o.attributes, o.created_at, o.updated_at, o.deleted, o.exported_log_seq,
		(SELECT ` + agg + ` FROM object_log l WHERE l.object_type = o.object_type AND l.object_id = o.object_id
			AND l.seq > o.exported_log_seq AND l.kind = '` + objects.KindAttributeChange + `')
		FROM objects o`
	var args []any
	if !ex.Full {
		q += ` WHERE (o.object_type, o.object_id) IN (SELECT e.object_type, e.object_id FROM export_objects e WHERE e.export_seq = ?)`
		args = append(args, ex.Seq)
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind(q+` ORDER BY o.object_type, o.object_id`), args...)
	if err != nil {
		return fmt.Errorf("read export %d: objects: %w", ex.Seq, err)
	}
	defer rows.Close()
	var (
		logSeq  sql.NullInt64
		changed sql.NullString
		out     []ExportAttribute
	)
	for rows.Next() {
		o, err := scanObject(&extraScanner{rows, []any{&logSeq, &changed}})
		if err != nil {
			return fmt.Errorf("read export %d: %w", ex.Seq, err)
		}
		var names []string
		if changed.Valid {
			if err := json.Unmarshal([]byte(changed.String), &names); err != nil {
				return fmt.Errorf("read export %d: changed attributes of %s %s: %w", ex.Seq, o.Type, o.ID, err)
			}
		}
		out = out[:0]
		// A deleted object is a tombstone: its objects row (deleted: true) stands for
		// its attributes, as a deleted person's people row does.
		if !o.Deleted {
			out = changedAttributes(out, o.Attributes, ex.Full || !logSeq.Valid, names)
		}
		if err := fn(&o, out); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read export %d: objects: %w", ex.Seq, err)
	}
	return nil
}

// changedAttributes lists attribute rows by name: all current ones when all is set,
// and each changed one with its current value or nil when removed.
func changedAttributes(out []ExportAttribute, attrs map[string]json.RawMessage, all bool, changed []string) []ExportAttribute {
	seen := make(map[string]bool, len(changed))
	if all {
		for name, v := range attrs {
			out = append(out, ExportAttribute{Name: name, Value: v})
			seen[name] = true
		}
	}
	for _, name := range changed {
		if !seen[name] {
			seen[name] = true
			out = append(out, ExportAttribute{Name: name, Value: attrs[name]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ReadRelationshipsExport reads export ex's relationships in one snapshot, in key
// order, streaming: removed ones are tombstones (exported deleted: true). A full
// export reads every relationship. The relationships of a deleted person are erased:
// the people file's deleted row stands for them.
func (s *Store) ReadRelationshipsExport(ctx context.Context, ex *Export, fn func(r *objects.Relationship) error) error {
	tx, err := s.exportSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("read export %d: relationships: %w", ex.Seq, err)
	}
	defer tx.Rollback()
	q := `SELECT ` + relationshipColumns + ` FROM relationships r`
	var args []any
	if !ex.Full {
		q += ` WHERE (r.internal_id, r.object_type, r.object_id) IN (SELECT e.internal_id, e.object_type, e.object_id
			FROM export_relationships e WHERE e.export_seq = ?)`
		args = append(args, ex.Seq)
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind(q+` ORDER BY internal_id, object_type, object_id`), args...)
	if err != nil {
		return fmt.Errorf("read export %d: relationships: %w", ex.Seq, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRelationship(rows)
		if err != nil {
			return fmt.Errorf("read export %d: %w", ex.Seq, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read export %d: relationships: %w", ex.Seq, err)
	}
	return nil
}
