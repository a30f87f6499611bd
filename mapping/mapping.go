// Package mapping turns a source row into its record's row (SPEC §2): columns to
// identifiers and attributes, renames, exclude, nulls, and every value into
// canonical JSON — times as Unix seconds, JSON columns as nested values, exact
// numerics with all their digits, binary as base64.
package mapping

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/civil"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/internal/columns"
	"github.com/dbsync/dbsync/internal/jsontext"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/value"
)

// ReasonInvalidValue is recorded for a row with a value that cannot be converted or
// stored; the identity rules record it too (identity.ReasonInvalidValue).
const ReasonInvalidValue = "invalid_value"

// Mapper maps the rows of one stream, whose columns it resolved once.
type Mapper struct {
	key, id, email, cio int    // column indexes; -1 when not mapped
	object, remove      int    // objects and relationships (SPEC §8): the object_id and remove columns; -1 when not mapped
	del, suppress       int    // SPEC §10: the delete and suppress columns; -1 when not mapped
	events              bool   // an events sync (SPEC §9): the attributes are the event's data
	eventName           string // the fixed event name, when there is no name column
	name, eventID, ts   int    // events: the name, id and timestamp columns; -1 when not mapped
	attrs               []attrColumn
	unset               bool
	columns             []value.Column
	loc                 *time.Location // of zone-less date and time values (civil.DateTime)

	scratch, block []byte        // Map's: the row's encoded values, and the block they move to
	ends           []int         // where each of the row's values ends in scratch
	attrBlock      []record.Attr // Map's: the rows' Attrs are cut from it
}

type attrColumn struct {
	name string
	col  int
}

