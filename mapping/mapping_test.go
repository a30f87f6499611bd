package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/value"
)

func TestValue(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want string // canonical JSON; "" when the value is refused
		err  string
	}{
		{"true", true, "true", ""},
		{"false", false, "false", ""},
		{"int64", int64(-9223372036854775808), "-9223372036854775808", ""},
		{"decimal keeps every digit", value.Decimal("123456789012345678901234567890.000100"), "123456789012345678901234567890.000100", ""},
		{"decimal NaN", value.Decimal("NaN"), "", "not a number the store holds"},
		{"decimal with a leading point", value.Decimal(".5"), "", "not a number"},
		{"float", 0.1, "0.1", ""},
		{"float NaN", math.NaN(), "", "NaN is not a number the store holds"},
		{"float +Inf", math.Inf(1), "", "+Inf is not a number the store holds"},
		{"float -Inf", math.Inf(-1), "", "-Inf is not a number"},
		{"text", `say "hi" <b>&</b>` + "\n\x01", `"say \"hi\" <b>&</b>\n\u0001"`, ""},
		{"text not UTF-8", "a\xffb", "", "not valid UTF-8"},
		{"text with NUL", "a\x00b", "", "NUL"},
		{"bytes as base64", []byte{0, 1, 2, 0xff}, `"AAEC/w=="`, ""},
		{"time as Unix seconds", time.Date(2024, 5, 1, 10, 0, 0, 999_999_000, time.FixedZone("x", 3600)), "1714554000", ""},
		{"date before 1970", time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), "-86400", ""},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), "253402300799", ""},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "", "outside the dates the store holds"},
		{"year 0", time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), "", "outside the dates"},
		{"JSON nested, keys sorted, numbers exact", value.JSON(`{"b": [1, 2.50, {"z": null, "a": true}], "a": 12345678901234567890}`),
			`{"a":12345678901234567890,"b":[1,2.50,{"a":true,"z":null}]}`, ""},
		{"JSON scalar", value.JSON(`"x"`), `"x"`, ""},
		{"JSON invalid", value.JSON(`{"a":`), "", "invalid JSON"},
		{"invalid", value.Invalid{Reason: "infinity is not a date"}, "", "infinity is not a date"},
		{"unsupported", struct{}{}, "", "not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Value(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Value(%v) = %s, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("Value(%v) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
			if !json.Valid(got) {
				t.Fatalf("Value(%v) = %s is not valid JSON", tc.in, got)
			}
		})
	}
}

func cols(names ...string) []value.Column {
	out := make([]value.Column, len(names))
	for i, n := range names {
		out[i] = value.Column{Name: n, Type: "text"}
	}
	return out
}

func TestRow(t *testing.T) {
	columns := cols("user_id", "email", "plan_name", "updated_at", "age", "notes")
	values := []any{int64(42), "A@x.io", "pro", time.Unix(1_700_000_000, 0), nil, "hi"}
	cases := []struct {
		name  string
		sync  config.Sync
		attrs string // name=value pairs; name= for an unset
	}{
		{
			name:  "every other column under its own name; NULL leaves the attribute",
			sync:  config.Sync{Identifiers: config.Identifiers{ID: "user_id", Email: "email"}},
			attrs: "plan_name=\"pro\"|updated_at=1700000000|notes=\"hi\"",
		},
		{
			name:  "exclude",
			sync:  config.Sync{Identifiers: config.Identifiers{ID: "user_id", Email: "email"}, Exclude: []string{"updated_at", "notes"}},
			attrs: "plan_name=\"pro\"",
		},
		{
			name:  "nulls: unset removes",
			sync:  config.Sync{Identifiers: config.Identifiers{ID: "user_id"}, Nulls: config.NullsUnset, Exclude: []string{"email", "notes", "updated_at"}},
			attrs: "plan_name=\"pro\"|age=",
		},
		{
			name:  "attributes: renames, and only those",
			sync:  config.Sync{Identifiers: config.Identifiers{ID: "user_id"}, Attributes: map[string]string{"plan": "plan_name", "seen": "updated_at"}},
			attrs: "plan=\"pro\"|seen=1700000000",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.sync.Watermark = &config.Watermark{Column: "updated_at", Key: "user_id"}
			m, err := New(tc.sync, columns)
			if err != nil {
				t.Fatal(err)
			}
			var r record.Record
			m.Map(values, &r)
			if r.Refused() {
				t.Fatalf("rejected: %+v", r.Outcome)
			}
			if r.Key != "42" || r.ID != "42" {
				t.Errorf("key %q, id %q; want 42", r.Key, r.ID)
			}
			var got []string
			for _, a := range r.Attrs {
				got = append(got, a.Name+"="+string(a.Value))
			}
			want := strings.Split(tc.attrs, "|")
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("attributes %q, want %q", got, want)
			}
		})
	}
}

