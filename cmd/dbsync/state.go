package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

// stateCmd: dbsync state show -c FILE | dbsync state reset -c FILE --sync NAME
func stateCmd(ctx context.Context, e *env, args []string) error {
	sub, err := e.subcommand("state", []string{"show", "reset"}, args)
	if err != nil {
		return err
	}
	if sub == "reset" {
		return stateReset(ctx, e, args[1:])
	}
	fs, path := e.flags("state show", "-c FILE [--json]")
	asJSON := fs.Bool("json", false, "one JSON object a line, even on a terminal")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	out := newRowWriter(e, *asJSON, "SYNC", "CURSOR", "LAST SUCCESS", "LAST RUN", "STATUS", "ROWS")
	st, err := store.OpenExisting(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if errors.Is(err, store.ErrNoStore) {
		for _, s := range cfg.Syncs {
			out.write(stateOut{Sync: s.Name}, s.Name, "(start)", "never", "", "", "")
		}
		return out.flush()
	}
	if err != nil {
		return err
	}
	defer st.Close()
	for _, s := range cfg.Syncs {
		w, err := st.Watermark(ctx, s.Name)
		if err != nil {
			return err
		}
		c, err := state.DecodeCursor(w.Cursor)
		if err != nil {
			return err
		}
		v := stateOut{Sync: s.Name, Cursor: state.FormatCursor(c), LastSyncTime: w.LastSyncTime}
		runs, err := st.Runs(ctx, s.Name, 1)
		if err != nil {
			return err
		}
		lastSuccess, lastRun, status, rows := "never", "", "", ""
		if w.LastSyncTime > 0 {
			lastSuccess = unixTime(w.LastSyncTime)
		}
		if len(runs) > 0 {
			r := runs[0]
			last := newRunOut(r)
			last.Sync = "" // the line's sync already
			v.LastRun = &last
			lastRun, status, rows = v.LastRun.Started, r.Status, fmt.Sprint(r.RowsRead)
		}
		if err := out.write(v, s.Name, v.Cursor, lastSuccess, lastRun, status, rows); err != nil {
			return err
		}
	}
	return out.flush()
}

type stateOut struct {
	Sync         string  `json:"sync"`
	Cursor       string  `json:"cursor"`
	LastSyncTime int64   `json:"last_sync_time"`
	LastRun      *runOut `json:"last_run,omitempty"`
}

// stateReset forgets a sync's cursor so its next run reads every row again. It takes
// the sync's lease, so it never races a running sync.
func stateReset(ctx context.Context, e *env, args []string) error {
	fs, path := e.flags("state reset", "-c FILE --sync NAME")
	name := fs.String("sync", "", "the sync to start over (required)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	if *name == "" {
		fs.Usage()
		return usageError("--sync NAME is required")
	}
	if _, err := pick(cfg, []string{*name}); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	lease, err := state.Acquire(ctx, st, state.SyncLease(*name), state.Holder(), e.logger())
	if errors.Is(err, state.ErrAlreadyRunning) {
		return &exitError{code: exitFailed, err: fmt.Errorf("sync %s is running; reset it when the run has finished", *name)}
	}
	if err != nil {
		return err
	}
	defer lease.Release(ctx)
	if _, err := st.ResetWatermark(ctx, *name); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: cursor reset; the next run reads every row again\n", *name)
	return nil
}
