package objects

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
)

// Reasons an objects row is rejected, besides the attribute reasons it shares with
// people (identity.ReasonValueTooLong and the rest). They are stable: metrics and
// users group by them.
const (
	ReasonNoObjectID      = "no_object_id"
	ReasonObjectIDTooLong = "object_id_too_long"
	ReasonInvalidObjectID = identity.ReasonInvalidValue
)

// ObjectPlanner plans the rows of an objects sync (SPEC §8): each row names one
// object of the sync's type by its id, and its attributes follow SPEC §2 as a
// person's do.
type ObjectPlanner struct {
	Type string           // the sync's object_type
	Now  func() time.Time // when nil, time.Now
}

// Plan decides each record's outcome and changes as if the rows were applied one at
// a time in order (two rows for one object in a batch: the second sees the first),
// and returns the objects to write in their final state, in the order they first
// changed. A record already refused (by mapping) is passed over, so a caller planning
// records again clears the outcomes Plan gave them first. Plan loads every object
// the batch names with one call to l and writes nothing itself; the log to write
// with the objects is ChangesOf(recs).
//
// A row whose delete column is set (SPEC §10) deletes the object it names: the object
// becomes a tombstone without attributes (each one logged as removed, then
// object_delete), and the store removes its relationships with it (WriteObjects). No
// such object, or a deleted one, skips the row (not_found). A deleted object is no
// object: a row naming it creates it again, with only the row's attributes, as a
// later row with a deleted person's id creates a new person.
func (pl *ObjectPlanner) Plan(ctx context.Context, l Loader, sync string, recs []*record.Record) ([]Write, error) {
	now := time.Now
	if pl.Now != nil {
		now = pl.Now
	}
	p := &objectPlan{typ: pl.Type, sync: sync, now: now().Unix(), changes: make([]record.Change, 0, len(recs))}

	bad := make([]string, len(recs)) // a rejection's reason, "" for none
	details := make([]string, len(recs))
	var keys []Key
	for i, rec := range recs {
		if rec.Refused() {
			continue
		}
		if bad[i], details[i] = checkObjectRow(rec); bad[i] == "" {
			keys = append(keys, Key{pl.Type, rec.ObjectID})
		}
	}
	keys = dedupeKeys(keys)

	var stored []Object
	if len(keys) > 0 {
		var err error
		if stored, err = l.LoadObjects(ctx, keys); err != nil {
			return nil, fmt.Errorf("load objects: %w", err)
		}
	}
	p.set = make(map[string]*objectEntry, len(stored)+len(recs))
	for _, o := range stored {
		if o.Type != pl.Type {
			continue // a loader that returns more than asked
		}
		e := &objectEntry{Object: o, stored: true}
		if e.Attributes == nil {
			e.Attributes = map[string]json.RawMessage{}
		}
		p.set[o.ID] = e
	}

	for i, rec := range recs {
		switch {
		case bad[i] != "":
			rec.Reject(bad[i], details[i])
		case rec.Refused():
		default:
			p.apply(rec)
		}
	}
	writes := make([]Write, len(p.dirty))
	for i, e := range p.dirty {
		writes[i] = Write{Object: &e.Object, Insert: !e.stored}
	}
	return writes, nil
}

// checkObjectRow checks a row against everything that needs no store: its object id
// and the attribute limits every kind shares (identity.CheckAttributes). A deleting
// row's attributes are not applied, so their limits do not refuse it.
func checkObjectRow(rec *record.Record) (reason, detail string) {
	if reason, detail := checkObjectID(rec.ObjectID); reason != "" || rec.Delete {
		return reason, detail
	}
	return identity.CheckAttributes(rec.Attrs)
}

// checkObjectID checks a row's object id (SPEC §8): present, at most MaxIDBytes,
// text a store can hold. It returns the reason and detail of a rejection, or "".
func checkObjectID(id string) (reason, detail string) {
	switch {
	case id == "":
		return ReasonNoObjectID, "the row has no object_id"
	case len(id) > MaxIDBytes:
		return ReasonObjectIDTooLong, fmt.Sprintf("object_id (%d bytes > %d)", len(id), MaxIDBytes)
	case !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0:
		return ReasonInvalidObjectID, "object_id is not valid UTF-8 text or holds NUL"
	}
	return "", ""
}

func dedupeKeys(keys []Key) []Key {
	sort.Slice(keys, func(i, j int) bool { return keys[i].ID < keys[j].ID })
	out := keys[:0]
	for i, k := range keys {
		if i == 0 || k != keys[i-1] {
			out = append(out, k)
		}
	}
	return out
}

// objectEntry is an object in the batch's working set: as loaded, then as each row
// of the batch left it.
type objectEntry struct {
	Object
	stored bool // loaded from the store: a write of it is no insert
	dirty  bool
}

