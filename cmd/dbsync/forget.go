package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/dbsync/dbsync/store"
)

// forgetCmd: dbsync people delete|suppress|unsuppress -c FILE IDENTIFIER, an
// operator's delete or suppression (SPEC §10). Delete and suppress find the person
// as `people get` does; unsuppress takes a suppressed id or email. No one (or no
// suppression) is exit 3, and a store not yet created is not created for it.
func forgetCmd(ctx context.Context, e *env, sub string, args []string) error {
	fs, path := e.flags("people "+sub, "-c FILE IDENTIFIER")
	fs.args = 1
	asJSON := fs.Bool("json", false, "print what happened as one JSON object")
	positional, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		what := "an id, an email or cio_<internal_customer_id>"
		if sub == "unsuppress" {
			what = "a suppressed id or email"
		}
		return usageError("people %s takes one IDENTIFIER: %s", sub, what)
	}
	identifier := positional[0]
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	notFound := &exitError{code: exitNotFound, err: fmt.Errorf("no one matches %q", identifier)}
	if sub == "unsuppress" {
		notFound.err = fmt.Errorf("no suppression holds %q", identifier)
	}
	// No one matching, in a store never created too, is said without writing to the
	// store (or creating it); the change itself looks again, in its transaction.
	st, err := store.OpenExisting(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if errors.Is(err, store.ErrNoStore) {
		return notFound
	}
	if err != nil {
		return err
	}
	if sub == "unsuppress" {
		_, err = st.SuppressedPerson(ctx, identifier)
	} else {
		_, err = st.FindPerson(ctx, cfg.Workspace.Settings(), identifier)
	}
	st.Close()
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	if st, err = openStore(ctx, cfg); err != nil {
		return err
	}
	defer st.Close()

	by := operator()
	var cio, done string
	switch sub {
	case "unsuppress":
		if cio, err = st.UnsuppressPerson(ctx, by, identifier); err == nil {
			done = "unsuppressed"
		}
	default:
		if cio, err = st.ForgetPerson(ctx, cfg.Workspace.Settings(), by, identifier, sub == "suppress"); err == nil {
			done = map[string]string{"delete": "deleted", "suppress": "suppressed"}[sub]
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	if *asJSON || !e.terminal {
		return writeJSON(e.stdout, forgetOut{Action: done, InternalCustomerID: cio, Sync: by})
	}
	switch done {
	case "deleted":
		fmt.Fprintf(e.stdout, "deleted cio_%s: their identifiers, attributes, relationships and events are erased\n", cio)
	case "suppressed":
		fmt.Fprintf(e.stdout, "suppressed cio_%s: deleted, and rows with their id or email are skipped until unsuppressed\n", cio)
	default:
		fmt.Fprintf(e.stdout, "unsuppressed the id and email of cio_%s: rows with them are applied again\n", cio)
	}
	return nil
}

type forgetOut struct {
	Action             string `json:"action"` // deleted, suppressed or unsuppressed
	InternalCustomerID string `json:"internal_customer_id"`
	Sync               string `json:"sync"` // as the change log records it
}

// operator is the sync an operator's change is logged under: operator:USER@HOST,
// with $USER when the user is unknown (a container's uid without a passwd entry)
// and "unknown" for what cannot be found out.
func operator() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return "operator:" + name + "@" + host
}
