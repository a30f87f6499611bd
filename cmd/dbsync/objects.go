package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/store"
)

// objectsCmd: dbsync objects get -c FILE TYPE ID
func objectsCmd(ctx context.Context, e *env, args []string) error {
	sub, err := e.subcommand("objects", []string{"get"}, args)
	if err != nil {
		return err
	}
	fs, path := e.flags("objects "+sub, "-c FILE TYPE ID")
	fs.args = 2
	fs.Bool("json", false, "JSON (the only output; accepted as every record command does)")
	positional, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) != 2 {
		return usageError("objects get takes an object type and an object id: TYPE ID")
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	typ, id := positional[0], positional[1]
	notFound := &exitError{code: exitNotFound, err: fmt.Errorf("no %s object %q", typ, id)}
	st, err := store.OpenExisting(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if errors.Is(err, store.ErrNoStore) {
		return notFound
	}
	if err != nil {
		return err
	}
	defer st.Close()
	o, err := st.FindObject(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	return writeJSON(e.stdout, objectOut{o.Type, o.ID, o.Attributes, o.CreatedAt, o.UpdatedAt})
}

type objectOut struct {
	ObjectType string                     `json:"object_type"`
	ObjectID   string                     `json:"object_id"`
	Attributes map[string]json.RawMessage `json:"attributes"`
	CreatedAt  int64                      `json:"created_at"`
	UpdatedAt  int64                      `json:"updated_at"`
}

// personRelationships prints a person's live relationships, one JSON object a line
// (SPEC §5), in object order. A merge moved those of everyone merged into them.
func (e *env) personRelationships(ctx context.Context, st *store.Store, p *identity.Person) error {
	rs, err := st.PersonRelationships(ctx, p.CioID)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := writeJSON(e.stdout, relationshipJSON(r)); err != nil {
			return err
		}
	}
	return nil
}

func relationshipJSON(r objects.Relationship) objectOut {
	return objectOut{r.ObjectType, r.ObjectID, r.Attributes, r.CreatedAt, r.UpdatedAt}
}
