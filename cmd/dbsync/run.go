package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

// runCmd: dbsync run -c FILE [--sync NAME]... [--dry-run]
func runCmd(ctx context.Context, e *env, args []string) error {
	fs, path := e.flags("run", "-c FILE [--sync NAME]... [--dry-run] [--json]")
	var names multiFlag
	fs.Var(&names, "sync", "run only this sync (repeatable)")
	dryRun := fs.Bool("dry-run", false, "read and apply as a run would, writing nothing (the store is only read)")
	asJSON := fs.Bool("json", false, "one JSON object a line per sync, even on a terminal")
	fs.hint = " (name a sync with --sync NAME)"
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	syncs, err := pick(cfg, names)
	if err != nil {
		return err
	}
	open := openStore
	if *dryRun {
		open = dryStore
	}
	st, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	eng := e.engine(cfg, st)
	failed := 0
	for _, s := range syncs {
		if ctx.Err() != nil {
			break
		}
		res := eng.Run(ctx, s, engine.Options{DryRun: *dryRun})
		if *asJSON || !e.terminal {
			if err := writeJSON(e.stdout, newRunResult(res)); err != nil {
				return err
			}
		} else {
			res.WriteSummary(e.stdout)
		}
		// Stopped by SIGTERM after committing its batch is not a failure: the next
		// run goes on from the cursor (a CronJob's pod being stopped exits 0).
		if res.Status == store.RunFailed && !errors.Is(res.Err, engine.ErrInterrupted) {
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d syncs failed", failed, len(syncs))}
	}
	return nil
}

// runResult is one sync's run as run prints it off a terminal (or with --json): the
// counts runs shows.
type runResult struct {
	Sync       string `json:"sync"`
	Status     string `json:"status"`
	DryRun     bool   `json:"dry_run,omitempty"`
	RowsRead   int64  `json:"rows_read"`
	Created    int64  `json:"created"`
	Updated    int64  `json:"updated"`
	Unchanged  int64  `json:"unchanged"`
	Rejected   int64  `json:"rejected"` // rejected and skipped rows, as runs
	Skipped    int64  `json:"skipped"`
	Deleted    int64  `json:"deleted"`
	Suppressed int64  `json:"suppressed"`
	// Rejected and skipped rows by reason (not_found, suppressed, no_identifier, ...),
	// as the summary and dbsync_rows_rejected_total{reason} give them.
	RejectedBy      map[string]int64 `json:"rejected_by,omitempty"`
	FailedChanges   int64            `json:"failed_changes"`
	CursorBefore    string           `json:"cursor_before"`
	CursorAfter     string           `json:"cursor_after"`
	DurationSeconds float64          `json:"duration_seconds"`
	Reason          string           `json:"reason,omitempty"`
}

func newRunResult(r *engine.Result) runResult {
	v := runResult{Sync: r.Sync, Status: r.Status, DryRun: r.DryRun, RowsRead: r.RowsRead, Created: r.Created,
		Updated: r.Updated, Unchanged: r.Unchanged, Rejected: r.Rejected + r.Skipped, FailedChanges: r.FailedChanges,
		Skipped: r.Skipped, Deleted: r.Deleted, Suppressed: r.Suppressed, DurationSeconds: r.Ended.Sub(r.Started).Seconds()}
	// As `runs` prints them: "" for no cursor yet.
	if r.CursorBefore != nil {
		v.CursorBefore = state.FormatCursor(r.CursorBefore)
	}
	if r.CursorAfter != nil {
		v.CursorAfter = state.FormatCursor(r.CursorAfter)
	}
	if r.Status == store.RunFailed && r.Err != nil {
		v.Reason = r.Err.Error()
	}
	if len(r.RejectedBy) > 0 {
		v.RejectedBy = r.RejectedBy
	}
	return v
}

// pick returns the syncs named by --sync, in the order given, or all of them.
func pick(cfg *config.Config, names []string) ([]config.Sync, error) {
	if len(names) == 0 {
		return cfg.Syncs, nil
	}
	var out []config.Sync
	for _, n := range names {
		found := false
		for _, s := range cfg.Syncs {
			if s.Name == n {
				out = append(out, s)
				found = true
				break
			}
		}
		if !found {
			return nil, usageError("--sync %s: no sync of that name in %s", n, cfg.Path)
		}
	}
	return out, nil
}

func (e *env) engine(cfg *config.Config, st *store.Store) *engine.Engine {
	log := e.logger()
	return &engine.Engine{
		Store:    st,
		Settings: cfg.Workspace.Settings(),
		Log:      log,
		Progress: &engine.Progress{W: e.stderr, Live: e.errTerminal, Every: 5 * time.Second, Log: log},
	}
}
