package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/lib/pq"

	"github.com/dbsync/dbsync/objects"
)

// A transaction loads what an objects or relationships planner needs.
var _ objects.Loader = (*Tx)(nil)

const objectColumns = `object_type, object_id, attributes, created_at, updated_at, deleted`

// LoadObjects loads the stored objects with the keys, deleted ones included, in key
// order. On PostgreSQL the rows stay locked until the transaction ends, as LoadPeople's.
func (t *Tx) LoadObjects(ctx context.Context, keys []objects.Key) ([]objects.Object, error) {
	if t.dry != nil {
		return t.dry.objects().loadObjects(ctx, t, keys)
	}
	return t.loadObjects(ctx, keys, t.d.forUpdate)
}

func (t *Tx) loadObjects(ctx context.Context, keys []objects.Key, lock string) ([]objects.Object, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	types, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		types[i], ids[i] = k.Type, k.ID
	}
	q := `SELECT ` + objectColumns + ` FROM objects WHERE ` + t.d.tupleIn("object_type", "object_id") +
		` ORDER BY object_type, object_id` + lock
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(q), t.d.tupleArgs(types, ids)...)
	if err != nil {
		return nil, fmt.Errorf("load objects: %w", err)
	}
	defer rows.Close()
	var out []objects.Object
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load objects: %w", err)
	}
	return out, nil
}

func scanObject(row scanner) (objects.Object, error) {
	var o objects.Object
	var attrs string
	if err := row.Scan(&o.Type, &o.ID, &attrs, &o.CreatedAt, &o.UpdatedAt, &o.Deleted); err != nil {
		return o, fmt.Errorf("read object: %w", err)
	}
	var err error
	if o.Attributes, err = decodeAttributes(attrs); err != nil {
		return o, fmt.Errorf("read object %s %s: attributes: %w", o.Type, o.ID, err)
	}
	return o, nil
}

// WriteObjects stores objects in their final state after a batch, and their change
// log. A write that changes neither attributes nor deleted touches nothing (SPEC §2:
// no updated_at change), even when its times differ, unless the batch logs changes
// of that object: rows that changed it and then changed it back, as rows applied one
// at a time would, move its updated_at and leave it pending with its log entries.
// Every object written becomes pending for the warehouse export, as people do
// (writePeople). An object the changes delete (object_delete) takes its relationships
// with it: they become tombstones (removed), which the export carries.
func (t *Tx) WriteObjects(ctx context.Context, writes []objects.Write, changes []objects.Change) error {
	if t.dry != nil {
		t.dry.objects().writeObjects(writes)
		return t.removeRelationshipsOfDeleted(ctx, changes)
	}
	cols := []string{"object_type", "object_id", "attributes", "created_at", "updated_at", "deleted"}
	const set = ` ON CONFLICT (object_type, object_id) DO UPDATE SET attributes = excluded.attributes,
		created_at = excluded.created_at, updated_at = excluded.updated_at, deleted = excluded.deleted,
		export_pending = TRUE`
	const upsert = set + `
		WHERE objects.attributes <> excluded.attributes OR objects.deleted <> excluded.deleted`
	logged := make(map[objects.Key]bool, len(changes))
	for _, c := range changes {
		logged[objects.Key{Type: c.ObjectType, ID: c.ObjectID}] = true
	}
	var inserts, updates, changed []*objects.Object
	for _, w := range lastObjectWrites(writes) {
		switch {
		case w.Insert:
			inserts = append(inserts, w.Object)
		case logged[w.Object.Key()]:
			changed = append(changed, w.Object)
		default:
			updates = append(updates, w.Object)
		}
	}
	var attrs attributeEncoder
	values := func(os []*objects.Object) func(i int, f *fields) {
		return func(i int, f *fields) {
			o := os[i]
			f.Text(o.Type)
			f.Text(o.ID)
			f.Bytes(attrs.json(o.Attributes))
			f.Int(o.CreatedAt)
			f.Int(o.UpdatedAt)
			f.Bool(o.Deleted)
		}
	}
	if err := t.insertRows(ctx, "objects", cols, "", len(inserts), values(inserts)); err != nil {
		return err
	}
	if err := t.insertRows(ctx, "objects", cols, upsert, len(updates), values(updates)); err != nil {
		return err
	}
	if err := t.insertRows(ctx, "objects", cols, set, len(changed), values(changed)); err != nil {
		return err
	}
	if err := t.writeObjectLog(ctx, changes); err != nil {
		return err
	}
	return t.removeRelationshipsOfDeleted(ctx, changes)
}

