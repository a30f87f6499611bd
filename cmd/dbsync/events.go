package main

import (
	"bufio"
	"context"
	"encoding/json"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/store"
)

type eventOut struct {
	EventID   string          `json:"event_id"`
	Sync      string          `json:"sync"`
	Name      string          `json:"name"`
	Timestamp int64           `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// personEvents prints a person's events newest first, one JSON object a line (SPEC
// §5), at most limit when limit > 0. It streams them from the store as it prints, so
// a person with millions of events costs no memory. A merge moved those of everyone
// merged into them.
func (e *env) personEvents(ctx context.Context, st *store.Store, p *identity.Person, limit int) error {
	w := bufio.NewWriter(e.stdout)
	err := st.PersonEvents(ctx, p.CioID, limit, func(ev events.Event) error {
		return writeJSON(w, eventOut{ev.ID, ev.Sync, ev.Name, ev.Timestamp, ev.Data})
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}