// New resolves a sync's mapping against the columns a source returned, each name by
// the one rule of SPEC §3 (columns.Find). A mapped column the source does not return,
// or one that matches several columns, is an error: the sync cannot run as configured.
// So is a column named id, email or cio_id that would become a plain attribute (§2).
func New(s config.Sync, cols []value.Column) (*Mapper, error) {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	m := &Mapper{key: -1, id: -1, email: -1, cio: -1, object: -1, remove: -1, del: -1, suppress: -1, name: -1, eventID: -1, ts: -1,
		unset: s.Nulls == config.NullsUnset, columns: cols, loc: time.UTC}
	if loc := s.Spec().Timezone; loc != nil {
		m.loc = loc
	}
	var problems []string
	find := func(field, col string) int {
		if col == "" {
			return -1
		}
		i, err := columns.Find(names, col)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", field, err))
		}
		return i
	}
	m.id = find("identifiers.id", s.Identifiers.ID)
	m.email = find("identifiers.email", s.Identifiers.Email)
	m.cio = find("identifiers.cio_id", s.Identifiers.CioID)
	m.object = find("object_id", s.ObjectID)
	m.remove = find("remove", s.Remove)
	m.del = find("delete", s.Delete)
	m.suppress = find("suppress", s.Suppress)
	if s.Kind == config.KindEvents && s.Event != nil {
		m.events, m.unset, m.eventName = true, false, s.Event.Name
		m.name = find("event.name_column", s.EventNameColumn())
		m.eventID = find("event.id_column", s.EventIDColumn())
		m.ts = find("event.timestamp_column", s.EventTimestampColumn())
	}
	if s.Watermark != nil {
		// The row's key, for the store's records. The source's Read found the
		// watermark columns by the same rule and hands each batch its cursors.
		m.key = find("watermark.key", s.Watermark.Key)
	}

	excluded := make([]bool, len(cols))
	for i, c := range s.Exclude {
		j, err := columns.Find(names, c)
		switch {
		case err == nil:
			excluded[j] = true
		case !errors.Is(err, columns.ErrNotFound): // excluding a column not selected is no error
			problems = append(problems, fmt.Sprintf("exclude[%d]: %v", i, err))
		}
	}
	// The object_id and remove columns are never attributes, nor an event's name, id
	// and timestamp columns its data (SPEC §8).
	for _, i := range []int{m.object, m.remove, m.del, m.suppress, m.name, m.eventID, m.ts} {
		if i >= 0 {
			excluded[i] = true
		}
	}
	if s.Attributes != nil {
		attrs := make([]string, 0, len(s.Attributes))
		for name := range s.Attributes {
			attrs = append(attrs, name)
		}
		sort.Strings(attrs)
		for _, name := range attrs {
			if i := find("attributes."+name, s.Attributes[name]); i >= 0 && !excluded[i] {
				m.attrs = append(m.attrs, attrColumn{name: name, col: i})
			}
		}
	} else if s.AttributesFromColumns() {
		reserved := s.ReservedAttributeNames()
		for i, c := range cols {
			if i == m.id || i == m.email || i == m.cio || excluded[i] {
				continue
			}
			if slices.Contains(reserved, c.Name) {
				problems = append(problems, reservedColumn(s, c.Name))
				continue
			}
			m.attrs = append(m.attrs, attrColumn{name: c.Name, col: i})
		}
	}
	if m.events {
		// The data are one JSON object, canonical: its keys sorted, each once.
		sort.SliceStable(m.attrs, func(i, j int) bool { return m.attrs[i].name < m.attrs[j].name })
		for i := 1; i < len(m.attrs); i++ {
			if m.attrs[i].name == m.attrs[i-1].name {
				problems = append(problems, fmt.Sprintf("column %q is selected twice: an event's data holds each name once; rename one with AS or exclude it", m.attrs[i].name))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return m, nil
}

// reservedColumn says why a selected column named like the row's identifier cannot be
// a plain attribute (SPEC §2), and what to do instead.
func reservedColumn(s config.Sync, name string) string {
	if s.Kind == config.KindObjects {
		return fmt.Sprintf("column %q is selected but not used: it would be stored as a plain attribute named like "+
			"the object's id; make it object_id, rename it with AS, or add it to exclude", name)
	}
	return fmt.Sprintf("column %q is selected but not mapped: it would be stored as a plain "+
		"attribute named like an identifier; map it under identifiers (identifiers.%s: %s) or add it to exclude", name, name, name)
}

// Map maps one source row into its record: the key, identifiers and attributes. A
// value that cannot be converted rejects the row (rec.Reject, naming the column),
// never the sync.
func (m *Mapper) Map(values []any, rec *record.Record) {
	if m.key >= 0 {
		rec.Key = keyText(values[m.key])
	}
	bad := -1 // the column that rejects the row
	var why error
	ident := func(i int) string {
		if i < 0 || bad >= 0 {
			return ""
		}
		s, err := identifierText(values[i])
		if err != nil {
			bad, why = i, err
		}
		return s
	}
	rec.ID, rec.Email, rec.CioID = ident(m.id), ident(m.email), ident(m.cio)
	rec.ObjectID = ident(m.object)
	for _, f := range []struct {
		col int
		to  *bool
	}{{m.remove, &rec.Remove}, {m.del, &rec.Delete}, {m.suppress, &rec.Suppress}} {
		if f.col >= 0 && bad < 0 {
			var err error
			if *f.to, err = truth(values[f.col]); err != nil {
				bad, why = f.col, err
			}
		}
	}
	if m.events && bad < 0 {
		bad, why = m.mapEvent(values, rec)
	}
	if rec.Key == "" {
		// Without a watermark, an event's row is known by its event id.
		rec.Key = firstNonEmpty(rec.EventID, rec.ID, rec.Email, rec.CioID, rec.ObjectID)
	}
	rec.Key = validKey(rec.Key)
	if bad >= 0 {
		m.reject(rec, bad, why)
		return
	}
	if m.events {
		if col, err := m.mapData(values, rec); err != nil {
			m.reject(rec, col, err)
		}
		return
	}
	// The row's Attrs are cut from a block many rows share, capped at the row's own
	// length: one allocation for many rows, not one a row.
	if len(m.attrBlock) < len(m.attrs) {
		m.attrBlock = make([]record.Attr, len(m.attrs)*attrsABlock)
	}
	rec.Attrs = m.attrBlock[:0:len(m.attrs)]
	m.attrBlock = m.attrBlock[len(m.attrs):]
	enc := m.scratch[:0] // the row's values, one after another
	ends := m.ends[:0]
	for _, a := range m.attrs {
		v := values[a.col]
		if v == nil {
			if m.unset {
				rec.Attrs = append(rec.Attrs, record.Attr{Name: a.name})
				ends = append(ends, len(enc))
			}
			continue
		}
		if dt, ok := v.(civil.DateTime); ok {
			v = dt.In(m.loc) // a wall clock the zone skips reads as the zone's time.Date does
		}
		var err error
		if enc, err = AppendValue(enc, v); err != nil {
			m.reject(rec, a.col, err)
			return
		}
		rec.Attrs = append(rec.Attrs, record.Attr{Name: a.name})
		ends = append(ends, len(enc))
	}
	m.scratch, m.ends = enc, ends
	// The values move to a block that many rows share, each value its own capped slice
	// of it: one allocation for many rows' values, not one a value.
	if cap(m.block)-len(m.block) < len(enc) {
		m.block = make([]byte, 0, max(valuesABlock, len(enc)))
	}
	at := len(m.block)
	m.block = append(m.block, enc...)
	start := 0
	for i, end := range ends {
		if end > start { // a NULL under nulls: unset has no value
			rec.Attrs[i].Value = m.block[at+start : at+end : at+end]
		}
		start = end
	}
}

// valuesABlock is the size of the blocks Map keeps the rows' attribute values in.
const valuesABlock = 64 << 10

// attrsABlock is how many rows' Attrs Map allocates at once.
const attrsABlock = 256

// mapEvent fills in an event's id, name and timestamp (SPEC §9). A NULL leaves the
// field empty, for the planner to refuse; a value that is not what the field takes
// returns its column and why.
func (m *Mapper) mapEvent(values []any, rec *record.Record) (int, error) {
	rec.EventName = m.eventName
	text := func(i int) (string, error) {
		if i < 0 {
			return "", nil
		}
		s, err := identifierText(values[i])
		if err == nil {
			err = checkText(s)
		}
		return s, err
	}
	var err error
	if rec.EventID, err = text(m.eventID); err != nil {
		return m.eventID, err
	}
	if m.name >= 0 {
		if rec.EventName, err = text(m.name); err != nil {
			return m.name, err
		}
	}
	if m.ts >= 0 {
		if rec.Timestamp, rec.HasTimestamp, err = m.timestamp(values[m.ts]); err != nil {
			return m.ts, err
		}
	}
	return -1, nil
}

// timestamp reads an event's time as Unix seconds: a date or time (a zone-less one in
// the sync's zone), or a whole number taken as Unix seconds already. NULL is none.
func (m *Mapper) timestamp(v any) (int64, bool, error) {
	switch v := v.(type) {
	case nil:
		return 0, false, nil
	case int64:
		return v, true, nil
	case value.Decimal:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%q is not a whole number of Unix seconds", string(v))
		}
		return n, true, nil
	case civil.DateTime:
		return m.timestamp(v.In(m.loc))
	case time.Time:
		if v.Before(minTime) || !v.Before(maxTime) {
			return 0, false, fmt.Errorf("%s is outside the dates the store holds (years 1 to 9999)", v.UTC().Format(time.RFC3339))
		}
		return v.Unix(), true, nil
	case value.Invalid:
		return 0, false, fmt.Errorf("%s", v.Reason)
	}
	return 0, false, fmt.Errorf("a %s is not a timestamp: use a date or time column, or whole Unix seconds", typeName(v))
}

// mapData makes an event's data: one JSON object of the data columns, keys sorted (New
// sorted them), values converted as attributes are (SPEC §2) and NULLs left out: an
// event is never updated, so a NULL has nothing to unset. It returns the column of a
// value that cannot be converted.
func (m *Mapper) mapData(values []any, rec *record.Record) (int, error) {
	b := make([]byte, 0, 16*len(m.attrs)+2)
	b = append(b, '{')
	for _, a := range m.attrs {
		v := values[a.col]
		if v == nil {
			continue
		}
		if dt, ok := v.(civil.DateTime); ok {
			v = dt.In(m.loc)
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, a.name)
		b = append(b, ':')
		var err error
		if b, err = AppendValue(b, v); err != nil {
			return a.col, err
		}
	}
	rec.Data = append(b, '}')
	return -1, nil
}

func (m *Mapper) reject(rec *record.Record, col int, err error) {
	rec.Reject(ReasonInvalidValue, fmt.Sprintf("column %q: %v", m.columns[col].Name, err))
}

// truth reads a flag column (SPEC §8 remove; §10 delete and suppress): true, a
// non-zero number, or a time (a deleted_at that is set) is true; NULL, false and 0 are
// false; text is true or false only when it says so ("true", "t", "1", "yes", …).
func truth(v any) (bool, error) {
	switch v := v.(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case int64:
		return v != 0, nil
	case float64:
		return v != 0 && !math.IsNaN(v), nil
	case value.Decimal:
		return strings.Trim(string(v), "-+0.") != "", nil
	case time.Time, civil.DateTime:
		return true, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "t", "1", "yes", "y":
			return true, nil
		case "false", "f", "0", "no", "n", "":
			return false, nil
		}
		return false, fmt.Errorf("%q is not true or false", v)
	}
	return false, fmt.Errorf("a %s is not true or false", typeName(v))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// validKey makes a row key valid text, as the store records it and a PostgreSQL
// store accepts it (docs/decisions.md): a NUL becomes \0 and bytes that are not UTF-8
// become U+FFFD, so a key is recorded even when it is not text.
func validKey(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\\0"), "\uFFFD")
}

// keyText shows a cursor key for the rejected-rows log.
func keyText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case civil.DateTime:
		return value.WallText(v)
	}
	return fmt.Sprint(v)
}

