package metrics

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/dbsync/dbsync/config"
	_ "github.com/dbsync/dbsync/connectors/sqlite"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/value"
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

// people lists people syncs by name.
func people(names ...string) []Sync {
	out := make([]Sync, len(names))
	for i, n := range names {
		out[i] = Sync{Name: n, Kind: config.KindPeople}
	}
	return out
}

func TestObserve(t *testing.T) {
	st, log := setup(t)
	m := New("1.2.3", people("users", "orders"), st, log)
	t0 := time.Unix(1_800_000_000, 0)
	m.Observe(&engine.Result{Sync: "users", Status: store.RunOK, Started: t0, Ended: t0.Add(3 * time.Second),
		Counts:     store.Counts{RowsRead: 10, Created: 6, Updated: 1, Unchanged: 1, FailedChanges: 1},
		RejectedBy: map[string]int64{"no_identifier": 2}, FailedBy: map[string]int64{"invalid_email": 1}})
	m.Observe(&engine.Result{Sync: "users", Status: store.RunFailed, Started: t0, Ended: t0.Add(time.Minute),
		Counts: store.Counts{RowsRead: 5, Created: 5}, Err: errors.New("source down")})
	m.Observe(&engine.Result{Sync: "users", Status: store.RunAlreadyRunning, Started: t0, Ended: t0})
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
# HELP dbsync_last_success_timestamp_seconds When the last successful run ended, in Unix seconds.
# TYPE dbsync_last_success_timestamp_seconds gauge
dbsync_last_success_timestamp_seconds{sync="users"} 1.800000003e+09
# HELP dbsync_last_run_timestamp_seconds When the last run that held the lease ended, ok or failed, in Unix seconds.
# TYPE dbsync_last_run_timestamp_seconds gauge
dbsync_last_run_timestamp_seconds{sync="users"} 1.80000006e+09
# HELP dbsync_last_run_rows_read Rows the last run read; 0 after a run on a source with no new rows.
# TYPE dbsync_last_run_rows_read gauge
dbsync_last_run_rows_read{sync="users"} 5
# HELP dbsync_last_run_caught_up 1 when the last run read the source to its end (no rows newer than the cursor were left), 0 when it stopped before.
# TYPE dbsync_last_run_caught_up gauge
dbsync_last_run_caught_up{sync="users"} 0
`
	names := []string{"dbsync_rows_read_total", "dbsync_people_created_total", "dbsync_people_updated_total",
		"dbsync_people_unchanged_total", "dbsync_last_success_timestamp_seconds",
		"dbsync_last_run_timestamp_seconds", "dbsync_last_run_rows_read", "dbsync_last_run_caught_up"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.rejected.WithLabelValues("users", "no_identifier")), 2, "rejected no_identifier"},
		{testutil.ToFloat64(m.failed.WithLabelValues("users", "invalid_email")), 1, "failed invalid_email"},
		{testutil.ToFloat64(m.runs.WithLabelValues("users", StatusOK)), 1, "runs ok"},
		{testutil.ToFloat64(m.runs.WithLabelValues("users", StatusFailed)), 1, "runs failed"},
		{testutil.ToFloat64(m.runs.WithLabelValues("users", StatusAlreadyRunning)), 1, "runs already running"},
		{testutil.ToFloat64(m.runs.WithLabelValues("orders", StatusPanicked)), 1, "orders panicked"},
		{testutil.ToFloat64(m.runs.WithLabelValues("orders", StatusOK)), 0, "orders ok"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
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
	save := func(sync string, c *value.Cursor) {
		enc, err := state.EncodeCursor(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.SaveCursor(ctx, sync, enc) }); err != nil {
			t.Fatal(err)
		}
	}
	m := New("dev", people("users", "orders", "never"), st, log)
	save("users", &value.Cursor{Value: time.Now().Add(-time.Hour), Key: int64(7)})
	save("orders", &value.Cursor{Value: int64(42), Key: int64(42)}) // not a time: no lag
	save("gone", &value.Cursor{Value: time.Now().Add(-time.Hour)})  // no longer configured

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
	save("users", &value.Cursor{Value: time.Now().Add(-time.Minute), Key: int64(8)})
	if v, _ := lag(); v < 60 || v > 120 {
		t.Fatalf("lag %v after the cursor moved, want about 60", v)
	}
}

// TestReasonsStartAtZero: before any run, every sync has a series at 0 for every
// reason a row can be rejected or skipped for and every reason a change can be
// refused for, and for every run status, so rate() and alerts see the first one.
func TestReasonsStartAtZero(t *testing.T) {
	st, log := setup(t)
	m := New("dev", people("users", "orders"), st, log)
	wantRejected := []string{"no_identifier", "invalid_email", "id_too_long", "attribute_name_too_long",
		"value_too_long", "too_many_attributes", "invalid_value", "invalid_attribute_name",
		"duplicate_attribute", "duplicate_key", "cio_id_not_found", "not_found", "suppressed"}
	wantFailed := []string{"invalid_email", "id_change_not_allowed", "email_change_not_allowed",
		"id_belongs_to_another_person", "email_belongs_to_another_person"}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]map[string]float64{} // metric -> "sync/label" -> value
	for _, mf := range mfs {
		series[mf.GetName()] = map[string]float64{}
		for _, mt := range mf.Metric {
			var sync, label string
			for _, l := range mt.Label {
				if l.GetName() == "sync" {
					sync = l.GetValue()
				} else {
					label = l.GetValue()
				}
			}
			series[mf.GetName()][sync+"/"+label] = mt.GetCounter().GetValue()
		}
	}
	check := func(metric string, labels []string) {
		t.Helper()
		for _, s := range []string{"users", "orders"} {
			for _, l := range labels {
				v, ok := series[metric][s+"/"+l]
				if !ok || v != 0 {
					t.Errorf("%s{sync=%q,%q}: present %v, value %v; want present at 0", metric, s, l, ok, v)
				}
			}
		}
		if n := len(series[metric]); n != 2*len(labels) {
			t.Errorf("%s has %d series, want %d", metric, n, 2*len(labels))
		}
	}
	check("dbsync_rows_rejected_total", wantRejected)
	check("dbsync_failed_attribute_changes_total", wantFailed)
	check("dbsync_runs_total", []string{StatusOK, StatusFailed, StatusAlreadyRunning, StatusStillRunning, StatusPanicked})
	if problems, err := testutil.GatherAndLint(m.Registry()); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

// TestQuietSourceIsNotBehind: a run that reads nothing new succeeds, caught up, with 0
// rows read and a fresh last-run time, while the cursor lag keeps growing: the gauges a
// dashboard needs to tell a quiet source from a sync that is behind.
func TestQuietSourceIsNotBehind(t *testing.T) {
	st, log := setup(t)
	m := New("dev", people("users"), st, log)
	t0 := time.Unix(1_800_000_000, 0)
	m.Observe(&engine.Result{Sync: "users", Status: store.RunFailed, Started: t0, Ended: t0.Add(time.Second), Counts: store.Counts{RowsRead: 5000}})
	if v := testutil.ToFloat64(m.caughtUp.WithLabelValues("users")); v != 0 {
		t.Fatalf("caught up after a failed run = %v, want 0", v)
	}
	m.Observe(&engine.Result{Sync: "users", Status: store.RunOK, Started: t0.Add(time.Hour), Ended: t0.Add(time.Hour + time.Second)})
	if v := testutil.ToFloat64(m.caughtUp.WithLabelValues("users")); v != 1 {
		t.Fatalf("caught up after an ok run = %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.lastRows.WithLabelValues("users")); v != 0 {
		t.Fatalf("last run rows read = %v, want 0", v)
	}
	if v := testutil.ToFloat64(m.lastRun.WithLabelValues("users")); v != unixSeconds(t0.Add(time.Hour+time.Second)) {
		t.Fatalf("last run time = %v", v)
	}
	// A run skipped as already running is another process's: it changes none of them.
	m.Observe(&engine.Result{Sync: "users", Status: store.RunAlreadyRunning, Started: t0.Add(2 * time.Hour), Ended: t0.Add(2 * time.Hour)})
	if v := testutil.ToFloat64(m.lastRun.WithLabelValues("users")); v != unixSeconds(t0.Add(time.Hour+time.Second)) {
		t.Fatalf("last run time moved on a skipped run: %v", v)
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
		enc, err := state.EncodeCursor(&value.Cursor{Value: wall, Key: int64(1)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.SaveCursor(ctx, s, enc) }); err != nil {
			t.Fatal(err)
		}
	}
	m := New("dev", people("berlin", "utc"), st, log)
	m.SetTimezones(map[string]*time.Location{"berlin": berlin})
	m.lag.now = func() time.Time { return time.Date(2024, 3, 31, 2, 30, 0, 0, time.UTC) }
	want := `# HELP dbsync_cursor_lag_seconds Now minus the time in the sync's committed cursor (the newest applied row's watermark); it also grows on a source with no new rows, see dbsync_last_run_caught_up.
# TYPE dbsync_cursor_lag_seconds gauge
dbsync_cursor_lag_seconds{sync="berlin"} 7200
dbsync_cursor_lag_seconds{sync="utc"} 3600
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "dbsync_cursor_lag_seconds"); err != nil {
		t.Fatal(err)
	}
}

