package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/connectors/sqlsource"
	"github.com/dbsync/dbsync/value"
)

// TestStoredForm reads date and time watermark columns whose values all have
// one form through the (at, id) index, and any other column through
// dbsync_time, in (time, key) order either way: one row a Read (so each cursor
// is bound back), then all at once, then nothing after the last row, then a
// lookback.
func TestStoredForm(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		decl   string
		zone   *time.Location
		values []any // row i+1's at; ties and a NULL among them
		index  bool  // read through the index
	}{
		{"6 fractional digits", "DATETIME", nil, []any{"2024-01-15 09:00:00.000001", "2024-01-15 09:00:00.000000", "2024-01-15 09:00:00.000001", nil, "2024-01-15 08:59:59.999999", "2024-01-16 00:00:00.000000"}, true},
		{"seconds", "DATETIME", nil, []any{"2024-01-15 09:00:01", "2024-01-15 09:00:00", "2024-01-15 09:00:01", nil, "2023-12-31 23:59:59"}, true},
		{"T and Z", "TIMESTAMP", nil, []any{"2024-01-15T09:00:00.120Z", "2024-01-15T09:00:00.100Z", "2024-01-15T09:00:00.120Z", "2024-01-14T23:00:00.000Z"}, true},
		{"T and an offset", "TIMESTAMP", ny, []any{"2024-01-15T09:00:00+02:00", "2024-01-15T08:00:00+02:00", "2024-01-15T09:00:00+02:00"}, true},
		{"Unix seconds", "DATETIME", nil, []any{int64(1705309201), int64(1705309200), int64(1705309201), nil, int64(-1)}, true},
		{"dates", "DATE", ny, []any{"2024-03-10", "2024-01-15", "2024-03-10", "2023-12-31"}, true},
		{"wall clocks across DST", "DATETIME", ny, []any{"2024-03-10 03:00:00", "2024-03-10 01:59:59", "2024-11-03 00:30:00", "2024-07-01 12:00:00", "2024-03-10 03:00:00"}, true},
		{"text key", "DATETIME", nil, []any{"2024-01-15 09:00:00", "2024-01-15 09:00:00", "2024-01-15 08:00:00"}, true},

		{"mixed forms", "DATETIME", nil, []any{"2024-01-15 06:00:00", "2024-01-15T07:00:00.000001Z", "2024-01-15T10:00:00+05:00", int64(1705302000), "2024-01-15 07:00:00.5", nil}, false},
		{"offsets differ", "TIMESTAMP", nil, []any{"2024-01-15T09:00:00+02:00", "2024-01-15T08:30:00+01:00", "2024-01-15T09:00:00+02:00"}, false},
		{"a wall clock DST skips", "DATETIME", ny, []any{"2024-03-10 02:30:00", "2024-03-10 01:45:00", "2024-03-10 03:15:00", "2024-03-10 02:30:00"}, false},
		{"offset -00:00", "TIMESTAMP", nil, []any{"2024-01-15T09:00:00-00:00", "2024-01-15T08:00:00-00:00", "2024-01-15T09:00:00-00:00"}, false},
		{"nanoseconds", "DATETIME", nil, []any{"2024-01-15 09:00:00.123456789", "2024-01-15 09:00:00.123456001", "2024-01-15 09:00:00.100000000"}, false},
		{"Unix seconds as dates", "DATE", nil, []any{int64(1705309200), int64(1705309201), int64(1705309200)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := newDB(t)
			key, keys := "INTEGER", func(i int) any { return int64(i) }
			if tc.name == "text key" {
				key, keys = "TEXT", func(i int) any { return fmt.Sprintf("k%d", i) }
			}
			db.Exec(t, fmt.Sprintf(`CREATE TABLE events (id %s PRIMARY KEY, at %s, note TEXT)`, key, tc.decl))
			db.Exec(t, `CREATE INDEX events_at_id ON events (at, id)`)
			want := 0
			for i, v := range tc.values {
				db.Exec(t, `INSERT INTO events VALUES (?, ?, 'x')`, keys(i+1), v)
				if v != nil {
					want++
				}
			}
			spec := db.Source
			spec.Table = "events"
			spec.Timezone = tc.zone
			spec.Watermark = connectors.Watermark{Column: "at", Key: "id"}
			src, queries := traced(t, spec)

			var rows [][]any
			var after *value.Cursor
			for {
				batch := readBatches(t, src, after, 1)
				if len(batch) == 0 {
					break
				}
				if len(rows) > want {
					t.Fatalf("the read does not end: %v", rows)
				}
				rows = append(rows, batch...)
				after = &value.Cursor{Value: batch[0][1], Key: batch[0][0]}
			}
			checkOrder(t, rows, want)
			if all := readBatches(t, src, nil, 2); fmt.Sprint(all) != fmt.Sprint(rows) {
				t.Errorf("one read: %v, want %v", all, rows)
			}
			if rest := readBatches(t, src, after, 10); len(rest) != 0 {
				t.Errorf("after the last cursor: %v", rest)
			}
			// A lookback from a row's time less a step the form can write:
			// the rows from there on.
			step := time.Second
			if tc.decl == "DATE" {
				step = 24 * time.Hour
			}
			from := rows[len(rows)/2][1].(time.Time).Add(-step)
			var wantBack [][]any
			for _, r := range rows {
				if !r[1].(time.Time).Before(from) {
					wantBack = append(wantBack, r)
				}
			}
			if back := readBatches(t, src, &value.Cursor{Value: from}, 2); fmt.Sprint(back) != fmt.Sprint(wantBack) {
				t.Errorf("lookback from %v: %v, want %v", from, back, wantBack)
			}

			batches := 0
			for _, q := range *queries {
				if !strings.Contains(q.sql, "ORDER BY") {
					continue
				}
				batches++
				plan := explain(t, db.SQL, q)
				indexed := strings.Contains(plan, "USING INDEX events_at_id") || strings.Contains(plan, "USING COVERING INDEX events_at_id")
				scans := strings.Contains(plan, "SCAN ") || strings.Contains(plan, "TEMP B-TREE")
				if tc.index && (!indexed || scans) {
					t.Errorf("not through the index:\n%s\n%s", q, plan)
				}
				if !tc.index && !scans {
					t.Errorf("through the index, not dbsync_time:\n%s\n%s", q, plan)
				}
			}
			if batches == 0 {
				t.Error("no batch query was traced")
			}
		})
	}
}

