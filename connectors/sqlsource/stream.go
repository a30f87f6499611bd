package sqlsource

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/value"
)

// stream is one Read. A `table:` sync with a watermark reads each batch with a
// keyset query of its own; a `query:` sync, and a read without a watermark, read
// rows from one streaming query.
type stream struct {
	src        *source
	from       string
	baseArgs   []any // the query's {{last_sync_time}} parameters
	batch      int
	bytes      int64 // Request.BatchBytes: a batch also ends at this much row data (0: no bound)
	rowBytes   int64 // with bytes, the last keyset batch's mean connectors.RowBytes; 0 before the first
	cols       []Column
	selectList string

	wm, key         int // indexes of the watermark column and key; -1 without a watermark
	wmExpr, keyExpr string
	after           *value.Cursor // the next batch starts after it; nil: from the first row
	// tied are the rows read that tie after on both column and key (the
	// cursor's own row among them), and unseen how many more were read before
	// this Read (1 for a Read from a stored cursor, whose row it does not have):
	// the next batch leaves those out, so a key that is not unique is neither
	// passed over nor read twice, whatever order the database gives tied rows.
	tied   [][]any
	unseen int
	nulls  int64
	done   bool

	// The streaming query, and with a watermark: prev, the cursor of the row
	// before the next batch (Request.After before the first); skip, the cursor
	// whose row is left out if it comes first (the row of Request.After, read
	// before).
	prev, skip *boundCursor
	cancel     context.CancelFunc
	tx         *sql.Tx
	rows       *sql.Rows
	stopKill   func() bool
	timedOut   atomic.Bool // the read timeout cancelled the query
}

func (st *stream) Columns() []value.Column {
	out := make([]value.Column, len(st.cols))
	for i, c := range st.cols {
		out[i] = value.Column{Name: c.Name, Type: c.Type}
	}
	return out
}

func (st *stream) NullCursorRows() int64 { return st.nulls }

func (st *stream) Next(ctx context.Context) (connectors.Batch, error) {
	if st.done {
		return connectors.Batch{}, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return connectors.Batch{}, st.src.errorf("read batch: %w", err)
	}
	if st.rows != nil {
		return st.nextStreamed(ctx)
	}
	return st.nextKeyset(ctx)
}

// Close ends the read. A streaming query read in part is canceled first, so the
// driver does not read the rest of it to close it.
func (st *stream) Close() error {
	st.done = true
	if st.cancel == nil {
		return nil
	}
	st.stopKill()
	st.cancel()
	st.rows.Close()
	st.tx.Rollback()
	st.cancel = nil
	return nil
}

// countNulls counts the rows a NULL watermark column or key leaves out.
func (st *stream) countNulls(ctx context.Context) error {
	q := fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s IS NULL OR %s IS NULL", st.from, st.wmExpr, st.keyExpr)
	err := st.src.readOnly(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := query(ctx, tx, q, st.baseArgs...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return sql.ErrNoRows
		}
		if err := rows.Scan(&st.nulls); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return st.src.errorf("count rows with a NULL watermark column or key: %w", err)
	}
	return nil
}

