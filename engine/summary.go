package engine

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/state"
)

// WriteSummary prints a run's one-screen summary.
func (r *Result) WriteSummary(w io.Writer) {
	title := r.Sync
	if r.DryRun {
		title += " (dry run: nothing written)"
	}
	fmt.Fprintf(w, "%s: %s\n", title, r.Status)
	if r.Err != nil {
		fmt.Fprintf(w, "  error:           %v\n", r.Err)
	}
	if r.Status == "skipped: already running" {
		return
	}
	d := r.Ended.Sub(r.Started)
	rate := 0.0
	if d > 0 {
		rate = float64(r.RowsRead) / d.Seconds()
	}
	fmt.Fprintf(w, "  rows read:       %d\n", r.RowsRead)
	// The counts are of what the kind makes: people, objects, relationships, events.
	if r.Kind == config.KindEvents {
		// An event is stored once and never updated; a re-read one is unchanged.
		fmt.Fprintf(w, "  %s%d\n", label("events stored:"), r.Created)
	} else {
		fmt.Fprintf(w, "  %s%d\n", label(r.Kind.String()+" created:"), r.Created)
		fmt.Fprintf(w, "  %s%d\n", label(r.Kind.String()+" updated:"), r.Updated)
	}
	fmt.Fprintf(w, "  unchanged:       %d\n", r.Unchanged)
	fmt.Fprintf(w, "  rows rejected:   %d%s\n", r.Rejected+r.Skipped, byReason(r.RejectedBy))
	// Deletes (SPEC §10) only where they happened: most syncs never delete. The rows
	// skipped for finding no one (not_found, suppressed) are under rows rejected.
	if r.Deleted > 0 {
		fmt.Fprintf(w, "  %s%d\n", label(r.Kind.String()+" deleted:"), r.Deleted)
	}
	if r.Suppressed > 0 {
		fmt.Fprintf(w, "  %s%d\n", label(r.Kind.String()+" suppressed:"), r.Suppressed)
	}
	fmt.Fprintf(w, "  failed changes:  %d%s\n", r.FailedChanges, byReason(r.FailedBy))
	if r.NullCursorRows > 0 {
		fmt.Fprintf(w, "  not read:        %d rows with a NULL watermark column\n", r.NullCursorRows)
	}
	fmt.Fprintf(w, "  cursor:          %s -> %s\n", state.FormatCursor(r.CursorBefore), state.FormatCursor(r.CursorAfter))
	fmt.Fprintf(w, "  duration:        %s (%.0f rows/s)\n", d.Round(time.Millisecond), rate)
}

// label pads a summary line's label so that the values line up, as far as it can.
func label(s string) string {
	const width = 17
	if len(s) >= width {
		return s + " "
	}
	return s + strings.Repeat(" ", width-len(s))
}

func byReason(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	reasons := make([]string, 0, len(m))
	for k := range m {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, k := range reasons {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
