// Package conformance is the one test suite every source connector passes, as
// golang-migrate's database/testing and river's riverdrivertest are for theirs:
// value types and NULLs, ties on the cursor across batches, cursors that
// round-trip at microsecond precision and in a time zone, lookback restarts,
// NULL watermarks, hostile names, query: syncs and reads without a watermark. A
// new connector is done when it passes.
//
// A connector's test implements Harness (a fresh source database per test, and a
// way to create and fill tables in it) and calls Run:
//
//	func TestConformance(t *testing.T) { conformance.Run(t, harness{}) }
//
// The harness speaks in tables, column kinds and Go values rather than SQL text,
// so a source whose DDL and DML go through an API (BigQuery) implements it too.
// connectors/conformance/sqlharness implements it over database/sql.
package conformance

import (
	"testing"

	"github.com/dbsync/dbsync/connectors"
)

// Harness is what a source connector's test gives the suite.
type Harness interface {
	// NewDB makes an empty source database of its own (a schema, a database, a
	// file, a dataset) that lives as long as t. It fails t when the source is
	// down; it never skips.
	NewDB(t *testing.T) DB
	// NameChars are the characters among " ' ` ; - and space that the source
	// allows in table and column names; the hostile-names test uses each of them.
	NameChars() string
}

// Slow is a Harness whose source takes seconds a query (an emulator). The suite then
// resumes its long reads every 1,000 rows instead of every 100; a run's own batches
// are still 100 rows.
type Slow interface {
	Slow() bool
}

// DB is one fresh source database.
type DB interface {
	// Spec is how a connector opens this database: Type and the connection fields
	// (DSN, or Project, Dataset, Endpoint...). The suite sets Sync, Table or
	// Query, Watermark and Timezone.
	Spec() connectors.Spec
	// Schema is what goes before the dot in a schema-qualified Spec.Table: the
	// PostgreSQL schema, MySQL database, SQLite "main", BigQuery dataset.
	Schema() string
	// TableRef is how a query: sync's SQL names a table.
	TableRef(table string) string
	// CreateTable creates a table; Key columns make up its primary key where
	// the source has one.
	CreateTable(t *testing.T, table string, cols []ColumnDef)
	// Insert adds rows, each value in cols order: nil, or the Go type of its
	// column's Kind.
	Insert(t *testing.T, table string, cols []ColumnDef, rows [][]any)
	// Update sets col to value in the row whose key column holds keyValue.
	Update(t *testing.T, table string, key ColumnDef, keyValue any, col ColumnDef, value any)
}

// ColumnDef is a column of a test table.
type ColumnDef struct {
	Name string
	Kind Kind
	Key  bool
}

// Kind is a column type the suite uses; a harness maps each one to a type of
// its source. The Go type the suite inserts is given with each.
type Kind int

const (
	Text        Kind = iota + 1 // string; short enough to be a key (VARCHAR(255))
	Int                         // int64 within 32 bits (integer, INT)
	BigInt                      // int64 (bigint, BIGINT, INT64)
	Decimal                     // value.Decimal with 2 decimals and up to 15 digits (numeric(20,2))
	Float                       // float64 (double precision)
	Bool                        // bool
	Date                        // time.Time: its date in its own location is stored
	Timestamp                   // time.Time: its wall clock in its own location is stored, microseconds (timestamp, DATETIME(6))
	TimestampTZ                 // time.Time: the instant, microseconds (timestamptz, TIMESTAMP(6))
	JSON                        // value.JSON (jsonb, JSON)
	Bytes                       // []byte (bytea, VARBINARY)
)

func (k Kind) String() string {
	switch k {
	case Text:
		return "Text"
	case Int:
		return "Int"
	case BigInt:
		return "BigInt"
	case Decimal:
		return "Decimal"
	case Float:
		return "Float"
	case Bool:
		return "Bool"
	case Date:
		return "Date"
	case Timestamp:
		return "Timestamp"
	case TimestampTZ:
		return "TimestampTZ"
	case JSON:
		return "JSON"
	case Bytes:
		return "Bytes"
	}
	return "Kind(?)"
}
