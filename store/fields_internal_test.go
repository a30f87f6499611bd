package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/internal/testdb"
)

// Rows written by COPY in the text format fields writes must read back as the same
// rows written as statement arguments: random text full of what COPY escapes
// (backslashes, tabs, newlines, carriage returns, a literal \N), empty text apart from
// NULL, integers and booleans, over many chunks of the COPY, and through the typed
// values and Any alike.
func TestCopyTextMatchesStatements(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.Postgres(t)
	st, err := Open(ctx, "postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(7, 11))
	pieces := []string{`\`, "\t", "\n", "\r", `\N`, `\\N`, "a", "Zoë", "日本", " ", `"`, "'", ",", "\\t"}
	text := func() string {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	type row struct {
		key      int64
		a, b     string
		n        int64
		yes      bool
		nullable string
	}
	rows := make([]row, 3000) // some 150 kB: several of copyRows' chunks
	for i := range rows {
		rows[i] = row{key: int64(i), a: text(), b: text(), n: rng.Int64() - rng.Int64(), yes: rng.IntN(2) == 0, nullable: text()}
	}
	cols := []string{"k", "a", "b", "n", "yes", "maybe"}
	typed := func(i int, f *fields) {
		r := rows[i]
		f.Int(r.key)
		f.Text(r.a)
		f.Bytes([]byte(r.b))
		f.Int(r.n)
		f.Bool(r.yes)
		f.NullText(r.nullable)
	}
	boxed := func(i int) []any {
		r := rows[i]
		var maybe any
		if r.nullable != "" {
			maybe = r.nullable
		}
		return []any{int(r.key), r.a, r.b, r.n, r.yes, maybe}
	}
	read := func(table string) []row {
		t.Helper()
		q := `SELECT k, a, b, n, yes, maybe FROM ` + table + ` ORDER BY k`
		res, err := st.db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		var out []row
		for res.Next() {
			var r row
			var maybe sql.NullString
			if err := res.Scan(&r.key, &r.a, &r.b, &r.n, &r.yes, &maybe); err != nil {
				t.Fatal(err)
			}
			if maybe.Valid && maybe.String == "" {
				t.Fatalf("row %d: an empty text was written as '', not NULL", r.key)
			}
			r.nullable = maybe.String
			out = append(out, r)
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	write := func(name string, f func(tx *Tx, table string) error) []row {
		t.Helper()
		table := "fields_" + name
		if _, err := st.db.ExecContext(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %[1]s;
			CREATE TABLE %[1]s (k bigint PRIMARY KEY, a text NOT NULL, b text NOT NULL, n bigint, yes boolean, maybe text)`, table)); err != nil {
			t.Fatal(err)
		}
		if err := st.InTx(ctx, func(tx *Tx) error { return f(tx, table) }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return read(table)
	}
	saved := stagedFrom
	stagedFrom = 1 << 30 // statements, not the stage's COPY
	defer func() { stagedFrom = saved }()
	byStatements := write("values", func(tx *Tx, table string) error {
		return tx.insertRows(ctx, table, cols, " ON CONFLICT DO NOTHING", len(rows), typed)
	})
	if !reflect.DeepEqual(byStatements, rows) {
		t.Fatal("the rows written as statement arguments do not read back as written")
	}
	byCopy := write("copy", func(tx *Tx, table string) error {
		return tx.insertRows(ctx, table, cols, "", len(rows), typed)
	})
	byCopyAny := write("copy_any", func(tx *Tx, table string) error {
		return tx.insert(ctx, table, cols, "", len(rows), boxed)
	})
	for name, got := range map[string][]row{"typed": byCopy, "any": byCopyAny} {
		if len(got) != len(rows) {
			t.Fatalf("COPY (%s) wrote %d rows of %d", name, len(got), len(rows))
		}
		for i := range rows {
			if got[i] != rows[i] {
				t.Fatalf("COPY (%s), row %d: read back %+v, written %+v", name, i, got[i], rows[i])
			}
		}
	}
}

// A value COPY cannot write fails the insert, naming its type, before the
// statement ends.
func TestCopyRefusesWhatNoColumnTakes(t *testing.T) {
	var f fields
	f.copy = true
	f.Any([]byte("x"))
	if f.err == nil || !strings.Contains(f.err.Error(), "[]uint8") {
		t.Fatalf("bytes: err = %v", f.err)
	}
}
