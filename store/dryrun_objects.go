package store

import (
	"context"
	"sort"

	"github.com/dbsync/dbsync/objects"
)

// objectOverlay holds the objects and relationships a dry run's batches would have
// written, in their final state, so later batches see them as in a real run.
type objectOverlay struct {
	objects map[objects.Key]objects.Object
	// rels: nil for a relationship a dry run erased (its person deleted).
	rels map[objects.RelationshipKey]*objects.Relationship
}

func (o *overlay) objects() *objectOverlay {
	if o.obj == nil {
		o.obj = &objectOverlay{objects: map[objects.Key]objects.Object{}, rels: map[objects.RelationshipKey]*objects.Relationship{}}
	}
	return o.obj
}

func (o *objectOverlay) writeObjects(writes []objects.Write) {
	for _, w := range writes {
		c := *w.Object
		c.Attributes = cloneAttributes(c.Attributes)
		o.objects[c.Key()] = c
	}
}

// loadObjects is LoadObjects for a dry run: the store's objects (without row locks)
// as the earlier batches left them.
func (o *objectOverlay) loadObjects(ctx context.Context, t *Tx, keys []objects.Key) ([]objects.Object, error) {
	var ask []objects.Key
	var out []objects.Object
	for _, k := range keys {
		if c, ok := o.objects[k]; ok {
			c.Attributes = cloneAttributes(c.Attributes)
			out = append(out, c)
		} else {
			ask = append(ask, k)
		}
	}
	stored, err := t.loadObjects(ctx, ask, "")
	if err != nil {
		return nil, err
	}
	out = dedupeObjects(append(out, stored...))
	sortObjects(out)
	return out, nil
}

// dedupeObjects drops repeats of a key (a batch may name an object twice).
func dedupeObjects(os []objects.Object) []objects.Object {
	seen := make(map[objects.Key]bool, len(os))
	out := os[:0]
	for _, x := range os {
		if !seen[x.Key()] {
			seen[x.Key()] = true
			out = append(out, x)
		}
	}
	return out
}

func (o *objectOverlay) writeRelationships(writes []objects.RelationshipWrite) {
	for _, w := range writes {
		c := *w.Relationship
		c.Attributes = cloneAttributes(c.Attributes)
		o.rels[c.Key()] = &c
	}
}

func (o *objectOverlay) loadRelationships(ctx context.Context, t *Tx, keys []objects.RelationshipKey) ([]objects.Relationship, error) {
	var ask []objects.RelationshipKey
	found := map[objects.RelationshipKey]objects.Relationship{}
	for _, k := range keys {
		r, ok := o.rels[k]
		switch {
		case !ok:
			ask = append(ask, k)
		case r != nil:
			found[k] = cloneRelationship(*r)
		}
	}
	stored, err := t.loadRelationships(ctx, ask, "")
	if err != nil {
		return nil, err
	}
	for _, r := range stored {
		found[r.Key()] = r
	}
	return sortedRelationships(found), nil
}

// relationshipsOf is Tx.relationshipsOf for a dry run.
func (o *objectOverlay) relationshipsOf(ctx context.Context, t *Tx, cioIDs []string) ([]objects.Relationship, error) {
	stored, err := t.relationshipsOf(ctx, cioIDs, "")
	if err != nil {
		return nil, err
	}
	found := map[objects.RelationshipKey]objects.Relationship{}
	for _, r := range stored {
		if _, ok := o.rels[r.Key()]; !ok {
			found[r.Key()] = r
		}
	}
	want := make(map[string]bool, len(cioIDs))
	for _, c := range cioIDs {
		want[c] = true
	}
	for k, r := range o.rels {
		if r != nil && want[k.CioID] {
			found[k] = cloneRelationship(*r)
		}
	}
	return sortedRelationships(found), nil
}

// relationshipsOfObjects is Tx.relationshipsOfObjects for a dry run: the store's
// (without row locks) as the earlier batches left them.
func (o *objectOverlay) relationshipsOfObjects(ctx context.Context, t *Tx, keys []objects.Key) ([]objects.Relationship, error) {
	stored, err := t.relationshipsOfObjects(ctx, keys, "")
	if err != nil {
		return nil, err
	}
	found := map[objects.RelationshipKey]objects.Relationship{}
	for _, r := range stored {
		if _, ok := o.rels[r.Key()]; !ok {
			found[r.Key()] = r
		}
	}
	want := make(map[objects.Key]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	for k, r := range o.rels {
		if r != nil && want[objects.Key{Type: k.ObjectType, ID: k.ObjectID}] {
			found[k] = cloneRelationship(*r)
		}
	}
	return sortedRelationships(found), nil
}

// erase is eraseRelationships for a dry run: the people's relationships are gone for
// the later batches.
func (o *objectOverlay) erase(ctx context.Context, t *Tx, cioIDs []string) error {
	rs, err := o.relationshipsOf(ctx, t, cioIDs)
	if err != nil {
		return err
	}
	for _, r := range rs {
		o.rels[r.Key()] = nil
	}
	return nil
}

func cloneRelationship(r objects.Relationship) objects.Relationship {
	r.Attributes = cloneAttributes(r.Attributes)
	return r
}

func sortedRelationships(m map[objects.RelationshipKey]objects.Relationship) []objects.Relationship {
	out := make([]objects.Relationship, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.CioID != b.CioID {
			return a.CioID < b.CioID
		}
		if a.ObjectType != b.ObjectType {
			return a.ObjectType < b.ObjectType
		}
		return a.ObjectID < b.ObjectID
	})
	return out
}
