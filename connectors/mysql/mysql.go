// Package mysql reads a sync's rows from MySQL or MariaDB through
// go-sql-driver/mysql; importing it registers the source type "mysql". Keyset
// reading is connectors/sqlsource's; the condition after a cursor is written
// `col >= ? AND (col > ? OR key > ?)` so a (column, key) index serves it.
//
// Every query runs in a START TRANSACTION READ ONLY transaction, so a query:
// sync that tries to write fails. The session time_zone is '+00:00', so
// TIMESTAMP values come and are compared as UTC.
//
// Values:
//
//	TINYINT ... BIGINT, YEAR            int64; BIGINT UNSIGNED above 2^63-1 as value.Decimal
//	TINYINT(1), BOOLEAN, BIT(1)         bool, for a table: sync (read from information_schema.COLUMNS);
//	                                    a query: sync cannot tell them from integers and reads int64
//	BIT(n)                              int64
//	DECIMAL                             value.Decimal, the digits as the server gives them
//	FLOAT, DOUBLE                       float64 (a FLOAT keeps its shortest form: 1.1, not 1.100000023841858)
//	DATE                                time.Time, midnight UTC
//	DATETIME(n)                         civil.DateTime, the wall clock (mapping reads it in Spec.Timezone)
//	TIMESTAMP(n)                        time.Time, the instant
//	zero dates (0000-00-00 ...)         value.Invalid
//	JSON                                value.JSON; MariaDB's JSON (a LONGTEXT with a
//	                                    json_valid CHECK, found in information_schema.CHECK_CONSTRAINTS)
//	                                    only for a table: sync; a query: sync reads it as string
//	BINARY, VARBINARY, BLOBs, GEOMETRY  []byte
//	CHAR, VARCHAR, TEXTs, ENUM, SET, TIME, anything else   string
//
// TLS: besides the driver's tls=true|skip-verify|preferred, the DSN may name
// PEM files the way MySQL clients do: ssl-ca (the CA the server's certificate
// must chain to; its name must match the DSN's host), and ssl-cert with ssl-key
// (a client certificate). See tlsFiles.
package mysql

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/connectors/sqlsource"
	"github.com/dbsync/dbsync/internal/dsn"
	"github.com/dbsync/dbsync/value"
)

func init() {
	connectors.Register("mysql", Open)
}

// Open connects to the MySQL or MariaDB database spec.DSN names, in
// go-sql-driver's form: user:password@tcp(host:3306)/dbname?param=value.
func Open(ctx context.Context, spec connectors.Spec) (connectors.Source, error) {
	cfg, err := readDSN(spec.DSN)
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", spec.Sync, err)
	}
	// Values come as text and are read here, in the zone the column calls for.
	cfg.ParseTime = false
	cfg.Loc = time.UTC
	cfg.InterpolateParams = false // parameters are bound by the server, never pasted
	cfg.MultiStatements = false
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	where := fmt.Sprintf("mysql %s/%s", cfg.Addr, cfg.DBName)
	if err := tlsFiles(cfg); err != nil {
		return nil, fmt.Errorf("sync %s: %s: %w", spec.Sync, where, err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("sync %s: connect to %s: %w", spec.Sync, where, sqlsource.Redact(err, spec.DSN, cfg.Passwd))
	}
	loc := spec.Timezone
	if loc == nil {
		loc = time.UTC
	}
	db := sql.OpenDB(conn)
	d := &dialect{loc: loc}
	src, err := sqlsource.Open(ctx, sqlsource.Config{DB: db, Dialect: d, Spec: spec, Where: where})
	if err != nil {
		return nil, sqlsource.Redact(err, spec.DSN, cfg.Passwd)
	}
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		src.Close()
		return nil, fmt.Errorf("sync %s: %s: server version: %w", spec.Sync, where, err)
	}
	d.mariadb = strings.Contains(strings.ToLower(version), "mariadb")
	return src, nil
}

// readDSN parses a DSN. When it does not parse, the error is about the DSN with
// its password masked (dsn.Redacted), which the driver then cannot echo, and
// names the address when the rest parses; a DSN whose password the driver read
// otherwise than written (cut at a / or @) is an error too.
func readDSN(s string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(escapeFiles(s))
	pw, _, _, hasPW := dsn.Password(s)
	if err == nil && hasPW && pw != cfg.Passwd {
		err = errors.New("the password is not as written")
	}
	if err == nil {
		return cfg, nil
	}
	if !hasPW {
		return nil, sqlsource.Redact(fmt.Errorf("mysql: read dsn: %w", err), s, "")
	}
	masked, merr := mysql.ParseDSN(escapeFiles(dsn.Redacted(s)))
	if merr != nil {
		return nil, sqlsource.Redact(fmt.Errorf("mysql: read dsn: %w", merr), s, "")
	}
	return nil, fmt.Errorf("mysql %s/%s: read dsn: the password cannot be read (it cannot hold a / before an @)", masked.Addr, masked.DBName)
}

