// Package postgres reads a sync's rows from PostgreSQL through lib/pq; importing
// it registers the source type "postgres". Keyset reading is connectors/sqlsource's.
//
// Every query runs in a BEGIN READ ONLY transaction that is rolled back, so a
// query: sync that tries to write fails (also through a function, and a query
// cannot turn it off: set_config cannot make a read-only transaction writable).
// The session default (default_transaction_read_only) is left alone: poolers
// such as PgBouncer refuse it as a startup parameter, and a SET would outlive
// the session in a transaction-mode pool.
//
// Values:
//
//	smallint, integer, bigint          int64
//	numeric, decimal                   value.Decimal, the digits as PostgreSQL gives them ("12.50");
//	                                   NaN and ±Infinity as float64 NaN and ±Inf
//	real, double precision             float64
//	boolean                            bool
//	bytea                              []byte
//	date                               time.Time, midnight UTC
//	timestamp                          civil.DateTime, the wall clock (mapping reads it in Spec.Timezone)
//	timestamptz                        time.Time, the instant (in UTC)
//	json, jsonb                        value.JSON
//	time, timetz                       string ("15:04:05.123456")
//	'infinity' dates and timestamps    value.Invalid
//	anything else (text, uuid, ...)    string, as PostgreSQL writes it
//
// A cursor on a timestamp column is bound as the wall clock it holds (one stored
// as an instant by an earlier version, as its wall clock in Spec.Timezone), on
// timestamptz as the instant, on date as the date, all with microseconds.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	"github.com/lib/pq"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/connectors/sqlsource"
	"github.com/dbsync/dbsync/internal/dsn"
	"github.com/dbsync/dbsync/value"
)

func init() {
	connectors.Register("postgres", Open)
}

// Open connects to the PostgreSQL database spec.DSN names (a URL or key=value
// DSN, as lib/pq reads them).
func Open(ctx context.Context, spec connectors.Spec) (connectors.Source, error) {
	cfg, err := readDSN(spec.DSN)
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", spec.Sync, err)
	}
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = "dbsync"
	}
	where := fmt.Sprintf("postgres %s/%s", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cfg.Database)
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("sync %s: connect to %s: %w", spec.Sync, where, sqlsource.Redact(err, spec.DSN, cfg.Password))
	}
	loc := spec.Timezone
	if loc == nil {
		loc = time.UTC
	}
	src, err := sqlsource.Open(ctx, sqlsource.Config{
		DB:      sql.OpenDB(conn),
		Dialect: dialect{loc: loc},
		Spec:    spec,
		Where:   where,
	})
	return src, sqlsource.Redact(err, spec.DSN, cfg.Password)
}

// readDSN parses a DSN. When it does not parse, the error is about the DSN with
// its password masked (dsn.Redacted), which lib/pq then cannot echo, and names
// the host when the rest parses; a DSN that parses only because a # or / in a
// URL's password cut it short is an error too.
func readDSN(s string) (pq.Config, error) {
	cfg, err := pq.NewConfig(s)
	pw, _, _, hasPW := dsn.Password(s)
	if err == nil && hasPW && strings.Contains(s, "://") && !strings.Contains(strings.ToLower(s), "password=") {
		if u, uerr := url.PathUnescape(pw); uerr != nil || u != cfg.Password {
			err = errors.New("the password is not as written") // cut short at a # or /
		}
	}
	if err == nil {
		return cfg, nil
	}
	if !hasPW {
		return cfg, sqlsource.Redact(fmt.Errorf("postgres: read dsn: %w", err), s, "")
	}
	masked, merr := pq.NewConfig(dsn.Redacted(s))
	if merr != nil {
		return cfg, sqlsource.Redact(fmt.Errorf("postgres: read dsn: %w", merr), s, "")
	}
	return cfg, fmt.Errorf("postgres %s/%s: read dsn: the password cannot be read "+
		"(in a URL, write %% # / ? @ and blanks in it as %%25 %%23 %%2F %%3F %%40 %%20; in key=value form, quote it)",
		net.JoinHostPort(masked.Host, strconv.Itoa(int(masked.Port))), masked.Database)
}

type dialect struct {
	loc *time.Location // of timestamp (without time zone) values
}

