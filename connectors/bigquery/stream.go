package bigquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/value"
)

// stream is one Read: one query job, whose result pages are fetched as Next
// asks for them.
type stream struct {
	src   *source
	batch int
	bytes int64 // Request.BatchBytes: a batch also ends at this much row data (0: no bound)
	nulls int64

	jobID  string
	it     *bigquery.RowIterator
	cancel context.CancelFunc // of the iterator's context
	wm     [2]int             // indexes of the watermark column and key; -1 without a watermark
	after  *value.Cursor      // the last row handed out (Request.After before the first)
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
	it.PageInfo().MaxSize = st.pageRows(0)
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
	if p.col != "" && (st.wm[0] < 0 || st.wm[1] < 0) {
		st.Close()
		return st.src.jobError(st.jobID, "read rows", fmt.Errorf("the result has no column %q or %q", p.col, p.key))
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

func (st *stream) Next(ctx context.Context) (connectors.Batch, error) {
	if st.done {
		return connectors.Batch{}, io.EOF
	}
	what := "read batch " + st.after.Where()
	if err := ctx.Err(); err != nil {
		return connectors.Batch{}, st.src.jobError(st.jobID, what, err)
	}
	stop := context.AfterFunc(ctx, st.cancel)
	defer stop()
	var out [][]any
	var size int64
	for len(out) < st.batch && (st.bytes <= 0 || len(out) == 0 || size < st.bytes) {
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
			return connectors.Batch{}, st.src.jobError(st.jobID, what, err)
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			f := st.it.Schema[i]
			if row[i], err = decode(v, f, st.src.loc); err != nil {
				st.Close()
				return connectors.Batch{}, st.src.jobError(st.jobID, what, fmt.Errorf("column %q (%s): %w", f.Name, typeName(f), err))
			}
		}
		if st.skip != nil {
			p := st.skip
			st.skip = nil
			if st.wm[0] >= 0 && st.ties(row, p.after) {
				continue // the cursor's own row, read before
			}
		}
		size += connectors.RowBytes(row)
		out = append(out, row)
	}
	if len(out) == 0 {
		return connectors.Batch{}, io.EOF
	}
	if st.bytes > 0 && st.it != nil {
		st.it.PageInfo().MaxSize = st.pageRows(max(size/int64(len(out)), 1))
	}
	if st.wm[0] < 0 {
		return connectors.Batch{Rows: out}, nil
	}
	b := connectors.NewBatch(out, st.wm[0], st.wm[1], st.ties(out[0], st.after))
	st.after = b.Cursor()
	return b, nil
}

// pageRows is how many rows a result page holds: BatchSize, or with BatchBytes as
// many as that many bytes holds at rowBytes a row (at most 1,000 before any row is
// read), so a page of wide rows is not fetched whole past the byte bound.
func (st *stream) pageRows(rowBytes int64) int {
	switch {
	case st.bytes <= 0:
		return st.batch
	case rowBytes == 0:
		return min(st.batch, 1000)
	}
	return int(min(int64(st.batch), max((st.bytes+rowBytes-1)/rowBytes, 1)))
}

// Close stops the stream; the job has already finished on BigQuery's side.
func (st *stream) Close() error {
	st.done = true
	if st.cancel != nil {
		st.cancel()
	}
	return nil
}

// ties says whether a row's watermark value and key are the cursor's: both bind to
// the same parameters (the cursor may have come back from the store in another Go
// type). No row ties a nil cursor or one without a key (a lookback start).
func (st *stream) ties(row []any, c *value.Cursor) bool {
	if c == nil || c.Key == nil {
		return false
	}
	s := st.src
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
	return same(st.it.Schema[st.wm[0]], row[st.wm[0]], c.Value) && same(st.it.Schema[st.wm[1]], row[st.wm[1]], c.Key)
}
