package export

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
)

// rowGroupRows bounds a Parquet row group, which the writer holds in memory until it
// is full: the export's memory does not grow with the number of people.
const rowGroupRows = 50_000

// fileName names an export's file: people-00000007.parquet, manifest-00000007.json.
func fileName(table string, seq int64, ext string) string {
	return fmt.Sprintf("%s-%08d.%s", table, seq, ext)
}

// tmpName is where a file is written before it is renamed into place: hidden, so a
// loader's glob (people-*.parquet) never matches it.
func tmpName(name string) string { return "." + name + ".tmp" }

// outFile is one file of an export, written under its temporary name (or as an
// upload not yet committed) and put in place by publish. It counts and hashes what it
// writes, for the manifest.
type outFile struct {
	name string
	s    sink
	buf  *bufio.Writer
	hash hash.Hash
	size int64
}

func createFile(ctx context.Context, out *Out, name string) (*outFile, error) {
	s, err := out.create(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	o := &outFile{name: name, s: s, hash: sha256.New()}
	o.buf = bufio.NewWriterSize(writerFunc(o.write), 256<<10)
	return o, nil
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

func (o *outFile) write(p []byte) (int, error) {
	n, err := o.s.Write(p)
	o.hash.Write(p[:n])
	o.size += int64(n)
	return n, err
}

// close flushes the file to disk under its temporary name (a bucket: to the upload).
func (o *outFile) close() error {
	err := o.buf.Flush()
	if ferr := o.s.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", o.name, err)
	}
	return nil
}

// remove drops the file of an export that did not get to publish it.
func (o *outFile) remove() { o.s.remove() }

// publish puts the file in place, whole: a rename (the caller's Out.sync makes it
// durable) or the upload's commit.
func (o *outFile) publish() error {
	if err := o.s.publish(); err != nil {
		return fmt.Errorf("publish %s: %w", o.name, err)
	}
	return nil
}

func (o *outFile) sum() string { return hex.EncodeToString(o.hash.Sum(nil)) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// encoder writes rows of one table in one format.
type encoder[T record] interface {
	encode(row T) error
	close() error // writes what is buffered and any footer
}

func newEncoder[T record](format string, w io.Writer, header []string) (encoder[T], error) {
	switch format {
	case "parquet":
		return &parquetEncoder[T]{w: parquet.NewGenericWriter[T](w,
			parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(rowGroupRows))}, nil
	case "csv":
		c := csv.NewWriter(w)
		return &csvEncoder[T]{w: c}, c.Write(header)
	case "ndjson":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return ndjsonEncoder[T]{enc}, nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

type parquetEncoder[T record] struct {
	w   *parquet.GenericWriter[T]
	buf []T
}

func (e *parquetEncoder[T]) encode(row T) error {
	e.buf = append(e.buf, row)
	if len(e.buf) < 1024 {
		return nil
	}
	return e.flush()
}

func (e *parquetEncoder[T]) flush() error {
	_, err := e.w.Write(e.buf)
	clear(e.buf) // drop the strings the rows point to
	e.buf = e.buf[:0]
	return err
}

func (e *parquetEncoder[T]) close() error {
	if err := e.flush(); err != nil {
		return err
	}
	return e.w.Close()
}

type csvEncoder[T record] struct {
	w      *csv.Writer
	fields []string
}

func (e *csvEncoder[T]) encode(row T) error {
	e.fields = row.record(e.fields)
	return e.w.Write(e.fields)
}

func (e *csvEncoder[T]) close() error {
	e.w.Flush()
	return e.w.Error()
}

type ndjsonEncoder[T record] struct{ enc *json.Encoder }

func (e ndjsonEncoder[T]) encode(row T) error { return e.enc.Encode(row) }
func (e ndjsonEncoder[T]) close() error       { return nil }

// table writes one table of an export (people or attributes) in every format asked for.
type table[T record] struct {
	name   string
	files  []*outFile
	encs   []encoder[T]
	format []string
	rows   int64
}

func newTable[T record](ctx context.Context, out *Out, name string, seq int64, formats []string, header []string) (*table[T], error) {
	t := &table[T]{name: name, format: formats}
	for _, format := range formats {
		f, err := createFile(ctx, out, fileName(name, seq, format))
		if err != nil {
			t.remove()
			return nil, err
		}
		t.files = append(t.files, f)
		enc, err := newEncoder[T](format, f.buf, header)
		if err != nil {
			t.remove()
			return nil, err
		}
		t.encs = append(t.encs, enc)
	}
	return t, nil
}

func (t *table[T]) write(row T) error {
	for i, enc := range t.encs {
		if err := enc.encode(row); err != nil {
			return fmt.Errorf("write %s: %w", t.files[i].name, err)
		}
	}
	t.rows++
	return nil
}

// close writes what is left and flushes every file to disk, still under its temporary name.
func (t *table[T]) close() error {
	for i, enc := range t.encs {
		if err := enc.close(); err != nil {
			return fmt.Errorf("write %s: %w", t.files[i].name, err)
		}
		if err := t.files[i].close(); err != nil {
			return err
		}
	}
	return nil
}

func (t *table[T]) remove() {
	for _, f := range t.files {
		f.remove()
	}
}

func (t *table[T]) publish() error {
	for _, f := range t.files {
		if err := f.publish(); err != nil {
			return err
		}
	}
	return nil
}

func (t *table[T]) manifestFiles() []File {
	out := make([]File, len(t.files))
	for i, f := range t.files {
		out[i] = File{Table: t.name, Format: t.format[i], Name: f.name, Rows: t.rows, Bytes: f.size, SHA256: f.sum()}
	}
	return out
}