// identifierText turns an identifier column's value into text; NULL is no value.
func identifierText(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case value.Decimal:
		return string(v), nil
	case []byte:
		if !utf8.Valid(v) {
			return "", fmt.Errorf("binary value is not text")
		}
		return string(v), nil
	}
	return "", fmt.Errorf("a %s cannot be an identifier", typeName(v))
}

// The store's range for dates: years 1 to 9999.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Value converts one non-NULL value to canonical JSON text: equal values always give
// equal text, so an unchanged row is seen as unchanged.
func Value(v any) (json.RawMessage, error) {
	return AppendValue(nil, v)
}

// AppendValue appends Value's encoding of v to b; on an error b is returned as it was.
func AppendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case bool:
		return strconv.AppendBool(b, v), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case value.Decimal:
		if !isJSONNumber(string(v)) {
			return b, fmt.Errorf("%q is not a number the store holds", string(v))
		}
		return append(b, v...), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return b, fmt.Errorf("%v is not a number the store holds", v)
		}
		enc, err := json.Marshal(v)
		return append(b, enc...), err
	case string:
		if err := checkText(v); err != nil {
			return b, err
		}
		return jsontext.AppendString(b, v), nil
	case []byte:
		return jsontext.AppendString(b, base64.StdEncoding.EncodeToString(v)), nil
	case time.Time:
		if v.Before(minTime) || !v.Before(maxTime) {
			return b, fmt.Errorf("%s is outside the dates the store holds (years 1 to 9999)", v.UTC().Format(time.RFC3339))
		}
		return strconv.AppendInt(b, v.Unix(), 10), nil
	case civil.DateTime:
		return AppendValue(b, v.In(time.UTC)) // a Mapper reads it in the sync's zone first
	case value.JSON:
		enc, err := canonicalJSON(v)
		if err != nil {
			return b, err
		}
		return append(b, enc...), nil
	case value.Invalid:
		return b, fmt.Errorf("%s", v.Reason)
	}
	return b, fmt.Errorf("values of type %s are not supported", typeName(v))
}

func typeName(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case float64:
		return "floating-point number"
	case time.Time, civil.DateTime:
		return "date or time"
	case value.JSON:
		return "JSON value"
	case value.Invalid:
		return "invalid value"
	}
	return fmt.Sprintf("%T", v)
}

func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("text is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("text holds a NUL character")
	}
	return nil
}

// isJSONNumber reports whether s is a number in JSON's grammar.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// canonicalJSON re-encodes a JSON document with sorted keys and no insignificant
// space, keeping numbers exactly as written.
func canonicalJSON(doc []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("invalid JSON: more than one value")
	}
	return appendJSON(nil, v), nil
}

func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case json.Number:
		return append(b, v...)
	case string:
		return jsontext.AppendString(b, v)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, k)
			b = append(b, ':')
			b = appendJSON(b, v[k])
		}
		return append(b, '}')
	}
	panic(fmt.Sprintf("mapping: unexpected JSON value %T", v))
}
