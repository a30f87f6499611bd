package bqtest

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/connectors/conformance"
	"github.com/dbsync/dbsync/value"
)

// Harness is the conformance.Harness of connectors/bigquery: each test gets an
// emulator of its own (they start in milliseconds). One shared emulator would
// serialise the parallel tests, and it slows down with every job it keeps.
type Harness struct{}

// Slow: every query on the emulator takes seconds.
func (Harness) Slow() bool { return true }

// NewDB is a dataset in a new emulator that stops when t ends.
func (Harness) NewDB(t *testing.T) conformance.DB { return New(t).Dataset(t) }

// NameChars are what the emulator takes in table and column names: all but a
// backtick. (BigQuery itself takes fewer: space and - in table names, also ' in
// flexible column names.)
func (Harness) NameChars() string { return "\"'; -" }

// Dataset makes a fresh dataset.
func (e *Emulator) Dataset(t testing.TB) *DB {
	t.Helper()
	e.mu.Lock()
	e.datasets++
	name := fmt.Sprintf("ds%d_%s", e.datasets, strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name()))
	e.mu.Unlock()
	if len(name) > 100 {
		name = name[:100]
	}
	db := &DB{Client: e.Client(t), Name: name, emu: e}
	ctx, cancel := timeout()
	defer cancel()
	if err := db.Client.Dataset(name).Create(ctx, nil); err != nil {
		t.Fatalf("bqtest: create dataset %s: %v", name, err)
	}
	return db
}

// timeout bounds a harness call: the client retries some of the emulator's
// errors without end.
func timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

// DB is one dataset; it implements conformance.DB.
type DB struct {
	Client *bigquery.Client // of the emulator's project
	Name   string           // the dataset
	emu    *Emulator
}

// Spec opens the dataset anonymously through the emulator's endpoint.
func (db *DB) Spec() connectors.Spec {
	return connectors.Spec{Type: "bigquery", Project: db.emu.Project, Dataset: db.Name, Endpoint: db.emu.URL, Anonymous: true}
}

func (db *DB) Schema() string { return db.Name }

// TableRef is `project`.`dataset`.`table`.
func (db *DB) TableRef(table string) string {
	return quote(db.emu.Project) + "." + quote(db.Name) + "." + quote(table)
}

func quote(name string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(name) + "`"
}

// Types are the BigQuery types of the suite's kinds.
var Types = map[conformance.Kind]bigquery.FieldType{
	conformance.Text:        bigquery.StringFieldType,
	conformance.Int:         bigquery.IntegerFieldType,
	conformance.BigInt:      bigquery.IntegerFieldType,
	conformance.Decimal:     bigquery.NumericFieldType,
	conformance.Float:       "FLOAT64", // FLOAT, the API's name, is a 32-bit FLOAT in the emulator
	conformance.Bool:        bigquery.BooleanFieldType,
	conformance.Date:        bigquery.DateFieldType,
	conformance.Timestamp:   bigquery.DateTimeFieldType,
	conformance.TimestampTZ: bigquery.TimestampFieldType,
	conformance.JSON:        bigquery.JSONFieldType,
	conformance.Bytes:       bigquery.BytesFieldType,
}

func schema(t testing.TB, cols []conformance.ColumnDef) bigquery.Schema {
	t.Helper()
	s := make(bigquery.Schema, len(cols))
	for i, c := range cols {
		typ, ok := Types[c.Kind]
		if !ok {
			t.Fatalf("bqtest: no BigQuery type for %v", c.Kind)
		}
		s[i] = &bigquery.FieldSchema{Name: c.Name, Type: typ}
	}
	return s
}

// CreateTable creates a table; BigQuery has no primary keys to make of Key.
func (db *DB) CreateTable(t *testing.T, table string, cols []conformance.ColumnDef) {
	t.Helper()
	db.CreateTableSchema(t, table, schema(t, cols))
}

// CreateTableSchema creates a table of any schema.
func (db *DB) CreateTableSchema(t testing.TB, table string, s bigquery.Schema) {
	t.Helper()
	ctx, cancel := timeout()
	defer cancel()
	if err := db.Client.Dataset(db.Name).Table(table).Create(ctx, &bigquery.TableMetadata{Schema: s}); err != nil {
		t.Fatalf("bqtest: create table %s: %v", table, err)
	}
}

// Insert adds rows with DML INSERT statements. (The emulator's streaming
// inserts store BYTES as their base64 text and round INT64 beyond 2^53.)
func (db *DB) Insert(t *testing.T, table string, cols []conformance.ColumnDef, rows [][]any) {
	t.Helper()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quote(c.Name)
	}
	head := fmt.Sprintf("INSERT INTO %s (%s) VALUES ", db.TableRef(table), strings.Join(names, ", "))
	const chunk = 500 // rows a statement
	for len(rows) > 0 {
		n := min(chunk, len(rows))
		var b strings.Builder
		var params []bigquery.QueryParameter
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
				name := fmt.Sprintf("p%d", len(params))
				sql, p := bind(cols[i].Kind, v, name)
				b.WriteString(sql)
				if p != nil {
					params = append(params, *p)
				}
			}
			b.WriteString(")")
		}
		db.Exec(t, b.String(), params...)
		rows = rows[n:]
	}
}

// Update sets a column with a DML UPDATE.
func (db *DB) Update(t *testing.T, table string, key conformance.ColumnDef, keyValue any, col conformance.ColumnDef, v any) {
	t.Helper()
	set, p := bind(col.Kind, v, "value")
	where, k := bind(key.Kind, keyValue, "key")
	var params []bigquery.QueryParameter
	for _, p := range []*bigquery.QueryParameter{p, k} {
		if p != nil {
			params = append(params, *p)
		}
	}
	db.Exec(t, fmt.Sprintf("UPDATE %s SET %s = %s WHERE %s = %s", db.TableRef(table), quote(col.Name), set, quote(key.Name), where), params...)
}

// Exec runs a statement (DML, DDL) and waits for it.
func (db *DB) Exec(t testing.TB, sql string, params ...bigquery.QueryParameter) {
	t.Helper()
	ctx, cancel := timeout()
	defer cancel()
	q := db.Client.Query(sql)
	q.Parameters = params
	job, err := q.Run(ctx)
	if err == nil {
		var st *bigquery.JobStatus
		if st, err = job.Wait(ctx); err == nil {
			err = st.Err()
		}
	}
	if err != nil {
		t.Fatalf("bqtest: %.200s: %v", sql, err)
	}
}

// bind is a suite value for a column of kind k as SQL: a parameter of that
// name in the expression that makes the column's type of it, or NULL.
func bind(k conformance.Kind, v any, name string) (string, *bigquery.QueryParameter) {
	if v == nil {
		return "NULL", nil
	}
	p := &bigquery.QueryParameter{Name: name, Value: v}
	sql := "@" + name
	switch v := v.(type) {
	case time.Time:
		switch k {
		case conformance.Date:
			p.Value, sql = v.Format("2006-01-02"), "CAST(@"+name+" AS DATE)"
		case conformance.Timestamp:
			p.Value, sql = v.Format("2006-01-02 15:04:05.999999"), "CAST(@"+name+" AS DATETIME)"
		}
	case value.Decimal:
		p.Value, sql = string(v), "CAST(@"+name+" AS NUMERIC)"
	case value.JSON:
		p.Value, sql = string(v), "PARSE_JSON(@"+name+")"
	case []byte:
		p.Value, sql = base64.StdEncoding.EncodeToString(v), "FROM_BASE64(@"+name+")"
	}
	return sql, p
}
