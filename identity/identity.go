// Package identity holds the rules that decide which person a row belongs to and
// what it may change (SPEC §1 and §2). It has no SQL: a store loads the people a
// batch names, the rules fill in each row's record (package record), and the store
// writes back the people and the records.
package identity

import (
	"context"
	"encoding/json"
)

// Limits from the peer platform (SPEC §2). A row over a limit is rejected, never truncated.
const (
	MaxIDBytes            = 150
	MaxAttributeNameBytes = 150
	MaxValueBytes         = 1000
	MaxAttributes         = 300
)

// Reasons recorded for rejected rows, skipped rows and failed attribute changes.
// They are stable: metrics and users group by them.
const (
	// A row is rejected: nothing of it is applied.
	ReasonNoIdentifier          = "no_identifier"
	ReasonInvalidEmail          = "invalid_email" // also a failed change when the row has another identifier
	ReasonIDTooLong             = "id_too_long"
	ReasonAttributeNameTooLong  = "attribute_name_too_long"
	ReasonValueTooLong          = "value_too_long"
	ReasonTooManyAttributes     = "too_many_attributes"
	ReasonInvalidValue          = "invalid_value" // as mapping records a value it cannot convert
	ReasonInvalidAttributeName  = "invalid_attribute_name"
	ReasonDuplicateAttribute    = "duplicate_attribute"
	ReasonCioIDNotFound         = "cio_id_not_found" // skipped, not rejected
	ReasonNotFound              = "not_found"        // skipped: a delete or suppress row found no one (SPEC §10)
	ReasonSuppressed            = "suppressed"       // skipped: the row carries a suppressed id or email (SPEC §10)
	ReasonIDChangeNotAllowed    = "id_change_not_allowed"
	ReasonEmailChangeNotAllowed = "email_change_not_allowed"
	ReasonIDTaken               = "id_belongs_to_another_person"
	ReasonEmailTaken            = "email_belongs_to_another_person"
)

// Settings are the workspace settings (config `workspace:`).
type Settings struct {
	IDIdentifies         bool // `id` is in workspace.identifiers
	EmailIdentifies      bool // `email` is in workspace.identifiers
	AllowEmailUpdateByID bool
	MergeDuplicates      bool
}

// DefaultSettings identifies people by id and email, with both switches off.
func DefaultSettings() Settings {
	return Settings{IDIdentifies: true, EmailIdentifies: true}
}

// Identifiers names the identifying fields, as in the config: [id email], [id] or [email].
func (s Settings) Identifiers() []string {
	var out []string
	if s.IDIdentifies {
		out = append(out, "id")
	}
	if s.EmailIdentifies {
		out = append(out, "email")
	}
	return out
}

// Person is a person as the store holds them. Attribute values are canonical JSON text.
type Person struct {
	CioID      string
	ID         string
	Email      string
	Attributes map[string]json.RawMessage
	CreatedAt  int64 // Unix seconds
	UpdatedAt  int64
	MergedInto string // set when this cio_id was retired by a merge
	Deleted    bool
	Suppressed bool
}

// Keys are the identifiers a batch names: what a store must load before the rules run.
// Emails are lower-cased match keys.
type Keys struct {
	IDs    []string
	Emails []string
	CioIDs []string
}

// Loader loads the people that hold any of the keys (by id key, email key or cio_id),
// plus the people those merged into, so retired cio_ids can be followed.
//
// Suppressed returns those of keys.IDs and keys.Emails (folded) that a suppression
// holds (SPEC §10). A planner asks it after LoadPeople, once a batch: on PostgreSQL the
// people rows are locked by then, so a suppression committed by an operator racing the
// batch is seen together with the person it deleted.
type Loader interface {
	LoadPeople(ctx context.Context, keys Keys) ([]Person, error)
	Suppressed(ctx context.Context, keys Keys) (Keys, error)
}

// Write is one person to store in its final state after a batch.
type Write struct {
	Person   *Person
	IDKey    string // unique match key for id ("" when none or when id does not identify)
	EmailKey string // unique match key for email (lower-cased)
	Insert   bool   // the person is new in this batch
	// ClearKeys is set when a stored person's unique keys change in this batch. The
	// store clears them first, so an email moving between people never collides
	// with itself half way through the batch's writes.
	ClearKeys bool
	// Suppress holds the id and folded email a suppression keeps (SPEC §10), for a
	// person the batch suppressed (Person.Deleted and Person.Suppressed are then set).
	// A deleted person's Write carries no identifier or attribute: the store erases
	// what it holds of them.
	Suppress Keys
	// Forget holds the id and folded email a person deleted (or suppressed) in the
	// batch had, so the store also erases them where another person's log refused
	// them as that person's (failed_attribute_change on id or email).
	Forget Keys
}
