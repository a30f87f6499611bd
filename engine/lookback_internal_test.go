package engine

import (
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/dbsync/dbsync/value"
)

// A wall-clock cursor just after Berlin's spring-forward: 03:10 CEST is 20 real
// minutes after 01:50 CET, so a 30-minute lookback re-reads 01:50 (SPEC §3: rows
// within that window before the cursor). On the clock alone it started at 02:40.
func TestLookbackStartAcrossSpringForward(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	dt := func(s string) civil.DateTime {
		v, err := civil.ParseDateTime(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct{ cursor, want string }{
		{"2024-03-31T03:10:00", "2024-03-31T01:40:00"}, // across the skipped hour: real time
		{"2024-10-27T03:00:00", "2024-10-27T02:30:00"}, // across the repeated hour: the clock
		{"2024-06-01T12:00:00", "2024-06-01T11:30:00"},
	} {
		got, err := lookbackStart(&value.Cursor{Value: dt(c.cursor)}, 30*time.Minute, berlin)
		if err != nil {
			t.Fatal(err)
		}
		if got.Value != dt(c.want) {
			t.Errorf("lookback 30m from %s starts at %v, want %s", c.cursor, got.Value, c.want)
		}
	}
}
