package mysql

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/go-sql-driver/mysql"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/connectors/conformance"
	"github.com/dbsync/dbsync/connectors/conformance/sqlharness"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/value"
)

var types = map[conformance.Kind]string{
	conformance.Text:        "VARCHAR(255)",
	conformance.Int:         "INT",
	conformance.BigInt:      "BIGINT",
	conformance.Decimal:     "DECIMAL(20,2)",
	conformance.Float:       "DOUBLE",
	conformance.Bool:        "BOOLEAN",
	conformance.Date:        "DATE",
	conformance.Timestamp:   "DATETIME(6)",
	conformance.TimestampTZ: "TIMESTAMP(6) NULL", // NULL: no automatic DEFAULT/ON UPDATE CURRENT_TIMESTAMP
	conformance.JSON:        "JSON",              // on MariaDB a LONGTEXT with a json_valid CHECK
	conformance.Bytes:       "VARBINARY(255)",
}

// newDB is a database of its own on the test server. Its read-write
// connection works in UTC and allows zero dates.
func newDB(t testing.TB) *sqlharness.DB {
	dsn := testdb.MySQL(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"time_zone": "'+00:00'", "sql_mode": "''"}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &sqlharness.DB{
		SQL:        db,
		Source:     connectors.Spec{Type: "mysql", DSN: dsn},
		SchemaName: cfg.DBName,
		Dialect: sqlharness.Dialect{
			Quote:       Quote,
			Placeholder: func(int) string { return "?" },
			Types:       types,
			Arg: func(k conformance.Kind, v any) any {
				if t, ok := v.(time.Time); ok && k == conformance.TimestampTZ {
					return t.UTC().Format("2006-01-02 15:04:05.000000") // the session is in UTC
				}
				return sqlharness.Arg(k, v)
			},
		},
	}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, sqlharness.Harness{
		New:   func(t *testing.T) *sqlharness.DB { return newDB(t) },
		Chars: "\"'`; -",
	})
}

func isMariaDB(t *testing.T, db *sqlharness.DB) bool {
	var v string
	if err := db.SQL.QueryRow("SELECT VERSION()").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return strings.Contains(strings.ToLower(v), "mariadb")
}

// read reads every row of spec: the suite's helper.
var read = conformance.ReadAll

func TestReadOnly(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE accounts (id INT PRIMARY KEY, balance INT)")
	db.Exec(t, "INSERT INTO accounts VALUES (1, 100)")
	db.Exec(t, "CREATE FUNCTION drain() RETURNS INT MODIFIES SQL DATA BEGIN UPDATE accounts SET balance = 0; RETURN 1; END")
	for _, q := range []string{
		"SELECT drain() AS x",
		"SELECT 1 AS x; UPDATE accounts SET balance = 0",
		"DELETE FROM accounts RETURNING id",
	} {
		spec := db.Source
		spec.Query = q
		if _, _, err := read(t, spec, connectors.Request{}); err == nil {
			t.Errorf("query %q: read without an error", q)
		}
		var balance int
		if err := db.SQL.QueryRow("SELECT balance FROM accounts").Scan(&balance); err != nil {
			t.Fatalf("query %q: %v", q, err)
		}
		if balance != 100 {
			t.Fatalf("query %q wrote to the source: balance %d", q, balance)
		}
	}
	spec := db.Source
	spec.Query = "SELECT drain() AS x"
	if _, _, err := read(t, spec, connectors.Request{}); err == nil || !strings.Contains(err.Error(), "READ ONLY") {
		t.Errorf("error %v, want one about the READ ONLY transaction", err)
	}
}

