package testdb

import (
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// Dump reads every table of a store (SQLite file or PostgreSQL schema) directly and
// returns its rows as text, one line a row ("table: value | value …", NULL as
// NULL), tables in name order. A test checks with it what a store holds, whatever
// the store's own reads show: that an erased value is nowhere in it.
func Dump(t testing.TB, driver, dsn string) string {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("testdb: dump: %v", err)
	}
	defer db.Close()
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	if driver == "sqlite" {
		q = `SELECT name FROM sqlite_master WHERE type = 'table'`
	}
	tables := queryStrings(t, db, q)
	sort.Strings(tables)
	var b strings.Builder
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatalf("testdb: dump %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("testdb: dump %s: %v", table, err)
			}
			fmt.Fprintf(&b, "%s:", table)
			for i, v := range vals {
				if i > 0 {
					b.WriteString(" |")
				}
				if v.Valid {
					b.WriteString(" " + v.String)
				} else {
					b.WriteString(" NULL")
				}
			}
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("testdb: dump %s: %v", table, err)
		}
		rows.Close()
	}
	return b.String()
}

func queryStrings(t testing.TB, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("testdb: dump: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("testdb: dump: %v", err)
		}
		out = append(out, s)
	}
	return out
}
