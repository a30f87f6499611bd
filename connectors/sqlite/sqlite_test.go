package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/connectors/conformance"
	"github.com/dbsync/dbsync/connectors/conformance/sqlharness"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/value"
)

var types = map[conformance.Kind]string{
	conformance.Text:        "TEXT",
	conformance.Int:         "INTEGER",
	conformance.BigInt:      "INTEGER",
	conformance.Decimal:     "DECIMAL(20,2)",
	conformance.Float:       "REAL",
	conformance.Bool:        "BOOLEAN",
	conformance.Date:        "DATE",
	conformance.Timestamp:   "DATETIME",
	conformance.TimestampTZ: "TIMESTAMP", // the values carry their offset
	conformance.JSON:        "JSON",
	conformance.Bytes:       "BLOB",
}

// newDB is a new SQLite file, and a read-write connection to it.
func newDB(t testing.TB) *sqlharness.DB {
	path := testdb.SQLite(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil { // creates the file
		t.Fatal(err)
	}
	return &sqlharness.DB{
		SQL:        db,
		Source:     connectors.Spec{Type: "sqlite", DSN: path},
		SchemaName: "main",
		Dialect: sqlharness.Dialect{
			Quote:       Quote,
			Placeholder: func(int) string { return "?" },
			Types:       types,
		},
	}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, sqlharness.Harness{
		New:   func(t *testing.T) *sqlharness.DB { return newDB(t) },
		Chars: "\"'`; -",
	})
}

// read reads every row of spec: the suite's helper.
var read = conformance.ReadAll

func TestTimes(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE times (id INTEGER PRIMARY KEY, at DATETIME, day DATE, stamp TIMESTAMP WITH TIME ZONE)`)
	db.Exec(t, `INSERT INTO times VALUES
		(1, '2024-01-15 09:00:00', '2024-01-15', NULL),
		(2, '2024-01-15T09:00:00.5Z', '2024-01-15 23:30:00', NULL),
		(3, '2024-01-15 16:00:00.123456+02:00', 1705334400, NULL),
		(4, 1705330800, '2024-01-15T01:00:00+05:00', NULL),
		(5, '2024-01-15 09:00', NULL, '2024-01-15 09:00:00.000001 +0000 UTC m=+0.000000001'),
		(6, 'not a date', 1.5, X'00'),
		(7, 1705330800.5, 'tomorrow', '2024-02-30')`)
	ny, _ := time.LoadLocation("America/New_York")
	spec := db.Source
	spec.Table = "times"
	spec.Timezone = ny
	_, rows, err := read(t, spec, connectors.Request{})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
	want := [][]any{
		{int64(1), time.Date(2024, 1, 15, 9, 0, 0, 0, ny), day, nil},
		{int64(2), time.Date(2024, 1, 15, 9, 0, 0, 5e8, time.UTC), day, nil},
		{int64(3), time.Date(2024, 1, 15, 14, 0, 0, 123456000, time.UTC), day, nil},
		{int64(4), time.Unix(1705330800, 0), day, nil},
		{int64(5), time.Date(2024, 1, 15, 9, 0, 0, 0, ny), nil, time.Date(2024, 1, 15, 9, 0, 0, 1000, time.UTC)},
		{int64(6), value.Invalid{Reason: `"not a date" is not a date or time`},
			value.Invalid{Reason: "a REAL value 1.5 is not a date or time (want text or Unix seconds)"},
			value.Invalid{Reason: "a BLOB value [0] is not a date or time (want text or Unix seconds)"}},
		{int64(7), value.Invalid{Reason: "a REAL value 1.7053308005e+09 is not a date or time (want text or Unix seconds)"},
			value.Invalid{Reason: `"tomorrow" is not a date or time`}, value.Invalid{Reason: `"2024-02-30" is not a date or time`}},
	}
	for r := range want {
		for i := range want[r] {
			g, w := rows[r][i], want[r][i]
			if gt, ok := g.(time.Time); ok {
				if wt, ok := w.(time.Time); ok && gt.Equal(wt) && (i != 2 || gt.Location() == time.UTC) {
					continue
				}
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("row %d column %d: got %#v, want %#v", r+1, i, g, w)
			}
		}
	}
}

// TestMixedForms orders a watermark column by the instants its values stand
// for, whatever their form.
func TestMixedForms(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME)`)
	// In time order: 3, 1, 4, 2, 5 (by text they would be 1, 2, 3, 4, 5).
	db.Exec(t, `INSERT INTO events VALUES
		(1, '2024-01-15 06:00:00'),
		(2, '2024-01-15T07:00:00.000001Z'),
		(3, '2024-01-15T10:00:00+05:00'),
		(4, 1705302000),
		(5, '2024-01-15 07:00:00.5'),
		(6, NULL)`)
	spec := db.Source
	spec.Table = "events"
	spec.Watermark = connectors.Watermark{Column: "at", Key: "id"}
	src, err := connectors.Open(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []any
	var after *value.Cursor
	for {
		st, err := src.Read(context.Background(), connectors.Request{After: after, BatchSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := st.Next(context.Background())
		if st.NullCursorRows() != 1 {
			t.Errorf("NullCursorRows = %d, want 1", st.NullCursorRows())
		}
		st.Close()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 10 {
			t.Fatalf("read does not end: %v", got)
		}
		got = append(got, batch.Rows[0][0])
		after = batch.Cursor()
	}
	if want := []any{int64(3), int64(1), int64(4), int64(2), int64(5)}; !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}

	// A value that is no date cannot be ordered: the read fails, naming it.
	db.Exec(t, `INSERT INTO events VALUES (7, 'soon')`)
	_, _, err = read(t, spec, connectors.Request{})
	if err == nil || !strings.Contains(err.Error(), `"soon" is not a date or time`) {
		t.Errorf("read with a bad watermark value: %v", err)
	}
}

// TestStorageClass reads values by storage class where the declared type says
// nothing special (after SQLite's affinity: 5 in a TEXT column is stored as
// '5'), and as Invalid where a special declared type cannot read them.
func TestStorageClass(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE v (id INTEGER PRIMARY KEY, i INTEGER, s TEXT, anything, n NUMERIC, b BOOLEAN, j JSON)`)
	db.Exec(t, `INSERT INTO v VALUES
		(1, 'abc', 5, X'0102', '12.50', 'yes', '{"a": [1]}'),
		(2, 2.5, 'x', 1.25, 'twelve', 2, 5),
		(3, NULL, NULL, 'text', 12, 'maybe', 'not json')`)
	spec := db.Source
	spec.Table = "v"
	cols, rows, err := read(t, spec, connectors.Request{})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{int64(1), "abc", "5", []byte{1, 2}, value.Decimal("12.5"), true, value.JSON(`{"a": [1]}`)},
		{int64(2), 2.5, "x", 1.25, value.Invalid{Reason: `"twelve" is not a decimal number`}, true, value.JSON("5")},
		{int64(3), nil, nil, "text", value.Decimal("12"), value.Invalid{Reason: `"maybe" is not a boolean`}, value.Invalid{Reason: "not valid JSON"}},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("\n got %#v\nwant %#v", rows, want)
	}
	if cols[4].Type != "NUMERIC" || cols[3].Type != "" {
		t.Errorf("column types %v", cols)
	}
}

func TestReadOnly(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)`)
	db.Exec(t, `INSERT INTO accounts VALUES (1, 100)`)
	before, err := os.ReadFile(db.Source.DSN)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DELETE FROM accounts RETURNING *`,
		`SELECT 1 AS x; DELETE FROM accounts`,
	} {
		spec := db.Source
		spec.Query = q
		if _, _, err := read(t, spec, connectors.Request{}); err == nil {
			t.Errorf("query %q: read without an error", q)
		}
	}
	// Even asked for read-write, the file is opened read-only.
	spec := db.Source
	spec.DSN = "file:" + db.Source.DSN + "?mode=rwc"
	spec.Query = `SELECT query_only FROM pragma_query_only`
	_, rows, err := read(t, spec, connectors.Request{})
	if err != nil || len(rows) != 1 || rows[0][0] != int64(1) {
		t.Errorf("query_only: %v %v", rows, err)
	}
	spec.Query = `SELECT * FROM accounts`
	if _, rows, err := read(t, spec, connectors.Request{}); err != nil || len(rows) != 1 {
		t.Errorf("read through a file: URI: %v %v", rows, err)
	}
	after, err := os.ReadFile(db.Source.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("the file changed")
	}
}

// TestMissingFile checks a file that is not there is an error naming the sync
// and the file, and is not created.
func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	_, err := connectors.Open(context.Background(), connectors.Spec{Sync: "app_users", Type: "sqlite", DSN: path})
	if err == nil || !strings.Contains(err.Error(), "sync app_users: connect to sqlite "+path+": ") {
		t.Errorf("open: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the missing file was created: %v", err)
	}
}

// TestWAL reads a database in WAL mode while the application holds it open.
func TestWAL(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `PRAGMA journal_mode=WAL`)
	db.Exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME)`)
	db.Exec(t, `INSERT INTO t VALUES (1, '2024-01-01 00:00:00'), (2, '2024-01-01 00:00:01')`)
	spec := db.Source
	spec.Table = "t"
	spec.Watermark = connectors.Watermark{Column: "at", Key: "id"}
	_, rows, err := read(t, spec, connectors.Request{BatchSize: 1})
	if err != nil || len(rows) != 2 {
		t.Errorf("read: %v %v", rows, err)
	}
}