// kindSyncs are one sync of each kind; "legacy" is a people sync built in code, whose
// Kind is the zero one.
var kindSyncs = []Sync{
	{Name: "users", Kind: config.KindPeople},
	{Name: "legacy"},
	{Name: "accounts", Kind: config.KindObjects},
	{Name: "memberships", Kind: config.KindRelationships},
}

// TestKindsStartAtZero: before any run, each sync has its kind's created, updated and
// unchanged series at 0 and no other kind's, rows read at 0 whatever its kind, and
// dbsync_sync_info names its kind.
func TestKindsStartAtZero(t *testing.T) {
	st, log := setup(t)
	m := New("dev", kindSyncs, st, log)
	want := `
# HELP dbsync_sync_info Each configured sync's kind (people, objects, relationships, events); always 1.
# TYPE dbsync_sync_info gauge
dbsync_sync_info{kind="objects",sync="accounts"} 1
dbsync_sync_info{kind="people",sync="legacy"} 1
dbsync_sync_info{kind="people",sync="users"} 1
dbsync_sync_info{kind="relationships",sync="memberships"} 1
# HELP dbsync_rows_read_total Rows read from the source and committed.
# TYPE dbsync_rows_read_total counter
dbsync_rows_read_total{sync="accounts"} 0
dbsync_rows_read_total{sync="legacy"} 0
dbsync_rows_read_total{sync="memberships"} 0
dbsync_rows_read_total{sync="users"} 0
# HELP dbsync_people_created_total People created.
# TYPE dbsync_people_created_total counter
dbsync_people_created_total{sync="legacy"} 0
dbsync_people_created_total{sync="users"} 0
# HELP dbsync_people_updated_total People updated.
# TYPE dbsync_people_updated_total counter
dbsync_people_updated_total{sync="legacy"} 0
dbsync_people_updated_total{sync="users"} 0
# HELP dbsync_people_unchanged_total Rows that changed nothing.
# TYPE dbsync_people_unchanged_total counter
dbsync_people_unchanged_total{sync="legacy"} 0
dbsync_people_unchanged_total{sync="users"} 0
# HELP dbsync_people_deleted_total People deleted by a people sync's delete: column.
# TYPE dbsync_people_deleted_total counter
dbsync_people_deleted_total{sync="legacy"} 0
dbsync_people_deleted_total{sync="users"} 0
# HELP dbsync_people_suppressed_total People suppressed (and so deleted) by a people sync's suppress: column.
# TYPE dbsync_people_suppressed_total counter
dbsync_people_suppressed_total{sync="legacy"} 0
dbsync_people_suppressed_total{sync="users"} 0
# HELP dbsync_objects_created_total Objects created by an objects sync.
# TYPE dbsync_objects_created_total counter
dbsync_objects_created_total{sync="accounts"} 0
# HELP dbsync_objects_updated_total Objects updated by an objects sync.
# TYPE dbsync_objects_updated_total counter
dbsync_objects_updated_total{sync="accounts"} 0
# HELP dbsync_objects_unchanged_total Rows of an objects sync that changed nothing.
# TYPE dbsync_objects_unchanged_total counter
dbsync_objects_unchanged_total{sync="accounts"} 0
# HELP dbsync_objects_deleted_total Objects deleted by an objects sync's delete: column.
# TYPE dbsync_objects_deleted_total counter
dbsync_objects_deleted_total{sync="accounts"} 0
# HELP dbsync_relationships_created_total Relationships created by a relationships sync.
# TYPE dbsync_relationships_created_total counter
dbsync_relationships_created_total{sync="memberships"} 0
# HELP dbsync_relationships_updated_total Relationships updated or removed by a relationships sync.
# TYPE dbsync_relationships_updated_total counter
dbsync_relationships_updated_total{sync="memberships"} 0
# HELP dbsync_relationships_unchanged_total Rows of a relationships sync that changed nothing.
# TYPE dbsync_relationships_unchanged_total counter
dbsync_relationships_unchanged_total{sync="memberships"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), kindFamilies...); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(m.Registry()); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

var kindFamilies = []string{"dbsync_sync_info", "dbsync_rows_read_total",
	"dbsync_people_created_total", "dbsync_people_updated_total", "dbsync_people_unchanged_total",
	"dbsync_people_deleted_total", "dbsync_people_suppressed_total",
	"dbsync_objects_created_total", "dbsync_objects_updated_total", "dbsync_objects_unchanged_total",
	"dbsync_objects_deleted_total",
	"dbsync_relationships_created_total", "dbsync_relationships_updated_total", "dbsync_relationships_unchanged_total"}

// TestObserveByKind: a run's created, updated, unchanged, deleted and suppressed rows
// are counted under its kind's family and no other; a Result of the zero Kind is a
// people run.
func TestObserveByKind(t *testing.T) {
	st, log := setup(t)
	m := New("dev", kindSyncs, st, log)
	t0 := time.Unix(1_800_000_000, 0)
	run := func(sync string, kind config.Kind, c store.Counts) {
		m.Observe(&engine.Result{Sync: sync, Kind: kind, Status: store.RunOK, Started: t0, Ended: t0.Add(time.Second), Counts: c})
	}
	run("users", config.KindPeople, store.Counts{RowsRead: 10, Created: 3, Updated: 2, Unchanged: 1, Deleted: 3, Suppressed: 1})
	run("legacy", "", store.Counts{RowsRead: 1, Created: 1})
	run("accounts", config.KindObjects, store.Counts{RowsRead: 11, Created: 5, Updated: 3, Unchanged: 1, Deleted: 2})
	run("memberships", config.KindRelationships, store.Counts{RowsRead: 14, Created: 7, Updated: 4, Unchanged: 2, Rejected: 1})
	run("memberships", config.KindRelationships, store.Counts{RowsRead: 1, Updated: 1})
	want := `
# HELP dbsync_sync_info Each configured sync's kind (people, objects, relationships, events); always 1.
# TYPE dbsync_sync_info gauge
dbsync_sync_info{kind="objects",sync="accounts"} 1
dbsync_sync_info{kind="people",sync="legacy"} 1
dbsync_sync_info{kind="people",sync="users"} 1
dbsync_sync_info{kind="relationships",sync="memberships"} 1
# HELP dbsync_rows_read_total Rows read from the source and committed.
# TYPE dbsync_rows_read_total counter
dbsync_rows_read_total{sync="accounts"} 11
dbsync_rows_read_total{sync="legacy"} 1
dbsync_rows_read_total{sync="memberships"} 15
dbsync_rows_read_total{sync="users"} 10
# HELP dbsync_people_created_total People created.
# TYPE dbsync_people_created_total counter
dbsync_people_created_total{sync="legacy"} 1
dbsync_people_created_total{sync="users"} 3
# HELP dbsync_people_updated_total People updated.
# TYPE dbsync_people_updated_total counter
dbsync_people_updated_total{sync="legacy"} 0
dbsync_people_updated_total{sync="users"} 2
# HELP dbsync_people_unchanged_total Rows that changed nothing.
# TYPE dbsync_people_unchanged_total counter
dbsync_people_unchanged_total{sync="legacy"} 0
dbsync_people_unchanged_total{sync="users"} 1
# HELP dbsync_people_deleted_total People deleted by a people sync's delete: column.
# TYPE dbsync_people_deleted_total counter
dbsync_people_deleted_total{sync="legacy"} 0
dbsync_people_deleted_total{sync="users"} 3
# HELP dbsync_people_suppressed_total People suppressed (and so deleted) by a people sync's suppress: column.
# TYPE dbsync_people_suppressed_total counter
dbsync_people_suppressed_total{sync="legacy"} 0
dbsync_people_suppressed_total{sync="users"} 1
# HELP dbsync_objects_created_total Objects created by an objects sync.
# TYPE dbsync_objects_created_total counter
dbsync_objects_created_total{sync="accounts"} 5
# HELP dbsync_objects_updated_total Objects updated by an objects sync.
# TYPE dbsync_objects_updated_total counter
dbsync_objects_updated_total{sync="accounts"} 3
# HELP dbsync_objects_unchanged_total Rows of an objects sync that changed nothing.
# TYPE dbsync_objects_unchanged_total counter
dbsync_objects_unchanged_total{sync="accounts"} 1
# HELP dbsync_objects_deleted_total Objects deleted by an objects sync's delete: column.
# TYPE dbsync_objects_deleted_total counter
dbsync_objects_deleted_total{sync="accounts"} 2
# HELP dbsync_relationships_created_total Relationships created by a relationships sync.
# TYPE dbsync_relationships_created_total counter
dbsync_relationships_created_total{sync="memberships"} 7
# HELP dbsync_relationships_updated_total Relationships updated or removed by a relationships sync.
# TYPE dbsync_relationships_updated_total counter
dbsync_relationships_updated_total{sync="memberships"} 5
# HELP dbsync_relationships_unchanged_total Rows of a relationships sync that changed nothing.
# TYPE dbsync_relationships_unchanged_total counter
dbsync_relationships_unchanged_total{sync="memberships"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), kindFamilies...); err != nil {
		t.Fatal(err)
	}
}