// fileParam finds the ssl-ca, ssl-cert and ssl-key parameters in a DSN.
var fileParam = regexp.MustCompile(`(?i)([?&]ssl[-_](?:ca|cert|key)=)([^&]*)`)

// escapeFiles escapes the paths of ssl-ca, ssl-cert and ssl-key: MySQL users
// write them as they are (ssl-ca=/etc/mysql/ca.pem), but the driver takes the
// last / of a DSN to start the database name, so it wants every / in a value
// escaped. A path given escaped stays as it is.
func escapeFiles(dsn string) string {
	return fileParam.ReplaceAllStringFunc(dsn, func(param string) string {
		m := fileParam.FindStringSubmatch(param)
		path, err := url.PathUnescape(m[2])
		if err != nil {
			path = m[2]
		}
		return m[1] + url.QueryEscape(path)
	})
}

// tlsFiles takes the ssl-ca, ssl-cert and ssl-key parameters (also spelt
// ssl_ca, ...) out of cfg.Params, where the driver would send them to the server
// as session variables, and sets cfg.TLS from them: RootCAs from ssl-ca (the
// system's when only a client certificate is given), the server's name from the
// DSN's host, TLS 1.2 or later. The driver's tls= may only be absent or true
// beside them.
func tlsFiles(cfg *mysql.Config) error {
	files := map[string]string{}
	for k, v := range cfg.Params {
		switch name := strings.ReplaceAll(strings.ToLower(k), "_", "-"); name {
		case "ssl-ca", "ssl-cert", "ssl-key":
			files[name] = v
			delete(cfg.Params, k)
		}
	}
	if len(files) == 0 {
		return nil
	}
	if cfg.TLSConfig != "" && cfg.TLSConfig != "true" {
		return fmt.Errorf("tls=%s cannot go with ssl-ca, ssl-cert or ssl-key, which verify the server", cfg.TLSConfig)
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if path := files["ssl-ca"]; path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("ssl-ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("ssl-ca: no PEM certificate in %s", path)
		}
	}
	cert, key := files["ssl-cert"], files["ssl-key"]
	if (cert == "") != (key == "") {
		return errors.New("ssl-cert and ssl-key go together: give both or neither")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("ssl-cert, ssl-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	cfg.TLS = tc
	return nil
}

type dialect struct {
	loc     *time.Location // of DATETIME values
	mariadb bool
}

// Quote quotes an identifier: backticks, inner ones doubled.
func Quote(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

func (*dialect) Quote(name string) string { return Quote(name) }

func (*dialect) Placeholder(int) string { return "?" }

// LostConnection: the driver's invalid connection, or the server gone away, lost,
// shutting down, or the connection killed.
func (*dialect) LostConnection(err error) bool {
	if errors.Is(err, mysql.ErrInvalidConn) {
		return true
	}
	var e *mysql.MySQLError
	if !errors.As(err, &e) {
		return false
	}
	switch e.Number {
	case 1053, 1927, 2006, 2013: // shutdown in progress, connection killed, gone away, lost during query
		return true
	}
	return false
}

// AtOrAfter is written for the optimizer: the range on col alone lets a (col, key)
// index serve it, which MySQL does not do for a row comparison.
func (*dialect) AtOrAfter(col, key string, value, k any, bind func(any) string) string {
	return fmt.Sprintf("%s >= %s AND (%s > %s OR %s >= %s)", col, bind(value), col, bind(value), key, bind(k))
}

// declared is what information_schema says of a table's column.
type declared struct {
	columnType string // "tinyint(1)", "datetime(6)"
	json       bool   // MySQL JSON, or MariaDB's LONGTEXT with a json_valid CHECK
}

func (d *dialect) Columns(ctx context.Context, db *sql.DB, table *sqlsource.Table, probe []*sql.ColumnType) ([]sqlsource.Column, error) {
	var decl map[string]declared
	if table != nil {
		var err error
		if decl, err = d.declared(ctx, db, *table); err != nil {
			return nil, err
		}
	}
	cols := make([]sqlsource.Column, len(probe))
	for i, ct := range probe {
		var dc *declared
		if c, ok := decl[strings.ToLower(ct.Name())]; ok {
			dc = &c
		}
		cols[i] = d.column(ct.Name(), ct.DatabaseTypeName(), dc)
	}
	return cols, nil
}

// declared reads the table's column types, and on MariaDB which LONGTEXT
// columns are JSON, keyed by lower-case name (MySQL column names ignore case).
func (d *dialect) declared(ctx context.Context, db *sql.DB, t sqlsource.Table) (map[string]declared, error) {
	var schema any // NULL: the connection's database
	if t.Schema != "" {
		schema = t.Schema
	}
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`, schema, t.Name)
	if err != nil {
		return nil, fmt.Errorf("read column types: %w", err)
	}
	defer rows.Close()
	out := map[string]declared{}
	for rows.Next() {
		var name, dataType, columnType string
		if err := rows.Scan(&name, &dataType, &columnType); err != nil {
			return nil, fmt.Errorf("read column types: %w", err)
		}
		out[strings.ToLower(name)] = declared{columnType: strings.ToLower(columnType), json: strings.EqualFold(dataType, "json")}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read column types: %w", err)
	}
	if !d.mariadb {
		return out, nil
	}
	checks, err := db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`, schema, t.Name)
	if err != nil {
		return nil, fmt.Errorf("read check constraints: %w", err)
	}
	defer checks.Close()
	for checks.Next() {
		var clause string
		if err := checks.Scan(&clause); err != nil {
			return nil, fmt.Errorf("read check constraints: %w", err)
		}
		for name, c := range out {
			if strings.EqualFold(clause, "json_valid("+Quote(name)+")") && strings.HasSuffix(c.columnType, "text") {
				c.json = true
				out[name] = c
			}
		}
	}
	return out, checks.Err()
}

// column reads a column by the type the driver reports ("UNSIGNED BIGINT",
// "DATETIME") and, for a table: sync, its declared type.
func (d *dialect) column(name, typ string, decl *declared) sqlsource.Column {
	c := sqlsource.Column{Name: name, Type: typ}
	if decl != nil {
		c.Type = decl.columnType
		switch {
		case decl.json:
			c.Type = "json"
			c.Decode = sqlsource.DecodeJSON
			return c
		case strings.HasPrefix(decl.columnType, "tinyint(1)"):
			c.Decode = sqlsource.DecodeBool
			return c
		case decl.columnType == "bit(1)":
			c.Decode = decodeBit(true)
			return c
		}
	}
	switch strings.TrimPrefix(typ, "UNSIGNED ") {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR":
		c.Decode, c.Bind = sqlsource.DecodeInt, sqlsource.BindInt
	case "DECIMAL":
		c.Decode, c.Bind = sqlsource.DecodeDecimal, sqlsource.BindDecimal
	case "FLOAT", "DOUBLE":
		c.Decode, c.Bind = sqlsource.DecodeFloat, sqlsource.BindFloat
	case "BIT":
		c.Decode = decodeBit(false)
	case "DATE":
		c.Decode = decodeTime(time.UTC)
		c.Bind = sqlsource.BindTime(func(t time.Time) any { return t.UTC().Format(sqlsource.DateLayout) })
	case "DATETIME":
		c.Decode = decodeWall
		c.Bind = sqlsource.BindWall(d.loc)
	case "TIMESTAMP":
		c.Decode = decodeTime(time.UTC)
		c.Bind = sqlsource.BindTime(func(t time.Time) any { return t.UTC().Format(sqlsource.WallLayout) })
	case "JSON":
		c.Decode = sqlsource.DecodeJSON
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY":
		c.Decode = sqlsource.DecodeBytes
	default:
		c.Decode, c.Bind = sqlsource.DecodeText, sqlsource.BindText
	}
	return c
}

// decodeTime reads DATE, DATETIME and TIMESTAMP text ("2024-01-02 03:04:05.123456") in loc.
func decodeTime(loc *time.Location) func(any) (value.Value, error) {
	return func(v any) (value.Value, error) {
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("want a date or time as text, the driver gave a %T", v)
		}
		return sqlsource.ParseWall(string(b), loc), nil
	}
}

// decodeWall reads DATETIME text as the wall clock it is.
func decodeWall(v any) (value.Value, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("want a date and time as text, the driver gave a %T", v)
	}
	return sqlsource.ParseCivil(string(b)), nil
}

