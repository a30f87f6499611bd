package connectors_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/value"
)

// A row that ties the row before it on column and key is flagged, times compared
// as instants; the first row is flagged as the stream says.
func TestNewBatchFlagsRepeatedKeys(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	same := t0.In(time.FixedZone("+02", 7200)) // the same instant
	rows := [][]any{
		{int64(3), t0, "a"},
		{int64(3), same, "b"},      // repeats row 0
		{int64(4), same, "c"},      // another key
		{int64(4), t0.Add(1), "d"}, // another time
		{"4", t0.Add(1), "e"},      // another type of key: not the same
		{"4", t0.Add(1), "f"},      // repeats row 4
	}
	for _, first := range []bool{false, true} {
		b := connectors.NewBatch(rows, 1, 0, first)
		want := []bool{first, true, false, false, false, true}
		if !reflect.DeepEqual(b.Repeated, want) {
			t.Errorf("first %v: repeated %v, want %v", first, b.Repeated, want)
		}
		if c := b.Cursor(); c == nil || *c != (value.Cursor{Value: t0.Add(1), Key: "4"}) {
			t.Errorf("cursor %v, want the last row's", c)
		}
	}
	if b := connectors.NewBatch(rows[2:4], 1, 0, false); b.Repeated != nil {
		t.Errorf("no row repeats, yet Repeated is %v", b.Repeated)
	}
}

// A batch cut short ends at its last row kept.
func TestBatchHead(t *testing.T) {
	rows := [][]any{{int64(1), int64(10)}, {int64(1), int64(10)}, {int64(2), int64(20)}}
	b := connectors.NewBatch(rows, 1, 0, false).Head(2)
	if len(b.Rows) != 2 || !b.Repeats(1) || b.Repeats(2) {
		t.Fatalf("head: %+v", b)
	}
	if c := b.Cursor(); c == nil || *c != (value.Cursor{Value: int64(10), Key: int64(1)}) {
		t.Errorf("head's cursor %v, want the second row's", c)
	}
	if b := (connectors.Batch{Rows: rows}).Head(1); b.Cursor() != nil || b.Repeats(0) {
		t.Errorf("a batch without a watermark has no cursor: %+v", b)
	}
}
