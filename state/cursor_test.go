package state_test

import (
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/value"
)

// TestWallClockCursor: a zone-less column's cursor keeps its wall clock, type and
// microseconds, also one Europe/Berlin skips (02:10 on 2024-03-31).
func TestWallClockCursor(t *testing.T) {
	gap := civil.DateTime{Date: civil.Date{Year: 2024, Month: 3, Day: 31}, Time: civil.Time{Hour: 2, Minute: 10, Nanosecond: 123456000}}
	c := &value.Cursor{Value: gap, Key: int64(7)}
	s, err := state.EncodeCursor(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"value":{"type":"datetime","value":"2024-03-31T02:10:00.123456"},"key":{"type":"int","value":"7"}}`; s != want {
		t.Errorf("encoded %s, want %s", s, want)
	}
	got, err := state.DecodeCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Value != gap || got.Key != int64(7) {
		t.Errorf("came back as %#v", got)
	}
	if f := state.FormatCursor(got); f != "2024-03-31 02:10:00.123456 / 7" {
		t.Errorf("FormatCursor = %q", f)
	}
}

// TestOldTimeCursorStillDecodes: a cursor an earlier version stored for a
// zone-less column (an instant) still decodes as that instant.
func TestOldTimeCursorStillDecodes(t *testing.T) {
	got, err := state.DecodeCursor(`{"value":{"type":"time","value":"2024-03-31T00:10:00.5Z"},"key":{"type":"int","value":"3"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if tm, ok := got.Value.(time.Time); !ok || !tm.Equal(time.Date(2024, 3, 31, 0, 10, 0, 5e8, time.UTC)) || got.Key != int64(3) {
		t.Errorf("came back as %#v", got)
	}
}