// TestKindReasonsStartAtZero: each sync has a rejected-rows series at 0 for every reason
// a row of its kind can be rejected or skipped for, and none for the others (no
// no_identifier for an objects sync, no no_object_id for a people sync); refused
// attribute changes, which only people rows have, have series for people syncs only.
func TestKindReasonsStartAtZero(t *testing.T) {
	st, log := setup(t)
	m := New("dev", kindSyncs, st, log)
	attrs := []string{"attribute_name_too_long", "value_too_long", "too_many_attributes", "invalid_value",
		"invalid_attribute_name", "duplicate_attribute", "duplicate_key"}
	person := []string{"no_identifier", "invalid_email", "id_too_long", "cio_id_not_found", "suppressed"}
	object := []string{"no_object_id", "object_id_too_long"}
	deleting := []string{"not_found"} // people and objects syncs delete (SPEC §10)
	failed := []string{"invalid_email", "id_change_not_allowed", "email_change_not_allowed",
		"id_belongs_to_another_person", "email_belongs_to_another_person"}
	want := map[string]map[string][]string{ // metric -> sync -> reasons
		"dbsync_rows_rejected_total": {
			"users":       slices.Concat(person, deleting, attrs),
			"legacy":      slices.Concat(person, deleting, attrs),
			"accounts":    slices.Concat(object, deleting, attrs),
			"memberships": append(append(append([]string{}, person...), object...), attrs...),
		},
		"dbsync_failed_attribute_changes_total": {"users": failed, "legacy": failed},
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		bySync, ok := want[mf.GetName()]
		if !ok {
			continue
		}
		got := map[string][]string{}
		for _, mt := range mf.Metric {
			var sync, reason string
			for _, l := range mt.Label {
				switch l.GetName() {
				case "sync":
					sync = l.GetValue()
				case "reason":
					reason = l.GetValue()
				}
			}
			if v := mt.GetCounter().GetValue(); v != 0 {
				t.Errorf("%s{sync=%q,reason=%q} = %v, want 0", mf.GetName(), sync, reason, v)
			}
			got[sync] = append(got[sync], reason)
		}
		for _, sy := range kindSyncs {
			w := append([]string{}, bySync[sy.Name]...)
			g := got[sy.Name]
			sort.Strings(w)
			sort.Strings(g)
			if !slices.Equal(g, w) {
				t.Errorf("%s{sync=%q}: reasons %v, want %v", mf.GetName(), sy.Name, g, w)
			}
		}
	}
}

