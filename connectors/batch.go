package connectors

import (
	"time"

	"cloud.google.com/go/civil"

	"github.com/dbsync/dbsync/value"
)

// Batch is what one Stream.Next hands over: rows, and where each stands in
// (column, key) order. The source found the watermark columns (by the one rule,
// internal/columns.Find) when it read them; no later stage looks them up again.
type Batch struct {
	Rows [][]any // each in the stream's Columns order

	// Cursors[i] is Rows[i]'s (column, key), the same typed values the row holds;
	// nil without a watermark.
	Cursors []value.Cursor

	// Repeated[i] says Rows[i] ties the row before it on both column and key, the
	// first row of a Read tying Request.After: the key is not unique, and a sync
	// reports the row (duplicate_key) rather than apply it. nil when no row does.
	Repeated []bool
}

// Cursor is the last row's (column, key), where a new Read goes on after this
// batch; nil without a watermark or rows.
func (b Batch) Cursor() *value.Cursor {
	if len(b.Cursors) == 0 {
		return nil
	}
	c := b.Cursors[len(b.Cursors)-1]
	return &c
}

// Repeats says whether row i ties the row before it (see Repeated).
func (b Batch) Repeats(i int) bool { return i < len(b.Repeated) && b.Repeated[i] }

// Head is the batch of its first n rows, for a run that stops part way (a
// preview's limit): its cursor is then the n-th row's.
func (b Batch) Head(n int) Batch {
	if n >= len(b.Rows) {
		return b
	}
	h := Batch{Rows: b.Rows[:n]}
	if b.Cursors != nil {
		h.Cursors = b.Cursors[:n]
	}
	if b.Repeated != nil {
		h.Repeated = b.Repeated[:n]
	}
	return h
}

// NewBatch is the batch of rows read with a watermark whose column and key are at
// indexes col and key of each row. first says whether rows[0] ties the row before
// it, or Request.After in a Read's first batch: the stream tells, comparing the two
// as parameters of the columns' types, because a cursor from the store may hold
// another Go type than the row. Each later row is compared with the row before it,
// read the same way. The stream code of every source builds its batches with it.
func NewBatch(rows [][]any, col, key int, first bool) Batch {
	b := Batch{Rows: rows, Cursors: make([]value.Cursor, len(rows))}
	for i, r := range rows {
		b.Cursors[i] = value.Cursor{Value: r[col], Key: r[key]}
		tie := first
		if i > 0 {
			prev := b.Cursors[i-1]
			tie = sameValue(r[col], prev.Value) && sameValue(r[key], prev.Key)
		}
		if tie {
			if b.Repeated == nil {
				b.Repeated = make([]bool, len(rows))
			}
			b.Repeated[i] = true
		}
	}
	return b
}

// sameValue compares two values of a watermark column or key read alike: times
// as instants.
func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	switch a.(type) {
	case int64, string, value.Decimal, civil.DateTime:
		return a == b
	}
	return false
}

// ValueBytes is what RowBytes counts for each value besides the bytes it points
// at: its interface and the Go value's own header (a time.Time, an int64, a string's
// pointer and length).
const ValueBytes = 24

// RowOverhead is what RowBytes counts for each row besides its values: what the
// row costs once read, as its record, mapped and planned (the person written, the
// change log's entry). A heap profile of a backfill of 10-column rows held some
// 2.8 KiB a row against 0.4 KiB of values; without it, batch_bytes let a
// batch_size of 50,000 such rows peak at 195 MiB.
const RowOverhead = 512

// RowBytes estimates, cheaply, the memory a row holds in a run: RowOverhead,
// ValueBytes for each value, and the bytes of each string, []byte, JSON document,
// decimal and Invalid reason.
func RowBytes(row []any) int64 {
	n := int64(24 + RowOverhead + ValueBytes*len(row)) // the slice's header, the row, the values
	for _, v := range row {
		switch v := v.(type) {
		case string:
			n += int64(len(v))
		case []byte:
			n += int64(len(v))
		case value.JSON:
			n += int64(len(v))
		case value.Decimal:
			n += int64(len(v))
		case value.Invalid:
			n += int64(len(v.Reason))
		}
	}
	return n
}
