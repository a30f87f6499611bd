package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/value"
)

// Run runs the suite against h, each test in parallel on a database of its own.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"Types", testTypes},
		{"TiesAcrossBatches", testTies},
		{"DuplicateKeys", testDuplicateKeys},
		{"BatchBytes", testBatchBytes},
		{"UpdatedRows", testUpdatedRows},
		{"Lookback", testLookback},
		{"Microseconds", testMicroseconds},
		{"TimeZone", testTimeZone},
		{"NullWatermark", testNullWatermark},
		{"StringKey", testStringKey},
		{"IntegerWatermark", testIntegerWatermark},
		{"HostileNames", testHostileNames},
		{"Query", testQuery},
		{"NoWatermark", testNoWatermark},
		{"Canceled", testCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, h)
		})
	}
}

// t0 is the time most test rows are around: microseconds set, within the range
// of every source's timestamp type (MySQL TIMESTAMP ends in 2038).
var t0 = time.Date(2024, 3, 5, 10, 20, 30, 123456000, time.UTC)

func us(n int) time.Duration { return time.Duration(n) * time.Microsecond }

// fixture is one test's database and how it reads a table.
type fixture struct {
	db   DB
	spec connectors.Spec
}

func setup(t *testing.T, h Harness) *fixture {
	t.Helper()
	db := h.NewDB(t)
	spec := db.Spec()
	spec.Sync = "conformance_" + strings.ToLower(strings.NewReplacer("/", "_").Replace(t.Name()))
	return &fixture{db: db, spec: spec}
}

// table creates a table and returns a spec that reads it with the given watermark.
func (f *fixture) table(t *testing.T, name string, cols []ColumnDef, wm connectors.Watermark) connectors.Spec {
	t.Helper()
	f.db.CreateTable(t, name, cols)
	spec := f.spec
	spec.Table = name
	spec.Watermark = wm
	return spec
}

// source is an open Source and the watermark it reads by, so that every read can
// check each batch's cursors.
type source struct {
	connectors.Source
	wm connectors.Watermark
}

func open(t *testing.T, spec connectors.Spec) *source {
	t.Helper()
	src, err := connectors.Open(context.Background(), spec)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("close source: %v", err)
		}
	})
	return &source{Source: src, wm: spec.Watermark}
}

// result is everything one Read gave.
type result struct {
	cols     []value.Column
	rows     [][]any
	repeated []bool // per row: the batch flagged it as tying the row before it
	batches  []int
	nulls    int64
}

// readAll does one Read and takes every batch, checking each holds at most
// req.BatchSize rows.
func readAll(t *testing.T, src *source, req connectors.Request) result {
	t.Helper()
	ctx := context.Background()
	st, err := src.Read(ctx, req)
	if err != nil {
		t.Fatalf("read after %v: %v", req.After, err)
	}
	defer st.Close()
	res := result{cols: st.Columns()}
	seen := map[string]bool{}
	prev := req.After
	for {
		b, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next after %d rows: %v", len(res.rows), err)
		}
		batch := b.Rows
		if len(batch) == 0 || len(batch) > req.BatchSize {
			t.Fatalf("batch of %d rows, want 1 to %d", len(batch), req.BatchSize)
		}
		for _, r := range batch {
			if seen[fmt.Sprint(r)] {
				t.Fatalf("row %v read twice in one read", r)
			}
			seen[fmt.Sprint(r)] = true
		}
		prev = checkBatch(t, res.cols, src.wm, prev, b)
		res.rows = append(res.rows, batch...)
		for i := range batch {
			res.repeated = append(res.repeated, b.Repeats(i))
		}
		res.batches = append(res.batches, len(batch))
	}
	if _, err := st.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("next after the end: %v, want io.EOF", err)
	}
	res.nulls = st.NullCursorRows()
	if err := st.Close(); err != nil {
		t.Fatalf("close stream: %v", err)
	}
	return res
}

// readResuming reads as a run that stops after every batch would: each batch
// is the first of a new Read after the cursor of the row before. It returns the
// rows and the last cursor (after, when it read nothing).
func readResuming(t *testing.T, src *source, spec connectors.Spec, after *value.Cursor, batch int) ([][]any, *value.Cursor) {
	t.Helper()
	ctx := context.Background()
	var rows [][]any
	seen := map[string]bool{}
	for {
		st, err := src.Read(ctx, connectors.Request{After: after, BatchSize: batch})
		if err != nil {
			t.Fatalf("read %s: %v", describe(after), err)
		}
		b, err := st.Next(ctx)
		st.Close()
		if errors.Is(err, io.EOF) {
			return rows, after
		}
		if err != nil {
			t.Fatalf("next %s: %v", describe(after), err)
		}
		got := b.Rows
		if len(got) == 0 || len(got) > batch {
			t.Fatalf("batch of %d rows, want 1 to %d", len(got), batch)
		}
		for _, r := range got {
			if seen[fmt.Sprint(r)] {
				t.Fatalf("row %v read again %s", r, describe(after))
			}
			seen[fmt.Sprint(r)] = true
		}
		rows = append(rows, got...)
		after = checkBatch(t, st.Columns(), spec.Watermark, after, b)
	}
}

