package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
)

// stagedFrom is how many rows an INSERT with a suffix (an upsert, ON CONFLICT DO
// NOTHING) needs before it goes through a stage on PostgreSQL; fewer are sent as
// multi-row INSERT … VALUES. A variable so that tests can send every write through
// either path.
var stagedFrom = 64

// staged writes n rows as one INSERT … SELECT … suffix from a temporary table the rows
// were copied into. PostgreSQL parses, plans and converts a 12-column multi-row
// VALUES upsert row by row at a cost near the write itself; COPY into the stage and
// one statement over it took a third less time in an A/B of 200k people upserts
// (docs/benchmarks.md). The rows go in in their order (the stage's ord column), so
// identity columns number them and conflicting rows meet as they would in VALUES.
//
// The stage is the session's, made once a connection (IF NOT EXISTS) with the
// columns' types and no constraints or defaults, and empties at commit; it is emptied
// after use too, for another write in the same transaction.
func (t *Tx) staged(ctx context.Context, table string, cols []string, suffix string, n int, row func(i int, f *fields)) error {
	h := fnv.New32a()
	h.Write([]byte(strings.Join(cols, ",")))
	stage := fmt.Sprintf("stage_%s_%08x", table, h.Sum32())
	list := strings.Join(cols, ", ")
	create := "CREATE TEMP TABLE IF NOT EXISTS " + stage + " ON COMMIT DELETE ROWS AS SELECT 0::BIGINT AS ord, " +
		list + " FROM " + table + " WITH NO DATA"
	if _, err := t.tx.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("write %s: stage: %w", table, err)
	}
	withOrd := append([]string{"ord"}, cols...)
	if err := t.copyRows(ctx, stage, withOrd, n, func(i int, f *fields) {
		f.Int(int64(i))
		row(i, f)
	}); err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	q := "INSERT INTO " + table + " (" + list + ") SELECT " + list + " FROM " + stage + " ORDER BY ord" + suffix
	if _, err := t.tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	if _, err := t.tx.ExecContext(ctx, "DELETE FROM "+stage); err != nil {
		return fmt.Errorf("write %s: empty the stage: %w", table, err)
	}
	return nil
}
