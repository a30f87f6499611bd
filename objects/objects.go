// Package objects holds the types of objects (accounts, companies, courses: groups
// with attributes of their own) and of the relationships between people and objects
// (SPEC §8). It has no SQL: a store loads the objects and relationships a batch
// names and writes back what a planner decided, as identity does for people.
package objects

import (
	"context"
	"encoding/json"
)

// Limits (SPEC §8).
const (
	MaxTypeBytes = 100
	MaxIDBytes   = 150
)

// Kinds of object change log entries; attribute changes use the people's kind name,
// so `attribute_change` means one thing in every log.
const (
	KindObjectCreate    = "object_create"
	KindAttributeChange = "attribute_change"
	KindObjectDelete    = "object_delete"
)

// Key names one object. Both parts are case-sensitive: Acme and acme are two objects.
type Key struct {
	Type string
	ID   string
}

// Object is an object as the store holds it. Attribute values are canonical JSON text.
type Object struct {
	Type       string
	ID         string
	Attributes map[string]json.RawMessage
	CreatedAt  int64 // Unix seconds
	UpdatedAt  int64
	Deleted    bool // deleted by an objects sync (SPEC §10); finds nothing
}

// Key is the object's key.
func (o *Object) Key() Key { return Key{o.Type, o.ID} }

// Write is one object to store in its final state after a batch.
type Write struct {
	Object *Object
	Insert bool // the object is new in this batch
}

// Change is one entry of an object's change log.
type Change struct {
	Time       int64 // Unix seconds
	Sync       string
	RowKey     string
	ObjectType string
	ObjectID   string
	Kind       string
	Attribute  string
	From       json.RawMessage // nil: no value
	To         json.RawMessage
	Reason     string
}

// RelationshipKey names one relationship: one per person and object.
type RelationshipKey struct {
	CioID      string
	ObjectType string
	ObjectID   string
}

// Relationship is a relationship between a person and an object as the store holds
// it. A removed one is kept as a tombstone, so an export can say it was deleted.
type Relationship struct {
	CioID      string
	ObjectType string
	ObjectID   string
	Attributes map[string]json.RawMessage
	CreatedAt  int64
	UpdatedAt  int64
	Removed    bool
}

// Key is the relationship's key.
func (r *Relationship) Key() RelationshipKey {
	return RelationshipKey{r.CioID, r.ObjectType, r.ObjectID}
}

// RelationshipWrite is one relationship to store in its final state after a batch.
type RelationshipWrite struct {
	Relationship *Relationship
	Insert       bool // new in this batch: no row, not even a tombstone, exists
}

// Loader loads what a batch of objects or relationships rows names: the stored
// objects and relationships (deleted objects and removed relationships included), so
// a planner can tell new from changed from unchanged. A store's transaction is one.
type Loader interface {
	LoadObjects(ctx context.Context, keys []Key) ([]Object, error)
	LoadRelationships(ctx context.Context, keys []RelationshipKey) ([]Relationship, error)
}
