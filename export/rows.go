package export

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/store"
)

// PersonRow is one row of a people file (SPEC §6). Times are Unix seconds; a nil
// pointer is NULL (an empty field in CSV).
type PersonRow struct {
	InternalCustomerID string  `parquet:"internal_customer_id" json:"internal_customer_id"`
	ExternalCustomerID *string `parquet:"external_customer_id,optional" json:"external_customer_id"`
	Email              *string `parquet:"email,optional" json:"email"`
	Deleted            bool    `parquet:"deleted" json:"deleted"`
	Suppressed         bool    `parquet:"suppressed" json:"suppressed"`
	CreatedAt          int64   `parquet:"created_at" json:"created_at"`
	UpdatedAt          int64   `parquet:"updated_at" json:"updated_at"`
	MergedInto         *string `parquet:"merged_into,optional" json:"merged_into"` // set for a retired id
}

// AttributeRow is one row of an attributes file (SPEC §6). AttributeValue is the
// value as JSON text, in every format; nil (NULL) means the attribute was removed.
// UpdatedAt is the person's updated_at.
type AttributeRow struct {
	InternalCustomerID string  `parquet:"internal_customer_id" json:"internal_customer_id"`
	AttributeName      string  `parquet:"attribute_name" json:"attribute_name"`
	AttributeValue     *string `parquet:"attribute_value,optional" json:"attribute_value"`
	UpdatedAt          int64   `parquet:"updated_at" json:"updated_at"`
}

var (
	personHeader    = []string{"internal_customer_id", "external_customer_id", "email", "deleted", "suppressed", "created_at", "updated_at", "merged_into"}
	attributeHeader = []string{"internal_customer_id", "attribute_name", "attribute_value", "updated_at"}
)

func personRow(p *identity.Person) PersonRow {
	return PersonRow{
		InternalCustomerID: p.CioID,
		ExternalCustomerID: optional(p.ID),
		Email:              optional(p.Email),
		Deleted:            p.Deleted,
		Suppressed:         p.Suppressed,
		CreatedAt:          p.CreatedAt,
		UpdatedAt:          p.UpdatedAt,
		MergedInto:         optional(p.MergedInto),
	}
}

