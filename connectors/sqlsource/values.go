package sqlsource

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	"github.com/dbsync/dbsync/value"
)

// The decoders below turn the values database/sql drivers give into the
// connectors value types; a dialect picks one per column. v is never nil.

// DecodeInt reads an integer; one beyond int64 (BIGINT UNSIGNED) becomes a Decimal.
func DecodeInt(v any) (value.Value, error) {
	switch x := v.(type) {
	case int64:
		return v, nil // as boxed: boxing x again would allocate
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return value.Decimal(strconv.FormatUint(x, 10)), nil
	case []byte:
		return parseInt(string(x))
	case string:
		return parseInt(x)
	}
	return nil, unexpected("an integer", v)
}

func parseInt(s string) (value.Value, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	if d, ok := ParseDecimal(s); ok && !strings.Contains(string(d), ".") {
		return d, nil
	}
	return value.Invalid{Reason: fmt.Sprintf("%q is not an integer", s)}, nil
}

// DecodeDecimal reads an exact numeric as the digits the database gave.
// PostgreSQL's numeric NaN and ±Infinity become float64 NaN and ±Inf, as a
// float column's would (mapping rejects them).
func DecodeDecimal(v any) (value.Value, error) {
	switch v := v.(type) {
	case []byte:
		return decimalText(string(v)), nil
	case string:
		return decimalText(v), nil
	case int64:
		return value.Decimal(strconv.FormatInt(v, 10)), nil
	case uint64:
		return value.Decimal(strconv.FormatUint(v, 10)), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return v, nil
		}
		return value.Decimal(strconv.FormatFloat(v, 'f', -1, 64)), nil
	}
	return nil, unexpected("a decimal", v)
}

func decimalText(s string) value.Value {
	switch s {
	case "NaN":
		return math.NaN()
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if d, ok := ParseDecimal(s); ok {
		return d
	}
	return value.Invalid{Reason: fmt.Sprintf("%q is not a decimal number", s)}
}

// ParseDecimal reads a decimal number written with an optional sign, digits, an
// optional point and an optional exponent, and gives it as value.Decimal
// wants it: a sign only when negative, digits and at most one point. The digits
// after the point are kept as written ("12.50" stays "12.50").
func ParseDecimal(s string) (value.Decimal, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return "", false
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return "", false
	}
	// Move the point exp places to the right.
	digits := intPart + frac
	point := len(intPart) + exp
	for point > len(digits) {
		digits += "0"
	}
	for point < 0 {
		digits = "0" + digits
		point++
	}
	intPart, frac = strings.TrimLeft(digits[:point], "0"), digits[point:]
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return value.Decimal(out), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// DecodeFloat reads an approximate numeric. A float32 keeps its shortest decimal
// form (FLOAT 1.1 reads as 1.1, not 1.100000023841858).
func DecodeFloat(v any) (value.Value, error) {
	switch x := v.(type) {
	case float64:
		return v, nil // as boxed
	case float32:
		f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return f, nil
	case int64:
		return float64(x), nil
	case []byte:
		return parseFloat(string(x))
	case string:
		return parseFloat(x)
	}
	return nil, unexpected("a float", v)
}

func parseFloat(s string) (value.Value, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return value.Invalid{Reason: fmt.Sprintf("%q is not a number", s)}, nil
	}
	return f, nil
}

// DecodeBool reads a boolean: a bool, an integer (0 is false) or a word such as
// true/false, t/f, yes/no, on/off, 1/0.
func DecodeBool(v any) (value.Value, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case int64:
		return v != 0, nil
	case []byte:
		return boolText(string(v)), nil
	case string:
		return boolText(v), nil
	}
	return nil, unexpected("a boolean", v)
}

func boolText(s string) value.Value {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "t", "true", "y", "yes", "on", "1":
		return true
	case "f", "false", "n", "no", "off", "0":
		return false
	}
	return value.Invalid{Reason: fmt.Sprintf("%q is not a boolean", s)}
}

// DecodeText reads text as the database gave it.
func DecodeText(v any) (value.Value, error) {
	switch x := v.(type) {
	case string:
		return v, nil // as boxed: boxing x again would allocate
	case []byte:
		return string(x), nil
	}
	return nil, unexpected("text", v)
}

// DecodeBytes reads binary data.
func DecodeBytes(v any) (value.Value, error) {
	switch v := v.(type) {
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	}
	return nil, unexpected("binary data", v)
}

// DecodeJSON reads a JSON document; text that is not JSON is Invalid.
func DecodeJSON(v any) (value.Value, error) {
	var b []byte
	switch v := v.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return nil, unexpected("JSON", v)
	}
	if !json.Valid(b) {
		return value.Invalid{Reason: "not valid JSON"}, nil
	}
	return value.JSON(b), nil
}

