package sqlsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/connectors"
)

// numbered is a dialect with $n placeholders and double-quoted names, enough to
// build SQL text with.
type numbered struct{}

func (numbered) Quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
func (numbered) Placeholder(n int) string { return "$" + strconv.Itoa(n) }
func (numbered) AtOrAfter(col, key string, v, k any, bind func(any) string) string {
	return fmt.Sprintf("(%s, %s) > (%s, %s)", col, key, bind(v), bind(k))
}
func (numbered) Columns(context.Context, *sql.DB, *Table, []*sql.ColumnType) ([]Column, error) {
	return nil, errors.New("not here")
}

func TestFromClause(t *testing.T) {
	for _, tc := range []struct {
		spec connectors.Spec
		from string
		args []any
		err  string
	}{
		{spec: connectors.Spec{Table: "users"}, from: `"users"`},
		{spec: connectors.Spec{Table: "public.users"}, from: `"public"."users"`},
		{spec: connectors.Spec{Table: `a"b.c.d; DROP TABLE x --`}, from: `"a""b"."c.d; DROP TABLE x --"`},
		{spec: connectors.Spec{Table: ".users"}, err: "want table or schema.table"},
		{spec: connectors.Spec{Table: "a\x00b"}, err: "NUL"},
		{spec: connectors.Spec{Table: "a", Query: "SELECT 1"}, err: "both table and query"},
		{spec: connectors.Spec{}, err: "neither table nor query"},
		{spec: connectors.Spec{Query: " ;\n "}, err: "query is empty"},
		{
			spec: connectors.Spec{Query: "SELECT id FROM t WHERE a > {{last_sync_time}} OR b > {{ last_sync_time }} -- note\n;\n"},
			from: "(\nSELECT id FROM t WHERE a > $1 OR b > $2 -- note\n) AS dbsync_src",
			args: []any{int64(1700000000), int64(1700000000)},
		},
		{
			spec: connectors.Spec{Query: "SELECT '{{last_sync_time}}' AS quoted;;"},
			from: "(\nSELECT '$1' AS quoted\n) AS dbsync_src",
			args: []any{int64(1700000000)},
		},
	} {
		from, _, args, err := fromClause(numbered{}, tc.spec, 1700000000)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || from != tc.from || !reflect.DeepEqual(args, tc.args) {
			t.Errorf("%+v:\n got %q %v %v\nwant %q %v", tc.spec, from, args, err, tc.from, tc.args)
		}
		if strings.Contains(from, "1700000000") {
			t.Errorf("%q: the last sync time is in the SQL text", from)
		}
	}
}

func TestKeysetQuery(t *testing.T) {
	base := []any{int64(7)}
	for _, tc := range []struct {
		after *boundCursor
		sql   string
		args  []any
	}{
		{nil, `SELECT * FROM "t" WHERE "at" IS NOT NULL AND "id" IS NOT NULL ORDER BY "at", "id" LIMIT 100`, base},
		{&boundCursor{value: "v"}, `SELECT * FROM "t" WHERE "at" IS NOT NULL AND "id" IS NOT NULL AND "at" >= $2 ORDER BY "at", "id" LIMIT 100`, []any{int64(7), "v"}},
		{&boundCursor{value: "v", key: int64(3)}, `SELECT * FROM "t" WHERE "at" IS NOT NULL AND "id" IS NOT NULL AND ("at", "id") > ($2, $3) ORDER BY "at", "id" LIMIT 100`, []any{int64(7), "v", int64(3)}},
	} {
		q, args := keysetQuery(numbered{}, "*", `"t"`, base, `"at"`, `"id"`, tc.after, 100)
		if q != tc.sql || !reflect.DeepEqual(args, tc.args) {
			t.Errorf("after %+v:\n got %s %v\nwant %s %v", tc.after, q, args, tc.sql, tc.args)
		}
	}
	if len(base) != 1 {
		t.Errorf("the query's own parameters were changed: %v", base)
	}
}

func TestParseDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"12.50": "12.50", "-0.01": "-0.01", "+3": "3", "007": "7", ".5": "0.5", "5.": "5",
		"1e3": "1000", "1.5e-3": "0.0015", "-12.5E+1": "-125", "0": "0", "-0.000": "-0.000",
		"123456789012345678901234567890.123456789": "123456789012345678901234567890.123456789",
	} {
		got, ok := ParseDecimal(in)
		if !ok || string(got) != want {
			t.Errorf("ParseDecimal(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-", ".", "1.2.3", "abc", "1e", "1e5000", "NaN", "1,5", " 1"} {
		if got, ok := ParseDecimal(in); ok {
			t.Errorf("ParseDecimal(%q) = %q, want no number", in, got)
		}
	}
}

var plainDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"12.50", "-1.5e-3", "+.5", "1e10", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseDecimal(s)
		if !ok {
			return
		}
		if !plainDecimal.MatchString(string(d)) {
			t.Fatalf("ParseDecimal(%q) = %q: not plain digits", s, d)
		}
		want, okIn := new(big.Rat).SetString(s)
		got, okOut := new(big.Rat).SetString(string(d))
		if okIn && okOut && want.Cmp(got) != 0 {
			t.Fatalf("ParseDecimal(%q) = %q: another number", s, d)
		}
	})
}

func TestRedact(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:hunter22@db:5432/app",
		"host=db user=u password=hunter22 dbname=app",
		"host=db user=u password='hunter22' dbname=app",
		"u:hunter22@tcp(db:3306)/app",
	} {
		err := Redact(fmt.Errorf("parse %q: bad: near hunter22", dsn), dsn, "")
		if strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%s: %v", dsn, err)
		}
	}
	short := "postgres://u:pw@db:x/app"
	if err := Redact(fmt.Errorf("parse %q: invalid port", short), short, ""); strings.Contains(err.Error(), ":pw@") {
		t.Errorf("short password shown: %v", err)
	}
	inner := errors.New("boom")
	if err := Redact(inner, "x", "y"); !errors.Is(err, inner) {
		t.Error("Redact does not unwrap")
	}
	if Redact(nil, "x", "y") != nil {
		t.Error("Redact(nil) is not nil")
	}
}
