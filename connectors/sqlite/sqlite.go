// Package sqlite reads a sync's rows from a SQLite file through modernc.org/sqlite
// (no cgo); importing it registers the source type "sqlite". Spec.DSN is the
// file's path, or a file: URI. Keyset reading is connectors/sqlsource's.
//
// The file is opened read-only (mode=ro, PRAGMA query_only): a missing file is
// an error, never created. A busy_timeout of 5 s lets a read wait out the
// application's writes.
//
// SQLite has no column types, only declared types (a column's affinity) and a
// storage class per value, so values are read by both:
//
//	declared type                                value
//	containing BOOL                               bool: an integer (0 is false) or text true/false, t/f, yes/no, on/off, 1/0
//	containing JSON                               value.JSON: text or a blob holding JSON, or a number
//	starting DATETIME or TIMESTAMP                time.Time: text "2006-01-02 15:04:05[.ffffff]" (a space or T),
//	                                              "2006-01-02 15:04", with or without an offset (Z, +02:00), or
//	                                              Go's time.String form; or an integer, Unix seconds
//	starting DATE                                 time.Time, the date at midnight UTC, from the same forms
//	starting NUMERIC or DECIMAL                   value.Decimal: an integer, a real (its shortest form) or
//	                                              text holding a decimal number
//	anything else, or none                        by storage class: INTEGER int64, REAL float64, TEXT string, BLOB []byte
//
// Zone-less text is a wall clock in Spec.Timezone (UTC when nil); text with an
// offset and integers are instants. A value a declared type cannot read (a REAL
// in a DATETIME column, text that is no date) is value.Invalid.
//
// A date or time watermark column (or key) is compared and sorted by the times
// it holds. At each Read one query looks at all its values (a scan of the
// (column, key) index when there is one). When they all have one form, as an
// application writes them — all INTEGER Unix seconds, or all TEXT of one
// layout: the same separator, fraction digits (up to 6) and zone (none, Z or
// one offset) — their order as stored is their order in time, so the column is
// compared and sorted as stored: an index on (column, key) serves each batch,
// and cursors, lookback ones too, are bound written in that form (zone-less
// text in Spec.Timezone), which a row's own value reads and binds back to.
//
// Otherwise — forms mixed, offsets that differ, digits beyond the microsecond,
// Unix seconds in a DATE column, or a zone-less wall clock Spec.Timezone skips
// (in the hour clocks spring forward), which would read as another time — the
// keyset condition and ORDER BY go through dbsync_time(column, zone,
// date_only), a function this package registers that gives Unix microseconds
// and fails the read on a value that is not a date, naming it. That is correct
// for any mix, but no index serves it: each batch scans the table. A row
// written in another form while a read runs may be left to the next run,
// which compares it by its time, as it would a row committed late.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/connectors/sqlsource"
	"github.com/dbsync/dbsync/value"
)

func init() {
	connectors.Register("sqlite", Open)
	sqlite.MustRegisterDeterministicScalarFunction("dbsync_time", 3, sqlTime)
}

// Open opens the SQLite file spec.DSN names, read-only.
func Open(ctx context.Context, spec connectors.Spec) (connectors.Source, error) {
	path, uri, err := readOnlyURI(spec.DSN)
	if err != nil {
		return nil, fmt.Errorf("sync %s: sqlite: %w", spec.Sync, err)
	}
	loc := spec.Timezone
	if loc == nil {
		loc = time.UTC
	}
	zones.Store(loc.String(), loc)
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return nil, fmt.Errorf("sync %s: connect to sqlite %s: %w", spec.Sync, path, err)
	}
	return sqlsource.Open(ctx, sqlsource.Config{
		DB:      db,
		Dialect: dialect{loc: loc},
		Spec:    spec,
		Where:   "sqlite " + path,
	})
}

// readOnlyURI turns a path or file: URI into a read-only file: URI.
func readOnlyURI(dsn string) (path, uri string, err error) {
	if dsn == "" {
		return "", "", errors.New("dsn: want the path of a SQLite file")
	}
	var u *url.URL
	if strings.HasPrefix(dsn, "file:") {
		if u, err = url.Parse(dsn); err != nil {
			return "", "", fmt.Errorf("dsn: %w", err)
		}
		path = u.Path
		if u.Opaque != "" {
			path = u.Opaque
		}
	} else {
		p, params, _ := strings.Cut(dsn, "?")
		if p, err = filepath.Abs(p); err != nil {
			return "", "", fmt.Errorf("dsn: %w", err)
		}
		u = &url.URL{Scheme: "file", Path: p, RawQuery: params}
		path = p
	}
	q := u.Query()
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(5000)")
	u.RawQuery = q.Encode()
	return path, u.String(), nil
}

