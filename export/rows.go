package export

import (
	"strconv"

	"github.com/dbsync/dbsync/identity"
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