func (st *stream) nextKeyset(ctx context.Context) (connectors.Batch, error) {
	var after *boundCursor
	if st.after != nil {
		var err error
		if after, err = st.bind(*st.after); err != nil {
			return connectors.Batch{}, st.src.errorf("read batch %s: %w", st.after.Where(), err)
		}
	}
	// The query reads from the cursor row itself, and the rows read before that
	// tie it, more than a batch, and skips them: a row that ties the cursor on
	// both column and key (a key that is not unique) is then read, not passed
	// over, and the sync reports it.
	limit := st.keysetRows()
	atCursor := after != nil && after.key != nil
	if atCursor {
		limit += len(st.tied) + st.unseen
	}
	q, args := keysetQuery(st.src.cfg.Dialect, st.selectList, st.from, st.baseArgs, st.wmExpr, st.keyExpr, after, limit)
	// The rows at the cursor that were read before are left out below: they do
	// not count towards the byte bound, so that one row is left.
	free := 0
	if atCursor {
		free = len(st.tied) + st.unseen
	}
	var out [][]any
	var exhausted bool
	err := st.src.readOnly(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := query(ctx, tx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if out, exhausted, err = st.scan(rows, limit, free); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return connectors.Batch{}, st.src.readError("read batch "+st.after.Where(), err)
	}
	st.done = exhausted // the query found fewer rows than it could have
	if atCursor {
		out = st.leaveOutRead(out, after)
	}
	if len(out) > st.batch {
		out = out[:st.batch]
	}
	if len(out) == 0 {
		return connectors.Batch{}, io.EOF
	}
	if st.bytes > 0 {
		var size int64
		for _, r := range out {
			size += connectors.RowBytes(r)
		}
		st.rowBytes = max(size/int64(len(out)), 1)
	}
	// The first row ties the row before it when it is at the cursor: the rows read
	// before that tie it are left out above, so it is one more.
	b := connectors.NewBatch(out, st.wm, st.key, atCursor && st.isCursor(out[0], after))
	last := out[len(out)-1]
	if atCursor && st.isCursor(last, after) { // still at the cursor: every row tied it
		st.tied = append(st.tied, out...)
		return b, nil
	}
	st.after = b.Cursor()
	st.tied, st.unseen = [][]any{last}, 0
	if len(out) > 1 {
		if b, err := st.bind(*st.after); err == nil {
			for i := len(out) - 2; i >= 0 && st.isCursor(out[i], b); i-- {
				st.tied = append(st.tied, out[i])
			}
		}
	}
	return b, nil
}

// keysetRows is how many rows a keyset query asks for (besides the rows at the
// cursor read before): BatchSize, or with BatchBytes as many as that many bytes
// holds at the size of the last batch's rows. A query asking for more would have
// the driver read the rest of its rows, past the byte bound, only to drop them
// (lib/pq reads a result to its end to close it); the first one asks for at most
// 1,000 rows, before any size is known.
func (st *stream) keysetRows() int {
	if st.bytes <= 0 {
		return st.batch
	}
	if st.rowBytes == 0 {
		return min(st.batch, 1000)
	}
	return int(min(int64(st.batch), max((st.bytes+st.rowBytes-1)/st.rowBytes, 1)))
}

// leaveOutRead drops, from the rows at the start of a batch that tie the cursor,
// the ones read before: each of st.tied once, and st.unseen others.
func (st *stream) leaveOutRead(rows [][]any, c *boundCursor) [][]any {
	used := make([]bool, len(st.tied))
	unseen := st.unseen
	kept := rows[:0:0]
	i := 0
	for ; i < len(rows) && st.isCursor(rows[i], c); i++ {
		found := false
		for j, t := range st.tied {
			if !used[j] && reflect.DeepEqual(rows[i], t) {
				used[j], found = true, true
				break
			}
		}
		switch {
		case found:
		case unseen > 0:
			unseen--
		default:
			kept = append(kept, rows[i])
		}
	}
	if len(kept) == 0 {
		return rows[i:]
	}
	return append(kept, rows[i:]...)
}

// isCursor says whether row is the cursor's row: its watermark value and key bind to
// the same parameters as the cursor's (which may have come back from the store in
// another Go type).
func (st *stream) isCursor(row []any, c *boundCursor) bool {
	v, err := st.cols[st.wm].Bind(row[st.wm])
	if err != nil || !sameValue(v, c.value) {
		return false
	}
	k, err := st.cols[st.key].Bind(row[st.key])
	return err == nil && sameValue(k, c.key)
}

// sameValue compares two parameters: times as instants.
func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	defer func() { recover() }() // values that cannot be compared are not the same
	return a == b
}

// bind turns a cursor into parameters of the watermark column's and key's types.
func (st *stream) bind(c value.Cursor) (*boundCursor, error) {
	v, err := st.cols[st.wm].Bind(c.Value)
	if err != nil {
		return nil, fmt.Errorf("cursor value for %q: %w", st.cols[st.wm].Name, err)
	}
	b := &boundCursor{value: v}
	if c.Key != nil {
		if b.key, err = st.cols[st.key].Bind(c.Key); err != nil {
			return nil, fmt.Errorf("cursor key for %q: %w", st.cols[st.key].Name, err)
		}
	}
	return b, nil
}

// startStreamed starts the one query of a read without a watermark, or of a
// query: sync's read: the rows after the cursor in (column, key) order, with no
// LIMIT. It runs until the stream ends; each Next's ctx can also cancel it.
func (st *stream) startStreamed(ctx context.Context) error {
	q, args := "SELECT "+st.selectList+" FROM "+st.from, st.baseArgs
	if st.wm >= 0 {
		if st.after != nil {
			c, err := st.bind(*st.after)
			if err != nil {
				return st.src.errorf("read rows %s: %w", st.after.Where(), err)
			}
			if c.key != nil {
				st.prev, st.skip = c, c
			}
			q, args = keysetQuery(st.src.cfg.Dialect, st.selectList, st.from, st.baseArgs, st.wmExpr, st.keyExpr, c, 0)
		} else {
			q, args = keysetQuery(st.src.cfg.Dialect, st.selectList, st.from, st.baseArgs, st.wmExpr, st.keyExpr, nil, 0)
		}
	}
	qctx, cancel := context.WithCancel(ctx)
	defer st.watch(cancel)()
	tx, err := st.src.cfg.DB.BeginTx(qctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		cancel()
		return st.src.errorf("begin read-only transaction: %w", st.timeoutErr(err))
	}
	stopKill, err := st.src.cancelOnServer(qctx, tx)
	if err != nil {
		tx.Rollback()
		cancel()
		return st.src.errorf("%w", st.timeoutErr(err))
	}
	rows, err := query(qctx, tx, q, args...)
	if err != nil {
		stopKill()
		tx.Rollback()
		cancel()
		return st.src.errorf("read rows: %w", st.timeoutErr(err))
	}
	st.cancel, st.tx, st.rows, st.stopKill = cancel, tx, rows, stopKill
	return nil
}

