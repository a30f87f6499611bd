package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/store"
)

// validateCmd: dbsync validate -c FILE [--connect]
func validateCmd(ctx context.Context, e *env, args []string) error {
	fs, path := e.flags("validate", "-c FILE [--connect]")
	connect := fs.Bool("connect", false, "also connect to each source and to the store")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	if err := store.CheckDSN(cfg.Store.Driver, cfg.Store.DSN); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: config is valid (%d syncs)\n", cfg.Path, len(cfg.Syncs))
	if !*connect {
		return nil
	}
	failed := 0
	report := func(what string, err error, detail string) {
		if err != nil {
			failed++
			fmt.Fprintf(e.stdout, "  %-24s FAILED: %v\n", what, err)
			return
		}
		fmt.Fprintf(e.stdout, "  %-24s ok%s\n", what, detail)
	}

	st, err := store.OpenExisting(ctx, cfg.Store.Driver, cfg.Store.DSN)
	switch {
	case errors.Is(err, store.ErrNoStore):
		report("store", nil, " (not created yet: the first run creates it)")
	case err != nil:
		report("store", err, "")
	default:
		report("store", nil, "")
		st.Close()
	}
	for _, s := range cfg.Syncs {
		src, err := connectors.Open(ctx, s.Spec())
		if err != nil {
			report("sync "+s.Name, err, "")
			continue
		}
		detail := ""
		if c, ok := src.(connectors.Checker); ok {
			var msg string
			if msg, err = c.Check(ctx); err == nil {
				detail = ": " + msg
			}
		}
		src.Close()
		report("sync "+s.Name, err, detail)
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d connection check(s) failed", failed)}
	}
	return nil
}
