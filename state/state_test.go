package state_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/value"
)

func TestCursorRoundTrip(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	cases := []*value.Cursor{
		nil,
		{Value: time.Date(2024, 5, 1, 10, 0, 0, 123456789, ny), Key: int64(-9223372036854775808)},
		{Value: int64(9223372036854775807), Key: "a \"quoted\" key"},
		{Value: value.Decimal("123456789012345678901234567890.000001"), Key: value.Decimal("1")},
		{Value: "2024-05-01", Key: nil}, // a lookback start has no key
	}
	for _, c := range cases {
		s, err := state.EncodeCursor(c)
		if err != nil {
			t.Fatalf("encode %v: %v", c, err)
		}
		got, err := state.DecodeCursor(s)
		if err != nil {
			t.Fatalf("decode %q: %v", s, err)
		}
		if c == nil {
			if got != nil || s != "" {
				t.Fatalf("nil cursor: %q, %v", s, got)
			}
			continue
		}
		if tm, ok := c.Value.(time.Time); ok {
			if g, ok := got.Value.(time.Time); !ok || !g.Equal(tm) || g.Nanosecond() != tm.Nanosecond() {
				t.Fatalf("time %v came back as %v", tm, got.Value)
			}
		} else if got.Value != c.Value {
			t.Fatalf("value %#v came back as %#v", c.Value, got.Value)
		}
		if got.Key != c.Key {
			t.Fatalf("key %#v came back as %#v", c.Key, got.Key)
		}
	}
}

func TestCursorRefusesWhatCannotBeOne(t *testing.T) {
	for _, v := range []any{1.5, true, []byte("x"), value.JSON(`{}`), nil} {
		if _, err := state.EncodeCursor(&value.Cursor{Value: v, Key: int64(1)}); err == nil {
			t.Errorf("a %T was accepted as a cursor value", v)
		}
	}
	if _, err := state.DecodeCursor(`{"value":{"type":"float","value":"1"}}`); err == nil {
		t.Error("an unknown stored type was accepted")
	}
}

func TestLeaseIsOneAtATime(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", testdb.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := state.Acquire(ctx, st, "users", "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := state.Acquire(ctx, st, "users", "b"); !errors.Is(err, state.ErrAlreadyRunning) {
		t.Fatalf("second acquire: %v, want ErrAlreadyRunning", err)
	}
	other, err := state.Acquire(ctx, st, "orders", "b") // another sync's lease is its own
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(ctx)
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("a second release: %v", err)
	}
	b, err := state.Acquire(ctx, st, "users", "b")
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	b.Release(ctx)
}