// checkBatch holds a batch to Stream.Next's contract on cursors, and returns its
// cursor. With a watermark, each row's cursor is its (column, key), the very
// values the row holds, and the batch's cursor is the last row's; a row is flagged
// as repeated exactly when it ties the row before it on both, the first row of a
// Read tying the Request's After (prev). Without one, there are no cursors.
func checkBatch(t *testing.T, cols []value.Column, wm connectors.Watermark, prev *value.Cursor, b connectors.Batch) *value.Cursor {
	t.Helper()
	if wm.Column == "" {
		if b.Cursors != nil || b.Repeated != nil || b.Cursor() != nil {
			t.Fatalf("a read without a watermark gave cursors %v, repeated %v", b.Cursors, b.Repeated)
		}
		return nil
	}
	if len(b.Cursors) != len(b.Rows) || (b.Repeated != nil && len(b.Repeated) != len(b.Rows)) {
		t.Fatalf("batch of %d rows with %d cursors and %d repeated flags", len(b.Rows), len(b.Cursors), len(b.Repeated))
	}
	col, key := index(t, cols, wm.Column), index(t, cols, wm.Key)
	for i, r := range b.Rows {
		want := value.Cursor{Value: r[col], Key: r[key]}
		if !reflect.DeepEqual(b.Cursors[i], want) {
			t.Fatalf("row %v: cursor %#v, want its (%s, %s) %#v", r, b.Cursors[i], wm.Column, wm.Key, want)
		}
		tie := prev != nil && prev.Key != nil && checkValue(prev.Value, want.Value) == nil && checkValue(prev.Key, want.Key) == nil
		if b.Repeats(i) != tie {
			t.Fatalf("row %v after %s: repeated %v, want %v", r, describe(prev), b.Repeats(i), tie)
		}
		prev = &b.Cursors[i]
	}
	last := b.Cursors[len(b.Cursors)-1]
	if c := b.Cursor(); c == nil || !reflect.DeepEqual(*c, last) {
		t.Fatalf("batch cursor %v, want the last row's %v", c, last)
	}
	return b.Cursor()
}

func describe(c *value.Cursor) string {
	if c == nil {
		return "from the start"
	}
	return fmt.Sprintf("after (%v, %v)", c.Value, c.Key)
}

// cursorOf is the cursor a run would keep after row.
func cursorOf(t *testing.T, cols []value.Column, wm connectors.Watermark, row []any) *value.Cursor {
	t.Helper()
	return &value.Cursor{Value: row[index(t, cols, wm.Column)], Key: row[index(t, cols, wm.Key)]}
}

func index(t *testing.T, cols []value.Column, name string) int {
	t.Helper()
	for i, c := range cols {
		if c.Name == name {
			return i
		}
	}
	t.Fatalf("no column %q among %v", name, cols)
	return -1
}

// keysOf is column i of each row.
func keysOf(rows [][]any, i int) []any {
	out := make([]any, len(rows))
	for j, r := range rows {
		out[j] = r[i]
	}
	return out
}

func ints(from, to int64) []any {
	var out []any
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func wantKeys(t *testing.T, what string, got, want []any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: keys\n got %v\nwant %v", what, abbreviate(got), abbreviate(want))
	}
}

