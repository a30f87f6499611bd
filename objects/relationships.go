package objects

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
)

// RelationshipLoader loads what a relationships batch names: its people, objects and
// relationships. A store's transaction is one.
type RelationshipLoader interface {
	identity.Loader
	Loader
}

// RelationshipPlanner plans the rows of a relationships sync (SPEC §8): each row
// finds its person (identity.Planner.Resolve: found, or created, never changed), its
// object of ObjectType (created empty when missing), and adds, updates or removes
// the one relationship between them.
type RelationshipPlanner struct {
	People     *identity.Planner // resolves each row's person; its clock is the batch's
	ObjectType string
}

// RelationshipPlan is what a planned relationships batch writes, each in its final
// state, in the order first changed.
type RelationshipPlan struct {
	People        []identity.Write // the people the batch created
	Objects       []Write          // the objects it created
	ObjectChanges []Change         // their object_create entries, each with its object's write
	Relationships []RelationshipWrite
}

// Plan plans a batch of relationship rows as if they were applied one at a time in
// order (SPEC §1 rule 6) and fills in each record's outcome. A record already
// refused is passed over. The row's result is its relationship's: Created when it is
// new (or added again after a removal), Updated when its attributes change or it is
// removed, Unchanged otherwise; a person created for it shows in its Changes
// (profile_create). Plan loads the people, then the objects and relationships, with
// one call each, and writes nothing itself.
func (pl *RelationshipPlanner) Plan(ctx context.Context, l RelationshipLoader, sync string, recs []*record.Record) (*RelationshipPlan, error) {
	now := time.Now()
	if pl.People.Now != nil {
		now = pl.People.Now()
	}
	// One time for the whole batch: the people created and the relationships.
	people := *pl.People
	people.Now = func() time.Time { return now }

	// What needs no store first, so that a rejected row creates no one.
	for _, rec := range recs {
		if rec.Refused() {
			continue
		}
		if reason, detail := checkObjectID(rec.ObjectID); reason != "" {
			rec.Reject(reason, detail)
			continue
		}
		if reason, detail := identity.CheckAttributes(rec.Attrs); reason != "" {
			rec.Reject(reason, detail)
			continue
		}
		// However much is stored, a row setting more than the limit is over it.
		if n := setCount(rec.Attrs); n > identity.MaxAttributes {
			rec.Reject(identity.ReasonTooManyAttributes, fmt.Sprintf("the relationship would have %d attributes (> %d)", n, identity.MaxAttributes))
		}
	}

	plan := &RelationshipPlan{}
	var err error
	if plan.People, err = people.Resolve(ctx, l, sync, recs); err != nil {
		return nil, fmt.Errorf("find the relationships' people: %w", err)
	}

	var objKeys []Key
	var relKeys []RelationshipKey
	for _, rec := range recs {
		if rec.Refused() || rec.Person == "" {
			continue
		}
		objKeys = append(objKeys, Key{pl.ObjectType, rec.ObjectID})
		relKeys = append(relKeys, RelationshipKey{rec.Person, pl.ObjectType, rec.ObjectID})
	}
	objs, err := l.LoadObjects(ctx, uniqueKeys(objKeys))
	if err != nil {
		return nil, fmt.Errorf("load objects: %w", err)
	}
	rels, err := l.LoadRelationships(ctx, uniqueKeys(relKeys))
	if err != nil {
		return nil, fmt.Errorf("load relationships: %w", err)
	}

	p := &relPlanner{
		typ: pl.ObjectType, sync: sync, now: now.Unix(),
		objects:       make(map[Key]*objectEntry, len(objs)+len(objKeys)),
		relationships: make(map[RelationshipKey]*relEntry, len(rels)+len(relKeys)),
	}
	for i := range objs {
		p.objects[objs[i].Key()] = &objectEntry{Object: objs[i], stored: true}
	}
	for i := range rels {
		p.relationships[rels[i].Key()] = &relEntry{Relationship: rels[i], stored: true}
	}
	for _, rec := range recs {
		if !rec.Refused() {
			p.apply(rec)
		}
	}
	p.collect(plan)
	return plan, nil
}

// setCount is how many attributes a row sets (a nil value unsets one).
func setCount(attrs []record.Attr) int {
	n := 0
	for _, a := range attrs {
		if a.Value != nil {
			n++
		}
	}
	return n
}