func attributeRow(p *identity.Person, a store.ExportAttribute) AttributeRow {
	r := AttributeRow{InternalCustomerID: p.CioID, AttributeName: a.Name, UpdatedAt: p.UpdatedAt}
	if a.Value != nil {
		v := string(a.Value)
		r.AttributeValue = &v
	}
	return r
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// record is a row as CSV fields. No value the export writes is an empty string, so an
// empty field always means NULL (as PostgreSQL's COPY … CSV reads it).
type record interface {
	record(fields []string) []string
}

func (r PersonRow) record(f []string) []string {
	return append(f[:0], r.InternalCustomerID, deref(r.ExternalCustomerID), deref(r.Email),
		strconv.FormatBool(r.Deleted), strconv.FormatBool(r.Suppressed),
		strconv.FormatInt(r.CreatedAt, 10), strconv.FormatInt(r.UpdatedAt, 10), deref(r.MergedInto))
}

func (r AttributeRow) record(f []string) []string {
	return append(f[:0], r.InternalCustomerID, r.AttributeName, deref(r.AttributeValue), strconv.FormatInt(r.UpdatedAt, 10))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ObjectRow is one row of an objects file (SPEC §6). A deleted object is exported
// once more with Deleted set, so a warehouse can delete its copy by key.
type ObjectRow struct {
	ObjectType string `parquet:"object_type" json:"object_type"`
	ObjectID   string `parquet:"object_id" json:"object_id"`
	Deleted    bool   `parquet:"deleted" json:"deleted"`
	CreatedAt  int64  `parquet:"created_at" json:"created_at"`
	UpdatedAt  int64  `parquet:"updated_at" json:"updated_at"`
}

// ObjectAttributeRow is one row of an object_attributes file (SPEC §6), as
// AttributeRow is of a person's: the value as JSON text, nil (NULL) when the attribute
// was removed; UpdatedAt is the object's updated_at.
type ObjectAttributeRow struct {
	ObjectType     string  `parquet:"object_type" json:"object_type"`
	ObjectID       string  `parquet:"object_id" json:"object_id"`
	AttributeName  string  `parquet:"attribute_name" json:"attribute_name"`
	AttributeValue *string `parquet:"attribute_value,optional" json:"attribute_value"`
	UpdatedAt      int64   `parquet:"updated_at" json:"updated_at"`
}

// RelationshipRow is one row of a relationships file (SPEC §6). Attributes is the
// relationship's attributes as one JSON object, in text ({} for none); a removed
// relationship is exported with Deleted set and no attributes (NULL), as a deleted
// person carries only its key.
type RelationshipRow struct {
	InternalCustomerID string  `parquet:"internal_customer_id" json:"internal_customer_id"`
	ObjectType         string  `parquet:"object_type" json:"object_type"`
	ObjectID           string  `parquet:"object_id" json:"object_id"`
	Attributes         *string `parquet:"attributes,optional" json:"attributes"`
	Deleted            bool    `parquet:"deleted" json:"deleted"`
	CreatedAt          int64   `parquet:"created_at" json:"created_at"`
	UpdatedAt          int64   `parquet:"updated_at" json:"updated_at"`
}

var (
	objectHeader          = []string{"object_type", "object_id", "deleted", "created_at", "updated_at"}
	objectAttributeHeader = []string{"object_type", "object_id", "attribute_name", "attribute_value", "updated_at"}
	relationshipHeader    = []string{"internal_customer_id", "object_type", "object_id", "attributes", "deleted", "created_at", "updated_at"}
)

func objectRow(o *objects.Object) ObjectRow {
	return ObjectRow{ObjectType: o.Type, ObjectID: o.ID, Deleted: o.Deleted, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

func objectAttributeRow(o *objects.Object, a store.ExportAttribute) ObjectAttributeRow {
	r := ObjectAttributeRow{ObjectType: o.Type, ObjectID: o.ID, AttributeName: a.Name, UpdatedAt: o.UpdatedAt}
	if a.Value != nil {
		v := string(a.Value)
		r.AttributeValue = &v
	}
	return r
}

func relationshipRow(r *objects.Relationship) (RelationshipRow, error) {
	row := RelationshipRow{InternalCustomerID: r.CioID, ObjectType: r.ObjectType, ObjectID: r.ObjectID,
		Deleted: r.Removed, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.Removed {
		return row, nil
	}
	s, err := attributesJSON(r.Attributes)
	if err != nil {
		return row, fmt.Errorf("attributes of the relationship of %s with %s %s: %w", r.CioID, r.ObjectType, r.ObjectID, err)
	}
	row.Attributes = &s
	return row, nil
}

// attributesJSON is a map of attributes as one JSON object: keys sorted, the values
// as the store holds them (canonical JSON), nothing HTML-escaped, as attribute_value is.
func attributesJSON(attrs map[string]json.RawMessage) (string, error) {
	if len(attrs) == 0 {
		return "{}", nil
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(attrs); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func (r ObjectRow) record(f []string) []string {
	return append(f[:0], r.ObjectType, r.ObjectID, strconv.FormatBool(r.Deleted),
		strconv.FormatInt(r.CreatedAt, 10), strconv.FormatInt(r.UpdatedAt, 10))
}

func (r ObjectAttributeRow) record(f []string) []string {
	return append(f[:0], r.ObjectType, r.ObjectID, r.AttributeName, deref(r.AttributeValue), strconv.FormatInt(r.UpdatedAt, 10))
}

func (r RelationshipRow) record(f []string) []string {
	return append(f[:0], r.InternalCustomerID, r.ObjectType, r.ObjectID, deref(r.Attributes),
		strconv.FormatBool(r.Deleted), strconv.FormatInt(r.CreatedAt, 10), strconv.FormatInt(r.UpdatedAt, 10))
}
