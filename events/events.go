// Package events holds the events a sync of kind events stores (SPEC §9): purchases,
// logins, page views from the customer's own tables, each for one person. It has no
// SQL: a store says which events a batch names are stored already and writes the new
// ones, as identity does for people.
package events

import (
	"context"
	"encoding/json"
)

// Limits (SPEC §9).
const (
	MaxNameBytes = 100
	MaxDataBytes = 100_000
)

// Event is an event as the store holds it. Each (Sync, ID) is stored once.
type Event struct {
	Sync      string
	ID        string // the event's id: its id column (default the watermark key) as text
	CioID     string // the person it happened to
	Name      string
	Timestamp int64           // Unix seconds
	Data      json.RawMessage // a JSON object, canonical JSON text
}

// Loader says which of a batch's event ids a sync has stored already. A store's
// transaction is one.
type Loader interface {
	StoredEvents(ctx context.Context, sync string, ids []string) (map[string]bool, error)
}