type dialect struct {
	loc *time.Location // of zone-less date and time text
}

// Quote quotes an identifier: double quotes, inner ones doubled.
func Quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func (dialect) Quote(name string) string { return Quote(name) }

func (dialect) Placeholder(int) string { return "?" }

// AtOrAfter is a row value comparison (SQLite 3.15 and later).
func (dialect) AtOrAfter(col, key string, value, k any, bind func(any) string) string {
	return fmt.Sprintf("(%s, %s) >= (%s, %s)", col, key, bind(value), bind(k))
}

func (d dialect) Columns(_ context.Context, _ *sql.DB, _ *sqlsource.Table, probe []*sql.ColumnType) ([]sqlsource.Column, error) {
	cols := make([]sqlsource.Column, len(probe))
	for i, ct := range probe {
		cols[i] = d.column(ct.Name(), ct.DatabaseTypeName())
	}
	return cols, nil
}

func (d dialect) column(name, decl string) sqlsource.Column {
	c := sqlsource.Column{Name: name, Type: decl}
	upper := strings.ToUpper(decl)
	switch {
	case strings.Contains(upper, "BOOL"):
		c.Decode = lenient(decl, sqlsource.DecodeBool)
	case strings.Contains(upper, "JSON"):
		c.Decode = lenient(decl, decodeJSON)
	case strings.HasPrefix(upper, "DATETIME"), strings.HasPrefix(upper, "TIMESTAMP"), strings.HasPrefix(upper, "DATE"):
		dateOnly := !strings.HasPrefix(upper, "DATETIME") && !strings.HasPrefix(upper, "TIMESTAMP")
		c.Decode = func(v any) (value.Value, error) {
			t, err := readTime(v, d.loc, dateOnly)
			if err != nil {
				return value.Invalid{Reason: err.Error()}, nil
			}
			return t, nil
		}
		// Unary plus selects the stored value without its declared type, which
		// would have the driver parse it its own way. No alias: ORDER BY "name"
		// would name it, an expression no index serves (result columns are
		// read by position).
		c.Select = "+" + Quote(name)
		// Until Adapt finds every value has one form: by instant, through dbsync_time.
		c.Bind = sqlsource.BindTime(func(t time.Time) any { return t.UnixMicro() })
		flag := 0
		if dateOnly {
			flag = 1
		}
		c.Order = fmt.Sprintf("dbsync_time(%s, '%s', %d)", Quote(name), strings.ReplaceAll(d.loc.String(), "'", "''"), flag)
		c.Adapt = d.adaptTime(c, dateOnly)
	case strings.HasPrefix(upper, "NUMERIC"), strings.HasPrefix(upper, "DECIMAL"):
		c.Decode, c.Bind = lenient(decl, sqlsource.DecodeDecimal), bindNumber
	default:
		c.Bind = bindStored
	}
	return c
}

// lenient turns a storage class the declared type cannot read into Invalid: in
// SQLite that is the data's doing, not the driver's.
func lenient(decl string, dec func(any) (value.Value, error)) func(any) (value.Value, error) {
	return func(v any) (value.Value, error) {
		out, err := dec(v)
		if err != nil {
			return value.Invalid{Reason: fmt.Sprintf("a %s value %v in a %s column", storageClass(v), v, decl)}, nil
		}
		return out, nil
	}
}

func storageClass(v any) string {
	switch v.(type) {
	case int64:
		return "INTEGER"
	case float64:
		return "REAL"
	case string:
		return "TEXT"
	case []byte:
		return "BLOB"
	}
	return fmt.Sprintf("%T", v)
}

func decodeJSON(v any) (value.Value, error) {
	switch v := v.(type) {
	case int64:
		return value.JSON(strconv.FormatInt(v, 10)), nil
	case float64:
		return sqlsource.DecodeJSON(strconv.FormatFloat(v, 'g', -1, 64))
	}
	return sqlsource.DecodeJSON(v)
}

// bindNumber binds a NUMERIC or DECIMAL cursor as the integer or real SQLite
// stores such a column's numbers as.
func bindNumber(v any) (any, error) {
	s, err := sqlsource.BindDecimal(v)
	if err != nil {
		return nil, err
	}
	if i, err := strconv.ParseInt(s.(string), 10, 64); err == nil {
		return i, nil
	}
	return strconv.ParseFloat(s.(string), 64)
}

