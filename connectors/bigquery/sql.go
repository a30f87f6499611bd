package bigquery

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"cloud.google.com/go/bigquery"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/internal/columns"
	"github.com/dbsync/dbsync/value"
)

// plan is the queries of one Read.
type plan struct {
	count *bigquery.Query // the rows a NULL watermark column or key leaves out; nil without a watermark
	read  *bigquery.Query // the rows
	after *value.Cursor   // where read starts, for messages; nil: from the first row

	col, key string // the watermark column's and key's names in the result

	// atCursor: read reads from the cursor row itself, which the stream skips, so a
	// second row tying it on column and key (a key that is not unique) is read and
	// reported rather than passed over.
	atCursor bool
}

// plan writes the queries a Read after req.After runs. With a watermark it
// first learns the result's schema, to check the watermark columns and bind the
// cursor in their types.
func (s *source) plan(ctx context.Context, req connectors.Request) (*plan, error) {
	from, table, params, err := s.from(req.LastSyncTime)
	if err != nil {
		return nil, s.errorf("%w", err)
	}
	wm := s.spec.Watermark
	if wm.Column == "" {
		return &plan{read: s.query("SELECT * FROM "+from, params)}, nil
	}
	schema, err := s.describe(ctx, from, table, params)
	if err != nil {
		return nil, err
	}
	col, err := cursorField(schema, wm.Column)
	if err != nil {
		return nil, s.errorf("watermark.column: %w", err)
	}
	key, err := cursorField(schema, wm.Key)
	if err != nil {
		return nil, s.errorf("watermark.key: %w", err)
	}
	c, k := quote(col.Name), quote(key.Name)
	p := &plan{
		count: s.query(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s IS NULL OR %s IS NULL", from, c, k), params),
		col:   col.Name,
		key:   key.Name,
	}

	where := fmt.Sprintf("%s IS NOT NULL AND %s IS NOT NULL", c, k)
	args := append([]bigquery.QueryParameter(nil), params...)
	if a := req.After; a != nil && a.Value != nil {
		p.after = a
		v, err := bindCursor(col, a.Value, s.loc)
		if err != nil {
			return nil, s.errorf("cursor value for %q: %w", col.Name, err)
		}
		args = append(args, bigquery.QueryParameter{Name: "cursor_value", Value: v})
		if a.Key == nil {
			where += fmt.Sprintf(" AND %s >= @cursor_value", c)
		} else {
			kv, err := bindCursor(key, a.Key, s.loc)
			if err != nil {
				return nil, s.errorf("cursor key for %q: %w", key.Name, err)
			}
			args = append(args, bigquery.QueryParameter{Name: "cursor_key", Value: kv})
			where += fmt.Sprintf(" AND (%s > @cursor_value OR %s = @cursor_value AND %s >= @cursor_key)", c, c, k)
			p.atCursor = true
		}
	}
	p.read = s.query(fmt.Sprintf("SELECT * FROM %s WHERE %s ORDER BY %s, %s", from, where, c, k), args)
	return p, nil
}

// describe learns the columns a sync reads: a table's from its metadata, a
// query's from a dry run.
func (s *source) describe(ctx context.Context, from string, table *bigquery.Table, params []bigquery.QueryParameter) (bigquery.Schema, error) {
	if table != nil {
		md, err := table.Metadata(ctx)
		if err != nil {
			return nil, s.errorf("table %s: %w", from, err)
		}
		return md.Schema, nil
	}
	q := s.query("SELECT * FROM "+from, params)
	stats, err := s.dryRun(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(stats.Schema) == 0 {
		return nil, s.jobError(q.JobID, "dry run", errors.New("the answer has no result schema"))
	}
	return stats.Schema, nil
}

// lastSyncTime is the query placeholder for the start of the last successful run.
var lastSyncTime = regexp.MustCompile(`\{\{\s*last_sync_time\s*\}\}`)

// from is what a sync reads FROM: the quoted table (and the table, for its
// metadata), or the query as a subquery with {{last_sync_time}} as a parameter.
func (s *source) from(last int64) (string, *bigquery.Table, []bigquery.QueryParameter, error) {
	spec := s.spec
	switch {
	case spec.Table != "" && spec.Query != "":
		return "", nil, nil, errors.New("both table and query are set")
	case spec.Table != "":
		project, dataset, table, err := parseTable(spec.Table, spec.Project, spec.Dataset)
		if err != nil {
			return "", nil, nil, err
		}
		from := quote(project) + "." + quote(dataset) + "." + quote(table)
		return from, s.client.DatasetInProject(project, dataset).Table(table), nil, nil
	case spec.Query != "":
		q := strings.TrimRight(strings.TrimSpace(spec.Query), "; \t\r\n")
		if q == "" {
			return "", nil, nil, errors.New("query is empty")
		}
		var params []bigquery.QueryParameter
		if lastSyncTime.MatchString(q) {
			q = lastSyncTime.ReplaceAllLiteralString(q, "@last_sync_time")
			params = []bigquery.QueryParameter{{Name: "last_sync_time", Value: last}}
		}
		// The newlines keep a trailing line comment from swallowing the parenthesis.
		return "(\n" + q + "\n) AS dbsync_src", nil, params, nil
	}
	return "", nil, nil, errors.New("neither table nor query is set")
}

// parseTable reads table, dataset.table or project.dataset.table; the project
// may hold dots and a colon ("example.com:app").
func parseTable(name, project, dataset string) (string, string, string, error) {
	rest, table := "", name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		rest, table = name[:i], name[i+1:]
		dataset = rest
		if j := strings.LastIndexByte(rest, '.'); j >= 0 {
			project, dataset = rest[:j], rest[j+1:]
		}
	}
	switch {
	case table == "" || dataset == "" || project == "":
		return "", "", "", fmt.Errorf("table %q: want table, dataset.table or project.dataset.table (and a dataset in the source)", name)
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", "", "", fmt.Errorf("table %q: a name cannot hold a control character", name)
	}
	return project, dataset, table, nil
}

// quote makes name a quoted identifier, read as a name whatever it holds:
// backticks, with backslashes and backticks escaped.
func quote(name string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(name) + "`"
}

// cursorField finds a watermark column or key in the schema by the one rule of
// SPEC §3 (columns.Find), and checks a cursor can be bound in its type.
func cursorField(schema bigquery.Schema, name string) (*bigquery.FieldSchema, error) {
	if name == "" {
		return nil, errors.New("not set")
	}
	names := make([]string, len(schema))
	for i, f := range schema {
		names[i] = f.Name
	}
	i, err := columns.Find(names, name)
	if err != nil {
		return nil, err
	}
	found := schema[i]
	switch found.Type {
	case bigquery.IntegerFieldType, bigquery.StringFieldType, bigquery.DateFieldType, bigquery.DateTimeFieldType, bigquery.TimestampFieldType:
		if !found.Repeated {
			return found, nil
		}
	}
	return nil, fmt.Errorf("column %q (%s) cannot be a watermark column or key: use INT64, STRING, DATE, DATETIME or TIMESTAMP", found.Name, typeName(found))
}
