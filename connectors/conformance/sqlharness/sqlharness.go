// Package sqlharness implements conformance.Harness for sources reached through
// database/sql (PostgreSQL, MySQL, SQLite): a connector's test gives it a
// read-write connection to a fresh database and the database's DDL types, and it
// creates and fills the suite's tables with plain SQL.
package sqlharness

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/connectors/conformance"
	"github.com/dbsync/dbsync/value"
)

// Harness makes a DB per test with New.
type Harness struct {
	New   func(t *testing.T) *DB
	Chars string // see conformance.Harness.NameChars
}

func (h Harness) NewDB(t *testing.T) conformance.DB { return h.New(t) }
func (h Harness) NameChars() string                 { return h.Chars }

// DB is one fresh database.
type DB struct {
	SQL        *sql.DB         // read-write, for creating and filling tables
	Source     connectors.Spec // how the connector opens it
	SchemaName string          // see conformance.DB.Schema
	Dialect    Dialect
}

// Dialect is what the databases differ in.
type Dialect struct {
	Quote       func(name string) string
	Placeholder func(n int) string
	Types       map[conformance.Kind]string // DDL type of each kind
	// Arg turns a suite value for a column of kind k into a statement argument;
	// nil is the package's Arg.
	Arg func(k conformance.Kind, v any) any
}

// Arg passes dates and times as text (a Date as its date, a Timestamp as its
// wall clock, a TimestampTZ as RFC 3339 with microseconds), Decimal and JSON as
// text, and everything else as it is.
func Arg(k conformance.Kind, v any) any {
	switch v := v.(type) {
	case time.Time:
		switch k {
		case conformance.Date:
			return v.Format("2006-01-02")
		case conformance.Timestamp:
			return v.Format("2006-01-02 15:04:05.000000")
		}
		return v.Format("2006-01-02T15:04:05.000000Z07:00")
	case value.Decimal:
		return string(v)
	case value.JSON:
		return string(v)
	}
	return v
}

func (db *DB) Spec() connectors.Spec { return db.Source }
func (db *DB) Schema() string        { return db.SchemaName }

func (db *DB) TableRef(table string) string {
	return db.Dialect.Quote(db.SchemaName) + "." + db.Dialect.Quote(table)
}

func (db *DB) CreateTable(t *testing.T, table string, cols []conformance.ColumnDef) {
	t.Helper()
	q := db.Dialect.Quote
	var defs, keys []string
	for _, c := range cols {
		typ, ok := db.Dialect.Types[c.Kind]
		if !ok {
			t.Fatalf("sqlharness: no DDL type for %v", c.Kind)
		}
		defs = append(defs, q(c.Name)+" "+typ)
		if c.Key {
			keys = append(keys, q(c.Name))
		}
	}
	if len(keys) > 0 {
		defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
	}
	db.exec(t, fmt.Sprintf("CREATE TABLE %s (%s)", q(table), strings.Join(defs, ", ")))
}

func (db *DB) Insert(t *testing.T, table string, cols []conformance.ColumnDef, rows [][]any) {
	t.Helper()
	q := db.Dialect.Quote
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = q(c.Name)
	}
	head := fmt.Sprintf("INSERT INTO %s (%s) VALUES ", q(table), strings.Join(names, ", "))
	const chunk = 500 // rows a statement: within every database's parameter limit
	for len(rows) > 0 {
		n := min(chunk, len(rows))
		var b strings.Builder
		var args []any
		b.WriteString(head)
		for r, row := range rows[:n] {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for i, v := range row {
				if i > 0 {
					b.WriteString(", ")
				}
				args = append(args, db.arg(cols[i].Kind, v))
				b.WriteString(db.Dialect.Placeholder(len(args)))
			}
			b.WriteString(")")
		}
		db.exec(t, b.String(), args...)
		rows = rows[n:]
	}
}

func (db *DB) Update(t *testing.T, table string, key conformance.ColumnDef, keyValue any, col conformance.ColumnDef, value any) {
	t.Helper()
	q := db.Dialect.Quote
	db.exec(t, fmt.Sprintf("UPDATE %s SET %s = %s WHERE %s = %s", q(table), q(col.Name), db.Dialect.Placeholder(1), q(key.Name), db.Dialect.Placeholder(2)),
		db.arg(col.Kind, value), db.arg(key.Kind, keyValue))
}

// Exec runs a statement of the test's own.
func (db *DB) Exec(t *testing.T, query string, args ...any) {
	t.Helper()
	db.exec(t, query, args...)
}

func (db *DB) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := db.SQL.Exec(query, args...); err != nil {
		t.Fatalf("sqlharness: %.200s: %v", query, err)
	}
}

func (db *DB) arg(k conformance.Kind, v any) any {
	if v == nil {
		return nil
	}
	if db.Dialect.Arg != nil {
		return db.Dialect.Arg(k, v)
	}
	return Arg(k, v)
}

// SmuggledStatements are query: syncs that close the subquery a source wraps
// them in and run statements of their own after a COMMIT that would end the
// read-only transaction: "SELECT ...) AS a; COMMIT; DROP TABLE victim; ...".
var SmuggledStatements = []string{
	`SELECT 'x' AS user_id) AS a; COMMIT; DROP TABLE victim; SELECT user_id FROM (SELECT 'y' AS user_id`,
	`SELECT 'x' AS user_id, {{last_sync_time}} AS t) AS a; COMMIT; DROP TABLE victim; SELECT user_id, 1 AS t FROM (SELECT 'y' AS user_id`,
	`SELECT 'x' AS user_id
	) AS a; COMMIT; DROP TABLE victim; -- `,
}

// CheckOneStatement reads each of SmuggledStatements from spec (with and
// without a watermark) and fails t unless every read fails, naming the sync,
// and the table victim, which it creates, is still there.
func CheckOneStatement(t *testing.T, db *DB, spec connectors.Spec) {
	t.Helper()
	db.Exec(t, `CREATE TABLE victim (id int)`)
	spec.Sync = "smuggler"
	for _, q := range SmuggledStatements {
		for _, wm := range []connectors.Watermark{{}, {Column: "user_id", Key: "user_id"}} {
			spec.Query, spec.Watermark = q, wm
			_, _, err := conformance.ReadAll(t, spec, connectors.Request{LastSyncTime: 1})
			if err == nil {
				t.Errorf("query %q (watermark %q): read without an error", q, wm.Column)
			} else if !strings.Contains(err.Error(), "sync smuggler") {
				t.Errorf("query %q: error %q does not name the sync", q, err)
			}
			var n int
			if err := db.SQL.QueryRow(`SELECT COUNT(*) FROM victim`).Scan(&n); err != nil {
				t.Fatalf("query %q (watermark %q) reached the source as several statements: %v", q, wm.Column, err)
			}
		}
	}
}
