package conformance

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/value"
)

// RunDaylightSaving reads zone-less timestamps (Kind Timestamp) in Europe/Berlin
// across its DST changes of 2024, in runs whose cursor goes through the store's
// encoding: wall clocks the zone skips (02:00-03:00 on 31 March) and repeats
// (02:00-03:00 twice on 27 October) are cursors like any other, so every row is
// read exactly once, at any batch size, and a lookback from such a cursor starts
// on the clock. A source whose zone-less timestamps are wall clocks passes it.
func RunDaylightSaving(t *testing.T, h Harness) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	wall := func(month time.Month, day, hour, min int) time.Time {
		return time.Date(2024, month, day, hour, min, 0, 0, time.UTC) // a wall clock: its UTC fields are stored
	}
	// Each run's rows are inserted before it.
	runs := [][]time.Time{
		{wall(3, 31, 1, 50), wall(3, 31, 2, 10)},                        // the cursor ends in the gap
		{wall(3, 31, 2, 40), wall(3, 31, 3, 5), wall(3, 31, 3, 30)},     // rows after it, in and after the gap
		{wall(10, 27, 1, 50), wall(10, 27, 2, 10), wall(10, 27, 2, 10)}, // ends in the repeated hour
		{wall(10, 27, 2, 30), wall(10, 27, 2, 59), wall(10, 27, 3, 0), wall(10, 27, 3, 20)},
	}
	for _, batch := range []int{1, 100} {
		t.Run("batch "+strconv.Itoa(batch), func(t *testing.T) {
			t.Parallel()
			f := setup(t, h)
			cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "local_at", Kind: Timestamp}}
			wm := connectors.Watermark{Column: "local_at", Key: "id"}
			spec := f.table(t, "dst", cols, wm)
			spec.Timezone = berlin
			src := open(t, spec)
			stored := "" // the cursor as the store keeps it
			id := int64(0)
			var lastWall time.Time
			for r, walls := range runs {
				var rows [][]any
				var want []any
				for _, w := range walls {
					id++
					rows = append(rows, []any{id, w})
					want = append(want, id)
				}
				f.db.Insert(t, "dst", cols, rows)
				var got []any
				got, stored = readRun(t, src, wm, stored, batch)
				wantKeys(t, "run "+strconv.Itoa(r+1), got, want)
				lastWall = walls[len(walls)-1]
			}
			after, _ := state.DecodeCursor(stored)
			if err := checkValue(lastWall, after.Value); err != nil {
				t.Errorf("last cursor: %v", err)
			}
			// A lookback restart from a wall clock in the gap reads from it, inclusive.
			from := &value.Cursor{Value: civil.DateTimeOf(wall(3, 31, 2, 35))}
			res := readAll(t, src, connectors.Request{After: from, BatchSize: batch})
			wantKeys(t, "lookback from 02:35", keysOf(res.rows, 0), ints(3, id))
		})
	}
}

// readRun is one run: it reads every row after the stored cursor, stopping and
// starting again after each batch as a run whose cursor went through the store
// would, and returns the keys read and the cursor stored after the last batch.
func readRun(t *testing.T, src *source, wm connectors.Watermark, stored string, batch int) ([]any, string) {
	t.Helper()
	ctx := context.Background()
	var keys []any
	for {
		after, err := state.DecodeCursor(stored)
		if err != nil {
			t.Fatal(err)
		}
		st, err := src.Read(ctx, connectors.Request{After: after, BatchSize: batch})
		if err != nil {
			t.Fatalf("read %s: %v", after.Where(), err)
		}
		b, err := st.Next(ctx)
		cols := st.Columns()
		st.Close()
		if errors.Is(err, io.EOF) {
			return keys, stored
		}
		if err != nil {
			t.Fatalf("next %s: %v", after.Where(), err)
		}
		keys = append(keys, keysOf(b.Rows, index(t, cols, wm.Key))...)
		if stored, err = state.EncodeCursor(checkBatch(t, cols, wm, after, b)); err != nil {
			t.Fatal(err)
		}
	}
}