func uniqueKeys[K comparable](keys []K) []K {
	seen := make(map[K]struct{}, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// relEntry is a relationship in the batch's working set (objectEntry an object's): as
// loaded, then as earlier rows of the batch left it.
type relEntry struct {
	Relationship
	stored bool // a row exists in the store, a tombstone too
	dirty  bool
}

type relPlanner struct {
	typ, sync     string
	now           int64
	objects       map[Key]*objectEntry
	relationships map[RelationshipKey]*relEntry
	dirtyObjects  []*objectEntry // in the order first changed
	dirtyRels     []*relEntry
	changes       []Change
}

// apply carries out one row on the working set and sets its result.
func (p *relPlanner) apply(rec *record.Record) {
	if rec.Person == "" { // a removing row whose person does not exist: nothing to remove
		rec.Result = record.Unchanged
		return
	}
	k := RelationshipKey{rec.Person, p.typ, rec.ObjectID}
	r := p.relationships[k]
	live := r != nil && !r.Removed
	if rec.Remove {
		rec.Result = record.Unchanged
		if live {
			r.Removed, r.UpdatedAt = true, p.now
			p.markRel(r)
			rec.Result = record.Updated
		}
		return
	}
	if live {
		if n := identity.AttributesAfter(r.Attributes, rec.Attrs); n > identity.MaxAttributes {
			rec.Reject(identity.ReasonTooManyAttributes, fmt.Sprintf("the relationship would have %d attributes (> %d)", n, identity.MaxAttributes))
			return
		}
	}
	p.ensureObject(rec)
	if !live {
		// New, or added again after a removal: it starts afresh, with the row's
		// attributes alone (the removed one's went with it).
		if r == nil {
			r = &relEntry{}
			p.relationships[k] = r
		}
		r.Relationship = Relationship{CioID: k.CioID, ObjectType: k.ObjectType, ObjectID: k.ObjectID,
			Attributes: make(map[string]json.RawMessage, len(rec.Attrs)), CreatedAt: p.now, UpdatedAt: p.now}
		setAttributes(r.Attributes, rec.Attrs)
		p.markRel(r)
		rec.Result = record.Created
		return
	}
	rec.Result = record.Unchanged
	if setAttributes(r.Attributes, rec.Attrs) {
		r.UpdatedAt = p.now
		p.markRel(r)
		rec.Result = record.Updated
	}
}

// ensureObject creates the row's object when it is missing (SPEC §8), with no
// attributes. A deleted object is missing: it is created again, empty.
func (p *relPlanner) ensureObject(rec *record.Record) {
	k := Key{p.typ, rec.ObjectID}
	o := p.objects[k]
	if o != nil && !o.Deleted {
		return
	}
	if o == nil {
		o = &objectEntry{}
		p.objects[k] = o
	}
	o.Object = Object{Type: k.Type, ID: k.ID, Attributes: map[string]json.RawMessage{}, CreatedAt: p.now, UpdatedAt: p.now}
	if !o.dirty {
		o.dirty = true
		p.dirtyObjects = append(p.dirtyObjects, o)
	}
	p.changes = append(p.changes, Change{Time: p.now, Sync: p.sync, RowKey: rec.Key, ObjectType: k.Type, ObjectID: k.ID,
		Kind: KindObjectCreate})
}

func (p *relPlanner) markRel(r *relEntry) {
	if !r.dirty {
		r.dirty = true
		p.dirtyRels = append(p.dirtyRels, r)
	}
}

// setAttributes applies a row's attributes as SPEC §2 says: the given ones are set,
// a nil value (nulls: unset) removes one, the others stay. It reports a change.
func setAttributes(have map[string]json.RawMessage, attrs []record.Attr) bool {
	changed := false
	for _, a := range attrs {
		old, had := have[a.Name]
		switch {
		case a.Value == nil && had:
			delete(have, a.Name)
		case a.Value == nil, had && bytes.Equal(old, a.Value):
			continue
		default:
			have[a.Name] = a.Value
		}
		changed = true
	}
	return changed
}

// collect lists the batch's writes: the objects and relationships changed, in the
// order first changed. Their final state is written whole.
func (p *relPlanner) collect(plan *RelationshipPlan) {
	for _, o := range p.dirtyObjects {
		plan.Objects = append(plan.Objects, Write{Object: &o.Object, Insert: !o.stored})
	}
	plan.ObjectChanges = p.changes
	for _, r := range p.dirtyRels {
		plan.Relationships = append(plan.Relationships, RelationshipWrite{Relationship: &r.Relationship, Insert: !r.stored})
	}
}
