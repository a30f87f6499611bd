package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dbsync/dbsync/connectors/sqlsource"
	"github.com/dbsync/dbsync/value"
)

// adaptTime is a date or time column's Adapt. When every non-NULL value has one
// form (see storedForm) whose order is the order of the times it stands for, the
// column is compared and sorted as stored, so an index on (column, key) serves
// the keyset query, and cursors are bound in that same form. Otherwise it stays
// on dbsync_time.
func (d dialect) adaptTime(c sqlsource.Column, dateOnly bool) func(context.Context, *sql.Tx, string, []any) (sqlsource.Column, error) {
	return func(ctx context.Context, tx *sql.Tx, from string, args []any) (sqlsource.Column, error) {
		f, err := d.survey(ctx, tx, from, args, Quote(c.Name), dateOnly)
		if err != nil || f == nil {
			return c, err
		}
		c.Order = "" // the quoted name
		c.Bind = sqlsource.BindTime(f.format)
		if decode := c.Decode; f.layout != "" {
			c.Decode = func(v any) (value.Value, error) {
				if s, ok := v.(string); ok { // the form first: the values all have it
					if t, err := time.ParseInLocation(f.layout, s, f.in); err == nil {
						return timeOf(t, dateOnly), nil
					}
				}
				return decode(v)
			}
		}
		return c, nil
	}
}

// storedForm is one form of date and time values: INTEGER Unix seconds (no
// layout), or TEXT of one layout written in one zone.
type storedForm struct {
	layout   string         // the Go layout of text; "" for Unix seconds
	glob     string         // a GLOB pattern text of that layout matches
	in       *time.Location // the zone text is written in
	zoneless bool           // wall clocks read in Spec.Timezone, which may skip some
}

func (f *storedForm) format(t time.Time) any {
	if f.layout == "" {
		return t.Unix()
	}
	return t.In(f.in).Format(f.layout)
}

// match is SQL that is true of a value of col in this form.
func (f *storedForm) match(col string) string {
	if f.layout == "" {
		return fmt.Sprintf("typeof(%s) = 'integer'", col)
	}
	return fmt.Sprintf("typeof(%s) = 'text' AND %s GLOB '%s'", col, col, f.glob)
}

// survey looks at column col of the rows a sync reads FROM: the form of one
// value, then whether every value has it. It returns nil when they do not.
func (d dialect) survey(ctx context.Context, tx *sql.Tx, from string, args []any, col string, dateOnly bool) (*storedForm, error) {
	var sample any
	err := tx.QueryRowContext(ctx, fmt.Sprintf("SELECT +%s FROM %s WHERE %s IS NOT NULL LIMIT 1", col, from, col), args...).Scan(&sample)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f := formOf(sample, d.loc, dateOnly)
	if f == nil {
		return nil, nil
	}
	var uniform bool
	q := fmt.Sprintf("SELECT NOT EXISTS (SELECT 1 FROM %s WHERE %s IS NOT NULL AND NOT (%s))", from, col, f.match(col))
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&uniform); err != nil || !uniform {
		return nil, err
	}
	if !f.zoneless || fixed(d.loc) {
		return f, nil
	}
	// A wall clock Spec.Timezone skips (as clocks spring forward) reads as
	// another one: its cursor would not bind back to it.
	var first, last any
	q = fmt.Sprintf("SELECT (SELECT MIN(%[1]s) FROM %[2]s), (SELECT MAX(%[1]s) FROM %[2]s)", col, from)
	if err := tx.QueryRowContext(ctx, q, append(slices.Clip(args), args...)...).Scan(&first, &last); err != nil {
		return nil, err
	}
	lo, err1 := readTime(first, d.loc, false)
	hi, err2 := readTime(last, d.loc, false)
	if err1 != nil || err2 != nil {
		return nil, nil // dbsync_time names the value that is no date
	}
	skipped, ok := f.skipped(lo, hi)
	switch {
	case !ok:
		return nil, nil
	case len(skipped) == 0:
		return f, nil
	}
	terms := slices.Repeat([]string{col + " BETWEEN ? AND ?"}, len(skipped)/2)
	q = fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE %s)", from, strings.Join(terms, " OR "))
	var found bool
	if err := tx.QueryRowContext(ctx, q, append(slices.Clip(args), skipped...)...).Scan(&found); err != nil || found {
		return nil, err
	}
	return f, nil
}