// checkOrder checks rows are want distinct rows in (at, id) order.
func checkOrder(t *testing.T, rows [][]any, want int) {
	t.Helper()
	if len(rows) != want {
		t.Fatalf("%d rows, want %d: %v", len(rows), want, rows)
	}
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		ta, ok1 := a[1].(time.Time)
		tb, ok2 := b[1].(time.Time)
		if !ok1 || !ok2 {
			t.Fatalf("rows %v and %v: want times", a, b)
		}
		if tb.Before(ta) || tb.Equal(ta) && fmt.Sprint(b[0]) <= fmt.Sprint(a[0]) {
			t.Errorf("row %v after %v: not in (at, id) order", b, a)
		}
	}
}

// readBatches does one Read after a cursor and returns its rows as (id, at).
func readBatches(t *testing.T, src connectors.Source, after *value.Cursor, batch int) [][]any {
	t.Helper()
	ctx := context.Background()
	st, err := src.Read(ctx, connectors.Request{After: after, BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var rows [][]any
	for {
		got, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got.Rows {
			rows = append(rows, r[:2])
		}
		if batch == 1 {
			return rows // one batch a Read, as runs that stop after each would
		}
	}
}

// traced opens a source whose connections record each query they run.
func traced(t *testing.T, spec connectors.Spec) (connectors.Source, *[]query) {
	t.Helper()
	_, uri, err := readOnlyURI(spec.DSN)
	if err != nil {
		t.Fatal(err)
	}
	base, err := sqlite.NewConnector(uri)
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracer{Connector: base}
	loc := spec.Timezone
	if loc == nil {
		loc = time.UTC
	}
	zones.Store(loc.String(), loc)
	src, err := sqlsource.Open(context.Background(), sqlsource.Config{
		DB: sql.OpenDB(tr), Dialect: dialect{loc: loc}, Spec: spec, Where: "sqlite test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src, &tr.queries
}

type tracer struct {
	driver.Connector
	mu      sync.Mutex
	queries []query
}

type query struct {
	sql  string
	args []any
}

func (q query) String() string { return fmt.Sprintf("%s %v", q.sql, q.args) }

func (tr *tracer) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := tr.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return tracedConn{c.(sqliteConn), tr}, nil
}

type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.QueryerContext
}

type tracedConn struct {
	sqliteConn
	tr *tracer
}

func (c tracedConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.tr.record(q, args)
	return c.sqliteConn.QueryContext(ctx, q, args)
}

func (tr *tracer) record(q string, args []driver.NamedValue) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	rec := query{sql: q}
	for _, a := range args {
		rec.args = append(rec.args, a.Value)
	}
	tr.queries = append(tr.queries, rec)
}

// The source prepares the statements that hold user SQL.
func (c tracedConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c tracedConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := c.sqliteConn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, q)
	} else {
		st, err = c.sqliteConn.Prepare(q)
	}
	if err != nil {
		return nil, err
	}
	return tracedStmt{st.(stmtQuerier), q, c.tr}, nil
}

