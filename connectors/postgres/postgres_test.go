package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/connectors/conformance"
	"github.com/dbsync/dbsync/connectors/conformance/sqlharness"
	"github.com/dbsync/dbsync/internal/columns"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/value"
)

var types = map[conformance.Kind]string{
	conformance.Text:        "text",
	conformance.Int:         "integer",
	conformance.BigInt:      "bigint",
	conformance.Decimal:     "numeric(20,2)",
	conformance.Float:       "double precision",
	conformance.Bool:        "boolean",
	conformance.Date:        "date",
	conformance.Timestamp:   "timestamp",
	conformance.TimestampTZ: "timestamptz",
	conformance.JSON:        "jsonb",
	conformance.Bytes:       "bytea",
}

// newDB is a schema of its own in the test database.
func newDB(t testing.TB) *sqlharness.DB {
	dsn := testdb.Postgres(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return &sqlharness.DB{
		SQL:        db,
		Source:     connectors.Spec{Type: "postgres", DSN: dsn},
		SchemaName: u.Query().Get("search_path"),
		Dialect: sqlharness.Dialect{
			Quote:       Quote,
			Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
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

func TestReadOnly(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE accounts (id int PRIMARY KEY, balance int)`)
	db.Exec(t, `INSERT INTO accounts VALUES (1, 100)`)
	db.Exec(t, `CREATE FUNCTION drain() RETURNS int LANGUAGE plpgsql AS $$
		BEGIN UPDATE accounts SET balance = 0; RETURN 1; END $$`)

	for _, q := range []string{
		`SELECT drain() AS x`,
		`UPDATE accounts SET balance = 0 RETURNING *`,
		`WITH u AS (UPDATE accounts SET balance = 0 RETURNING *) SELECT * FROM u`,
		`SELECT 1 AS x; UPDATE accounts SET balance = 0`,
		`SELECT set_config('default_transaction_read_only', 'off', false) AS x, drain() AS y`,
	} {
		spec := db.Source
		spec.Query = q
		_, _, err := read(t, spec, connectors.Request{})
		if err == nil {
			t.Errorf("query %q: read without an error", q)
		}
		var balance int
		if err := db.SQL.QueryRow(`SELECT balance FROM accounts`).Scan(&balance); err != nil {
			t.Fatal(err)
		}
		if balance != 100 {
			t.Fatalf("query %q wrote to the source: balance %d", q, balance)
		}
	}
	spec := db.Source
	spec.Query = `SELECT drain() AS x`
	if _, _, err := read(t, spec, connectors.Request{}); err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("error %v, want one about the read-only transaction", err)
	}
}

func TestValues(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE v (
		id int PRIMARY KEY, n numeric, n2 numeric(10,2), r real, u uuid, j json, tm time, tmtz timetz, arr text[], s smallint, c char(3))`)
	db.Exec(t, `INSERT INTO v VALUES
		(1, 12345678901234567890.123456789012345678, 12.5, 1.1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
		 '{"b": 1,  "a": [true]}', '13:14:15.123456', '13:14:15+02', '{a,"b c"}', -32768, 'ab'),
		(2, 'NaN', -0.01, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(3, 'Infinity', 0, 'Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(4, '-Infinity', 0, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	spec := db.Source
	spec.Table = "v"
	cols, rows, err := read(t, spec, connectors.Request{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, c := range cols {
		types = append(types, c.Type)
	}
	if want := []string{"int4", "numeric", "numeric", "float4", "uuid", "json", "time", "timetz", "_text", "int2", "bpchar"}; !reflect.DeepEqual(types, want) {
		t.Errorf("types %v, want %v", types, want)
	}
	want := []any{int64(1), value.Decimal("12345678901234567890.123456789012345678"), value.Decimal("12.50"), 1.1,
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", value.JSON(`{"b": 1,  "a": [true]}`), "13:14:15.123456", "13:14:15+02:00",
		`{a,"b c"}`, int64(-32768), "ab "}
	if !reflect.DeepEqual(rows[0], want) {
		t.Errorf("row 1\n got %#v\nwant %#v", rows[0], want)
	}
	if n2 := rows[1][2]; n2 != value.Decimal("-0.01") {
		t.Errorf("numeric(10,2) -0.01 read as %#v", n2)
	}
	for i, w := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, col := range []int{1, 3} {
			g, ok := rows[i+1][col].(float64)
			if !ok || !(math.IsNaN(w) && math.IsNaN(g) || g == w) {
				t.Errorf("row %d column %s: %#v, want float64 %v", i+2, cols[col].Name, rows[i+1][col], w)
			}
		}
	}
}

func TestInfinity(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE inf (id int PRIMARY KEY, ts timestamp, tstz timestamptz, d date)`)
	db.Exec(t, `INSERT INTO inf VALUES (1, 'infinity', '-infinity', 'infinity'), (2, '2024-01-02 03:04:05', '2024-01-02 03:04:05Z', '2024-01-02')`)
	spec := db.Source
	spec.Table = "inf"
	_, rows, err := read(t, spec, connectors.Request{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []any{
		value.Invalid{Reason: "timestamp 'infinity'"},
		value.Invalid{Reason: "timestamptz '-infinity'"},
		value.Invalid{Reason: "date 'infinity'"},
	} {
		if rows[0][i+1] != want {
			t.Errorf("column %d: %#v, want %#v", i+1, rows[0][i+1], want)
		}
	}
	if got := rows[1][1]; got != civil.DateTimeOf(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("a finite timestamp next to them: %#v", got)
	}

	// As a watermark, infinity cannot become a cursor: the read says so.
	spec.Watermark = connectors.Watermark{Column: "ts", Key: "id"}
	_, _, err = read(t, spec, connectors.Request{})
	if err == nil || !strings.Contains(err.Error(), `"ts" cannot be a cursor`) {
		t.Errorf("infinity watermark: %v, want an error about the cursor", err)
	}
}

// TestDownSource connects to a port nobody listens on.
func TestDownSource(t *testing.T) {
	const password = "s3cr3t-pw"
	for _, dsn := range []string{
		"postgres://dbsync:" + password + "@127.0.0.1:1/app?sslmode=disable&connect_timeout=5",
		"host=127.0.0.1 port=1 user=dbsync password=" + password + " dbname=app sslmode=disable",
	} {
		_, err := connectors.Open(context.Background(), connectors.Spec{Sync: "app_users", Type: "postgres", DSN: dsn})
		if err == nil {
			t.Fatal("open: no error")
		}
		msg := err.Error()
		if !strings.Contains(msg, "sync app_users: connect to postgres 127.0.0.1:1/app: ") {
			t.Errorf("error %q does not name the sync and the source", msg)
		}
		if strings.Contains(msg, password) {
			t.Errorf("error %q shows the password", msg)
		}
	}
	// A DSN that does not parse is not echoed with its password either.
	_, err := connectors.Open(context.Background(), connectors.Spec{Sync: "app_users", Type: "postgres",
		DSN: "postgres://dbsync:" + password + "@127.0.0.1:notaport/app"})
	if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "sync app_users") {
		t.Errorf("bad DSN: %v", err)
	}
}

func TestMissingColumns(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, "UpdatedAt" timestamptz, flag boolean)`)
	spec := db.Source
	spec.Table = "t"
	for _, tc := range []struct {
		wm   connectors.Watermark
		want string
	}{
		{connectors.Watermark{Column: "updated", Key: "id"}, `watermark.column: column "updated": no such column (the columns are id, UpdatedAt, flag)`},
		{connectors.Watermark{Column: "UpdatedAt", Key: "nope"}, `watermark.key: column "nope": no such column`},
		{connectors.Watermark{Column: "flag", Key: "id"}, `column "flag" (bool) cannot be a watermark column or key`},
	} {
		spec.Watermark = tc.wm
		if _, _, err := read(t, spec, connectors.Request{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.wm, err, tc.want)
		}
	}
	// A name that differs only in case is found.
	spec.Watermark = connectors.Watermark{Column: "updatedat", Key: "ID"}
	if _, _, err := read(t, spec, connectors.Request{}); err != nil {
		t.Errorf("case-insensitive match: %v", err)
	}
}

// TestColumnCase: the watermark column and key are found by the one rule of SPEC §3
// (columns.Find): the exact name wins over columns equal to it ignoring case, however
// many there are and wherever they stand; a name only equal ignoring case to two
// columns is an error naming it.
func TestColumnCase(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, "UPDATED_AT" timestamptz, updated_at timestamptz, "Updated_At" timestamptz)`)
	// Only "Updated_At" is set, and it orders the rows 3, 2, 1: read by another
	// column, the rows would be left out for a NULL watermark.
	db.Exec(t, `INSERT INTO t (id, "Updated_At") VALUES (1, '2024-01-03Z'), (2, '2024-01-02Z'), (3, '2024-01-01Z')`)
	spec := db.Source
	spec.Table = "t"
	spec.Watermark = connectors.Watermark{Column: "Updated_At", Key: "ID"}
	cols, rows, err := read(t, spec, connectors.Request{})
	if err != nil {
		t.Fatalf("exact name: %v", err)
	}
	var ids []any
	for _, r := range rows {
		ids = append(ids, r[0])
	}
	if !reflect.DeepEqual(ids, []any{int64(3), int64(2), int64(1)}) || len(cols) != 4 {
		t.Errorf("watermark Updated_At: read ids %v, want [3 2 1] in Updated_At order", ids)
	}

	for _, wm := range []connectors.Watermark{{Column: "updated_AT", Key: "id"}, {Column: "Updated_At", Key: "UPDATED_at"}} {
		spec.Watermark = wm
		name, field := wm.Column, "watermark.column"
		if wm.Key != "id" {
			name, field = wm.Key, "watermark.key"
		}
		_, _, err := read(t, spec, connectors.Request{})
		want := fmt.Sprintf(`%s: column %q: more than one column matches ignoring case`, field, name)
		if !errors.Is(err, columns.ErrAmbiguous) || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error containing %q", wm, err, want)
		}
	}
}

// TestQueryIsOneStatement: a query: sync that smuggles in a COMMIT and a DROP TABLE
// (which lib/pq's simple query protocol would run) fails, and drops nothing.
func TestQueryIsOneStatement(t *testing.T) {
	db := newDB(t)
	sqlharness.CheckOneStatement(t, db, db.Source)
}

// TestMalformedDSNHidesPassword: however a DSN is malformed, in URL or key=value
// form, no part of its password is in the error, and the host is named where it
// can be read.
func TestMalformedDSNHidesPassword(t *testing.T) {
	pieces := []string{"Sup3r", "Secret", "T4il", "Part"}
	url := func(pw, host string) string {
		return "postgres://app:" + pw + "@" + host + "/dbsync_test?sslmode=disable&connect_timeout=2"
	}
	kv := func(pw, port string) string {
		return "host=127.0.0.1 port=" + port + " user=app password=" + pw + " dbname=dbsync_test sslmode=disable connect_timeout=2"
	}
	tests := []struct {
		name, dsn string
		host      bool // the host can be read
	}{
		{"url escape", url("Sup3rSecret%ZZT4ilPart", "127.0.0.1:5432"), true},
		{"url space", url("Sup3rSecret T4ilPart", "127.0.0.1:5432"), true},
		{"url raw percent", url("Sup3rSecret%T4ilPart", "127.0.0.1:5432"), true},
		{"url hash", url("Sup3rSecret#T4ilPart", "127.0.0.1:5432"), true},
		{"url short hash", url("12#Sup3rSecretT4ilPart", "127.0.0.1:5432"), true},
		{"url slash", url("Sup3rSecret/T4ilPart", "127.0.0.1:5432"), true},
		{"url bad port", url("Sup3rSecretT4ilPart", "127.0.0.1:notaport"), false},
		{"url missing bracket", url("Sup3rSecretT4ilPart", "[::1:5432"), false},
		{"kv escape", kv("Sup3rSecret%ZZT4ilPart", "5432"), true},
		{"kv space", kv("Sup3rSecret T4ilPart", "5432"), true},
		{"kv raw percent", kv("Sup3rSecret%T4ilPart", "5432"), true},
		{"kv hash", kv("Sup3rSecret#T4ilPart", "5432"), true},
		{"kv bad port", kv("Sup3rSecretT4ilPart", "notaport"), false},
		{"kv missing bracket", "host=[::1 port=5432 user=app password=Sup3rSecretT4ilPart dbname=x connect_timeout=2", false},
		{"kv open quote", kv("'Sup3rSecret T4ilPart", "5432"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := connectors.Open(context.Background(), connectors.Spec{Sync: "leaky", Type: "postgres", DSN: tt.dsn})
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
			if tt.host && !strings.Contains(msg, "127.0.0.1") {
				t.Errorf("error %q does not name the host", msg)
			}
		})
	}
}

func TestDaylightSaving(t *testing.T) {
	conformance.RunDaylightSaving(t, sqlharness.Harness{New: func(t *testing.T) *sqlharness.DB { return newDB(t) }})
}