func TestRowRejectsBadValueNamingTheColumn(t *testing.T) {
	m, err := New(config.Sync{Identifiers: config.Identifiers{ID: "id"}}, cols("id", "score", "bio"))
	if err != nil {
		t.Fatal(err)
	}
	var rec record.Record
	m.Map([]any{"u1", math.NaN(), "ok"}, &rec)
	if rec.Result != record.Rejected || rec.Reason != ReasonInvalidValue || !strings.Contains(rec.Detail, `column "score"`) {
		t.Fatalf("outcome = %+v, want invalid_value naming column score", rec.Outcome)
	}
	rec = record.Record{}
	m.Map([]any{true, 1.0, "ok"}, &rec)
	if rec.Result != record.Rejected || !strings.Contains(rec.Detail, `column "id": a boolean cannot be an identifier`) {
		t.Fatalf("outcome = %+v, want a rejection naming column id", rec.Outcome)
	}
}

func TestNewNamesMissingColumns(t *testing.T) {
	s := config.Sync{
		Identifiers: config.Identifiers{ID: "user_id", Email: "mail"},
		Attributes:  map[string]string{"plan": "plan_nme"},
	}
	_, err := New(s, cols("user_id", "email", "plan_name"))
	if err == nil || !strings.Contains(err.Error(), `identifiers.email: column "mail"`) ||
		!strings.Contains(err.Error(), `attributes.plan: column "plan_nme"`) {
		t.Fatalf("err = %v, want both missing columns named", err)
	}
}

// FuzzCanonicalJSON: canonical JSON never panics, is valid, and is a fixed point.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,"x",null,true,{"b":[]}]`, `"\u0000"`, `1e400`, `{"a":{"a":{"a":"<>&"}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		out, err := Value(value.JSON(doc))
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("canonical form of %q is not valid JSON: %s", doc, out)
		}
		again, err := Value(value.JSON(out))
		if err != nil || string(again) != string(out) {
			t.Fatalf("not a fixed point: %s -> %s (%v)", out, again, err)
		}
	})
}

// FuzzValue: text and exact numerics from a source never panic the conversion, and
// whatever is accepted is valid JSON of the right kind.
func FuzzValue(f *testing.F) {
	for _, s := range []string{"", "1", "-0.50", "1e10", "NaN", ".5", "a\x00b", "\xff", `"quoted" \ <tag>`, "12345678901234567890.000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if out, err := Value(s); err == nil {
			var back string
			if json.Unmarshal(out, &back) != nil || back != s {
				t.Fatalf("text %q came out as %s", s, out)
			}
		}
		if out, err := Value(value.Decimal(s)); err == nil {
			var n json.Number
			if json.Unmarshal(out, &n) != nil || string(out) != s {
				t.Fatalf("decimal %q came out as %s", s, out)
			}
		}
	})
}

// SPEC §2: with attributes: omitted, a selected column named id, email or cio_id that is
// neither mapped under identifiers nor excluded is an error naming it.
func TestNewRefusesUnmappedIdentifierColumns(t *testing.T) {
	for _, name := range []string{"id", "email", "cio_id"} {
		s := config.Sync{Identifiers: config.Identifiers{ID: "user_id"}}
		_, err := New(s, cols("user_id", name, "plan"))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("column %q", name)) {
			t.Errorf("a column %s that is not mapped: err = %v, want an error naming it", name, err)
		}
		s.Exclude = []string{name}
		if _, err := New(s, cols("user_id", name, "plan")); err != nil {
			t.Errorf("the column %s excluded: %v", name, err)
		}
		s.Exclude = nil
		s.Attributes = map[string]string{"plan": "plan"}
		if _, err := New(s, cols("user_id", name, "plan")); err != nil {
			t.Errorf("the column %s with attributes: given: %v", name, err)
		}
	}
	s := config.Sync{Identifiers: config.Identifiers{ID: "user_id", Email: "email"}}
	if _, err := New(s, cols("user_id", "email", "plan")); err != nil {
		t.Errorf("email mapped under identifiers: %v", err)
	}
	s = config.Sync{Identifiers: config.Identifiers{ID: "user_id", Email: "mail"}}
	if _, err := New(s, cols("user_id", "mail", "id")); err == nil || !strings.Contains(err.Error(), `column "id"`) {
		t.Errorf("an id column beside the mapped one: err = %v", err)
	}
}