// Quote quotes an identifier: double quotes, inner ones doubled.
func Quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func (dialect) Quote(name string) string { return Quote(name) }

func (dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

// LostConnection: a connection exception (class 08), or the server shutting down,
// crashed or starting up.
func (dialect) LostConnection(err error) bool {
	var e *pq.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code.Class() == "08" || e.Code == "57P01" || e.Code == "57P02" || e.Code == "57P03"
}

// AtOrAfter is a row comparison, which a (column, key) index serves.
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

// column reads a column by the type name lib/pq reports ("INT8", "TIMESTAMPTZ").
func (d dialect) column(name, typ string) sqlsource.Column {
	c := sqlsource.Column{Name: name, Type: strings.ToLower(typ)}
	if c.Type == "" {
		c.Type = "unknown"
	}
	switch typ {
	case "INT2", "INT4", "INT8":
		c.Decode, c.Bind = sqlsource.DecodeInt, sqlsource.BindInt
	case "NUMERIC":
		c.Decode, c.Bind = sqlsource.DecodeDecimal, sqlsource.BindDecimal
	case "FLOAT4", "FLOAT8":
		c.Decode, c.Bind = sqlsource.DecodeFloat, sqlsource.BindFloat
	case "BOOL":
		c.Decode = sqlsource.DecodeBool
	case "BYTEA":
		c.Decode = sqlsource.DecodeBytes
	case "JSON", "JSONB":
		c.Decode = sqlsource.DecodeJSON
	case "DATE":
		c.Decode = decodeTime("date", sqlsource.DateOf)
		c.Bind = sqlsource.BindTime(func(t time.Time) any { return t.UTC().Format(sqlsource.DateLayout) })
	case "TIMESTAMP":
		c.Decode = decodeWall
		c.Bind = sqlsource.BindWall(d.loc)
	case "TIMESTAMPTZ":
		c.Decode = decodeTime("timestamptz", time.Time.UTC)
		c.Bind = sqlsource.BindTime(func(t time.Time) any { return t.UTC().Format(sqlsource.WallLayout + "Z07:00") })
	case "TIME":
		c.Decode = decodeClock("15:04:05.999999")
	case "TIMETZ":
		c.Decode = decodeClock("15:04:05.999999Z07:00")
	default:
		c.Decode, c.Bind = sqlsource.DecodeText, sqlsource.BindText
	}
	return c
}

// decodeTime reads a date or timestamp lib/pq has parsed; 'infinity' and
// '-infinity' come as text and are Invalid.
func decodeTime(typ string, conv func(time.Time) time.Time) func(any) (value.Value, error) {
	return func(v any) (value.Value, error) {
		switch v := v.(type) {
		case time.Time:
			return conv(v), nil
		case []byte:
			return value.Invalid{Reason: fmt.Sprintf("%s '%s'", typ, v)}, nil
		}
		return nil, fmt.Errorf("want a %s, the driver gave a %T", typ, v)
	}
}

// decodeWall reads a timestamp (without time zone) as its wall clock; lib/pq
// has parsed it into a time.Time in UTC.
func decodeWall(v any) (value.Value, error) {
	switch v := v.(type) {
	case time.Time:
		return civil.DateTimeOf(v), nil
	case []byte:
		return value.Invalid{Reason: fmt.Sprintf("timestamp '%s'", v)}, nil
	}
	return nil, fmt.Errorf("want a timestamp, the driver gave a %T", v)
}

// decodeClock gives a time of day (lib/pq parses it into a time.Time) as text.
func decodeClock(layout string) func(any) (value.Value, error) {
	return func(v any) (value.Value, error) {
		switch v := v.(type) {
		case time.Time:
			return v.Format(layout), nil
		case []byte:
			return string(v), nil
		}
		return nil, fmt.Errorf("want a time of day, the driver gave a %T", v)
	}
}

// UniqueIndexed: a unique index or primary key (not partial) of only column.
func (d dialect) UniqueIndexed(ctx context.Context, db *sql.DB, t sqlsource.Table, column string) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indnatts = 1 AND i.indpred IS NULL AND a.attname = $2)`,
		sqlsource.TableRef(d, t), column).Scan(&ok)
	return ok, err
}
