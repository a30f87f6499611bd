package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strconv"
)

// fields takes the values of the rows an insert writes, a row at a time in column
// order. For a COPY (PostgreSQL) they go straight into COPY's text format in line,
// unboxed; for a statement they are the row's arguments, args. A backfill writes a
// dozen values a person: boxing each into an interface and handing the driver a row
// at a time was a third of the COPY's CPU and a quarter of the process's allocations
// (docs/benchmarks.md).
type fields struct {
	copy bool
	line []byte // COPY: the rows so far, each ended by a newline
	open bool   // COPY: the current row has a value already
	args []any  // otherwise: the rows' values, whole rows from args[0] on
	err  error  // the first value Any could not take

	width int   // statements: the columns of a row (0: no boxes kept)
	boxes []any // statements: each column's last boxed value (argument)
}

// argument appends v to f.args, boxing it again only when it differs from the value
// before it in the same column: a batch's rows repeat times, a sync's name, a few
// kinds, and each boxing is an allocation.
func argument[T comparable](f *fields, v T) {
	if f.width == 0 {
		f.args = append(f.args, v)
		return
	}
	if f.boxes == nil {
		f.boxes = make([]any, f.width)
	}
	i := len(f.args) % f.width
	if last, ok := f.boxes[i].(T); !ok || last != v {
		f.boxes[i] = v
	}
	f.args = append(f.args, f.boxes[i])
}

// Text is a text value.
func (f *fields) Text(s string) {
	if !f.copy {
		argument(f, s)
		return
	}
	f.sep()
	f.line = appendCopyText(f.line, s)
}

// Bytes is a text value given as bytes, which a COPY does not copy first.
func (f *fields) Bytes(b []byte) {
	if !f.copy {
		f.args = append(f.args, string(b))
		return
	}
	f.sep()
	f.line = appendCopyText(f.line, b)
}

// NullText is s, or NULL when s is empty.
func (f *fields) NullText(s string) {
	if s == "" {
		f.Null()
		return
	}
	f.Text(s)
}

// JSON is JSON text, or NULL for none (nil).
func (f *fields) JSON(v json.RawMessage) {
	if v == nil {
		f.Null()
		return
	}
	f.Bytes(v)
}

// NullTextAs is NullText(s) for a value that is usually the one back columns before
// it (a key and the identifier it is made from): a statement gets that argument
// again rather than a new box.
func (f *fields) NullTextAs(s string, back int) {
	if !f.copy && s != "" && len(f.args) >= back {
		if prev, ok := f.args[len(f.args)-back].(string); ok && prev == s {
			f.args = append(f.args, f.args[len(f.args)-back])
			return
		}
	}
	f.NullText(s)
}

// Int is an integer.
func (f *fields) Int(n int64) {
	if !f.copy {
		argument(f, n)
		return
	}
	f.sep()
	f.line = strconv.AppendInt(f.line, n, 10)
}

// Bool is a boolean.
func (f *fields) Bool(b bool) {
	if !f.copy {
		f.args = append(f.args, b)
		return
	}
	f.sep()
	f.line = strconv.AppendBool(f.line, b)
}

// Null is NULL.
func (f *fields) Null() {
	if !f.copy {
		f.args = append(f.args, nil)
		return
	}
	f.sep()
	f.line = append(f.line, `\N`...)
}

// Any is a value of any type a caller of Tx.insert hands the driver: the types of
// driver.Value, and others through database/sql's default conversion (an int, a
// named string type). One it cannot take is f.err.
func (f *fields) Any(v any) {
	if !f.copy {
		f.args = append(f.args, v)
		return
	}
	switch v := v.(type) {
	case nil:
		f.Null()
	case string:
		f.Text(v)
	case int64:
		f.Int(v)
	case bool:
		f.Bool(v)
	case float64:
		f.sep()
		f.line = strconv.AppendFloat(f.line, v, 'f', -1, 64)
	default:
		c, err := driver.DefaultParameterConverter.ConvertValue(v)
		switch c.(type) {
		case string, int64, bool, float64, nil:
			if err == nil {
				f.Any(c)
				return
			}
		default:
			err = fmt.Errorf("cannot copy a %T", v) // []byte (bytea) and times: no column takes them
		}
		if f.err == nil {
			f.err = err
		}
		f.Null() // the row still has its columns
	}
}

// end ends the current row.
func (f *fields) end() {
	if f.copy {
		f.line = append(f.line, '\n')
		f.open = false
	}
}

func (f *fields) sep() {
	if f.open {
		f.line = append(f.line, '\t')
	}
	f.open = true
}

// appendCopyText appends s escaped for COPY's text format: a backslash, newline,
// carriage return or tab is written as its backslash sequence.
func appendCopyText[T string | []byte](b []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc byte
		switch s[i] {
		case '\\':
			esc = '\\'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		case '\t':
			esc = 't'
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\', esc)
		start = i + 1
	}
	return append(b, s[start:]...)
}