// SPEC §3: a column name in the config matches exactly, or ignoring case when exactly
// one column matches, in every part of the mapping.
func TestNewMatchesColumnsIgnoringCase(t *testing.T) {
	s := config.Sync{
		Watermark:   &config.Watermark{Column: "Updated_At", Key: "USER_ID"},
		Identifiers: config.Identifiers{ID: "User_Id", Email: "EMAIL"},
		Exclude:     []string{"NOTES", "updated_AT"},
	}
	columns := cols("user_id", "email", "Plan_Name", "updated_at", "notes")
	m, err := New(s, columns)
	if err != nil {
		t.Fatal(err)
	}
	var r record.Record
	m.Map([]any{"u1", "a@x.io", "pro", time.Unix(1, 0), "n"}, &r)
	if r.Refused() || r.ID != "u1" || r.Email != "a@x.io" || r.Key != "u1" || len(r.Attrs) != 1 || r.Attrs[0].Name != "Plan_Name" {
		t.Fatalf("record = %+v", r)
	}
	s.Attributes = map[string]string{"plan": "plan_name"}
	if m, err = New(s, columns); err != nil {
		t.Fatal(err)
	}
	r = record.Record{}
	if m.Map([]any{"u1", "a@x.io", "pro", time.Unix(1, 0), "n"}, &r); len(r.Attrs) != 1 || r.Attrs[0].Name != "plan" {
		t.Fatalf("attributes = %+v", r.Attrs)
	}

	// Two columns that match only ignoring case: the name is ambiguous, an error.
	_, err = New(config.Sync{Identifiers: config.Identifiers{ID: "user_id", Email: "email"}}, cols("user_id", "EMAIL", "Email"))
	if err == nil || !strings.Contains(err.Error(), "identifiers.email") {
		t.Fatalf("ambiguous column: err = %v", err)
	}
	_, err = New(config.Sync{Identifiers: config.Identifiers{ID: "user_id"}, Exclude: []string{"x"}}, cols("user_id", "X", "x "))
	if err != nil {
		t.Fatalf("exclude naming a column exactly-once ignoring case: %v", err)
	}
}

// SPEC §8: an objects row carries its object id, which is never an attribute; every
// other column is, unless excluded; a column named id would look like the object's id.
func TestObjectsRow(t *testing.T) {
	s := config.Sync{Kind: config.KindObjects, ObjectType: "account", ObjectID: "account_id",
		Watermark: &config.Watermark{Column: "updated_at", Key: "account_id"}, Exclude: []string{"updated_at"}}
	m, err := New(s, cols("account_id", "name", "email", "updated_at"))
	if err != nil {
		t.Fatal(err)
	}
	var r record.Record
	m.Map([]any{int64(42), "Acme", "billing@acme.io", time.Unix(1, 0)}, &r)
	if r.Refused() || r.ObjectID != "42" || r.Key != "42" || r.ID != "" || r.Email != "" {
		t.Fatalf("record = %+v", r)
	}
	if got := attrNames(r.Attrs); got != "name,email" {
		t.Errorf("attributes %s, want name,email (an account's email is an ordinary attribute)", got)
	}
	if _, err := New(s, cols("account_id", "id", "updated_at")); err == nil || !strings.Contains(err.Error(), `column "id"`) {
		t.Errorf("an id column of an object: err = %v", err)
	}
}

