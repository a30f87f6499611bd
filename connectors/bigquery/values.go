package bigquery

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/dbsync/dbsync/value"
)

// bindCursor turns a cursor value into a query parameter of f's type.
func bindCursor(f *bigquery.FieldSchema, v any, loc *time.Location) (any, error) {
	switch f.Type {
	case bigquery.IntegerFieldType:
		if i, ok := v.(int64); ok {
			return i, nil
		}
	case bigquery.StringFieldType:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case bigquery.TimestampFieldType:
		if t, ok := v.(time.Time); ok {
			return t.UTC(), nil
		}
	case bigquery.DateTimeFieldType:
		if t, ok := v.(time.Time); ok {
			return civil.DateTimeOf(t.In(loc)), nil
		}
	case bigquery.DateFieldType:
		if t, ok := v.(time.Time); ok {
			return civil.DateOf(t.UTC()), nil
		}
	}
	return nil, fmt.Errorf("%v (%T) does not fit a %s column", v, v, typeName(f))
}

// decode turns a value the client read for field f into a connectors value.
func decode(v bigquery.Value, f *bigquery.FieldSchema, loc *time.Location) (value.Value, error) {
	if v == nil {
		return nil, nil
	}
	if f.Repeated || f.Type == bigquery.RecordFieldType {
		doc, err := nested(v, f, loc)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		return value.JSON(b), nil
	}
	switch v := v.(type) {
	case string:
		if f.Type != bigquery.JSONFieldType {
			return v, nil
		}
		if !json.Valid([]byte(v)) {
			return value.Invalid{Reason: "not valid JSON"}, nil
		}
		return value.JSON(v), nil
	case int64, float64, bool, []byte:
		return v, nil
	case *big.Rat:
		return value.Decimal(decimalText(v, int(f.Scale))), nil
	case time.Time:
		return v.UTC(), nil
	case civil.Date:
		return time.Date(v.Year, v.Month, v.Day, 0, 0, 0, 0, time.UTC), nil
	case civil.DateTime:
		return v.In(loc), nil
	case civil.Time, *bigquery.IntervalValue, *bigquery.RangeValue:
		return text(v, loc), nil
	}
	return nil, fmt.Errorf("the client gave a %T", v)
}

// nested is a STRUCT's or ARRAY's value as a document for encoding/json.
func nested(v bigquery.Value, f *bigquery.FieldSchema, loc *time.Location) (any, error) {
	if v == nil {
		return nil, nil
	}
	if f.Repeated {
		vs, ok := v.([]bigquery.Value)
		if !ok {
			return nil, fmt.Errorf("want an array, the client gave a %T", v)
		}
		elem := *f
		elem.Repeated = false
		out := make([]any, len(vs))
		for i, e := range vs {
			var err error
			if out[i], err = nested(e, &elem, loc); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if f.Type == bigquery.RecordFieldType {
		vs, ok := v.([]bigquery.Value)
		if !ok || len(vs) != len(f.Schema) {
			return nil, fmt.Errorf("want a struct of %d fields, the client gave a %T", len(f.Schema), v)
		}
		out := make(map[string]any, len(vs))
		for i, e := range vs {
			name := f.Schema[i].Name
			if name == "" {
				name = fmt.Sprintf("_field_%d", i+1)
			}
			var err error
			if out[name], err = nested(e, f.Schema[i], loc); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	switch v := v.(type) {
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), nil
	case *big.Rat:
		return json.Number(decimalText(v, int(f.Scale))), nil
	case float64:
		switch {
		case math.IsNaN(v):
			return "NaN", nil
		case math.IsInf(v, 1):
			return "Infinity", nil
		case math.IsInf(v, -1):
			return "-Infinity", nil
		}
		return v, nil
	case string:
		if f.Type == bigquery.JSONFieldType && json.Valid([]byte(v)) {
			return json.RawMessage(v), nil
		}
		return v, nil
	case bool:
		return v, nil
	case []byte:
		return base64.StdEncoding.EncodeToString(v), nil
	}
	return text(v, loc), nil
}

// text writes a date, time, interval or range value as text: TIMESTAMP and
// DATETIME (read in loc) as RFC 3339 in UTC, the others as BigQuery writes them.
func text(v bigquery.Value, loc *time.Location) string {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
	case civil.DateTime:
		return text(v.In(loc), loc)
	case civil.Date:
		return v.String()
	case civil.Time:
		return time.Date(0, 1, 1, v.Hour, v.Minute, v.Second, v.Nanosecond, time.UTC).Format("15:04:05.999999")
	case *bigquery.IntervalValue:
		return v.String()
	case *bigquery.RangeValue:
		bound := func(b bigquery.Value) string {
			if b == nil {
				return "UNBOUNDED"
			}
			return text(b, loc)
		}
		return "[" + bound(v.Start) + ", " + bound(v.End) + ")"
	}
	return fmt.Sprint(v)
}

// decimalText writes a NUMERIC or BIGNUMERIC exactly: every BigQuery value has
// at most 38 digits after the point, trailing zeros are dropped down to scale.
func decimalText(r *big.Rat, scale int) string {
	s := r.FloatString(bigquery.BigNumericScaleDigits)
	point := strings.IndexByte(s, '.')
	end := len(s)
	for end > point+1+scale && s[end-1] == '0' {
		end--
	}
	if end == point+1 {
		end = point
	}
	return s[:end]
}

// typeName is a field's GoogleSQL type name, for messages.
func typeName(f *bigquery.FieldSchema) string {
	names := map[bigquery.FieldType]string{
		bigquery.IntegerFieldType: "INT64", bigquery.FloatFieldType: "FLOAT64", bigquery.BooleanFieldType: "BOOL",
		bigquery.RecordFieldType: "STRUCT",
	}
	t, ok := names[f.Type]
	if !ok {
		t = string(f.Type)
	}
	if f.Repeated {
		return "ARRAY<" + t + ">"
	}
	return t
}
