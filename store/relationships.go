package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/objects"
)

const relationshipColumns = `internal_id, object_type, object_id, attributes, created_at, updated_at, removed`

// LoadRelationships loads the stored relationships with the keys, removed ones (the
// tombstones) included, in key order. On PostgreSQL the rows stay locked until the
// transaction ends.
func (t *Tx) LoadRelationships(ctx context.Context, keys []objects.RelationshipKey) ([]objects.Relationship, error) {
	if t.dry != nil {
		return t.dry.objects().loadRelationships(ctx, t, keys)
	}
	return t.loadRelationships(ctx, keys, t.d.forUpdate)
}

func (t *Tx) loadRelationships(ctx context.Context, keys []objects.RelationshipKey, lock string) ([]objects.Relationship, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	cios, types, ids := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		cios[i], types[i], ids[i] = k.CioID, k.ObjectType, k.ObjectID
	}
	where := t.d.tupleIn("internal_id", "object_type", "object_id")
	return t.queryRelationships(ctx, where, lock, t.d.tupleArgs(cios, types, ids)...)
}

// relationshipsOf loads every relationship of the people, tombstones included.
func (t *Tx) relationshipsOf(ctx context.Context, cioIDs []string, lock string) ([]objects.Relationship, error) {
	if len(cioIDs) == 0 {
		return nil, nil
	}
	return t.queryRelationships(ctx, t.d.inList("internal_id"), lock, t.d.listArg(cioIDs))
}

// relationshipsOfObjects loads every relationship with the objects, tombstones
// included, locked in key order as a relationships batch locks them, by the index
// relationships_by_object (migration 0008; the key leads with the person).
func (t *Tx) relationshipsOfObjects(ctx context.Context, keys []objects.Key, lock string) ([]objects.Relationship, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	types, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		types[i], ids[i] = k.Type, k.ID
	}
	return t.queryRelationships(ctx, t.d.tupleIn("object_type", "object_id"), lock, t.d.tupleArgs(types, ids)...)
}

func (t *Tx) queryRelationships(ctx context.Context, where, lock string, args ...any) ([]objects.Relationship, error) {
	q := `SELECT ` + relationshipColumns + ` FROM relationships WHERE ` + where +
		` ORDER BY internal_id, object_type, object_id` + lock
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("load relationships: %w", err)
	}
	defer rows.Close()
	var out []objects.Relationship
	for rows.Next() {
		r, err := scanRelationship(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load relationships: %w", err)
	}
	return out, nil
}

func scanRelationship(row scanner) (objects.Relationship, error) {
	var r objects.Relationship
	var attrs string
	if err := row.Scan(&r.CioID, &r.ObjectType, &r.ObjectID, &attrs, &r.CreatedAt, &r.UpdatedAt, &r.Removed); err != nil {
		return r, fmt.Errorf("read relationship: %w", err)
	}
	var err error
	if r.Attributes, err = decodeAttributes(attrs); err != nil {
		return r, fmt.Errorf("read relationship of %s with %s %s: attributes: %w", r.CioID, r.ObjectType, r.ObjectID, err)
	}
	return r, nil
}

// WriteRelationships stores relationships in their final state after a batch. A
// removal is a write with Removed set: the row stays as a tombstone for the export.
// A write that changes neither attributes nor removed touches nothing.
func (t *Tx) WriteRelationships(ctx context.Context, writes []objects.RelationshipWrite) error {
	if t.dry != nil {
		t.dry.objects().writeRelationships(writes)
		return nil
	}
	cols := []string{"internal_id", "object_type", "object_id", "attributes", "created_at", "updated_at", "removed"}
	const upsert = ` ON CONFLICT (internal_id, object_type, object_id) DO UPDATE SET attributes = excluded.attributes,
		created_at = excluded.created_at, updated_at = excluded.updated_at, removed = excluded.removed,
		export_pending = TRUE
		WHERE relationships.attributes <> excluded.attributes OR relationships.removed <> excluded.removed`
	var inserts, updates []*objects.Relationship
	for _, w := range lastRelationshipWrites(writes) {
		if w.Insert {
			inserts = append(inserts, w.Relationship)
		} else {
			updates = append(updates, w.Relationship)
		}
	}
	var attrs attributeEncoder
	values := func(rs []*objects.Relationship) func(i int, f *fields) {
		return func(i int, f *fields) {
			r := rs[i]
			f.Text(r.CioID)
			f.Text(r.ObjectType)
			f.Text(r.ObjectID)
			f.Bytes(attrs.json(r.Attributes))
			f.Int(r.CreatedAt)
			f.Int(r.UpdatedAt)
			f.Bool(r.Removed)
		}
	}
	if err := t.insertRows(ctx, "relationships", cols, "", len(inserts), values(inserts)); err != nil {
		return err
	}
	return t.insertRows(ctx, "relationships", cols, upsert, len(updates), values(updates))
}

// lastRelationshipWrites keeps one write per relationship, the last, new when any was.
func lastRelationshipWrites(writes []objects.RelationshipWrite) []objects.RelationshipWrite {
	at := make(map[objects.RelationshipKey]int, len(writes))
	out := writes[:0:0]
	for _, w := range writes {
		k := w.Relationship.Key()
		if i, ok := at[k]; ok {
			out[i] = objects.RelationshipWrite{Relationship: w.Relationship, Insert: out[i].Insert || w.Insert}
			continue
		}
		at[k] = len(out)
		out = append(out, w)
	}
	return out
}