func abbreviate(v []any) string {
	if len(v) <= 20 {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%v ... %v (%d)", v[:10], v[len(v)-10:], len(v))
}

// wantNothingAfter checks a Read after c returns no rows.
func wantNothingAfter(t *testing.T, src *source, c *value.Cursor) {
	t.Helper()
	res := readAll(t, src, connectors.Request{After: c, BatchSize: 10})
	if len(res.rows) != 0 {
		t.Fatalf("read after the last cursor %s: got %d rows, want none: %v", describe(c), len(res.rows), res.rows)
	}
}

// checkValue compares a value read with what was inserted, as the normalized
// type: instants by Equal, decimals by number (and form), JSON by document.
func checkValue(want, got any) error {
	if want == nil || got == nil {
		if want != got {
			return fmt.Errorf("got %#v (%T), want %#v", got, got, want)
		}
		return nil
	}
	switch w := want.(type) {
	case time.Time:
		if g, ok := got.(civil.DateTime); ok { // a zone-less column's wall clock
			if g != civil.DateTimeOf(w) {
				return fmt.Errorf("got wall clock %s, want %s", g, civil.DateTimeOf(w))
			}
			return nil
		}
		g, ok := got.(time.Time)
		if !ok || !g.Equal(w) {
			return fmt.Errorf("got %#v (%T), want %s", got, got, w.UTC().Format(time.RFC3339Nano))
		}
	case value.Decimal:
		g, ok := got.(value.Decimal)
		if !ok {
			return fmt.Errorf("got %#v (%T), want value.Decimal %s", got, got, w)
		}
		if !decimalForm.MatchString(string(g)) {
			return fmt.Errorf("decimal %q: want digits, an optional sign and point", g)
		}
		gr, _ := new(big.Rat).SetString(string(g))
		wr, _ := new(big.Rat).SetString(string(w))
		if gr == nil || gr.Cmp(wr) != 0 {
			return fmt.Errorf("got decimal %s, want %s", g, w)
		}
	case value.JSON:
		g, ok := got.(value.JSON)
		if !ok {
			return fmt.Errorf("got %#v (%T), want value.JSON %s", got, got, w)
		}
		var gv, wv any
		if err := json.Unmarshal(g, &gv); err != nil {
			return fmt.Errorf("JSON %s: %v", g, err)
		}
		json.Unmarshal(w, &wv)
		if !reflect.DeepEqual(gv, wv) {
			return fmt.Errorf("got JSON %s, want %s", g, w)
		}
	default:
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("got %#v (%T), want %#v (%T)", got, got, want, want)
		}
	}
	return nil
}

var decimalForm = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func testTypes(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{
		{Name: "id", Kind: BigInt, Key: true},
		{Name: "c_text", Kind: Text},
		{Name: "c_int", Kind: Int},
		{Name: "c_bigint", Kind: BigInt},
		{Name: "c_decimal", Kind: Decimal},
		{Name: "c_float", Kind: Float},
		{Name: "c_bool", Kind: Bool},
		{Name: "c_date", Kind: Date},
		{Name: "c_ts", Kind: Timestamp},
		{Name: "c_tstz", Kind: TimestampTZ},
		{Name: "c_json", Kind: JSON},
		{Name: "c_bytes", Kind: Bytes},
	}
	spec := f.table(t, "types", cols, connectors.Watermark{})
	plus2 := time.FixedZone("+02:00", 2*3600)
	rows := [][]any{
		{int64(1), "héllo, 'wörld'; \"--\"", int64(-2147483648), int64(9007199254740993), value.Decimal("12.50"), 1.5, true,
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC),
			time.Date(2024, 6, 7, 8, 9, 10, 654321000, plus2),
			value.JSON(`{"a": [1, 2, {"b": null, "c": [true, false]}], "d": "x", "e": 1.5}`),
			[]byte{0, 1, 2, 0xff}},
		{int64(2), "", int64(2147483647), int64(-9223372036854775808), value.Decimal("-1234567890123.45"), -0.25, false,
			time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
			time.Date(2037, 12, 31, 23, 59, 59, 1000, time.UTC),
			time.Date(1970, 1, 2, 0, 0, 0, 1000, time.UTC),
			value.JSON(`[1, "two", {"three": {"four": [4]}}]`),
			[]byte("x")},
		{int64(3), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
	f.db.Insert(t, "types", cols, rows)

	// With a watermark the reads bind parameters, without one they need none:
	// some drivers then use another protocol (MySQL's binary and text ones).
	for _, wm := range []connectors.Watermark{{Column: "id", Key: "id"}, {}} {
		spec.Watermark = wm
		res := readAll(t, open(t, spec), connectors.Request{BatchSize: 10})
		if len(res.cols) != len(cols) {
			t.Fatalf("columns %v, want %d", res.cols, len(cols))
		}
		for i, c := range res.cols {
			if c.Name != cols[i].Name || c.Type == "" {
				t.Errorf("column %d: %+v, want name %q and a type", i, c, cols[i].Name)
			}
		}
		if len(res.rows) != len(rows) {
			t.Fatalf("got %d rows, want %d", len(res.rows), len(rows))
		}
		slices.SortFunc(res.rows, func(a, b []any) int { return int(a[0].(int64) - b[0].(int64)) })
		for r, want := range rows {
			for i, c := range cols {
				w := want[i]
				if c.Kind == Date && w != nil {
					w = time.Date(w.(time.Time).Year(), w.(time.Time).Month(), w.(time.Time).Day(), 0, 0, 0, 0, time.UTC)
				}
				if err := checkValue(w, res.rows[r][i]); err != nil {
					t.Errorf("watermark %q: row %d, %s (%v): %v", wm.Column, r+1, c.Name, c.Kind, err)
				}
			}
		}
	}
}

// testTies reads 5,000 rows that share one watermark value in batches of 100:
// only the key tells the batches apart.
func testTies(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "updated_at", Kind: TimestampTZ}, {Name: "note", Kind: Text}}
	wm := connectors.Watermark{Column: "updated_at", Key: "id"}
	spec := f.table(t, "ties", cols, wm)
	const n = 5000
	rows := make([][]any, n)
	for i, p := range rand.New(rand.NewPCG(1, 2)).Perm(n) { // not in key order
		rows[i] = []any{int64(p + 1), t0, fmt.Sprintf("row %d", p+1)}
	}
	f.db.Insert(t, "ties", cols, rows)
	src := open(t, spec)

	res := readAll(t, src, connectors.Request{BatchSize: 100})
	if len(res.batches) != n/100 {
		t.Errorf("%d batches, want %d", len(res.batches), n/100)
	}
	wantKeys(t, "one read", keysOf(res.rows, 0), ints(1, n))

	resume := 100
	if s, ok := h.(Slow); ok && s.Slow() {
		resume = 1000
	}
	got, last := readResuming(t, src, spec, nil, resume)
	wantKeys(t, "a read per batch", keysOf(got, 0), ints(1, n))
	if err := checkValue(t0, last.Value); err != nil {
		t.Errorf("last cursor value: %v", err)
	}
	wantNothingAfter(t, src, last)
}

// testDuplicateKeys holds Source.Read's contract for a key that is not unique:
// rows that tie on both column and key are all returned, also when they meet at a
// batch boundary and when a Read starts after one of them, and each but the first
// is flagged in its batch (Batch.Repeated), so the sync can report them
// (duplicate_key) rather than pass them over.
func testDuplicateKeys(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt}, {Name: "updated_at", Kind: TimestampTZ}, {Name: "note", Kind: Text}}
	wm := connectors.Watermark{Column: "updated_at", Key: "id"}
	spec := f.table(t, "dups", cols, wm) // no primary key
	var rows [][]any
	for i, id := range []int64{1, 2, 3, 3, 4, 5, 5, 5, 6} {
		at := t0
		if id == 6 {
			at = t0.Add(time.Second)
		}
		rows = append(rows, []any{id, at, fmt.Sprintf("row %d", i)})
	}
	f.db.Insert(t, "dups", cols, rows)
	src := open(t, spec)
	all := []any{int64(1), int64(2), int64(3), int64(3), int64(4), int64(5), int64(5), int64(5), int64(6)}
	repeated := []bool{false, false, false, true, false, false, true, true, false}
	for _, batch := range []int{1, 2, 3, 100} {
		res := readAll(t, src, connectors.Request{BatchSize: batch})
		wantKeys(t, fmt.Sprintf("batch %d", batch), keysOf(res.rows, 0), all)
		if !reflect.DeepEqual(res.repeated, repeated) {
			t.Errorf("batch %d: repeated %v, want %v", batch, res.repeated, repeated)
		}
	}
	// A run that ended on one of the rows with key 3 reads the other next: it
	// repeats the cursor's key.
	for _, batch := range []int{1, 2, 100} {
		res := readAll(t, src, connectors.Request{After: &value.Cursor{Value: t0, Key: int64(3)}, BatchSize: batch})
		wantKeys(t, fmt.Sprintf("after key 3, batch %d", batch), keysOf(res.rows, 0), all[3:])
		if !reflect.DeepEqual(res.repeated, repeated[3:]) {
			t.Errorf("after key 3, batch %d: repeated %v, want %v", batch, res.repeated, repeated[3:])
		}
	}
}