// SPEC §8: a relationship row names its person and object; its attributes are only
// those attributes: maps; remove is a flag, and a value that is not one rejects the
// row naming the column.
func TestRelationshipsRow(t *testing.T) {
	s := config.Sync{Kind: config.KindRelationships, ObjectType: "account", ObjectID: "account_id",
		Identifiers: config.Identifiers{ID: "user_id"}, Remove: "removed", Attributes: map[string]string{"role": "role"}}
	m, err := New(s, cols("user_id", "account_id", "role", "removed", "note"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		removed any
		want    bool
	}{{nil, false}, {false, false}, {true, true}, {int64(0), false}, {int64(1), true}, {"yes", true}, {"f", false},
		{time.Unix(5, 0), true}, {value.Decimal("0.00"), false}, {value.Decimal("1"), true}} {
		var r record.Record
		m.Map([]any{"u1", "a1", "admin", c.removed, "not an attribute"}, &r)
		if r.Refused() || r.ID != "u1" || r.ObjectID != "a1" || r.Remove != c.want || attrNames(r.Attrs) != "role" {
			t.Errorf("removed %#v: record = %+v, want remove %v", c.removed, r, c.want)
		}
	}
	var r record.Record
	m.Map([]any{"u1", "a1", "admin", "maybe", ""}, &r)
	if r.Result != record.Rejected || r.Reason != ReasonInvalidValue || !strings.Contains(r.Detail, `column "removed"`) {
		t.Errorf("remove %q: %+v", "maybe", r)
	}
}

// SPEC §10: delete and suppress are flags like remove (true or a set time), never
// attributes, on people rows; delete on objects rows too.
func TestDeleteAndSuppressRow(t *testing.T) {
	s := config.Sync{Identifiers: config.Identifiers{ID: "user_id"}, Delete: "deleted_at", Suppress: "suppressed"}
	m, err := New(s, cols("user_id", "plan", "deleted_at", "suppressed"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		deletedAt, suppressed any
		del, sup              bool
	}{{nil, nil, false, false}, {time.Unix(5, 0), nil, true, false}, {nil, true, false, true},
		{time.Unix(5, 0), "yes", true, true}, {nil, int64(0), false, false}} {
		var r record.Record
		m.Map([]any{"u1", "pro", c.deletedAt, c.suppressed}, &r)
		if r.Refused() || r.Delete != c.del || r.Suppress != c.sup || attrNames(r.Attrs) != "plan" {
			t.Errorf("deleted_at %#v, suppressed %#v: record = %+v, want delete %v suppress %v", c.deletedAt, c.suppressed, r, c.del, c.sup)
		}
	}
	var r record.Record
	m.Map([]any{"u1", "pro", nil, "perhaps"}, &r)
	if r.Result != record.Rejected || r.Reason != ReasonInvalidValue || !strings.Contains(r.Detail, `column "suppressed"`) {
		t.Errorf("suppressed %q: %+v", "perhaps", r)
	}

	o := config.Sync{Kind: config.KindObjects, ObjectType: "account", ObjectID: "account_id", Delete: "archived"}
	om, err := New(o, cols("account_id", "name", "archived"))
	if err != nil {
		t.Fatal(err)
	}
	var or record.Record
	om.Map([]any{"a1", "Acme", true}, &or)
	if or.Refused() || !or.Delete || or.ObjectID != "a1" || attrNames(or.Attrs) != "name" {
		t.Errorf("objects delete: %+v", or)
	}
}

func attrNames(attrs []record.Attr) string {
	var names []string
	for _, a := range attrs {
		names = append(names, a.Name)
	}
	return strings.Join(names, ",")
}

// An events row (SPEC §9): the id, name and timestamp from their columns (by default
// the watermark's), never in the data; the data one canonical JSON object of every
// other column, values converted as §2 says, NULLs left out.
func TestEventsRow(t *testing.T) {
	s := config.Sync{Kind: config.KindEvents, Identifiers: config.Identifiers{ID: "user_id"},
		Watermark: &config.Watermark{Column: "created_at", Key: "order_id"},
		Event:     &config.Event{Name: "purchase"}, Exclude: []string{"secret"}}
	m, err := New(s, cols("order_id", "user_id", "total", "created_at", "secret", "meta", "coupon", "at_local"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	var r record.Record
	m.Map([]any{int64(42), "u1", value.Decimal("19.990"), at, "x", value.JSON(`{"b":1, "a":[true]}`), nil,
		time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("y", 7200))}, &r)
	want := `{"at_local":1714557600,"meta":{"a":[true],"b":1},"total":19.990}`
	if r.Refused() || r.ID != "u1" || r.EventID != "42" || r.EventName != "purchase" || !r.HasTimestamp ||
		r.Timestamp != at.Unix() || string(r.Data) != want || len(r.Attrs) != 0 || r.Key != "42" {
		t.Fatalf("record = %+v (data %s), want event 42 purchase at %d with data %s", r, r.Data, at.Unix(), want)
	}

	// The name from a column; the id and timestamp from their own; the watermark
	// columns are data then.
	s = config.Sync{Kind: config.KindEvents, Identifiers: config.Identifiers{Email: "email"},
		Watermark: &config.Watermark{Column: "updated_at", Key: "row_id"},
		Event:     &config.Event{NameColumn: "kind", IDColumn: "event_id", TimestampColumn: "ts"}}
	m, err = New(s, cols("row_id", "updated_at", "email", "kind", "event_id", "ts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		kind, ts   any
		id         any
		wantName   string
		wantTS     int64
		hasTS      bool
		wantReason string // "" accepted; else the column named
	}{
		{"unix seconds", "login", int64(1700000000), "e1", "login", 1700000000, true, ""},
		{"decimal seconds", "login", value.Decimal("1700000000"), "e1", "login", 1700000000, true, ""},
		{"NULL timestamp", "login", nil, "e1", "login", 0, false, ""},
		{"NULL name and id", nil, int64(1), nil, "", 1, true, ""},
		{"fractional seconds", "login", value.Decimal("1.5"), "e1", "", 0, false, "ts"},
		{"float timestamp", "login", 1.5, "e1", "", 0, false, "ts"},
		{"text timestamp", "login", "yesterday", "e1", "", 0, false, "ts"},
		{"year 10000", "login", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "e1", "", 0, false, "ts"},
		{"name not UTF-8", "lo\xffgin", int64(1), "e1", "", 0, false, "kind"},
		{"id with NUL", "login", int64(1), "e\x001", "", 0, false, "event_id"},
		{"id a float", "login", int64(1), 1.5, "", 0, false, "event_id"},
	} {
		var r record.Record
		m.Map([]any{int64(7), at, "a@x", c.kind, c.id, c.ts}, &r)
		if c.wantReason != "" {
			if r.Result != record.Rejected || r.Reason != ReasonInvalidValue || !strings.Contains(r.Detail, fmt.Sprintf("column %q", c.wantReason)) {
				t.Errorf("%s: %+v, want rejected naming column %s", c.name, r, c.wantReason)
			}
			continue
		}
		wantData := fmt.Sprintf(`{"row_id":7,"updated_at":%d}`, at.Unix())
		if r.Refused() || r.EventName != c.wantName || r.Timestamp != c.wantTS || r.HasTimestamp != c.hasTS || string(r.Data) != wantData {
			t.Errorf("%s: %+v (data %s)", c.name, r, r.Data)
		}
	}

	// Without a watermark, the row's key is its event id.
	s.Watermark = nil
	m2, err := New(s, cols("row_id", "updated_at", "email", "kind", "event_id", "ts"))
	if err != nil {
		t.Fatal(err)
	}
	r = record.Record{}
	m2.Map([]any{int64(7), at, "a@x", "login", "e9", int64(1)}, &r)
	if r.Key != "e9" {
		t.Errorf("key without a watermark = %q, want the event id e9", r.Key)
	}

	// A value that cannot be converted rejects the row naming its column.
	r = record.Record{}
	m.Map([]any{math.NaN(), at, "a@x", "login", "e1", int64(1)}, &r)
	if r.Result != record.Rejected || r.Reason != ReasonInvalidValue || !strings.Contains(r.Detail, `column "row_id"`) {
		t.Errorf("NaN in data: %+v", r)
	}
}

func TestEventsNew(t *testing.T) {
	s := config.Sync{Kind: config.KindEvents, Identifiers: config.Identifiers{ID: "user_id"},
		Watermark: &config.Watermark{Column: "created_at", Key: "order_id"}, Event: &config.Event{Name: "purchase"}}
	// Two columns of the same name would give the data one key twice.
	if _, err := New(s, cols("order_id", "user_id", "created_at", "total", "total")); err == nil || !strings.Contains(err.Error(), `column "total" is selected twice`) {
		t.Errorf("two data columns named total: %v", err)
	}
	s.Event = &config.Event{Name: "purchase", TimestampColumn: "paid_at"}
	if _, err := New(s, cols("order_id", "user_id", "created_at")); err == nil || !strings.Contains(err.Error(), "event.timestamp_column") {
		t.Errorf("missing timestamp column: %v", err)
	}
	if _, err := New(s, cols("order_id", "user_id", "paid_at", "email")); err == nil || !strings.Contains(err.Error(), `column "email"`) {
		t.Errorf("an email column in the data: %v", err)
	}
}
