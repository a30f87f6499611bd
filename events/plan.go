package events

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
)

// Reasons an events row is rejected (SPEC §9), besides the identity rules' own
// (no_identifier, cio_id_not_found) and mapping's invalid_value.
const (
	ReasonInvalidEventName = "invalid_event_name" // empty, blank or over MaxNameBytes
	ReasonEventTooLarge    = "event_too_large"    // data over MaxDataBytes
	ReasonNoEventID        = "no_event_id"        // the id column is NULL or empty
	ReasonEventIDTooLong   = "event_id_too_long"  // over MaxIDBytes
	ReasonNoTimestamp      = "no_event_timestamp" // the timestamp column is NULL
)

// MaxIDBytes is the longest event id, as the longest person and object id (SPEC §2,
// §8): a longer one is refused rather than left for the store's index to fail the
// batch on.
const MaxIDBytes = 150

// PlanLoader loads what an events batch names: its people and which of its events
// are stored. A store's transaction is one.
type PlanLoader interface {
	identity.Loader
	Loader
}

// Planner plans the rows of an events sync (SPEC §9): each row's event is stored once
// per (sync, event id), for the person the row finds (identity.Planner.Resolve: found,
// or created, never changed).
type Planner struct {
	People *identity.Planner // resolves each row's person; its clock is the batch's
}

// Plan is what a planned events batch writes.
type Plan struct {
	People []identity.Write // the people the batch created, with their profile_create in the records
	Events []Event          // the new events, in the rows' order
}

// Plan plans a batch of event rows as if they were applied one at a time in order
// (SPEC §1 rule 6) and fills in each record's outcome. A record already refused is
// passed over. A row whose event is stored already, or is the event of an earlier row
// of the batch that stores it, is Unchanged and does nothing at all: its person is not
// looked for, so a changed row of a stored event creates no one. Any other row is
// Created, for the person it finds; a person created for it shows in its Changes
// (profile_create). Plan asks which events are stored with one call, loads the
// people with one (two when the batch repeats an event id), and writes nothing.
func (pl *Planner) Plan(ctx context.Context, l PlanLoader, sync string, recs []*record.Record) (*Plan, error) {
	now := time.Now()
	if pl.People.Now != nil {
		now = pl.People.Now()
	}
	people := *pl.People
	people.Now = func() time.Time { return now }

	// What needs no store first, so that a rejected row creates no one.
	ids := make([]string, 0, len(recs))
	seen := make(map[string]int, len(recs)) // event id -> rows of the batch that name it
	for _, rec := range recs {
		if rec.Refused() {
			continue
		}
		if reason, detail := check(rec); reason != "" {
			rec.Reject(reason, detail)
			continue
		}
		if seen[rec.EventID] == 0 {
			ids = append(ids, rec.EventID)
		}
		seen[rec.EventID]++
	}
	stored, err := l.StoredEvents(ctx, sync, ids)
	if err != nil {
		return nil, fmt.Errorf("find the stored events: %w", err)
	}

	// The rows that are not stored yet find their people; of the rows that share an
	// event id, only those up to the first that stores it.
	var repeated []*record.Record
	for _, rec := range recs {
		if !rec.Refused() && !stored[rec.EventID] && seen[rec.EventID] > 1 {
			repeated = append(repeated, rec)
		}
	}
	fails, err := refusedByPeople(ctx, people, l, sync, repeated)
	if err != nil {
		return nil, err
	}
	todo := make([]*record.Record, 0, len(recs))
	taken := make(map[string]bool, len(repeated))
	for _, rec := range recs {
		switch {
		case rec.Refused():
		case stored[rec.EventID] || taken[rec.EventID]:
			rec.Outcome = record.Outcome{Result: record.Unchanged}
		default:
			if seen[rec.EventID] > 1 && !fails[rec] {
				taken[rec.EventID] = true
			}
			todo = append(todo, rec)
		}
	}

	plan := &Plan{}
	if plan.People, err = people.Resolve(ctx, l, sync, todo); err != nil {
		return nil, fmt.Errorf("find the events' people: %w", err)
	}
	for _, rec := range todo {
		if rec.Refused() {
			continue
		}
		rec.Result = record.Created
		plan.Events = append(plan.Events, Event{Sync: sync, ID: rec.EventID, CioID: rec.Person,
			Name: rec.EventName, Timestamp: rec.Timestamp, Data: rec.Data})
	}
	return plan, nil
}

// check refuses an event that no person or store could make valid.
func check(rec *record.Record) (reason, detail string) {
	switch n := len(rec.EventName); {
	case strings.TrimSpace(rec.EventName) == "":
		return ReasonInvalidEventName, "the event name is empty"
	case n > MaxNameBytes:
		return ReasonInvalidEventName, fmt.Sprintf("the event name is %d bytes (> %d)", n, MaxNameBytes)
	}
	if n := len(rec.Data); n > MaxDataBytes {
		return ReasonEventTooLarge, fmt.Sprintf("the event's data is %d bytes (> %d)", n, MaxDataBytes)
	}
	switch n := len(rec.EventID); {
	case n == 0:
		return ReasonNoEventID, "the event has no id"
	case n > MaxIDBytes:
		return ReasonEventIDTooLong, fmt.Sprintf("the event id is %d bytes (> %d)", n, MaxIDBytes)
	}
	if !rec.HasTimestamp {
		return ReasonNoTimestamp, "the event has no timestamp"
	}
	return "", ""
}

// refusedByPeople says which of recs the identity rules refuse (no_identifier,
// cio_id_not_found, …) by resolving copies of them, whose outcomes are thrown away.
// Whether a row is refused depends only on the row and the store, not on the rows
// before it (Resolve changes no one, and the people it creates have new cio_ids no
// row names), so the copies tell which row of a repeated event id is the first to
// store it.
func refusedByPeople(ctx context.Context, people identity.Planner, l identity.Loader, sync string, recs []*record.Record) (map[*record.Record]bool, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	copies := make([]*record.Record, len(recs))
	for i, rec := range recs {
		c := *rec
		copies[i] = &c
	}
	if _, err := people.Resolve(ctx, l, sync, copies); err != nil {
		return nil, fmt.Errorf("find the people of repeated events: %w", err)
	}
	fails := make(map[*record.Record]bool)
	for i, c := range copies {
		if c.Refused() {
			fails[recs[i]] = true
		}
	}
	return fails, nil
}
