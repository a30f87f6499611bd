package sqlsource

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/dbsync/dbsync/connectors"
)

// lastSyncTime is the query placeholder for the start of the last successful run.
var lastSyncTime = regexp.MustCompile(`\{\{\s*last_sync_time\s*\}\}`)

// params collects the bound parameters of one statement.
type params struct {
	placeholder func(int) string
	args        []any
}

// add binds v and returns its placeholder.
func (p *params) add(v any) string {
	p.args = append(p.args, v)
	return p.placeholder(len(p.args))
}

// fromClause is what a sync reads FROM: the quoted table, or the query as a
// subquery with each {{last_sync_time}} bound as a parameter of its own (so each
// use gets the type its context wants).
func fromClause(d Dialect, spec connectors.Spec, last int64) (from string, table *Table, args []any, err error) {
	switch {
	case spec.Table != "" && spec.Query != "":
		return "", nil, nil, errors.New("both table and query are set")
	case spec.Table != "":
		t, err := ParseTable(spec.Table)
		if err != nil {
			return "", nil, nil, err
		}
		return TableRef(d, t), &t, nil, nil
	case spec.Query != "":
		q := trimQuery(spec.Query)
		if q == "" {
			return "", nil, nil, errors.New("query is empty")
		}
		p := &params{placeholder: d.Placeholder}
		q = lastSyncTime.ReplaceAllStringFunc(q, func(string) string { return p.add(last) })
		// The newlines keep a trailing line comment from swallowing the parenthesis.
		return "(\n" + q + "\n) AS dbsync_src", nil, p.args, nil
	}
	return "", nil, nil, errors.New("neither table nor query is set")
}

// trimQuery strips the blanks and semicolons that end a query.
func trimQuery(q string) string {
	return strings.TrimRight(strings.TrimSpace(q), "; \t\r\n")
}

// ParseTable splits "schema.table" at its first dot.
func ParseTable(name string) (Table, error) {
	if strings.ContainsRune(name, 0) {
		return Table{}, fmt.Errorf("table %q: a name cannot hold a NUL byte", name)
	}
	schema, table, ok := strings.Cut(name, ".")
	if !ok {
		return Table{Name: name}, nil
	}
	if schema == "" || table == "" {
		return Table{}, fmt.Errorf("table %q: want table or schema.table", name)
	}
	return Table{Schema: schema, Name: table}, nil
}

// TableRef is t as SQL, each part quoted.
func TableRef(d Dialect, t Table) string {
	if t.Schema == "" {
		return d.Quote(t.Name)
	}
	return d.Quote(t.Schema) + "." + d.Quote(t.Name)
}

// selectList is "*" unless a column has to be selected in a way of its own.
func selectList(d Dialect, cols []Column) string {
	special := false
	for _, c := range cols {
		special = special || c.Select != ""
	}
	if !special {
		return "*"
	}
	list := make([]string, len(cols))
	for i, c := range cols {
		list[i] = c.Select
		if list[i] == "" {
			list[i] = d.Quote(c.Name)
		}
	}
	return strings.Join(list, ", ")
}

func orderExpr(d Dialect, c Column) string {
	if c.Order != "" {
		return c.Order
	}
	return d.Quote(c.Name)
}

// keysetQuery is one batch: the rows after the cursor (from the first when after
// is nil; from after.Value inclusive when after.Key is nil) in (column, key)
// order. NULL columns and keys are left out. A limit of 0 reads every row.
func keysetQuery(d Dialect, sel, from string, base []any, wmExpr, keyExpr string, after *boundCursor, limit int) (string, []any) {
	p := &params{placeholder: d.Placeholder, args: append([]any(nil), base...)}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s WHERE %s IS NOT NULL AND %s IS NOT NULL", sel, from, wmExpr, keyExpr)
	switch {
	case after == nil:
	case after.key == nil:
		fmt.Fprintf(&b, " AND %s >= %s", wmExpr, p.add(after.value))
	default:
		fmt.Fprintf(&b, " AND %s", d.AtOrAfter(wmExpr, keyExpr, after.value, after.key, p.add))
	}
	fmt.Fprintf(&b, " ORDER BY %s, %s", wmExpr, keyExpr)
	if limit > 0 {
		fmt.Fprintf(&b, " LIMIT %s", strconv.Itoa(limit))
	}
	return b.String(), p.args
}

// boundCursor is a cursor as parameters.
type boundCursor struct {
	value, key any
}