// TestRunsCountedUnderTheirKind: what engine.Run returns for an objects and a
// relationships sync is counted under that kind's families, the person a relationship
// row created under none of the people's.
func TestRunsCountedUnderTheirKind(t *testing.T) {
	st, log := setup(t)
	ctx := context.Background()
	srcDSN := testdb.SQLite(t)
	src, err := sql.Open("sqlite", srcDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, q := range []string{
		`CREATE TABLE accounts (row_id INTEGER PRIMARY KEY, account_id TEXT, plan TEXT, updated_at DATETIME)`,
		`INSERT INTO accounts VALUES (1, 'acme', 'pro', '2026-01-01 00:00:01'), (2, 'globex', 'team', '2026-01-01 00:00:02'),
			(3, NULL, 'free', '2026-01-01 00:00:03')`,
		`CREATE TABLE members (m_id INTEGER PRIMARY KEY, user_id TEXT, account_id TEXT, role TEXT, updated_at DATETIME)`,
		`INSERT INTO members VALUES (1, 'u1', 'acme', 'owner', '2026-01-01 00:00:01'), (2, 'u2', 'acme', 'member', '2026-01-01 00:00:02')`,
	} {
		if _, err := src.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	source := config.Source{Type: "sqlite", DSN: srcDSN}
	accounts := config.Sync{Name: "accounts", Kind: config.KindObjects, Source: source, Table: "accounts",
		Watermark: &config.Watermark{Column: "updated_at", Key: "row_id"}, BatchSize: 100,
		ObjectType: "account", ObjectID: "account_id", Exclude: []string{"row_id", "updated_at"}, Nulls: config.NullsIgnore}
	members := config.Sync{Name: "memberships", Kind: config.KindRelationships, Source: source, Table: "members",
		Watermark: &config.Watermark{Column: "updated_at", Key: "m_id"}, BatchSize: 100,
		ObjectType: "account", ObjectID: "account_id", Identifiers: config.Identifiers{ID: "user_id"},
		Attributes: map[string]string{"role": "role"}, Nulls: config.NullsIgnore}
	m := New("dev", Syncs([]config.Sync{accounts, members}), st, log)
	eng := &engine.Engine{Store: st, Settings: identity.DefaultSettings(), Log: log}
	for _, s := range []config.Sync{accounts, members} {
		res := eng.Run(ctx, s, engine.Options{})
		if res.Err != nil {
			t.Fatalf("run %s: %v", s.Name, res.Err)
		}
		m.Observe(res)
	}
	want := `
# HELP dbsync_objects_created_total Objects created by an objects sync.
# TYPE dbsync_objects_created_total counter
dbsync_objects_created_total{sync="accounts"} 2
# HELP dbsync_relationships_created_total Relationships created by a relationships sync.
# TYPE dbsync_relationships_created_total counter
dbsync_relationships_created_total{sync="memberships"} 2
# HELP dbsync_rows_read_total Rows read from the source and committed.
# TYPE dbsync_rows_read_total counter
dbsync_rows_read_total{sync="accounts"} 3
dbsync_rows_read_total{sync="memberships"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "dbsync_objects_created_total",
		"dbsync_relationships_created_total", "dbsync_rows_read_total", "dbsync_people_created_total"); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(m.rejected.WithLabelValues("accounts", "no_object_id")); v != 1 {
		t.Errorf("accounts rejected no_object_id = %v, want 1", v)
	}
}

// TestEventsCountedAsStored: an events sync's rows are counted as events stored or
// stored already (SPEC §9: a stored event is never changed), under families of their
// own, at 0 from the start with the events' rejection reasons; no updated series.
func TestEventsCountedAsStored(t *testing.T) {
	st, log := setup(t)
	m := New("dev", []Sync{{Name: "orders", Kind: config.KindEvents}}, st, log)
	t0 := time.Unix(1_800_000_000, 0)
	m.Observe(&engine.Result{Sync: "orders", Kind: config.KindEvents, Status: store.RunOK, Started: t0, Ended: t0.Add(time.Second),
		Counts: store.Counts{RowsRead: 6, Created: 4, Unchanged: 1, Rejected: 1}, RejectedBy: map[string]int64{"event_too_large": 1}})
	want := `
# HELP dbsync_events_stored_total Events stored by an events sync.
# TYPE dbsync_events_stored_total counter
dbsync_events_stored_total{sync="orders"} 4
# HELP dbsync_events_unchanged_total Rows of an events sync whose event was stored already.
# TYPE dbsync_events_unchanged_total counter
dbsync_events_unchanged_total{sync="orders"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "dbsync_events_stored_total",
		"dbsync_events_unchanged_total", "dbsync_people_created_total", "dbsync_people_updated_total"); err != nil {
		t.Fatal(err)
	}
	got, err := testutil.GatherAndCount(m.Registry(), "dbsync_rows_rejected_total")
	if err != nil || got != len(RejectedReasons[config.KindEvents]) {
		t.Errorf("rejected series %d (%v), want one per events reason: %d", got, err, len(RejectedReasons[config.KindEvents]))
	}
	if n := testutil.ToFloat64(m.rejected.WithLabelValues("orders", "event_too_large")); n != 1 {
		t.Errorf("event_too_large counted %v times, want 1", n)
	}
}
