package bigquery

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/dbsync/dbsync/internal/columns"
	"github.com/dbsync/dbsync/value"
)

// The emulator cannot give what these read (a NUMERIC with a declared scale in
// a result, TIMESTAMP and NaN inside a STRUCT, RANGE), so they are read here
// from the values the client would give.

func TestDecimalText(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale int
		want  string
	}{
		{"12.5", 0, "12.5"},
		{"12.5", 2, "12.50"},
		{"3", 0, "3"},
		{"3", 2, "3.00"},
		{"-0.000000001", 0, "-0.000000001"},
		{"0", 0, "0"},
		{"-99999999999999999999999999999.999999999", 9, "-99999999999999999999999999999.999999999"},
		{"0.00000000000000000000000000000000000001", 0, "0.00000000000000000000000000000000000001"},
		{"578960446186580977117854925043439539266.34992332820282019728792003956564819967", 38,
			"578960446186580977117854925043439539266.34992332820282019728792003956564819967"},
	} {
		r, _ := new(big.Rat).SetString(tc.in)
		if got := decimalText(r, tc.scale); got != tc.want {
			t.Errorf("decimalText(%s, %d) = %s, want %s", tc.in, tc.scale, got, tc.want)
		}
	}
}

func TestNested(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	f := &bigquery.FieldSchema{Name: "st", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{
		{Name: "ts", Type: bigquery.TimestampFieldType},
		{Name: "dt", Type: bigquery.DateTimeFieldType},
		{Name: "", Type: bigquery.FloatFieldType, Repeated: true},
		{Name: "n", Type: bigquery.NumericFieldType, Scale: 2},
		{Name: "r", Type: bigquery.RangeFieldType},
		{Name: "j", Type: bigquery.JSONFieldType},
		{Name: "i", Type: bigquery.IntervalFieldType},
	}}
	v := []bigquery.Value{
		time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC),
		civil.DateTime{Date: civil.Date{Year: 2024, Month: 1, Day: 2}, Time: civil.Time{Hour: 3}},
		[]bigquery.Value{math.NaN(), math.Inf(1), math.Inf(-1), 0.1},
		big.NewRat(5, 2),
		&bigquery.RangeValue{Start: civil.Date{Year: 2024, Month: 1, Day: 1}},
		"not json",
		&bigquery.IntervalValue{Years: 1, Months: 2, Days: 3, Hours: 4},
	}
	got, err := decode(v, f, ny)
	if err != nil {
		t.Fatal(err)
	}
	want := value.JSON(`{"_field_3":["NaN","Infinity","-Infinity",0.1],"dt":"2024-01-02T08:00:00Z","i":"1-2 3 4:0:0","j":"not json","n":2.50,"r":"[2024-01-01, UNBOUNDED)","ts":"2024-01-02T03:04:05.123456Z"}`)
	if string(got.(value.JSON)) != string(want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParseTable(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"users", "p d users"},
		{"app.users", "p app users"},
		{"other.app.users", "other app users"},
		{"example.com:proj.app.users", "example.com:proj app users"},
		{"app.", "error"},
		{".users", "error"},
		{"a\nb", "error"},
	} {
		p, d, tb, err := parseTable(tc.name, "p", "d")
		got := p + " " + d + " " + tb
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("parseTable(%q) = %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}
	if _, _, _, err := parseTable("users", "p", ""); err == nil {
		t.Error("a table without a dataset: no error")
	}
}

func TestJobID(t *testing.T) {
	id := jobID("app users/ü")
	if !regexp.MustCompile(`^dbsync_app_users___[0-9a-f]{16}$`).MatchString(id) {
		t.Errorf("jobID = %q", id)
	}
	if jobID("x") == jobID("x") {
		t.Error("two jobs, one id")
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1500: "1.5 kB", 10_485_760: "10.5 MB", 3e12: "3.0 TB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCursorField: the watermark column and key are found by the one rule of SPEC §3
// (columns.Find), as the SQL sources find them. BigQuery refuses two columns equal
// ignoring case in a table, so the schema is built here.
func TestCursorField(t *testing.T) {
	schema := bigquery.Schema{
		{Name: "UPDATED_AT", Type: bigquery.TimestampFieldType},
		{Name: "updated_at", Type: bigquery.TimestampFieldType},
		{Name: "Updated_At", Type: bigquery.TimestampFieldType},
		{Name: "id", Type: bigquery.IntegerFieldType},
	}
	for _, name := range []string{"Updated_At", "updated_at", "UPDATED_AT"} {
		if f, err := cursorField(schema, name); err != nil || f.Name != name {
			t.Errorf("cursorField(%q) = %v, %v; want the column named exactly so", name, f, err)
		}
	}
	if f, err := cursorField(schema, "ID"); err != nil || f.Name != "id" {
		t.Errorf("cursorField(ID) = %v, %v; want id", f, err)
	}
	want := `column "updated_AT": more than one column matches ignoring case`
	if _, err := cursorField(schema, "updated_AT"); !errors.Is(err, columns.ErrAmbiguous) || !strings.Contains(err.Error(), want) {
		t.Errorf("cursorField(updated_AT): %v, want an error containing %q", err, want)
	}
	if _, err := cursorField(schema, "nope"); !errors.Is(err, columns.ErrNotFound) {
		t.Errorf("cursorField(nope): %v, want %v", err, columns.ErrNotFound)
	}
}