// objectPlan is one batch being planned.
type objectPlan struct {
	typ, sync string
	now       int64
	set       map[string]*objectEntry // by object id: the batch's view of the store
	dirty     []*objectEntry          // changed objects, in the order they first changed
	// changes holds the batch's change log, row after row; each record's Changes is
	// its part, so that a batch allocates its log once.
	changes []record.Change
}

// apply carries out one row on the working set and fills in its outcome.
func (p *objectPlan) apply(rec *record.Record) {
	e := p.set[rec.ObjectID]
	if rec.Delete {
		p.delete(rec, e)
		return
	}
	create := e == nil || e.Deleted
	var have map[string]json.RawMessage
	if !create {
		have = e.Attributes
	}
	if n := identity.AttributesAfter(have, rec.Attrs); n > identity.MaxAttributes {
		rec.Reject(identity.ReasonTooManyAttributes, identity.TooManyAttributes("object", n))
		return
	}

	start := len(p.changes)
	out := record.Outcome{Result: record.Unchanged}
	changed := false
	if create {
		recreated := e != nil // a deleted object's row stays in the store: see below
		if e == nil {
			e = &objectEntry{}
			p.set[rec.ObjectID] = e
		}
		e.Object = Object{Type: p.typ, ID: rec.ObjectID, Attributes: make(map[string]json.RawMessage, len(rec.Attrs)), CreatedAt: p.now}
		out.Result, changed = record.Created, true
		p.log(rec, KindObjectCreate, "", nil, nil)
		for _, a := range rec.Attrs {
			if a.Value == nil {
				continue
			}
			e.Attributes[a.Name] = a.Value
			// A new object's first attributes are not logged one by one, as a new
			// person's are not. One created again over a deleted one's row logs them:
			// the warehouse export reads from the log which attributes changed on an
			// object it exported before.
			if recreated {
				p.log(rec, KindAttributeChange, a.Name, nil, a.Value)
			}
		}
	} else {
		for _, a := range rec.Attrs {
			old, had := e.Attributes[a.Name]
			switch {
			case a.Value == nil && had:
				delete(e.Attributes, a.Name)
			case a.Value == nil, had && bytes.Equal(old, a.Value):
				continue
			default:
				e.Attributes[a.Name] = a.Value
			}
			p.log(rec, KindAttributeChange, a.Name, old, a.Value)
			changed = true
		}
	}
	if changed {
		e.UpdatedAt = p.now
		if !e.dirty {
			e.dirty = true
			p.dirty = append(p.dirty, e)
		}
		if out.Result == record.Unchanged {
			out.Result = record.Updated
		}
	}
	rec.Outcome = out
	if end := len(p.changes); end > start {
		rec.Changes = p.changes[start:end:end]
	}
}

// delete carries out a deleting row on e, the object it names (nil: none stored).
func (p *objectPlan) delete(rec *record.Record, e *objectEntry) {
	if e == nil || e.Deleted {
		rec.Skip(identity.ReasonNotFound, fmt.Sprintf("no %s object %q", p.typ, rec.ObjectID))
		return
	}
	start := len(p.changes)
	// Each attribute is logged as removed: the export reads from the log which
	// attributes changed, so an object created again over this one before the next
	// export says that these are gone (SPEC §6: attributes holds the changed ones).
	names := make([]string, 0, len(e.Attributes))
	for name := range e.Attributes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p.log(rec, KindAttributeChange, name, e.Attributes[name], nil)
	}
	p.log(rec, KindObjectDelete, "", nil, nil)
	e.Attributes = map[string]json.RawMessage{}
	e.Deleted, e.UpdatedAt = true, p.now
	if !e.dirty {
		e.dirty = true
		p.dirty = append(p.dirty, e)
	}
	end := len(p.changes)
	rec.Outcome = record.Outcome{Result: record.Deleted, Changes: p.changes[start:end:end]}
}

func (p *objectPlan) log(rec *record.Record, kind, attribute string, from, to json.RawMessage) {
	p.changes = append(p.changes, record.Change{Time: p.now, Sync: p.sync, RowKey: rec.Key,
		ObjectType: p.typ, ObjectID: rec.ObjectID, Kind: kind, Attribute: attribute, From: from, To: to})
}

// ChangesOf is the object change log of planned records, in their order: what the
// store writes with the objects Plan returned (Tx.WriteObjects).
func ChangesOf(recs []*record.Record) []Change {
	n := 0
	for _, r := range recs {
		n += len(r.Changes)
	}
	out := make([]Change, 0, n)
	for _, r := range recs {
		for _, c := range r.Changes {
			if c.ObjectID == "" {
				continue // not an object's
			}
			out = append(out, Change{Time: c.Time, Sync: c.Sync, RowKey: c.RowKey, ObjectType: c.ObjectType,
				ObjectID: c.ObjectID, Kind: c.Kind, Attribute: c.Attribute, From: c.From, To: c.To, Reason: c.Reason})
		}
	}
	return out
}
