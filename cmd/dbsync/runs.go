package main

import (
	"context"
	"fmt"
	"time"

	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

type runOut struct {
	Sync         string `json:"sync,omitempty"`
	Started      string `json:"start"`
	Ended        string `json:"end,omitempty"`
	Status       string `json:"status"`
	RowsRead     int64  `json:"rows_read"`
	Created      int64  `json:"created"`
	Updated      int64  `json:"updated"`
	Unchanged    int64  `json:"unchanged"`
	Rejected     int64  `json:"rejected"`   // rejected and skipped rows
	Skipped      int64  `json:"skipped"`    // of those, the skipped ones (cio_id_not_found, not_found, suppressed)
	Deleted      int64  `json:"deleted"`    // people or objects deleted (SPEC §10)
	Suppressed   int64  `json:"suppressed"` // people suppressed
	CursorBefore string `json:"cursor_before,omitempty"`
	CursorAfter  string `json:"cursor_after,omitempty"`
	Reason       string `json:"reason,omitempty"` // why a failed run failed (SPEC §5)
}

// runsCmd: dbsync runs -c FILE [--sync NAME] [--limit N]
func runsCmd(ctx context.Context, e *env, args []string) error {
	fs, path := e.flags("runs", "-c FILE [--sync NAME] [--limit N]")
	name := fs.String("sync", "", "only this sync's runs")
	limit := fs.Int("limit", 20, "newest runs to show")
	asJSON := fs.Bool("json", false, "one JSON object a line, even on a terminal")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	st, err := readStore(ctx, cfg)
	if err != nil || st == nil {
		return err
	}
	defer st.Close()
	runs, err := st.Runs(ctx, *name, *limit)
	if err != nil {
		return err
	}
	out := newRowWriter(e, *asJSON, "SYNC", "START", "END", "STATUS", "READ", "CREATED", "UPDATED", "UNCHANGED", "REJECTED", "SKIPPED", "DELETED", "SUPPRESSED",
		"CURSOR BEFORE", "CURSOR AFTER")
	for _, r := range runs {
		v := newRunOut(r)
		err := out.write(v, v.Sync, v.Started, v.Ended, v.Status, fmt.Sprint(v.RowsRead), fmt.Sprint(v.Created),
			fmt.Sprint(v.Updated), fmt.Sprint(v.Unchanged), fmt.Sprint(v.Rejected), fmt.Sprint(v.Skipped), fmt.Sprint(v.Deleted),
			fmt.Sprint(v.Suppressed), v.CursorBefore, v.CursorAfter)
		if err != nil {
			return err
		}
	}
	return out.flush()
}

// newRunOut is a run as runs and state show print it.
func newRunOut(r store.Run) runOut {
	v := runOut{Sync: r.Sync, Started: r.Started.Format(time.RFC3339), Status: r.Status, RowsRead: r.RowsRead,
		Created: r.Created, Updated: r.Updated, Unchanged: r.Unchanged, Rejected: r.Rejected + r.Skipped,
		Skipped: r.Skipped, Deleted: r.Deleted, Suppressed: r.Suppressed,
		CursorBefore: showCursor(r.CursorBefore), CursorAfter: showCursor(r.CursorAfter), Reason: r.Error}
	if !r.Ended.IsZero() {
		v.Ended = r.Ended.Format(time.RFC3339)
	}
	return v
}

// showCursor shows a stored cursor as a person reads it.
func showCursor(stored string) string {
	if stored == "" {
		return ""
	}
	c, err := state.DecodeCursor(stored)
	if err != nil {
		return stored
	}
	return state.FormatCursor(c)
}
