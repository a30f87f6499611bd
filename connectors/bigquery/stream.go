package bigquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/dbsync/dbsync/value"
	"google.golang.org/api/iterator"
)

// stream is one Read: one query job, whose result pages are fetched as Next
// asks for them.
type stream struct {
	src   *source
	batch int
	nulls int64

	jobID  string
	it     *bigquery.RowIterator
	cancel context.CancelFunc // of the iterator's context
	wm     [2]int             // indexes of the watermark column and key; -1 without a watermark
	after  *value.Cursor      // the last row handed out, for messages
	done   bool
	skip   *plan // set until the first row is seen: skip it if it is the cursor's row
}

// start runs the read query. The iterator fetches every page with the context
// it was made with, so that context outlives Read's; each Next's ctx cancels it.
func (st *stream) start(ctx context.Context, p *plan) error {
	st.jobID, st.after = p.read.JobID, p.after
	if p.atCursor {
		st.skip = p
	}
	ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	it, err := st.src.run(ictx, p.read, "read rows "+p.after.Where())
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return st.src.jobError(st.jobID, "read rows "+p.after.Where(), ctx.Err())
		}
		return err
	}
	it.PageInfo().MaxSize = st.batch
	st.it, st.cancel = it, cancel
	st.wm = [2]int{-1, -1}
	for i, f := range it.Schema {
		if p.col != "" && f.Name == p.col {
			st.wm[0] = i
		}
		if p.key != "" && f.Name == p.key {
			st.wm[1] = i
		}
	}
	return nil
}

func (st *stream) Columns() []value.Column {
	out := make([]value.Column, len(st.it.Schema))
	for i, f := range st.it.Schema {
		out[i] = value.Column{Name: f.Name, Type: typeName(f)}
	}
	return out
}

func (st *stream) NullCursorRows() int64 { return st.nulls }

func (st *stream) Next(ctx context.Context) ([][]any, error) {
	if st.done {
		return nil, io.EOF
	}
	what := "read batch " + st.after.Where()
	if err := ctx.Err(); err != nil {
		return nil, st.src.jobError(st.jobID, what, err)
	}
	stop := context.AfterFunc(ctx, st.cancel)
	defer stop()
	var out [][]any
	for len(out) < st.batch {
		var vals []bigquery.Value
		err := st.it.Next(&vals)
		if errors.Is(err, iterator.Done) {
			st.Close()
			break
		}
		if err != nil {
			st.Close()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, st.src.jobError(st.jobID, what, err)
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			f := st.it.Schema[i]
			if row[i], err = decode(v, f, st.src.loc); err != nil {
				st.Close()
				return nil, st.src.jobError(st.jobID, what, fmt.Errorf("column %q (%s): %w", f.Name, typeName(f), err))
			}
		}
		if st.skip != nil {
			p := st.skip
			st.skip = nil
			if st.wm[0] >= 0 && st.wm[1] >= 0 && st.src.isCursor(p, row[st.wm[0]], row[st.wm[1]]) {
				continue // the cursor's own row, read before
			}
		}
		out = append(out, row)
	}
	if len(out) == 0 {
		return nil, io.EOF
	}
	if st.wm[0] >= 0 && st.wm[1] >= 0 {
		last := out[len(out)-1]
		st.after = &value.Cursor{Value: last[st.wm[0]], Key: last[st.wm[1]]}
	}
	return out, nil
}

// Close stops the stream; the job has already finished on BigQuery's side.
func (st *stream) Close() error {
	st.done = true
	if st.cancel != nil {
		st.cancel()
	}
	return nil
}

// isCursor says whether a row's watermark value and key are the cursor's: both bind
// to the same parameters (the cursor may have come back from the store in another
// Go type).
func (s *source) isCursor(p *plan, value, key any) bool {
	same := func(f *bigquery.FieldSchema, a, b any) bool {
		x, err1 := bindCursor(f, a, s.loc)
		y, err2 := bindCursor(f, b, s.loc)
		if err1 != nil || err2 != nil {
			return false
		}
		if tx, ok := x.(time.Time); ok {
			ty, ok := y.(time.Time)
			return ok && tx.Equal(ty)
		}
		defer func() { recover() }() // values that cannot be compared are not the same
		return x == y
	}
	return same(p.colSchema, value, p.after.Value) && same(p.keySchema, key, p.after.Key)
}