// testBatchBytes reads with byte bounds so small that batches hold one or two
// rows (Request.BatchBytes), from a table: and a query: sync, over rows that tie
// on the watermark column and keys that repeat: each row once, in order, flagged as
// it would be in one batch, and the bound counts no row read before (a Read after
// a repeated key still moves on).
func testBatchBytes(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt}, {Name: "updated_at", Kind: TimestampTZ}, {Name: "note", Kind: Text}}
	wm := connectors.Watermark{Column: "updated_at", Key: "id"}
	table := f.table(t, "sized", cols, wm) // no primary key: a key may repeat
	ids := []int64{1, 2, 3, 3, 4, 5, 5, 5, 6, 7, 8, 9}
	repeated := []bool{false, false, false, true, false, false, true, true, false, false, false, false}
	var rows [][]any
	for i, id := range ids {
		at := t0
		if id > 6 {
			at = t0.Add(time.Second)
		}
		rows = append(rows, []any{id, at, fmt.Sprintf("row %02d", i)}) // each row as long
	}
	f.db.Insert(t, "sized", cols, rows)
	want := make([]any, len(ids))
	for i, id := range ids {
		want[i] = id
	}
	query := f.spec
	query.Query = fmt.Sprintf("SELECT id, updated_at, note FROM %s", f.db.TableRef("sized"))
	query.Watermark = wm

	for _, spec := range []connectors.Spec{table, query} {
		name := "table"
		if spec.Query != "" {
			name = "query"
		}
		src := open(t, spec)
		one := readAll(t, src, connectors.Request{BatchSize: 100, BatchBytes: 1})
		wantKeys(t, name+", 1 byte", keysOf(one.rows, 0), want)
		if !reflect.DeepEqual(one.repeated, repeated) {
			t.Errorf("%s, 1 byte: repeated %v, want %v", name, one.repeated, repeated)
		}
		for _, n := range one.batches {
			if n != 1 {
				t.Fatalf("%s, 1 byte: batches of %v rows, want 1 each", name, one.batches)
			}
		}
		size := connectors.RowBytes(one.rows[0])
		for _, tc := range []struct {
			req     connectors.Request
			batches []int
		}{
			{connectors.Request{BatchSize: 100, BatchBytes: size + 1}, []int{2, 2, 2, 2, 2, 2}},
			{connectors.Request{BatchSize: 5, BatchBytes: 2 * size}, []int{2, 2, 2, 2, 2, 2}},
			{connectors.Request{BatchSize: 2, BatchBytes: 100 * size}, []int{2, 2, 2, 2, 2, 2}},
			{connectors.Request{BatchSize: 5, BatchBytes: 4*size + 1}, []int{5, 5, 2}},
		} {
			what := fmt.Sprintf("%s, batch %d, %d bytes (rows of %d)", name, tc.req.BatchSize, tc.req.BatchBytes, size)
			res := readAll(t, src, tc.req)
			wantKeys(t, what, keysOf(res.rows, 0), want)
			if !reflect.DeepEqual(res.repeated, repeated) {
				t.Errorf("%s: repeated %v, want %v", what, res.repeated, repeated)
			}
			if !reflect.DeepEqual(res.batches, tc.batches) {
				t.Errorf("%s: batches %v, want %v", what, res.batches, tc.batches)
			}
		}
		// A run that ended on a row with key 3 or 5 reads the others next, a row a batch.
		for i, after := range []*value.Cursor{{Value: t0, Key: int64(3)}, {Value: t0, Key: int64(5)}} {
			from := []int{3, 6}[i]
			res := readAll(t, src, connectors.Request{After: after, BatchSize: 100, BatchBytes: 1})
			wantKeys(t, fmt.Sprintf("%s, 1 byte %s", name, describe(after)), keysOf(res.rows, 0), want[from:])
			if !reflect.DeepEqual(res.repeated, repeated[from:]) {
				t.Errorf("%s, 1 byte %s: repeated %v, want %v", name, describe(after), res.repeated, repeated[from:])
			}
		}
		// A lookback restart reads from a time inclusive.
		res := readAll(t, src, connectors.Request{After: &value.Cursor{Value: t0.Add(time.Second)}, BatchSize: 100, BatchBytes: 1})
		wantKeys(t, name+", 1 byte from t0+1s", keysOf(res.rows, 0), want[9:])
	}
}

func testUpdatedRows(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "updated_at", Kind: TimestampTZ}, {Name: "plan", Kind: Text}}
	wm := connectors.Watermark{Column: "updated_at", Key: "id"}
	spec := f.table(t, "users", cols, wm)
	var rows [][]any
	for i := 1; i <= 10; i++ {
		rows = append(rows, []any{int64(i), t0.Add(time.Duration(i) * time.Second), "free"})
	}
	f.db.Insert(t, "users", cols, rows)
	src := open(t, spec)
	first, cur := readResuming(t, src, spec, nil, 4)
	wantKeys(t, "first run", keysOf(first, 0), ints(1, 10))

	later := t0.Add(time.Hour)
	for _, id := range []int64{7, 3} {
		f.db.Update(t, "users", cols[0], id, cols[2], "pro")
		f.db.Update(t, "users", cols[0], id, cols[1], later)
	}
	res := readAll(t, src, connectors.Request{After: cur, BatchSize: 4})
	wantKeys(t, "second run", keysOf(res.rows, 0), []any{int64(3), int64(7)})
	for _, r := range res.rows {
		if err := checkValue(later, r[1]); err != nil {
			t.Errorf("updated_at: %v", err)
		}
		if err := checkValue("pro", r[2]); err != nil {
			t.Errorf("plan: %v", err)
		}
	}
	wantNothingAfter(t, src, cursorOf(t, res.cols, wm, res.rows[len(res.rows)-1]))
}

