package main

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/internal/columns"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/value"
)

// validateCmd: dbsync validate -c FILE [--connect]
func validateCmd(ctx context.Context, e *env, args []string) error {
	fs, path := e.flags("validate", "-c FILE [--connect]")
	connect := fs.Bool("connect", false, "also connect to each source and to the store")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fs.storeOnly = !*connect
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
	missing := 0
	for i, s := range cfg.Syncs {
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
		var problems, notes []string
		if err == nil {
			problems, notes, err = checkColumns(ctx, src, i, s)
		}
		src.Close()
		if err == nil && len(problems) > 0 {
			missing += len(problems)
			fmt.Fprintf(e.stdout, "  %-24s INVALID\n", "sync "+s.Name)
			for _, p := range problems {
				fmt.Fprintf(e.stdout, "    %s\n", p)
			}
		} else {
			report("sync "+s.Name, err, detail)
		}
		for _, n := range notes {
			fmt.Fprintf(e.stdout, "    %s\n", n)
		}
	}
	switch {
	case failed > 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%d connection check(s) failed", failed)}
	case missing > 0:
		return &exitError{code: exitUsage, err: fmt.Errorf("%d column(s) the config names are not selected by the source", missing)}
	}
	return nil
}

// checkColumns checks that the sync's table or query selects every column the
// config names (watermark, identifiers, attributes), by SPEC §3's rule, and notes
// a watermark key without a unique index of its own.
func checkColumns(ctx context.Context, src connectors.Source, i int, s config.Sync) (problems, notes []string, err error) {
	d, ok := src.(connectors.Describer)
	if !ok {
		return nil, nil, nil
	}
	cols, err := d.Describe(ctx)
	if err != nil {
		return nil, nil, err
	}
	p := fmt.Sprintf("syncs[%d]", i)
	type field struct{ path, column string }
	var fields []field
	if wm := s.Watermark; wm != nil {
		fields = append(fields, field{p + ".watermark.column", wm.Column}, field{p + ".watermark.key", wm.Key})
	}
	for _, f := range []field{{p + ".identifiers.id", s.Identifiers.ID}, {p + ".identifiers.email", s.Identifiers.Email},
		{p + ".identifiers.cio_id", s.Identifiers.CioID}} {
		if f.column != "" {
			fields = append(fields, f)
		}
	}
	names := make([]string, 0, len(s.Attributes))
	for name := range s.Attributes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fields = append(fields, field{p + ".attributes." + name, s.Attributes[name]})
	}
	keyColumn := ""
	for _, f := range fields {
		c, problem := matchColumn(cols, f.column)
		if problem != "" {
			problems = append(problems, fmt.Sprintf("%s: column %q %s", f.path, f.column, problem))
		}
		if s.Watermark != nil && f.path == p+".watermark.key" {
			keyColumn = c
		}
	}
	if keyColumn != "" {
		kc, ok := src.(connectors.KeyChecker)
		var unique bool
		if ok {
			unique, err = kc.UniqueIndexed(ctx, keyColumn)
		}
		switch {
		case !ok || errors.Is(err, connectors.ErrNoIndexCheck):
			notes = append(notes, fmt.Sprintf("note: %s.watermark.key: not checked for a unique index (a query: sync, or a source that cannot tell)", p))
		case err != nil:
			return nil, nil, err
		case !unique:
			notes = append(notes, fmt.Sprintf("warning: %s.watermark.key: column %q has no unique index of its own; the key must be unique", p, keyColumn))
		}
	}
	return problems, notes, nil
}

// matchColumn finds name among cols by SPEC §3's rule (columns.Find, as a run does).
// It returns the column's name, or why none.
func matchColumn(cols []value.Column, name string) (string, string) {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	i, err := columns.Find(names, name)
	switch {
	case errors.Is(err, columns.ErrAmbiguous):
		return "", "matches more than one selected column ignoring case"
	case err != nil:
		return "", "is not selected by the source"
	}
	return names[i], ""
}