// bindStored binds a cursor on a column read by storage class as it is.
func bindStored(v any) (any, error) {
	switch v := v.(type) {
	case int64, float64, string, []byte:
		return v, nil
	case int:
		return int64(v), nil
	}
	return nil, fmt.Errorf("%v (%T) is not an integer, real, text or blob", v, v)
}

// Times.

// zoneless are the forms of date and time text without an offset, read in Spec.Timezone.
var zoneless = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// zoned are the forms with an offset or Z: instants.
var zoned = []string{
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04Z07:00",
	"2006-01-02T15:04Z07:00",
	"2006-01-02 15:04:05.999999999 -0700 MST", // Go's time.String
}

// readTime reads a date or time a SQLite column holds, to the microsecond;
// dateOnly keeps only its date (as written; of Unix seconds, in UTC) at midnight UTC.
func readTime(v any, loc *time.Location, dateOnly bool) (time.Time, error) {
	if dateOnly {
		loc = time.UTC // the date as written, even one whose midnight loc skips
	}
	t, err := parseTime(v, loc)
	if err != nil {
		return time.Time{}, err
	}
	return timeOf(t, dateOnly), nil
}

// timeOf is the value readTime gives for t.
func timeOf(t time.Time, dateOnly bool) time.Time {
	if dateOnly {
		return sqlsource.DateOf(t) // the date as written
	}
	return t.UTC().Truncate(time.Microsecond)
}

func parseTime(v any, loc *time.Location) (time.Time, error) {
	var s string
	switch v := v.(type) {
	case int64:
		return time.Unix(v, 0).UTC(), nil
	case string:
		s = v
	default:
		return time.Time{}, fmt.Errorf("a %s value %v is not a date or time (want text or Unix seconds)", storageClass(v), v)
	}
	s = strings.TrimSpace(s)
	if i := strings.Index(s, " m="); i > 0 { // a monotonic clock reading from time.String
		s = s[:i]
	}
	for _, layout := range zoned {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range zoneless {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date or time", s)
}

// zones are the time zones dbsync_time reads zone-less text in, by name; a
// source stores its own, so a zone that time.LoadLocation cannot load by its
// name still works.
var zones sync.Map

func zone(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}

// sqlTime is dbsync_time(value, zone, date_only): the Unix microseconds of a
// date or time value, NULL for NULL. It fails on a value that is no date, so a
// read never orders rows by a guess.
func sqlTime(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if args[0] == nil {
		return nil, nil
	}
	name, _ := args[1].(string)
	loc, err := zone(name)
	if err != nil {
		return nil, fmt.Errorf("dbsync_time: %w", err)
	}
	dateOnly, _ := args[2].(int64)
	t, err := readTime(args[0], loc, dateOnly != 0)
	if err != nil {
		return nil, fmt.Errorf("dbsync_time: %w", err)
	}
	return t.UnixMicro(), nil
}

// UniqueIndexed: a unique index (a PRIMARY KEY or UNIQUE constraint among them) of
// only column (PRAGMA index_list / index_info).
func (d dialect) UniqueIndexed(ctx context.Context, db *sql.DB, t sqlsource.Table, column string) (bool, error) {
	prefix := ""
	if t.Schema != "" {
		prefix = d.Quote(t.Schema) + "."
	}
	rows, err := db.QueryContext(ctx, "SELECT name FROM "+prefix+"pragma_index_list(?) WHERE \"unique\" = 1", t.Name)
	if err != nil {
		return false, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return false, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, n := range names {
		var count int
		var only string
		if err := db.QueryRowContext(ctx, "SELECT count(*), coalesce(max(name), '') FROM "+prefix+"pragma_index_info(?)", n).Scan(&count, &only); err != nil {
			return false, err
		}
		if count == 1 && only == column {
			return true, nil
		}
	}
	// An INTEGER PRIMARY KEY is the rowid, in no index.
	var pks int
	var pk, typ string
	err = db.QueryRowContext(ctx, "SELECT count(*), coalesce(max(name), ''), coalesce(max(upper(type)), '') FROM "+prefix+
		"pragma_table_info(?) WHERE pk > 0", t.Name).Scan(&pks, &pk, &typ)
	return err == nil && pks == 1 && pk == column && typ == "INTEGER", err
}