type stmtQuerier interface {
	driver.Stmt
	driver.StmtQueryContext
}

type tracedStmt struct {
	stmtQuerier
	sql string
	tr  *tracer
}

func (s tracedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.tr.record(s.sql, args)
	return s.stmtQuerier.QueryContext(ctx, args)
}

// explain is the query plan of q, a line a step.
func explain(t *testing.T, db *sql.DB, q query) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q.sql, q.args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n")
}

// TestStoredFormQuery reads a query: sync with {{last_sync_time}} through the
// index too: the survey binds the query's parameters.
func TestStoredFormQuery(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	db := newDB(t)
	db.Exec(t, `CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME)`)
	db.Exec(t, `CREATE INDEX events_at_id ON events (at, id)`)
	db.Exec(t, `INSERT INTO events VALUES (1, '2024-03-10 12:00:00'), (2, '2024-03-09 12:00:00'), (3, '2024-03-10 12:00:00'), (4, '2024-03-10 02:30:00')`)
	spec := db.Source
	spec.Query = `SELECT * FROM events WHERE id + 0 < {{last_sync_time}}` // + 0: no index on id competes
	spec.Timezone = ny
	spec.Watermark = connectors.Watermark{Column: "at", Key: "id"}
	src, queries := traced(t, spec)
	ctx := context.Background()
	read := func(last int64) []any {
		st, err := src.Read(ctx, connectors.Request{BatchSize: 2, LastSyncTime: last})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var keys []any
		for {
			got, err := st.Next(ctx)
			if errors.Is(err, io.EOF) {
				return keys
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range got.Rows {
				keys = append(keys, r[0])
			}
		}
	}
	// Row 4 is a wall clock New York skips: with it, the read goes through dbsync_time.
	for _, tc := range []struct {
		last  int64
		want  string
		index bool
	}{{4, "[2 1 3]", true}, {5, "[2 4 1 3]", false}} {
		*queries = nil
		if got := fmt.Sprint(read(tc.last)); got != tc.want {
			t.Errorf("last_sync_time %d: %s, want %s", tc.last, got, tc.want)
		}
		for _, q := range *queries {
			if strings.Contains(q.sql, "ORDER BY") {
				plan := explain(t, db.SQL, q)
				if indexed := !strings.Contains(plan, "SCAN ") && !strings.Contains(plan, "TEMP B-TREE"); indexed != tc.index {
					t.Errorf("last_sync_time %d: through the index %v, want %v:\n%s\n%s", tc.last, indexed, tc.index, q, plan)
				}
			}
		}
	}
}

func TestTextLayout(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for s, want := range map[string]string{
		"2024-01-15":                       "2006-01-02",
		"2024-01-15 09:00":                 "2006-01-02 15:04",
		"2024-01-15T09:00:00":              "2006-01-02T15:04:05",
		"2024-01-15 09:00:00.5":            "2006-01-02 15:04:05.0",
		"2024-01-15 09:00:00.123456":       "2006-01-02 15:04:05.000000",
		"2024-01-15T09:00:00.123Z":         "2006-01-02T15:04:05.000Z07:00",
		"2024-01-15T09:00:00+02:00":        "2006-01-02T15:04:05-07:00",
		"2024-01-15 09:00:00.123456-05:00": "2006-01-02 15:04:05.000000-07:00",
		"2024-01-15 09:00:00.123456789":    "", // beyond microseconds
		"2024-01-15 09:00:00.":             "",
		"2024-01-15 09:00:00+0200":         "",
		"2024-01-15Z":                      "",
		"2024-1-15 09:00:00":               "",
		"2024-01-15 09:00:00 +0000 UTC":    "",
		"2024/01/15 09:00:00":              "",
		"2024-01-15 09:00:0x":              "",
	} {
		layout, glob, ok := textLayout(s)
		if layout != want || ok != (want != "") {
			t.Errorf("%q: layout %q %v, want %q", s, layout, ok, want)
		}
		if !ok {
			continue
		}
		// The pattern matches s and what differs in a digit, nothing else.
		var match, other, longer, sign bool
		err := db.QueryRow(`SELECT ?1 GLOB ?2, replace(?1, '1', '9') GLOB ?2, ?1 || '0' GLOB ?2, replace(replace(?1, '+', '-'), 'Z', '+') GLOB ?2`, s, glob).Scan(&match, &other, &longer, &sign)
		if err != nil {
			t.Fatal(err)
		}
		if !match || !other || longer || sign != !strings.ContainsAny(s, "+Z") {
			t.Errorf("%q: glob %q matches it %v, its digits changed %v, a longer text %v, another zone %v", s, glob, match, other, longer, sign)
		}
	}
}