func unexpected(want string, v any) error {
	return fmt.Errorf("want %s, the driver gave a %T", want, v)
}

// Times.

// WallLayout formats a zone-less date and time with microseconds, as cursors
// are bound for `timestamp` and `DATETIME` columns.
const WallLayout = "2006-01-02 15:04:05.000000"

// DateLayout formats a date.
const DateLayout = "2006-01-02"

// InZone reads t's wall clock (ignoring its zone) as a time in loc.
func InZone(t time.Time, loc *time.Location) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

// DateOf is t's calendar date (in t's own zone) at midnight UTC.
func DateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// ParseWall reads a database's zone-less "2006-01-02 15:04:05[.ffffff]" in loc,
// and "2006-01-02" as midnight. A zero date (MySQL's 0000-00-00) or one that is
// no date is Invalid.
func ParseWall(s string, loc *time.Location) value.Value {
	layout := "2006-01-02 15:04:05.999999999"
	if len(s) == len(DateLayout) {
		layout = DateLayout
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		if strings.HasPrefix(s, "0000-00-00") || strings.Contains(s, "-00") {
			return value.Invalid{Reason: fmt.Sprintf("zero date %q", s)}
		}
		return value.Invalid{Reason: fmt.Sprintf("%q is not a date and time", s)}
	}
	return t
}

// ParseCivil reads a database's zone-less "2006-01-02 15:04:05[.ffffff]" as the
// wall clock it is, whatever a time zone makes of it. A zero date (MySQL's
// 0000-00-00) or one that is no date is Invalid.
func ParseCivil(s string) value.Value {
	t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		if strings.HasPrefix(s, "0000-00-00") || strings.Contains(s, "-00") {
			return value.Invalid{Reason: fmt.Sprintf("zero date %q", s)}
		}
		return value.Invalid{Reason: fmt.Sprintf("%q is not a date and time", s)}
	}
	return civil.DateTimeOf(t)
}

// BindWall binds a zone-less column's cursor value as its wall clock with
// microseconds: a civil.DateTime as it is; a time.Time (a cursor stored before
// cursors kept wall clocks, or RFC 3339 text) as its wall clock in loc.
func BindWall(loc *time.Location) func(v any) (any, error) {
	instant := BindTime(func(t time.Time) any { return t.In(loc).Format(WallLayout) })
	return func(v any) (any, error) {
		if dt, ok := v.(civil.DateTime); ok {
			return dt.In(time.UTC).Format(WallLayout), nil
		}
		return instant(v)
	}
}

// Binders turn a cursor value back into a parameter.

// BindInt binds an integer cursor value; one beyond int64 is bound as its digits.
func BindInt(v any) (any, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
		return strconv.FormatUint(v, 10), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), nil
		}
	case value.Decimal:
		return bindIntText(string(v))
	case string:
		return bindIntText(v)
	}
	return nil, fmt.Errorf("%v (%T) is not an integer", v, v)
}

func bindIntText(s string) (any, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	if d, ok := ParseDecimal(s); ok && !strings.Contains(string(d), ".") {
		return string(d), nil
	}
	return nil, fmt.Errorf("%q is not an integer", s)
}

// BindDecimal binds an exact numeric cursor value as its digits.
func BindDecimal(v any) (any, error) {
	switch v := v.(type) {
	case value.Decimal:
		return bindDecimalText(string(v))
	case string:
		return bindDecimalText(v)
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	case float64:
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			return strconv.FormatFloat(v, 'f', -1, 64), nil
		}
	}
	return nil, fmt.Errorf("%v (%T) is not a decimal number", v, v)
}

func bindDecimalText(s string) (any, error) {
	d, ok := ParseDecimal(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	return string(d), nil
}

// BindFloat binds an approximate numeric cursor value.
func BindFloat(v any) (any, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case int64:
		return float64(v), nil
	}
	return nil, fmt.Errorf("%v (%T) is not a number", v, v)
}

// BindText binds a text cursor value.
func BindText(v any) (any, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return nil, fmt.Errorf("%v (%T) is not text", v, v)
}

// BindTime binds a time cursor value (a time.Time, or RFC 3339 text) as format
// gives it: the form and zone the column compares in.
func BindTime(format func(time.Time) any) func(v any) (any, error) {
	return func(v any) (any, error) {
		switch v := v.(type) {
		case time.Time:
			return format(v), nil
		case string:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, fmt.Errorf("%q is not an RFC 3339 time", v)
			}
			return format(t), nil
		}
		return nil, fmt.Errorf("%v (%T) is not a time", v, v)
	}
}
