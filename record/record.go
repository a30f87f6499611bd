// Package record holds what happens to one source row on its way through the engine:
// the row as mapping made it, and what became of it. One Record is made per row where
// the row is read; mapping fills in the row, a kind's planner its outcome and changes,
// and the store writes the rejected rows and the change log from the records. Nothing
// re-joins a row to its outcome by index or by key.
package record

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
)

// Record is one source row and what became of it.
type Record struct {
	Key string // the row's cursor key, printable; recorded with a rejection and in the change log

	// What mapping made of the row. Empty strings mean "no value".
	CioID    string // with or without the cio_ prefix
	ID       string
	Email    string
	Attrs    []Attr
	ObjectID string // objects and relationships (SPEC §8)
	Remove   bool   // relationships: the row removes the relationship
	Delete   bool   // people and objects (SPEC §10): the row deletes what it finds
	Suppress bool   // people (SPEC §10): the row suppresses the person it finds

	// Events (SPEC §9). The event's data are in Data, not Attrs.
	EventID      string          // the id column's value as text
	EventName    string          // the fixed name or the name column's text
	Timestamp    int64           // Unix seconds, when HasTimestamp
	HasTimestamp bool            // false: the timestamp column was NULL
	Data         json.RawMessage // a JSON object, canonical: keys sorted, NULLs left out

	// A sync with a lookback (SPEC §3) remembers the rows it applied, so that a
	// re-read row that did not change writes nothing (engine/lookback.go). Set where
	// the row is read, for the rows mapping did not refuse; nil and 0 otherwise.
	Digest []byte // Sum of the row and its cursor
	At     int64  // the row's watermark column, Unix microseconds (a wall clock read as UTC)

	Outcome
}

// Outcome is what became of a record. Mapping sets it only to refuse a row; a kind's
// planner decides it for the rest, and decides it afresh when it plans a batch again.
type Outcome struct {
	Result  Result
	Reason  string   // for Rejected and Skipped
	Detail  string   // names the field, limit or value
	Person  string   // the cio_id of the person the row resolved to, if any
	Changes []Change // the row's change log entries, failed attribute changes included
	// Reread: a lookback read the row again and it did not change, so it was not
	// applied again (SPEC §3). Result is Unchanged, or the Rejected or Skipped it had.
	Reread bool
}

// Reject refuses the row: nothing of it is applied.
func (r *Record) Reject(reason, detail string) {
	r.Outcome = Outcome{Result: Rejected, Reason: reason, Detail: detail}
}

// Skip passes over the row without applying it (cio_id_not_found).
func (r *Record) Skip(reason, detail string) {
	r.Outcome = Outcome{Result: Skipped, Reason: reason, Detail: detail}
}

// Refused reports whether the row is not applied: rejected or skipped.
func (r *Record) Refused() bool { return r.Result == Rejected || r.Result == Skipped }

// Sum is the SHA-256 of what decides the row's outcome: the row as mapping made it
// (every field above, up to Digest) and cursor, the row's (column, key) as the store
// encodes it. Two reads of a row that did not change sum alike; a change to a value
// the sync uses, to its watermark column or to the mapping sums differently. Each
// field is written with its length, so no two rows run together alike. A field added
// to Record must be added here.
func (r *Record) Sum(cursor string) []byte {
	b := make([]byte, 0, 256)
	text := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	raw := func(v []byte) { // nil (no value) is not the empty text
		if v == nil {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		text(string(v))
	}
	flag := func(v bool) {
		if v {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	text("record v1") // another encoding: another version, so no old digest matches
	text(cursor)
	text(r.Key)
	text(r.CioID)
	text(r.ID)
	text(r.Email)
	b = binary.AppendUvarint(b, uint64(len(r.Attrs)))
	for _, a := range r.Attrs {
		text(a.Name)
		raw(a.Value)
	}
	text(r.ObjectID)
	flag(r.Remove)
	flag(r.Delete)
	flag(r.Suppress)
	text(r.EventID)
	text(r.EventName)
	b = binary.AppendVarint(b, r.Timestamp)
	flag(r.HasTimestamp)
	raw(r.Data)
	sum := sha256.Sum256(b)
	return sum[:]
}

// Attr is one attribute of a row. Value is canonical JSON text; a nil Value removes
// the attribute (a NULL under `nulls: unset`).
type Attr struct {
	Name  string
	Value json.RawMessage
}

// Result is what happened to one row.
type Result int

const (
	Unchanged Result = iota
	Created
	Updated
	Rejected
	Skipped
	Deleted    // a person or object deleted (SPEC §10)
	Suppressed // a person deleted and their identifiers suppressed (SPEC §10)
)

func (r Result) String() string {
	switch r {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Rejected:
		return "rejected"
	case Skipped:
		return "skipped"
	case Deleted:
		return "deleted"
	case Suppressed:
		return "suppressed"
	default:
		return "unchanged"
	}
}

// Change is one entry of the change log.
type Change struct {
	Time   int64 // Unix seconds
	Sync   string
	RowKey string
	CioID  string // the person it happened to
	// The object it happened to, for an objects row (SPEC §8); then CioID is empty
	// and Kind is ObjectCreate or AttributeChange.
	ObjectType string
	ObjectID   string
	Kind       string // ProfileCreate, AttributeChange, FailedAttributeChange, ProfileMerge or ObjectCreate
	Attribute  string
	From       json.RawMessage // nil: no value
	To         json.RawMessage
	Reason     string // of a failed attribute change
}

// Kinds of change log entries.
const (
	ProfileCreate         = "profile_create"
	AttributeChange       = "attribute_change"
	FailedAttributeChange = "failed_attribute_change"
	ProfileMerge          = "profile_merge"
	ObjectCreate          = "object_create"      // objects.KindObjectCreate
	ProfileDelete         = "profile_delete"     // SPEC §10: the last entry of a deleted person's log
	ProfileSuppress       = "profile_suppress"   // a suppression: the person is deleted, id and email kept
	ProfileUnsuppress     = "profile_unsuppress" // an operator released a suppression
	ObjectDelete          = "object_delete"
)
