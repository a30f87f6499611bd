package sqlsource

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/dbsync/dbsync/value"
)

func TestDecoders(t *testing.T) {
	for _, tc := range []struct {
		name string
		dec  func(any) (value.Value, error)
		in   any
		want value.Value
	}{
		{"int", DecodeInt, int64(-5), int64(-5)},
		{"int text", DecodeInt, []byte("42"), int64(42)},
		{"uint fits", DecodeInt, uint64(math.MaxInt64), int64(math.MaxInt64)},
		{"uint beyond", DecodeInt, uint64(math.MaxUint64), value.Decimal("18446744073709551615")},
		{"uint beyond as text", DecodeInt, []byte("18446744073709551615"), value.Decimal("18446744073709551615")},
		{"not an int", DecodeInt, "x", value.Invalid{Reason: `"x" is not an integer`}},
		{"decimal", DecodeDecimal, []byte("12.50"), value.Decimal("12.50")},
		{"decimal from real", DecodeDecimal, 12.5, value.Decimal("12.5")},
		{"decimal infinity", DecodeDecimal, []byte("-Infinity"), math.Inf(-1)},
		{"float32", DecodeFloat, float32(1.1), 1.1},
		{"float text", DecodeFloat, []byte("2.5"), 2.5},
		{"bool int", DecodeBool, int64(2), true},
		{"bool word", DecodeBool, "Off", false},
		{"bool bad", DecodeBool, "maybe", value.Invalid{Reason: `"maybe" is not a boolean`}},
		{"text", DecodeText, []byte("héllo"), "héllo"},
		{"json", DecodeJSON, []byte(`{"a":1}`), value.JSON(`{"a":1}`)},
		{"json bad", DecodeJSON, "{", value.Invalid{Reason: "not valid JSON"}},
	} {
		got, err := tc.dec(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, %v; want %#v", tc.name, got, err, tc.want)
		}
	}
	if _, err := DecodeInt(1.5); err == nil {
		t.Error("DecodeInt(float64): no error for a Go type it does not read")
	}
	if got, _ := DecodeDecimal([]byte("NaN")); !math.IsNaN(got.(float64)) {
		t.Errorf("numeric NaN: %#v", got)
	}
}

func TestParseWall(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	for in, want := range map[string]value.Value{
		"2024-01-15 09:00:00.000001": time.Date(2024, 1, 15, 9, 0, 0, 1000, ny),
		"2024-01-15 09:00:00":        time.Date(2024, 1, 15, 9, 0, 0, 0, ny),
		"2024-01-15":                 time.Date(2024, 1, 15, 0, 0, 0, 0, ny),
		"0000-00-00 00:00:00":        value.Invalid{Reason: `zero date "0000-00-00 00:00:00"`},
		"2024-02-00":                 value.Invalid{Reason: `zero date "2024-02-00"`},
		"later":                      value.Invalid{Reason: `"later" is not a date and time`},
	} {
		got := ParseWall(in, ny)
		if gt, ok := got.(time.Time); ok {
			if !gt.Equal(want.(time.Time)) {
				t.Errorf("%q: %v, want %v", in, gt, want)
			}
			continue
		}
		if got != want {
			t.Errorf("%q: %#v, want %#v", in, got, want)
		}
	}
}

func TestBinders(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	wall := BindTime(func(t time.Time) any { return t.In(ny).Format(WallLayout) })
	for _, tc := range []struct {
		bind func(any) (any, error)
		in   any
		want any
	}{
		{BindInt, int64(5), int64(5)},
		{BindInt, value.Decimal("18446744073709551615"), "18446744073709551615"},
		{BindInt, float64(3), int64(3)},
		{BindDecimal, value.Decimal("12.50"), "12.50"},
		{BindText, "a", "a"},
		{wall, time.Date(2024, 1, 15, 14, 0, 0, 1000, time.UTC), "2024-01-15 09:00:00.000001"},
		{wall, "2024-07-15T13:00:00.000002Z", "2024-07-15 09:00:00.000002"},
	} {
		got, err := tc.bind(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("bind %#v: %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []any{value.Invalid{Reason: "x"}, 1.5, "abc", nil} {
		if _, err := BindInt(bad); err == nil {
			t.Errorf("BindInt(%#v): no error", bad)
		}
	}
}