func TestJSON(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE docs (id INT PRIMARY KEY, doc JSON, `we``ird` JSON, text_doc LONGTEXT, checked LONGTEXT CHECK (json_valid(checked) OR checked = ''))")
	db.Exec(t, `INSERT INTO docs VALUES (1, '{"a": [1, {"b": null}]}', '[1]', '{"not": "json typed"}', '{}')`)
	spec := db.Source
	spec.Table = "docs"
	cols, rows, err := read(t, spec, connectors.Request{})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{int64(1), value.JSON(`{"a": [1, {"b": null}]}`), value.JSON(`[1]`), `{"not": "json typed"}`, "{}"}
	if isMariaDB(t, db) {
		// MariaDB stores JSON as written; MySQL normalizes it.
		if !reflect.DeepEqual(rows[0], want) {
			t.Errorf("table sync\n got %#v\nwant %#v", rows[0], want)
		}
		if cols[1].Type != "json" || cols[3].Type != "longtext" {
			t.Errorf("column types %v", cols)
		}
	} else if _, ok := rows[0][1].(value.JSON); !ok {
		t.Errorf("MySQL JSON read as %T", rows[0][1])
	}

	// A query: sync cannot see MariaDB's CHECK: its JSON is text there.
	spec.Table, spec.Query = "", "SELECT id, doc FROM docs"
	_, rows, err = read(t, spec, connectors.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rows[0][1].(string); isMariaDB(t, db) && !ok {
		t.Errorf("MariaDB JSON in a query: sync read as %T, want string", rows[0][1])
	}
}

func TestBooleans(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE flags (id INT PRIMARY KEY, b BOOLEAN, t1 TINYINT(1), t4 TINYINT(4), t TINYINT, u1 TINYINT(1) UNSIGNED, bit1 BIT(1), bit9 BIT(9))")
	db.Exec(t, "INSERT INTO flags VALUES (1, TRUE, 0, 1, -5, 1, b'1', b'100000001'), (2, FALSE, 7, 0, 0, 0, b'0', b'0')")
	spec := db.Source
	spec.Table = "flags"
	for _, wm := range []connectors.Watermark{{}, {Column: "id", Key: "id"}} { // text and binary protocol
		spec.Watermark = wm
		_, rows, err := read(t, spec, connectors.Request{})
		if err != nil {
			t.Fatal(err)
		}
		want := [][]any{
			{int64(1), true, false, int64(1), int64(-5), true, true, int64(257)},
			{int64(2), false, true, int64(0), int64(0), false, false, int64(0)},
		}
		if !reflect.DeepEqual(rows, want) {
			t.Errorf("watermark %+v\n got %#v\nwant %#v", wm, rows, want)
		}
	}
	spec.Table, spec.Query, spec.Watermark = "", "SELECT id, b FROM flags", connectors.Watermark{}
	_, rows, err := read(t, spec, connectors.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][1] != int64(1) {
		t.Errorf("BOOLEAN in a query: sync: %#v, want int64 1", rows[0][1])
	}
}

func TestValues(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE v (id INT PRIMARY KEY, ub BIGINT UNSIGNED, d DECIMAL(40,20), f FLOAT, dbl DOUBLE,
		dt DATETIME(6), ts TIMESTAMP(6) NULL, dt0 DATETIME, day DATE, yr YEAR, tm TIME(3), e ENUM('x','y'),
		blb BLOB, txt TEXT, bin BINARY(2))`)
	db.Exec(t, `INSERT INTO v VALUES
		(1, 18446744073709551615, '12345678901234567890.12345678901234567890', 1.1, 2.5,
		 '2024-01-15 09:00:00.000001', '2024-01-15 14:00:00.000002', '2024-07-01 12:00:00', '2024-02-29', 2024, '13:14:15.5', 'y',
		 x'00ff', 'tëxt', 'ab'),
		(2, 5, '-0.00000000000000000001', -0.5, 0, '0000-00-00 00:00:00', '0000-00-00 00:00:00', '2024-00-00 00:00:00', '0000-00-00', NULL, NULL, NULL, NULL, NULL, NULL)`)
	ny, _ := time.LoadLocation("America/New_York")
	spec := db.Source
	spec.Table = "v"
	spec.Timezone = ny
	want := [][]any{
		{int64(1), value.Decimal("18446744073709551615"), value.Decimal("12345678901234567890.12345678901234567890"), 1.1, 2.5,
			time.Date(2024, 1, 15, 9, 0, 0, 1000, ny), time.Date(2024, 1, 15, 14, 0, 0, 2000, time.UTC), time.Date(2024, 7, 1, 12, 0, 0, 0, ny),
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), int64(2024), "13:14:15.500", "y", []byte{0, 0xff}, "tëxt", []byte("ab")},
		{int64(2), int64(5), value.Decimal("-0.00000000000000000001"), -0.5, 0.0,
			value.Invalid{Reason: `zero date "0000-00-00 00:00:00.000000"`}, value.Invalid{Reason: `zero date "0000-00-00 00:00:00.000000"`},
			value.Invalid{Reason: `zero date "2024-00-00 00:00:00"`}, value.Invalid{Reason: `zero date "0000-00-00"`},
			nil, nil, nil, nil, nil, nil},
	}
	for _, wm := range []connectors.Watermark{{}, {Column: "id", Key: "id"}} { // text and binary protocol
		spec.Watermark = wm
		cols, rows, err := read(t, spec, connectors.Request{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 {
			t.Fatalf("%d rows", len(rows))
		}
		for r := range want {
			for i := range want[r] {
				g, w := rows[r][i], want[r][i]
				if gc, ok := g.(civil.DateTime); ok { // a DATETIME: its wall clock
					if wt, ok := w.(time.Time); ok && gc == civil.DateTimeOf(wt) {
						continue
					}
				}
				if gt, ok := g.(time.Time); ok {
					if wt, ok := w.(time.Time); ok && gt.Equal(wt) {
						continue
					}
				}
				// The text protocol gives a zero DATETIME(6) without its fraction.
				if gi, ok := g.(value.Invalid); ok && strings.HasPrefix(gi.Reason, "zero date") {
					if _, ok := w.(value.Invalid); ok {
						continue
					}
				}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("watermark %+v, row %d, %s (%s): got %#v, want %#v", wm, r+1, cols[i].Name, cols[i].Type, g, w)
				}
			}
		}
	}
}

// TestDatetimeCursor checks that a DATETIME cursor is bound in Spec.Timezone and
// a TIMESTAMP cursor as UTC, with microseconds.
func TestDatetimeCursor(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE c (id INT PRIMARY KEY, dt DATETIME(6), ts TIMESTAMP(6) NULL, KEY (dt, id), KEY (ts, id))")
	db.Exec(t, `INSERT INTO c VALUES (1, '2024-01-15 09:00:00.000001', '2024-01-15 09:00:00.000001'),
		(2, '2024-01-15 09:00:00.000002', '2024-01-15 09:00:00.000002'), (3, '2024-01-15 09:00:00.000002', '2024-01-15 09:00:00.000002')`)
	ny, _ := time.LoadLocation("America/New_York")
	spec := db.Source
	spec.Table = "c"
	spec.Timezone = ny
	for _, tc := range []struct {
		col   string
		after time.Time
	}{
		{"dt", time.Date(2024, 1, 15, 9, 0, 0, 1000, ny)},
		{"ts", time.Date(2024, 1, 15, 9, 0, 0, 1000, time.UTC)},
	} {
		spec.Watermark = connectors.Watermark{Column: tc.col, Key: "id"}
		_, rows, err := read(t, spec, connectors.Request{After: &value.Cursor{Value: tc.after, Key: int64(1)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0][0] != int64(2) || rows[1][0] != int64(3) {
			t.Errorf("%s after (%s, 1): %v, want rows 2 and 3", tc.col, tc.after, rows)
		}
	}
}

func TestDownSource(t *testing.T) {
	const password = "s3cr3t-pw"
	_, err := connectors.Open(context.Background(), connectors.Spec{Sync: "app_users", Type: "mysql",
		DSN: "dbsync:" + password + "@tcp(127.0.0.1:1)/app?timeout=5s"})
	if err == nil {
		t.Fatal("open: no error")
	}
	if msg := err.Error(); !strings.Contains(msg, "sync app_users: connect to mysql 127.0.0.1:1/app: ") || strings.Contains(msg, password) {
		t.Errorf("error %q: want the sync and the source named, and no password", msg)
	}
	_, err = connectors.Open(context.Background(), connectors.Spec{Sync: "app_users", Type: "mysql",
		DSN: "dbsync:" + password + "@tcp(127.0.0.1:1)app"})
	if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "sync app_users") {
		t.Errorf("bad DSN: %v", err)
	}
}

// TestQueryIsOneStatement: a query: sync that smuggles in a COMMIT and a DROP TABLE
// fails and drops nothing, also with multiStatements=true in the DSN.
func TestQueryIsOneStatement(t *testing.T) {
	for _, params := range []string{"", "?multiStatements=true", "?multiStatements=true&interpolateParams=true"} {
		t.Run(params, func(t *testing.T) {
			db := newDB(t)
			spec := db.Source
			spec.DSN += params
			sqlharness.CheckOneStatement(t, db, spec)
		})
	}
}

// TestMalformedDSNHidesPassword: however a DSN is malformed, no part of its
// password is in the error, and the address is named where it can be read.
func TestMalformedDSNHidesPassword(t *testing.T) {
	pieces := []string{"Sup3r", "Secret", "T4il", "Part"}
	dsn := func(pw, addr string) string { return "nobody:" + pw + "@tcp(" + addr + ")/dbsync_test?timeout=2s" }
	tests := []struct {
		name, dsn, addr string // addr: named in the error; "" when it cannot be read
	}{
		{"escape", dsn("Sup3rSecret%ZZT4ilPart", "127.0.0.1:3306"), "127.0.0.1:3306"},
		{"space", dsn("Sup3rSecret T4ilPart", "127.0.0.1:3306"), "127.0.0.1:3306"},
		{"raw percent", dsn("Sup3rSecret%T4ilPart", "127.0.0.1:3306"), "127.0.0.1:3306"},
		{"hash", dsn("Sup3rSecret#T4ilPart", "127.0.0.1:3306"), "127.0.0.1:3306"},
		{"slash", dsn("Sup3rSecret/T4ilPart", "127.0.0.1:3306"), "127.0.0.1:3306"},
		{"at", dsn("Sup3rSecret@T4ilPart", "127.0.0.1:3306"), "127.0.0.1:3306"},
		{"bad port", dsn("Sup3rSecretT4ilPart", "127.0.0.1:notaport"), "127.0.0.1:notaport"},
		{"missing bracket", dsn("Sup3rSecretT4ilPart", "[::1:3306"), "[::1:3306"},
		{"missing brace", "nobody:Sup3rSecret#T4ilPart@tcp(127.0.0.1:3306/dbsync_test", ""},
		{"bad parameter", "nobody:Sup3rSecret T4ilPart@tcp(127.0.0.1:3306)/dbsync_test?timeout=soon", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := connectors.Open(context.Background(), connectors.Spec{Sync: "leaky", Type: "mysql", DSN: tt.dsn})
			if err == nil {
				src.Close()
				t.Fatal("opened")
			}
			msg := err.Error()
			for _, p := range pieces {
				if strings.Contains(msg, p) {
					t.Fatalf("the password's %q is in %q", p, msg)
				}
			}
			if !strings.Contains(msg, "sync leaky") {
				t.Errorf("error %q does not name the sync", msg)
			}
			if tt.addr != "" && !strings.Contains(msg, tt.addr) {
				t.Errorf("error %q does not name %s", msg, tt.addr)
			}
		})
	}
}

func TestDaylightSaving(t *testing.T) {
	conformance.RunDaylightSaving(t, sqlharness.Harness{New: func(t *testing.T) *sqlharness.DB { return newDB(t) }})
}
