// Package value holds the types a source row's values, columns and cursors have. It
// is a leaf: connectors produce these values, mapping turns them into attributes,
// state stores cursors of them, and none of those needs to import another to agree
// on what a value is.
package value

import (
	"fmt"
	"time"

	"cloud.google.com/go/civil"
)

// The Go types a value in a row may have:
//
//	nil        SQL NULL
//	bool
//	int64      integers that fit; larger ones are Decimal
//	Decimal    exact numerics (numeric, decimal, BIGNUMERIC, unsigned 64-bit)
//	float64    approximate numerics; may be NaN or ±Inf, which mapping rejects
//	string     text, as the database returned it (mapping checks UTF-8 and NUL)
//	[]byte     binary
//	time.Time  dates (midnight UTC), and timestamps with a zone as instants
//	civil.DateTime  zone-less timestamps (PostgreSQL timestamp, MySQL DATETIME)
//	           as the source holds them, wall clocks the sync's timezone may skip
//	           or repeat; mapping reads them in that timezone
//	JSON       JSON documents
//	Invalid    a value that cannot be represented
type Value = any

// Decimal is an exact numeric as its decimal text ("12345.6700", "-1e-30" is never
// used: always plain digits, a sign and at most one point).
type Decimal string

// JSON is a JSON document from a JSON column (json, jsonb, MySQL JSON, BigQuery JSON,
// STRUCT and ARRAY).
type JSON []byte

// Invalid stands for a value the connector could not represent (a PostgreSQL
// 'infinity' timestamp, a MySQL zero date). Mapping rejects the row, naming the
// column and Reason; the run goes on.
type Invalid struct {
	Reason string
}

// Column is a selected column.
type Column struct {
	Name string
	Type string // the source's own type name, for messages ("timestamptz", "DATETIME")
}

// Cursor is the (column, key) of the last row read. Values are typed: time.Time (an
// instant, full precision), civil.DateTime (a zone-less column's wall clock, as the
// source holds it: one the sync's timezone skips or repeats is still itself), int64,
// Decimal or string.
type Cursor struct {
	Value any
	Key   any // nil with Value set: read from Value inclusive (a lookback restart)
}

// Where says where a read starts, for messages: "from the start", "from V" (a
// lookback restart) or "after (V, K)".
func (c *Cursor) Where() string {
	switch {
	case c == nil || c.Value == nil:
		return "from the start"
	case c.Key == nil:
		return "from " + format(c.Value)
	}
	return fmt.Sprintf("after (%s, %s)", format(c.Value), format(c.Key))
}

func format(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case civil.DateTime:
		return WallText(v)
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

// WallText shows a zone-less date and time: "2024-03-31 02:10:00.123456".
func WallText(dt civil.DateTime) string {
	return dt.In(time.UTC).Format("2006-01-02 15:04:05.999999999")
}