// fixed is true of a zone whose offset never changes (UTC).
func fixed(loc *time.Location) bool {
	start, end := time.Time{}.In(loc).ZoneBounds()
	return start.IsZero() && end.IsZero()
}

// formOf is the form of one value of a date or time column, when the column can
// be compared as stored in it: a value read and bound back must be itself.
func formOf(v any, loc *time.Location, dateOnly bool) *storedForm {
	f := &storedForm{in: loc}
	switch v := v.(type) {
	case int64:
		if dateOnly {
			return nil // the date of Unix seconds is not the seconds
		}
	case string:
		var ok bool
		if f.layout, f.glob, ok = textLayout(v); !ok || dateOnly && f.layout != sqlsource.DateLayout {
			return nil
		}
		switch {
		case dateOnly, strings.HasSuffix(f.layout, "Z07:00"):
			f.in = time.UTC
		case strings.HasSuffix(f.layout, "-07:00"):
			t, err := time.Parse(f.layout, v)
			if err != nil {
				return nil
			}
			_, offset := t.Zone()
			f.in = time.FixedZone("", offset)
		default:
			f.zoneless = true
		}
	default:
		return nil
	}
	if t, err := readTime(v, loc, dateOnly); err != nil || f.format(t) != v {
		return nil // "-00:00", say, is written back "+00:00"
	}
	return f
}

// textLayout is the Go layout of date and time text s, and a GLOB pattern all
// text of that layout matches, when s is a date, or a date and time to the
// minute, the second or a fraction of up to 6 digits, with a space or a T, and
// Z, an offset (+02:00) or no zone.
func textLayout(s string) (layout, glob string, ok bool) {
	const full, shape = "2006-01-02T15:04:05.000000", "9999-99-99T99:99:99.999999"
	body, zone := s, ""
	switch n := len(s); {
	case strings.HasSuffix(s, "Z"):
		body, zone = s[:n-1], "Z07:00"
	case n > 6 && (s[n-6] == '+' || s[n-6] == '-') && s[n-3] == ':':
		body, zone = s[:n-6], "-07:00"
	}
	n := len(body)
	if n != 10 && n != 16 && n != 19 && (n < 21 || n > len(full)) || n == 10 && zone != "" {
		return "", "", false
	}
	layout = full[:n]
	var g strings.Builder
	for i := range n {
		switch c := body[i]; {
		case shape[i] == '9' && '0' <= c && c <= '9':
			g.WriteString("[0-9]")
		case i == 10 && c == ' ':
			layout = layout[:10] + " " + layout[11:]
			g.WriteByte(' ')
		case c == shape[i]:
			g.WriteByte(c)
		default:
			return "", "", false
		}
	}
	return layout + zone, g.String() + s[n:], true
}

// skipped lists the wall clocks f's zone skips from a day before lo to a day
// after hi, as pairs of texts in f's layout: the first and last of each
// skipped stretch. ok is false when there are too many to look for.
func (f *storedForm) skipped(lo, hi time.Time) (texts []any, ok bool) {
	wall := func(t time.Time, offset int) string { return t.In(time.FixedZone("", offset)).Format(f.layout) }
	end := hi.Add(24 * time.Hour)
	for t := lo.Add(-24 * time.Hour).In(f.in); ; {
		_, next := t.ZoneBounds()
		if next.IsZero() || next.After(end) {
			return texts, true
		}
		_, before := next.Add(-time.Nanosecond).Zone()
		if _, after := next.Zone(); after > before {
			texts = append(texts, wall(next, before), wall(next.Add(-time.Nanosecond), after))
		}
		if len(texts) > 400 {
			return nil, false
		}
		t = next
	}
}