// decodeBit reads BIT(n), big-endian bytes, as an integer, or as a bool for BIT(1).
func decodeBit(asBool bool) func(any) (value.Value, error) {
	return func(v any) (value.Value, error) {
		b, ok := v.([]byte)
		if !ok || len(b) > 8 {
			return nil, fmt.Errorf("want up to 8 bytes of BIT, the driver gave %T %v", v, v)
		}
		var n uint64
		for _, c := range b {
			n = n<<8 | uint64(c)
		}
		if asBool {
			return n != 0, nil
		}
		return sqlsource.DecodeInt(n)
	}
}

// SessionID is the transaction's connection id, for CancelQuery: the driver only
// drops a connection whose query is cancelled, and the server would go on running
// the statement (a SLEEP, a wait on a table locked by LOCK TABLES … WRITE).
func (*dialect) SessionID(ctx context.Context, tx *sql.Tx) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id)
	return id, err
}

// CancelQuery stops the statement session id runs.
func (*dialect) CancelQuery(ctx context.Context, db *sql.DB, id int64) error {
	_, err := db.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id))
	return err
}

// UniqueIndexed: a unique index (NON_UNIQUE = 0, the primary key among them) of
// only column.
func (*dialect) UniqueIndexed(ctx context.Context, db *sql.DB, t sqlsource.Table, column string) (bool, error) {
	var schema any // NULL: the connection's database
	if t.Schema != "" {
		schema = t.Schema
	}
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT INDEX_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0
		GROUP BY INDEX_NAME HAVING COUNT(*) = 1 AND MAX(COLUMN_NAME) = ?) AS k`, schema, t.Name, column).Scan(&n)
	return n > 0, err
}