// removeRelationshipsOfDeleted removes the live relationships of every object the
// changes delete (SPEC §10), as of the delete's time. An object deleted and created
// again in one batch has lost them too, as with batches of one row: a relationship
// comes back only with a relationships row.
func (t *Tx) removeRelationshipsOfDeleted(ctx context.Context, changes []objects.Change) error {
	at := map[objects.Key]int64{}
	var keys []objects.Key
	for _, c := range changes {
		if c.Kind != objects.KindObjectDelete {
			continue
		}
		k := objects.Key{Type: c.ObjectType, ID: c.ObjectID}
		if _, ok := at[k]; !ok {
			keys = append(keys, k)
		}
		at[k] = c.Time
	}
	if len(keys) == 0 {
		return nil
	}
	var rs []objects.Relationship
	var err error
	if t.dry != nil {
		rs, err = t.dry.objects().relationshipsOfObjects(ctx, t, keys)
	} else {
		rs, err = t.relationshipsOfObjects(ctx, keys, t.d.forUpdate)
	}
	if err != nil {
		return fmt.Errorf("remove the relationships of deleted objects: %w", err)
	}
	var writes []objects.RelationshipWrite
	for i := range rs {
		r := &rs[i]
		if r.Removed {
			continue
		}
		r.Removed, r.UpdatedAt = true, at[objects.Key{Type: r.ObjectType, ID: r.ObjectID}]
		writes = append(writes, objects.RelationshipWrite{Relationship: r})
	}
	return t.WriteRelationships(ctx, writes)
}

// lastObjectWrites keeps one write per object, the last, new when any was: one
// statement may not upsert a row twice.
func lastObjectWrites(writes []objects.Write) []objects.Write {
	at := make(map[objects.Key]int, len(writes))
	out := writes[:0:0]
	for _, w := range writes {
		k := w.Object.Key()
		if i, ok := at[k]; ok {
			out[i] = objects.Write{Object: w.Object, Insert: out[i].Insert || w.Insert}
			continue
		}
		at[k] = len(out)
		out = append(out, w)
	}
	return out
}

func (t *Tx) writeObjectLog(ctx context.Context, log []objects.Change) error {
	cols := []string{"at", "sync", "row_key", "object_type", "object_id", "kind", "attribute", "from_value", "to_value", "reason"}
	return t.insertRows(ctx, "object_log", cols, "", len(log), func(i int, f *fields) {
		c := log[i]
		f.Int(c.Time)
		f.Text(c.Sync)
		f.NullText(c.RowKey)
		f.Text(c.ObjectType)
		f.Text(c.ObjectID)
		f.Text(c.Kind)
		f.NullText(c.Attribute)
		f.JSON(c.From)
		f.JSON(c.To)
		f.NullText(c.Reason)
	})
}

// FindObject returns the object `dbsync objects get TYPE ID` shows. None, a deleted
// one, and a store never written (or not yet upgraded to hold objects) are ErrNotFound.
func (s *Store) FindObject(ctx context.Context, objectType, objectID string) (*objects.Object, error) {
	// Every stored key is valid UTF-8; PostgreSQL refuses other text outright.
	if objectType == "" || objectID == "" || !utf8.ValidString(objectType) || !utf8.ValidString(objectID) {
		return nil, ErrNotFound
	}
	q := s.d.rebind(`SELECT ` + objectColumns + ` FROM objects WHERE object_type = ? AND object_id = ?`)
	o, err := scanObject(s.db.QueryRowContext(ctx, q, objectType, objectID))
	switch {
	case errors.Is(err, sql.ErrNoRows), s.d.missing(err):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("find object %s %s: %w", objectType, objectID, err)
	case o.Deleted:
		return nil, ErrNotFound
	}
	return &o, nil
}

// EachObjectChange calls fn for each change log entry of an object, oldest first.
func (s *Store) EachObjectChange(ctx context.Context, objectType, objectID string, fn func(objects.Change) error) error {
	return s.eachObjectLog(ctx, `WHERE object_type = ? AND object_id = ?`, fn, objectType, objectID)
}

// tupleIn is a condition that (cols...) is one of the rows of a list of text tuples
// given as tupleArgs: a JSON array of arrays on SQLite, one array a column on
// PostgreSQL. One statement serves a batch of any size, as inList does.
func (d *dialect) tupleIn(cols ...string) string {
	list := "(" + strings.Join(cols, ", ") + ") IN "
	if d.numbered {
		return list + "(SELECT * FROM unnest(" + strings.TrimSuffix(strings.Repeat("?::text[], ", len(cols)), ", ") + "))"
	}
	sel := make([]string, len(cols))
	for i := range cols {
		sel[i] = fmt.Sprintf("json_extract(value, '$[%d]')", i)
	}
	return list + "(SELECT " + strings.Join(sel, ", ") + " FROM json_each(?))"
}

// tupleArgs are the arguments of tupleIn: columns[j][i] is column j of tuple i.
func (d *dialect) tupleArgs(columns ...[]string) []any {
	if d.numbered {
		args := make([]any, len(columns))
		for j, c := range columns {
			if c == nil {
				c = []string{}
			}
			args[j] = pq.Array(c)
		}
		return args
	}
	n := 0
	if len(columns) > 0 {
		n = len(columns[0])
	}
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = make([]string, len(columns))
		for j := range columns {
			rows[i][j] = columns[j][i]
		}
	}
	b, _ := json.Marshal(rows)
	return []any{string(b)}
}

// sortObjects orders objects by key, as the store reads them.
func sortObjects(os []objects.Object) {
	sort.Slice(os, func(i, j int) bool {
		if os[i].Type != os[j].Type {
			return os[i].Type < os[j].Type
		}
		return os[i].ID < os[j].ID
	})
}

func cloneAttributes(attrs map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(attrs))
	for k, v := range attrs {
		out[k] = v
	}
	return out
}