// statements counts the calls of dbsync_test_statements(), a function the test
// source's query calls once a statement (an uncorrelated scalar subquery).
var statements atomic.Int64

func init() {
	sqlite.MustRegisterScalarFunction("dbsync_test_statements", 0,
		func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) { return statements.Add(1), nil })
}

// A query: sync runs its query as many times whatever the batch size: once, streamed
// into batches (plus the column probe and the NULL count), not once a batch (issue 18).
func TestQueryReadOnce(t *testing.T) {
	db := newDB(t)
	if _, err := db.SQL.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, updated_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL.Exec(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 50)
		INSERT INTO t SELECT i, i / 5 FROM s`); err != nil {
		t.Fatal(err)
	}
	spec := db.Source
	spec.Sync = "once"
	spec.Query = "SELECT id, updated_at FROM t WHERE (SELECT dbsync_test_statements()) > 0"
	spec.Watermark = connectors.Watermark{Column: "updated_at", Key: "id"}
	runs := map[int]int64{}
	for _, batch := range []int{1, 7, 1000} {
		before := statements.Load()
		_, rows, err := conformance.ReadAll(t, spec, connectors.Request{BatchSize: batch})
		if err != nil || len(rows) != 50 {
			t.Fatalf("batch %d: %d rows, %v", batch, len(rows), err)
		}
		runs[batch] = statements.Load() - before
	}
	if runs[1] != runs[1000] || runs[7] != runs[1000] || runs[1000] > 3 {
		t.Errorf("the query ran %v times by batch size, want as often for each, at most 3 (probe, NULL count, read)", runs)
	}
}