// followPeople keeps the relationships and events in step with the people a batch
// wrote, in the batch's transaction: a person merged into another (SPEC §1 rule 4)
// hands their relationships and events to the survivor (SPEC §8), and a deleted
// person's are erased (§10).
func (t *Tx) followPeople(ctx context.Context, writes []identity.Write) error {
	survivor := map[string]string{}
	at := map[string]int64{}
	var deleted, merged []string
	for _, w := range writes {
		p := w.Person
		switch {
		case w.Insert:
		case p.Deleted:
			deleted = append(deleted, p.CioID)
		case p.MergedInto != "":
			survivor[p.CioID], at[p.CioID] = p.MergedInto, p.UpdatedAt
			merged = append(merged, p.CioID)
		}
	}
	if err := t.eraseRelationships(ctx, deleted); err != nil {
		return err
	}
	if len(merged) > 0 {
		if err := t.moveRelationships(ctx, merged, survivor, at); err != nil {
			return err
		}
	}
	// Events after the moves, so the events handed to a person the batch also deletes
	// are erased with theirs.
	if err := t.moveEvents(ctx, merged, survivor); err != nil {
		return err
	}
	return t.eraseEvents(ctx, deleted)
}

// moveRelationships moves the live relationships of each merged person to the one
// they were merged into. The merged person's become tombstones (an export says they
// are gone from the retired cio_id). Where the survivor has a live relationship with
// the same object, the survivor's stays as it is; a tombstone of the survivor's is
// replaced by the merged person's live one. merged is in the batch's order (the order
// the people were first changed), so of two people merged into one in a batch the
// first one's relationship stays, as with batches of one row.
func (t *Tx) moveRelationships(ctx context.Context, merged []string, survivor map[string]string, at map[string]int64) error {
	final := func(cio string) string { // a survivor merged away in the same batch passes them on
		for hops := 0; hops < 64; hops++ {
			next, ok := survivor[cio]
			if !ok {
				return cio
			}
			cio = next
		}
		return cio
	}
	theirs, err := t.relationshipsOfPeople(ctx, merged)
	if err != nil {
		return err
	}
	order := make(map[string]int, len(merged))
	for i, cio := range merged {
		order[cio] = i
	}
	sort.SliceStable(theirs, func(i, j int) bool { return order[theirs[i].CioID] < order[theirs[j].CioID] })
	var keys []objects.RelationshipKey
	for _, r := range theirs {
		if !r.Removed {
			keys = append(keys, objects.RelationshipKey{CioID: final(r.CioID), ObjectType: r.ObjectType, ObjectID: r.ObjectID})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	have, err := t.LoadRelationships(ctx, keys)
	if err != nil {
		return err
	}
	held := make(map[objects.RelationshipKey]*objects.Relationship, len(have))
	for i := range have {
		held[have[i].Key()] = &have[i]
	}
	var writes []objects.RelationshipWrite
	for i := range theirs {
		r := theirs[i]
		if r.Removed {
			continue
		}
		when := at[r.CioID]
		k := objects.RelationshipKey{CioID: final(r.CioID), ObjectType: r.ObjectType, ObjectID: r.ObjectID}
		switch s := held[k]; {
		case s == nil:
			moved := &objects.Relationship{CioID: k.CioID, ObjectType: k.ObjectType, ObjectID: k.ObjectID,
				Attributes: cloneAttributes(r.Attributes), CreatedAt: r.CreatedAt, UpdatedAt: when}
			held[k] = moved
			writes = append(writes, objects.RelationshipWrite{Relationship: moved, Insert: true})
		case s.Removed:
			s.Attributes, s.CreatedAt, s.UpdatedAt, s.Removed = cloneAttributes(r.Attributes), r.CreatedAt, when, false
			writes = append(writes, objects.RelationshipWrite{Relationship: s})
		}
		gone := r
		gone.Removed, gone.UpdatedAt = true, when
		writes = append(writes, objects.RelationshipWrite{Relationship: &gone})
	}
	return t.WriteRelationships(ctx, writes)
}

// relationshipsOfPeople is relationshipsOf, in a dry run as its earlier batches left them.
func (t *Tx) relationshipsOfPeople(ctx context.Context, cioIDs []string) ([]objects.Relationship, error) {
	if t.dry != nil {
		return t.dry.objects().relationshipsOf(ctx, t, cioIDs)
	}
	return t.relationshipsOf(ctx, cioIDs, t.d.forUpdate)
}

// eraseRelationships deletes the people's relationships, tombstones too: a deleted
// person's relationships are erased (SPEC §10). The export's people row (deleted:
// true) tells a warehouse to drop what it holds for that internal_customer_id.
func (t *Tx) eraseRelationships(ctx context.Context, cioIDs []string) error {
	if len(cioIDs) == 0 {
		return nil
	}
	if t.dry != nil {
		return t.dry.objects().erase(ctx, t, cioIDs)
	}
	q := `DELETE FROM relationships WHERE ` + t.d.inList("internal_id")
	if _, err := t.tx.ExecContext(ctx, t.d.rebind(q), t.d.listArg(cioIDs)); err != nil {
		return fmt.Errorf("erase the relationships of deleted people: %w", err)
	}
	return nil
}

// PersonRelationships lists a person's live relationships (no tombstones) in
// object order. A store never written, or not yet upgraded to hold them, has none.
func (s *Store) PersonRelationships(ctx context.Context, cioID string) ([]objects.Relationship, error) {
	q := s.d.rebind(`SELECT ` + relationshipColumns + ` FROM relationships WHERE internal_id = ? AND NOT removed
		ORDER BY object_type, object_id`)
	rows, err := s.db.QueryContext(ctx, q, cioID)
	if s.d.missing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the relationships of %s: %w", cioID, err)
	}
	defer rows.Close()
	var out []objects.Relationship
	for rows.Next() {
		r, err := scanRelationship(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the relationships of %s: %w", cioID, err)
	}
	return out, nil
}