func testLookback(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "updated_at", Kind: TimestampTZ}}
	wm := connectors.Watermark{Column: "updated_at", Key: "id"}
	spec := f.table(t, "events", cols, wm)
	var rows [][]any
	for i := 1; i <= 10; i++ {
		rows = append(rows, []any{int64(i), t0.Add(time.Duration(i) * time.Second)})
	}
	f.db.Insert(t, "events", cols, rows)
	src := open(t, spec)
	_, cur := readResuming(t, src, spec, nil, 3)

	// A row committed late, with a time before the cursor.
	f.db.Insert(t, "events", cols, [][]any{{int64(11), t0.Add(5*time.Second + 500*time.Millisecond)}})
	wantNothingAfter(t, src, cur)

	lookback := &value.Cursor{Value: cur.Value.(time.Time).Add(-5 * time.Second)}
	res := readAll(t, src, connectors.Request{After: lookback, BatchSize: 2})
	wantKeys(t, "lookback", keysOf(res.rows, 0), []any{int64(5), int64(11), int64(6), int64(7), int64(8), int64(9), int64(10)})
}

func testMicroseconds(t *testing.T, h Harness) {
	for _, kind := range []Kind{TimestampTZ, Timestamp} {
		t.Run(kind.String(), func(t *testing.T) {
			f := setup(t, h)
			cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "updated_at", Kind: kind}}
			wm := connectors.Watermark{Column: "updated_at", Key: "id"}
			spec := f.table(t, "micro", cols, wm)
			times := []time.Time{t0, t0.Add(us(1)), t0.Add(us(1)), t0.Add(us(2)), t0.Add(us(999_999)), t0.Add(time.Second + us(1))}
			var rows [][]any
			for _, i := range []int{3, 0, 5, 1, 4, 2} {
				rows = append(rows, []any{int64(i + 1), times[i]})
			}
			f.db.Insert(t, "micro", cols, rows)
			src := open(t, spec)

			got, last := readResuming(t, src, spec, nil, 1)
			wantKeys(t, "a read per row", keysOf(got, 0), ints(1, 6))
			for i, r := range got {
				if err := checkValue(times[i], r[1]); err != nil {
					t.Errorf("row %d: %v", i+1, err)
				}
			}
			wantNothingAfter(t, src, last)

			res := readAll(t, src, connectors.Request{BatchSize: 2})
			wantKeys(t, "one read", keysOf(res.rows, 0), ints(1, 6))
			wantNothingAfter(t, src, cursorOf(t, res.cols, wm, res.rows[len(res.rows)-1]))
		})
	}
}

// testTimeZone reads zone-less timestamps as wall clocks in America/New_York.
// Rows 1 and 2 are three hours apart on one day: a cursor bound as the UTC wall
// clock (five hours on) would skip row 2.
func testTimeZone(t *testing.T, h Harness) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "local_at", Kind: Timestamp}, {Name: "instant_at", Kind: TimestampTZ}}
	wm := connectors.Watermark{Column: "local_at", Key: "id"}
	spec := f.table(t, "zoned", cols, wm)
	walls := []time.Time{
		time.Date(2024, 1, 15, 9, 0, 0, 1000, ny), // EST, -05:00
		time.Date(2024, 1, 15, 12, 0, 0, 0, ny),
		time.Date(2024, 7, 15, 9, 0, 0, 2000, ny), // EDT, -04:00
		time.Date(2024, 7, 15, 9, 0, 0, 2000, ny),
		time.Date(2024, 11, 3, 0, 30, 0, 0, ny),
	}
	var rows [][]any
	for i := len(walls) - 1; i >= 0; i-- {
		rows = append(rows, []any{int64(i + 1), walls[i], walls[i]})
	}
	f.db.Insert(t, "zoned", cols, rows)

	spec.Timezone = ny
	src := open(t, spec)
	got, last := readResuming(t, src, spec, nil, 1)
	wantKeys(t, "a read per row", keysOf(got, 0), ints(1, 5))
	for i, r := range got {
		if err := checkValue(walls[i], r[1]); err != nil {
			t.Errorf("row %d local_at in %s: %v", i+1, ny, err)
		}
		if err := checkValue(walls[i], r[2]); err != nil {
			t.Errorf("row %d instant_at: %v", i+1, err)
		}
	}
	wantNothingAfter(t, src, last)
	res := readAll(t, src, connectors.Request{BatchSize: 2})
	wantKeys(t, "one read", keysOf(res.rows, 0), ints(1, 5))

	// Without a zone, the same wall clock is read as UTC.
	spec.Timezone = nil
	res = readAll(t, open(t, spec), connectors.Request{BatchSize: 10})
	w := walls[0]
	if err := checkValue(time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC), res.rows[0][1]); err != nil {
		t.Errorf("local_at in UTC: %v", err)
	}
	if err := checkValue(w, res.rows[0][2]); err != nil {
		t.Errorf("instant_at does not depend on the zone: %v", err)
	}
}

