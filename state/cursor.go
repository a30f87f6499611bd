// Package state is where a sync is: its cursor (the typed (column, key) of the last
// row it read), its run history and the lease that keeps its runs one at a time.
// The store holds them in the same database as the people, so a batch and its
// cursor commit together.
package state

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"cloud.google.com/go/civil"
	"github.com/dbsync/dbsync/value"
)

// typed is one cursor value with its type, so it comes back exactly as it was read:
// a time keeps its microseconds, an int64 every digit.
type typed struct {
	Type  string `json:"type"` // time | datetime | int | decimal | string
	Value string `json:"value"`
}

type encoded struct {
	Value typed  `json:"value"`
	Key   *typed `json:"key,omitempty"`
}

// EncodeCursor turns a cursor into the text the store keeps; nil gives "".
func EncodeCursor(c *value.Cursor) (string, error) {
	if c == nil {
		return "", nil
	}
	v, err := encodeValue(c.Value)
	if err != nil {
		return "", fmt.Errorf("watermark column: %w", err)
	}
	e := encoded{Value: v}
	if c.Key != nil {
		k, err := encodeValue(c.Key)
		if err != nil {
			return "", fmt.Errorf("watermark key: %w", err)
		}
		e.Key = &k
	}
	b, err := json.Marshal(e)
	return string(b), err
}

func encodeValue(v any) (typed, error) {
	switch v := v.(type) {
	case time.Time:
		return typed{"time", v.UTC().Format(time.RFC3339Nano)}, nil
	case civil.DateTime:
		return typed{"datetime", v.In(time.UTC).Format(datetimeLayout)}, nil
	case int64:
		return typed{"int", strconv.FormatInt(v, 10)}, nil
	case value.Decimal:
		return typed{"decimal", string(v)}, nil
	case string:
		return typed{"string", v}, nil
	case nil:
		return typed{}, fmt.Errorf("a NULL cannot be a cursor")
	}
	return typed{}, fmt.Errorf("a value of type %T cannot be a cursor (use a timestamp, date, integer or text column)", v)
}

// datetimeLayout keeps a zone-less cursor's wall clock with all its digits:
// "2024-03-31T02:10:00.123456".
const datetimeLayout = "2006-01-02T15:04:05.999999999"

// DecodeCursor reads a cursor the store kept; "" gives nil (start from the first row).
func DecodeCursor(s string) (*value.Cursor, error) {
	if s == "" {
		return nil, nil
	}
	var e encoded
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return nil, fmt.Errorf("stored cursor %q: %w", s, err)
	}
	v, err := decodeValue(e.Value)
	if err != nil {
		return nil, fmt.Errorf("stored cursor %q: %w", s, err)
	}
	c := &value.Cursor{Value: v}
	if e.Key != nil {
		if c.Key, err = decodeValue(*e.Key); err != nil {
			return nil, fmt.Errorf("stored cursor %q: %w", s, err)
		}
	}
	return c, nil
}

func decodeValue(t typed) (any, error) {
	switch t.Type {
	case "time":
		return time.Parse(time.RFC3339Nano, t.Value)
	case "datetime":
		return civil.ParseDateTime(t.Value)
	case "int":
		return strconv.ParseInt(t.Value, 10, 64)
	case "decimal":
		return value.Decimal(t.Value), nil
	case "string":
		return t.Value, nil
	}
	return nil, fmt.Errorf("unknown cursor value type %q", t.Type)
}

// FormatCursor shows a cursor to a person: "2024-05-01T10:00:00.123456Z / 42".
func FormatCursor(c *value.Cursor) string {
	if c == nil {
		return "(start)"
	}
	s := formatValue(c.Value)
	if c.Key != nil {
		s += " / " + formatValue(c.Key)
	}
	return s
}

func formatValue(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
	case civil.DateTime:
		return value.WallText(v)
	}
	return fmt.Sprint(v)
}
