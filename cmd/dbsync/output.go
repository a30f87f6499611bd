package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// rowWriter prints records as an aligned table on a terminal, otherwise (or with
// --json) as one JSON object a line.
type rowWriter struct {
	json bool
	w    io.Writer
	tw   *tabwriter.Writer
}

func newRowWriter(e *env, asJSON bool, header ...string) *rowWriter {
	r := &rowWriter{json: asJSON || !e.terminal, w: e.stdout}
	if !r.json {
		r.tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		r.cells(header)
	}
	return r
}

// write prints one record: v as JSON, or the cells as a table row.
func (r *rowWriter) write(v any, cells ...string) error {
	if r.json {
		return writeJSON(r.w, v)
	}
	r.cells(cells)
	return nil
}

func (r *rowWriter) cells(cells []string) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(r.tw, "\t")
		}
		fmt.Fprint(r.tw, c)
	}
	fmt.Fprintln(r.tw)
}

func (r *rowWriter) flush() error {
	if r.tw != nil {
		return r.tw.Flush()
	}
	return nil
}

func unixTime(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }
