package engine

import (
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/civil"
	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/value"
)

// Progress reports a long run as it goes: on a terminal a live line per sync on W
// (rows read, rows/s, how far the cursor is behind now); off a terminal a log line
// every Every.
type Progress struct {
	W     io.Writer // the terminal, when Live
	Live  bool
	Every time.Duration // between log lines when not Live; default 5s
	Log   logrus.FieldLogger
}

type tracker struct {
	p     *Progress
	sync  string
	loc   *time.Location // the sync's timezone, which a wall-clock cursor is in
	res   *Result
	start time.Time
	last  time.Time
	shown bool
}

func (p *Progress) start(sync string, loc *time.Location, res *Result) *tracker {
	if p == nil {
		return nil
	}
	now := time.Now()
	return &tracker{p: p, sync: sync, loc: loc, res: res, start: now, last: now}
}

// batch is called after each committed batch; it prints when it is time to.
func (t *tracker) batch() {
	if t == nil {
		return
	}
	now := time.Now()
	every := t.p.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	if t.p.Live {
		every = 250 * time.Millisecond
	}
	if now.Sub(t.last) < every {
		return
	}
	t.last = now
	t.report(now)
}

// report prints the progress as of now.
func (t *tracker) report(now time.Time) {
	rate := float64(t.res.RowsRead) / now.Sub(t.start).Seconds()
	lag, ok := Lag(t.res.CursorAfter, t.loc, now)
	if t.p.Live {
		fmt.Fprintf(t.p.W, "\r\033[K%s: %d rows read, %.0f rows/s, cursor %s", t.sync, t.res.RowsRead, rate, lagText(lag, ok, t.res.CursorAfter))
		t.shown = true
		return
	}
	fields := logrus.Fields{"sync": t.sync, "rows": t.res.RowsRead, "rows_per_second": int64(rate),
		"cursor": state.FormatCursor(t.res.CursorAfter)}
	if ok {
		fields["cursor_lag_seconds"] = int64(lag.Seconds())
	}
	t.p.Log.WithFields(fields).Info("progress")
}

func (t *tracker) stop() {
	if t != nil && t.shown {
		fmt.Fprint(t.p.W, "\r\033[K")
	}
}

// Lag is how far a time cursor is behind now; ok is false when the cursor is not a
// time. A wall-clock cursor (civil.DateTime: PostgreSQL timestamp, MySQL DATETIME)
// is a time on the clocks of loc, the sync's timezone (nil: UTC).
func Lag(c *value.Cursor, loc *time.Location, now time.Time) (lag time.Duration, ok bool) {
	if c == nil {
		return 0, false
	}
	switch v := c.Value.(type) {
	case time.Time:
		return now.Sub(v), true
	case civil.DateTime:
		if loc == nil {
			loc = time.UTC
		}
		return now.Sub(v.In(loc)), true
	}
	return 0, false
}

func lagText(lag time.Duration, ok bool, c *value.Cursor) string {
	if !ok {
		return "at " + state.FormatCursor(c)
	}
	return lag.Round(time.Second).String() + " behind"
}
