package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

// exportCmd: dbsync export -c FILE --out DIR_OR_URL [--format parquet,csv,ndjson] [--full]
func exportCmd(ctx context.Context, e *env, args []string) error {
	fs, path := e.flags("export", "-c FILE --out DIR_OR_URL [--format parquet,csv,ndjson] [--full]")
	out := fs.String("out", "", "where the files go (required): a directory, file:///path, s3://bucket/prefix or gs://bucket/prefix;\n"+
		"an S3-compatible store: s3://bucket/prefix?endpoint=http://host:9000&use_path_style=true\n"+
		"(AWS credentials from the environment and ~/.aws; gs:// uses Application Default Credentials)")
	format := fs.String("format", export.DefaultFormat, "file formats, separated by commas: parquet, csv, ndjson")
	full := fs.Bool("full", false, "every person, object and relationship with all attributes, not only what changed since the last export")
	positional, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		fs.Usage()
		return usageError("export takes no arguments, got %q", positional[0])
	}
	formats, err := export.ParseFormats(*format)
	if err != nil {
		return usageError("--format: %v", err)
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return usageError("--out DIR_OR_URL is required")
	}
	// An unknown scheme is refused before the store or anything else is touched.
	dest, err := export.OpenOut(ctx, *out)
	if errors.Is(err, export.ErrBadOut) {
		return usageError("--out: %v", err)
	}
	if err != nil {
		return err
	}
	defer dest.Close()
	// Never create a SQLite store by exporting from a path with a typo.
	probe, err := store.OpenExisting(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		return err
	}
	probe.Close()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	res, err := export.Run(ctx, st, export.Options{Out: dest, Formats: formats, Full: *full, Log: e.logger()})
	if errors.Is(err, state.ErrAlreadyRunning) {
		fmt.Fprintln(e.stdout, "export: skipped: already running")
		return nil
	}
	if err != nil {
		return err
	}
	m := res.Manifest
	if e.terminal {
		fmt.Fprintf(e.stdout, "export %d: %d people, %d attribute rows, %d objects, %d object attribute rows, %d relationships: %s\n",
			m.Export, m.People, m.Attributes, m.Objects, m.ObjectAttributes, m.Relationships, res.Path)
		return nil
	}
	return writeJSON(e.stdout, struct {
		Export           int64  `json:"export"`
		Full             bool   `json:"full"`
		People           int64  `json:"people"`
		Attributes       int64  `json:"attributes"`
		Objects          int64  `json:"objects"`
		ObjectAttributes int64  `json:"object_attributes"`
		Relationships    int64  `json:"relationships"`
		Manifest         string `json:"manifest"`
		Recovered        int64  `json:"recovered,omitempty"`
	}{m.Export, m.Full, m.People, m.Attributes, m.Objects, m.ObjectAttributes, m.Relationships, res.Path, res.Recovered})
}
