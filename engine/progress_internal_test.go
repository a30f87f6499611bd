package engine

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/value"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// A wall-clock cursor 01:30 on 31 March 2024, the night Berlin's clocks skip 02:00-03:00.
var wallCursor = &value.Cursor{Value: civil.DateTime{
	Date: civil.Date{Year: 2024, Month: time.March, Day: 31}, Time: civil.Time{Hour: 1, Minute: 30}}, Key: int64(7)}

// 04:30 in Berlin (CEST): three hours later on the clock, two hours later in fact.
var wallNow = time.Date(2024, 3, 31, 2, 30, 0, 0, time.UTC)

// TestLagWallClock: a wall-clock cursor (civil.DateTime) is a time in the sync's
// timezone, nil being UTC; a time cursor is a time whatever the zone; others have no lag.
func TestLagWallClock(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    *value.Cursor
		loc  *time.Location
		want time.Duration
		ok   bool
	}{
		{wallCursor, berlin, 2 * time.Hour, true},
		{wallCursor, nil, time.Hour, true},
		{wallCursor, time.UTC, time.Hour, true},
		{&value.Cursor{Value: wallNow.Add(-time.Minute)}, berlin, time.Minute, true},
		{&value.Cursor{Value: int64(42)}, berlin, 0, false},
		{nil, berlin, 0, false},
	} {
		lag, ok := Lag(tc.c, tc.loc, wallNow)
		if lag != tc.want || ok != tc.ok {
			t.Errorf("Lag(%v, %v) = %v, %v; want %v, %v", tc.c, tc.loc, lag, ok, tc.want, tc.ok)
		}
	}
}

// TestProgressLagWallClock: the progress line and log of a sync in Europe/Berlin
// with a wall-clock cursor say how far behind it is, not only where it is.
func TestProgressLagWallClock(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Counts: store.Counts{RowsRead: 100}, CursorAfter: wallCursor}
	var w strings.Builder
	live := &tracker{p: &Progress{W: &w, Live: true}, sync: "users", loc: berlin, res: res, start: wallNow.Add(-10 * time.Second)}
	live.report(wallNow)
	if want := "users: 100 rows read, 10 rows/s, cursor 2h0m0s behind"; !strings.HasSuffix(w.String(), want) {
		t.Errorf("live line %q, want it to end %q", w.String(), want)
	}

	log, hook := logtest.NewNullLogger()
	logged := &tracker{p: &Progress{Log: log}, sync: "users", loc: berlin, res: res, start: wallNow.Add(-10 * time.Second)}
	logged.report(wallNow)
	e := hook.LastEntry()
	if e == nil || e.Data["cursor_lag_seconds"] != int64(7200) {
		var data logrus.Fields
		if e != nil {
			data = e.Data
		}
		t.Errorf("progress log fields %v, want cursor_lag_seconds 7200", data)
	}
}