// watch cancels the streaming query when Spec.ReadTimeout passes before the
// returned func is called.
func (st *stream) watch(cancel context.CancelFunc) func() {
	d := st.src.cfg.Spec.ReadTimeout
	if d <= 0 {
		return func() {}
	}
	t := time.AfterFunc(d, func() { st.timedOut.Store(true); cancel() })
	return func() { t.Stop() }
}

// timeoutErr is err, or connectors.ErrReadTimeout when the read timeout ended the query.
func (st *stream) timeoutErr(err error) error {
	if st.timedOut.Load() {
		return fmt.Errorf("%w: no rows from the source within source.read_timeout (%s); the query was cancelled",
			connectors.ErrReadTimeout, st.src.cfg.Spec.ReadTimeout)
	}
	return err
}

func (st *stream) nextStreamed(ctx context.Context) (connectors.Batch, error) {
	stop := context.AfterFunc(ctx, st.cancel)
	defer stop()
	defer st.watch(st.cancel)()
	out, exhausted, err := st.scan(st.rows, st.batch, 0)
	if err != nil {
		st.Close()
		if st.timedOut.Load() {
			return connectors.Batch{}, st.src.errorf("read rows: %w", st.timeoutErr(err))
		}
		return connectors.Batch{}, st.src.readError("read rows", err)
	}
	if exhausted {
		st.Close() // the rows are all read
	}
	if len(out) == 0 {
		return connectors.Batch{}, io.EOF
	}
	if st.wm < 0 {
		return connectors.Batch{Rows: out}, nil
	}
	b := connectors.NewBatch(out, st.wm, st.key, st.prev != nil && st.isCursor(out[0], st.prev))
	if st.prev, err = st.bind(*b.Cursor()); err != nil {
		st.Close()
		return connectors.Batch{}, st.src.errorf("read rows: %w", err)
	}
	return b, nil
}

// scan reads up to max rows and decodes their values. It stops early after the
// row that brings what the rows hold (connectors.RowBytes) to Request.BatchBytes,
// not counting the first free rows. exhausted says the rows ran out. A row of
// st.skip, coming first, is left out.
func (st *stream) scan(rows *sql.Rows, max, free int) (out [][]any, exhausted bool, err error) {
	n := len(st.cols)
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var size int64
	var block []any // rows are cut from it, rowsABlock at a time: one allocation, not one a row
	out = make([][]any, 0, min(max, 1<<13))
	for len(out) < max {
		if st.bytes > 0 && len(out) > free && size >= st.bytes {
			return out, false, nil
		}
		if !rows.Next() {
			return out, true, rows.Err()
		}
		clear(vals)
		if err := rows.Scan(ptrs...); err != nil {
			return nil, false, err
		}
		if len(block) < n {
			block = make([]any, n*rowsABlock)
		}
		row := block[:n:n]
		clear(row) // a row left out below leaves its slot to the next
		for i, v := range vals {
			if v == nil {
				continue
			}
			if dec := st.cols[i].Decode; dec != nil {
				var err error
				if v, err = dec(v); err != nil {
					return nil, false, fmt.Errorf("column %q (%s): %w", st.cols[i].Name, st.cols[i].Type, err)
				}
			}
			row[i] = v
		}
		if st.wm >= 0 {
			if err := st.checkCursor(row); err != nil {
				return nil, false, err
			}
			if c := st.skip; c != nil {
				st.skip = nil
				if st.isCursor(row, c) {
					continue // the cursor's own row, read by an earlier Read
				}
			}
		}
		if len(out) >= free {
			size += connectors.RowBytes(row)
		}
		out = append(out, row)
		block = block[n:]
	}
	return out, false, nil
}

// rowsABlock is how many rows scan allocates at once.
const rowsABlock = 256

// checkCursor fails a row whose watermark value or key could not be a cursor
// (a PostgreSQL 'infinity', a MySQL zero date): the read could not go past it.
func (st *stream) checkCursor(row []any) error {
	for _, i := range []int{st.wm, st.key} {
		if bad, ok := row[i].(value.Invalid); ok {
			return fmt.Errorf("row with %s %v: %s %q cannot be a cursor: %s",
				st.cols[st.key].Name, row[st.key], st.cols[i].Type, st.cols[i].Name, bad.Reason)
		}
	}
	return nil
}
