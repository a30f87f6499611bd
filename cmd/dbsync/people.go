package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// peopleCmd: dbsync people get|log|relationships|events|delete|suppress|unsuppress -c FILE IDENTIFIER
func peopleCmd(ctx context.Context, e *env, args []string) error {
	sub, err := e.subcommand("people", []string{"get", "log", "relationships", "events", "delete", "suppress", "unsuppress"}, args)
	if err != nil {
		return err
	}
	switch sub {
	case "delete", "suppress", "unsuppress":
		return forgetCmd(ctx, e, sub, args[1:])
	}
	usage := "-c FILE IDENTIFIER"
	if sub == "events" {
		usage += " [--limit N]"
	}
	fs, path := e.flags("people "+sub, usage)
	fs.args = 1
	asJSON := fs.Bool("json", false, "one JSON object a line, even on a terminal (people log; get, relationships and events always print JSON)")
	limit := 0
	if sub == "events" {
		fs.Func("limit", "the newest N events only (default: all of them)", func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("want a whole number of at least 1, got %q", v)
			}
			limit = n
			return nil
		})
	}
	positional, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usageError("people %s takes one IDENTIFIER: an id, an email or cio_<internal_customer_id>", sub)
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	st, p, err := findPerson(ctx, cfg, positional[0])
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "get":
		return writeJSON(e.stdout, personJSON(p))
	case "relationships":
		return e.personRelationships(ctx, st, p)
	case "events":
		return e.personEvents(ctx, st, p, limit)
	}
	return e.personLog(ctx, st, p, *asJSON)
}

// findPerson opens the store without creating it and looks the identifier up; no
// one (an empty or not yet created store included) is exit 3.
func findPerson(ctx context.Context, cfg *config.Config, identifier string) (*store.Store, *identity.Person, error) {
	notFound := &exitError{code: exitNotFound, err: fmt.Errorf("no one matches %q", identifier)}
	st, err := store.OpenExisting(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if errors.Is(err, store.ErrNoStore) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := st.FindPerson(ctx, cfg.Workspace.Settings(), identifier)
	if errors.Is(err, store.ErrNotFound) {
		st.Close()
		return nil, nil, notFound
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, p, nil
}

type personOut struct {
	InternalCustomerID string                     `json:"internal_customer_id"`
	ID                 *string                    `json:"id"`
	Email              *string                    `json:"email"`
	Attributes         map[string]json.RawMessage `json:"attributes"`
	CreatedAt          int64                      `json:"created_at"`
	UpdatedAt          int64                      `json:"updated_at"`
}

func personJSON(p *identity.Person) personOut {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return personOut{
		InternalCustomerID: p.CioID, ID: opt(p.ID), Email: opt(p.Email), Attributes: p.Attributes,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

type changeOut struct {
	Time      int64           `json:"time"`
	Sync      string          `json:"sync"`
	Kind      string          `json:"kind"`
	Attribute string          `json:"attribute,omitempty"`
	From      json.RawMessage `json:"from,omitempty"`
	To        json.RawMessage `json:"to,omitempty"`
	Reason    string          `json:"reason,omitempty"`
}

// personLog prints a person's change log, oldest first, with the log of everyone
// merged into them.
func (e *env) personLog(ctx context.Context, st *store.Store, p *identity.Person, asJSON bool) error {
	ids, err := st.PersonHistory(ctx, p.CioID)
	if err != nil {
		return err
	}
	out := newRowWriter(e, asJSON, "TIME", "SYNC", "KIND", "ATTRIBUTE", "FROM", "TO", "REASON")
	err = st.EachChange(ctx, func(c record.Change) error {
		return out.write(changeOut{c.Time, c.Sync, c.Kind, c.Attribute, c.From, c.To, c.Reason},
			unixTime(c.Time), c.Sync, c.Kind, c.Attribute, string(c.From), string(c.To), c.Reason)
	}, ids...)
	if err != nil {
		return err
	}
	return out.flush()
}
