package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/sync"
)

func setup(t *testing.T) (*store.Store, logrus.FieldLogger) {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", testdb.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log, _ := logtest.NewNullLogger()
	return st, log
}

func TestObserve(t *testing.T) {
	st, log := setup(t)
	m := New("1.2.3", []string{"users", "orders"}, st, log)
	t0 := time.Unix(1_800_000_000, 0)
	m.Observe(&sync.Result{Sync: "users", Status: store.RunOK, Started: t0, Ended: t0.Add(3 * time.Second),
		RowsRead: 10, Created: 6, Updated: 1, Unchanged: 1,
		RejectedBy: map[string]int64{"no_identifier": 2}, FailedBy: map[string]int64{"invalid_email": 1}})
	m.Observe(&sync.Result{Sync: "users", Status: store.RunFailed, Started: t0, Ended: t0.Add(time.Minute),
		RowsRead: 5, Created: 5, Err: errors.New("source down")})
	m.Observe(&sync.Result{Sync: "users", Status: store.RunAlreadyRunning, Started: t0, Ended: t0})
	m.CountRun("orders", StatusPanicked)

	want := `
# HELP dbsync_rows_read_total Rows read from the source and committed.
# TYPE dbsync_rows_read_total counter
dbsync_rows_read_total{sync="orders"} 0
dbsync_rows_read_total{sync="users"} 15
# HELP dbsync_people_created_total People created.
# TYPE dbsync_people_created_total counter
dbsync_people_created_total{sync="orders"} 0
dbsync_people_created_total{sync="users"} 11
# HELP dbsync_people_updated_total People updated.
# TYPE dbsync_people_updated_total counter
dbsync_people_updated_total{sync="orders"} 0
dbsync_people_updated_total{sync="users"} 1
# HELP dbsync_people_unchanged_total Rows that changed nothing.
# TYPE dbsync_people_unchanged_total counter
dbsync_people_unchanged_total{sync="orders"} 0
dbsync_people_unchanged_total{sync="users"} 1
# HELP dbsync_rows_rejected_total Rows rejected or skipped, by reason.
# TYPE dbsync_rows_rejected_total counter
dbsync_rows_rejected_total{reason="no_identifier",sync="users"} 2
# HELP dbsync_failed_attribute_changes_total Attribute changes refused, by reason.
# TYPE dbsync_failed_attribute_changes_total counter
dbsync_failed_attribute_changes_total{reason="invalid_email",sync="users"} 1
# HELP dbsync_runs_total Scheduled runs by outcome.
# TYPE dbsync_runs_total counter
dbsync_runs_total{status="failed",sync="orders"} 0
dbsync_runs_total{status="failed",sync="users"} 1
dbsync_runs_total{status="ok",sync="orders"} 0
dbsync_runs_total{status="ok",sync="users"} 1
dbsync_runs_total{status="panicked",sync="orders"} 1
dbsync_runs_total{status="skipped_already_running",sync="users"} 1
# HELP dbsync_last_success_timestamp_seconds When the last successful run ended, in Unix seconds.
# TYPE dbsync_last_success_timestamp_seconds gauge
dbsync_last_success_timestamp_seconds{sync="users"} 1.800000003e+09
`
	names := []string{"dbsync_rows_read_total", "dbsync_people_created_total", "dbsync_people_updated_total",
		"dbsync_people_unchanged_total", "dbsync_rows_rejected_total", "dbsync_failed_attribute_changes_total",
		"dbsync_runs_total", "dbsync_last_success_timestamp_seconds"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// Two runs observed in the histogram (the skipped one took no time and is left out).
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Fatalf("%d histogram series, want 1", n)
	}
	if problems, err := testutil.GatherAndLint(m.Registry()); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

// TestCursorLag: read from the store at scrape time, for configured syncs with a time
// cursor only.
func TestCursorLag(t *testing.T) {
	st, log := setup(t)
	ctx := context.Background()
	save := func(sync string, c *connectors.Cursor) {
		enc, err := state.EncodeCursor(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.SaveCursor(ctx, sync, enc) }); err != nil {
			t.Fatal(err)
		}
	}
	m := New("dev", []string{"users", "orders", "never"}, st, log)
	save("users", &connectors.Cursor{Value: time.Now().Add(-time.Hour), Key: int64(7)})
	save("orders", &connectors.Cursor{Value: int64(42), Key: int64(42)}) // not a time: no lag
	save("gone", &connectors.Cursor{Value: time.Now().Add(-time.Hour)})  // no longer configured

	lag := func() (float64, int) {
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "dbsync_cursor_lag_seconds" {
				return mf.Metric[0].GetGauge().GetValue(), len(mf.Metric)
			}
		}
		return 0, 0
	}
	v, n := lag()
	if n != 1 || v < 3600 || v > 3660 {
		t.Fatalf("lag %v over %d series, want about 3600 over 1", v, n)
	}
	// The next scrape sees the cursor the store holds now.
	save("users", &connectors.Cursor{Value: time.Now().Add(-time.Minute), Key: int64(8)})
	if v, _ := lag(); v < 60 || v > 120 {
		t.Fatalf("lag %v after the cursor moved, want about 60", v)
	}
}

// TestCursorLagWallClock: a wall-clock cursor (PostgreSQL timestamp, MySQL DATETIME)
// is read in its sync's timezone: 01:30 on 31 March 2024 in Europe/Berlin is 00:30
// UTC, two hours before 02:30 UTC though three on the clock (the clocks skip an
// hour); a sync given no timezone is in UTC.
func TestCursorLagWallClock(t *testing.T) {
	st, log := setup(t)
	ctx := context.Background()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	wall := civil.DateTime{Date: civil.Date{Year: 2024, Month: time.March, Day: 31}, Time: civil.Time{Hour: 1, Minute: 30}}
	for _, s := range []string{"berlin", "utc"} {
		enc, err := state.EncodeCursor(&connectors.Cursor{Value: wall, Key: int64(1)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.SaveCursor(ctx, s, enc) }); err != nil {
			t.Fatal(err)
		}
	}
	m := New("dev", []string{"berlin", "utc"}, st, log)
	m.SetTimezones(map[string]*time.Location{"berlin": berlin})
	m.lag.now = func() time.Time { return time.Date(2024, 3, 31, 2, 30, 0, 0, time.UTC) }
	want := `# HELP dbsync_cursor_lag_seconds Now minus the time in the sync's cursor: how far behind the source it is.
# TYPE dbsync_cursor_lag_seconds gauge
dbsync_cursor_lag_seconds{sync="berlin"} 7200
dbsync_cursor_lag_seconds{sync="utc"} 3600
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "dbsync_cursor_lag_seconds"); err != nil {
		t.Fatal(err)
	}
}