func testNullWatermark(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "updated_at", Kind: TimestampTZ}}
	wm := connectors.Watermark{Column: "updated_at", Key: "id"}
	spec := f.table(t, "nulls", cols, wm)
	f.db.Insert(t, "nulls", cols, [][]any{
		{int64(1), t0}, {int64(2), nil}, {int64(3), t0.Add(time.Second)}, {int64(4), nil}, {int64(5), nil},
	})
	src := open(t, spec)
	res := readAll(t, src, connectors.Request{BatchSize: 10})
	wantKeys(t, "first run", keysOf(res.rows, 0), []any{int64(1), int64(3)})
	if res.nulls != 3 {
		t.Errorf("NullCursorRows = %d, want 3", res.nulls)
	}
	res = readAll(t, src, connectors.Request{After: &value.Cursor{Value: t0, Key: int64(1)}, BatchSize: 1})
	wantKeys(t, "after a cursor", keysOf(res.rows, 0), []any{int64(3)})
	if res.nulls != 3 {
		t.Errorf("NullCursorRows after a cursor = %d, want 3", res.nulls)
	}
}

func testStringKey(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "code", Kind: Text, Key: true}, {Name: "updated_at", Kind: TimestampTZ}}
	wm := connectors.Watermark{Column: "updated_at", Key: "code"}
	spec := f.table(t, "codes", cols, wm)
	want := []any{"a", "aa", "ab", "b", "ba", "c", "a1", "b1"}
	// The first six share a time; the last two come a microsecond later.
	f.db.Insert(t, "codes", cols, [][]any{
		{"b1", t0.Add(us(1))}, {"ba", t0}, {"a", t0}, {"c", t0}, {"ab", t0}, {"a1", t0.Add(us(1))}, {"b", t0}, {"aa", t0},
	})
	src := open(t, spec)
	got, last := readResuming(t, src, spec, nil, 1)
	wantKeys(t, "a read per row", keysOf(got, 0), want)
	wantNothingAfter(t, src, last)
	res := readAll(t, src, connectors.Request{BatchSize: 3})
	wantKeys(t, "one read", keysOf(res.rows, 0), want)
}

func testIntegerWatermark(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "version", Kind: BigInt}}
	wm := connectors.Watermark{Column: "version", Key: "id"}
	spec := f.table(t, "versions", cols, wm)
	f.db.Insert(t, "versions", cols, [][]any{
		{int64(6), int64(9007199254740993)}, {int64(1), int64(1)}, {int64(3), int64(2)}, {int64(2), int64(2)},
		{int64(5), int64(4294967296)}, {int64(4), int64(3)},
	})
	src := open(t, spec)
	got, last := readResuming(t, src, spec, nil, 1)
	wantKeys(t, "a read per row", keysOf(got, 0), ints(1, 6))
	if v, ok := last.Value.(int64); !ok || v != 9007199254740993 {
		t.Errorf("last cursor value %#v (%T), want int64 9007199254740993", last.Value, last.Value)
	}
	wantNothingAfter(t, src, last)
	res := readAll(t, src, connectors.Request{After: &value.Cursor{Value: int64(2), Key: int64(2)}, BatchSize: 2})
	wantKeys(t, "after (2, 2)", keysOf(res.rows, 0), ints(3, 6))
}

// testHostileNames reads a table and columns whose names hold quotes, a
// backtick, a semicolon and a comment: they must be quoted, never executed.
func testHostileNames(t *testing.T, h Harness) {
	var allowed strings.Builder
	for _, c := range "\"'`; -" {
		if strings.ContainsRune(h.NameChars(), c) {
			allowed.WriteRune(c)
		}
	}
	chars := allowed.String()
	if strings.Contains(chars, "-") {
		chars += "-"
	}
	if chars == "" {
		t.Skip("the source allows no punctuation in names")
	}
	f := setup(t, h)
	name := func(s string) string { return s + chars + "x" }
	table := name("t")
	cols := []ColumnDef{{Name: name("id"), Kind: BigInt, Key: true}, {Name: name("at"), Kind: TimestampTZ}, {Name: name("v"), Kind: Text}}
	wm := connectors.Watermark{Column: cols[1].Name, Key: cols[0].Name}
	spec := f.table(t, table, cols, wm)
	f.db.Insert(t, table, cols, [][]any{{int64(2), t0, "two"}, {int64(1), t0, "one"}, {int64(3), t0.Add(us(1)), "three"}})

	for _, tableName := range []string{table, f.db.Schema() + "." + table} {
		spec.Table = tableName
		src := open(t, spec)
		got, last := readResuming(t, src, spec, nil, 2)
		wantKeys(t, tableName, keysOf(got, 0), ints(1, 3))
		if len(got) == 3 && got[2][2] != "three" {
			t.Errorf("%s: value %#v, want three", tableName, got[2][2])
		}
		wantNothingAfter(t, src, last)
		res := readAll(t, src, connectors.Request{BatchSize: 10})
		for i, c := range res.cols {
			if c.Name != cols[i].Name {
				t.Errorf("column %d is %q, want %q", i, c.Name, cols[i].Name)
			}
		}
	}
}

// testQuery reads a query: sync that uses {{last_sync_time}} twice.
func testQuery(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "n", Kind: BigInt}, {Name: "label", Kind: Text}}
	f.db.CreateTable(t, "numbers", cols)
	var rows [][]any
	for i := 10; i >= 1; i-- {
		rows = append(rows, []any{int64(i), int64(i), fmt.Sprintf("n%d", i)})
	}
	f.db.Insert(t, "numbers", cols, rows)

	spec := f.spec
	spec.Query = fmt.Sprintf("SELECT id, n, label FROM %s WHERE n >= {{last_sync_time}} AND n < {{ last_sync_time }} + 3;\n", f.db.TableRef("numbers"))
	res := readAll(t, open(t, spec), connectors.Request{LastSyncTime: 5, BatchSize: 2})
	got := keysOf(res.rows, 0)
	slices.SortFunc(got, func(a, b any) int { return int(a.(int64) - b.(int64)) })
	wantKeys(t, "no watermark", got, ints(5, 7))
	if len(res.cols) != 3 || res.cols[2].Name != "label" {
		t.Errorf("columns %v, want id, n, label", res.cols)
	}

	spec.Query = fmt.Sprintf("SELECT id, n, label FROM %s WHERE n >= {{last_sync_time}} AND n < {{last_sync_time}} + 3 -- the next three", f.db.TableRef("numbers"))
	spec.Watermark = connectors.Watermark{Column: "n", Key: "id"}
	src := open(t, spec)
	res = readAll(t, src, connectors.Request{LastSyncTime: 4, BatchSize: 1})
	wantKeys(t, "watermark", keysOf(res.rows, 0), ints(4, 6))
	if res.rows[0][2] != "n4" {
		t.Errorf("label %#v, want n4", res.rows[0][2])
	}
	res = readAll(t, src, connectors.Request{LastSyncTime: 4, BatchSize: 5, After: &value.Cursor{Value: int64(4), Key: int64(4)}})
	wantKeys(t, "watermark after (4, 4)", keysOf(res.rows, 0), ints(5, 6))
}

func testNoWatermark(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "v", Kind: Text}}
	spec := f.table(t, "everything", cols, connectors.Watermark{})
	var rows [][]any
	for i := 1; i <= 250; i++ {
		rows = append(rows, []any{int64(i), fmt.Sprint(i)})
	}
	f.db.Insert(t, "everything", cols, rows)
	res := readAll(t, open(t, spec), connectors.Request{BatchSize: 100})
	if !reflect.DeepEqual(res.batches, []int{100, 100, 50}) {
		t.Errorf("batches %v, want [100 100 50]", res.batches)
	}
	got := keysOf(res.rows, 0)
	slices.SortFunc(got, func(a, b any) int { return int(a.(int64) - b.(int64)) })
	wantKeys(t, "every row once", got, ints(1, 250))
	if res.nulls != 0 {
		t.Errorf("NullCursorRows = %d, want 0", res.nulls)
	}

	// A read closed part way leaves the source fit for the next one.
	ctx := context.Background()
	src := open(t, spec)
	for range 2 {
		st, err := src.Read(ctx, connectors.Request{BatchSize: 10})
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if batch, err := st.Next(ctx); err != nil || len(batch.Rows) != 10 {
			t.Fatalf("next: %d rows, %v", len(batch.Rows), err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close part way: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close twice: %v", err)
		}
		if _, err := st.Next(ctx); !errors.Is(err, io.EOF) {
			t.Errorf("next after close: %v, want io.EOF", err)
		}
	}
}

// testCanceled checks Read and Next honour their context.
func testCanceled(t *testing.T, h Harness) {
	f := setup(t, h)
	cols := []ColumnDef{{Name: "id", Kind: BigInt, Key: true}, {Name: "updated_at", Kind: TimestampTZ}}
	for _, wm := range []connectors.Watermark{{Column: "updated_at", Key: "id"}, {}} {
		name := "watermark"
		if wm.Column == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			spec := f.table(t, "canceled_"+name, cols, wm)
			f.db.Insert(t, "canceled_"+name, cols, [][]any{{int64(1), t0}, {int64(2), t0}, {int64(3), t0}})
			src := open(t, spec)
			canceled, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := src.Read(canceled, connectors.Request{BatchSize: 1}); !errors.Is(err, context.Canceled) {
				t.Errorf("read with a canceled context: %v, want context.Canceled", err)
			}
			st, err := src.Read(context.Background(), connectors.Request{BatchSize: 1})
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			defer st.Close()
			if _, err := st.Next(context.Background()); err != nil {
				t.Fatalf("next: %v", err)
			}
			if _, err := st.Next(canceled); !errors.Is(err, context.Canceled) {
				t.Errorf("next with a canceled context: %v, want context.Canceled", err)
			}
		})
	}
}
