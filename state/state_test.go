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

// TestLeaseIsOneAtATime: a lease is held by one holder at a time, each sync's and the
// export's its own; Release is harmless a second time and after the lease was lost
// (it never gives up the lease of the process that took it over). On both stores.
func TestLeaseIsOneAtATime(t *testing.T) {
	ctx := context.Background()
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			st, err := store.Open(ctx, backend.Driver, backend.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			users := state.SyncLease("users")
			a, err := state.Acquire(ctx, st, users, "a", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := state.Acquire(ctx, st, users, "b", nil); !errors.Is(err, state.ErrAlreadyRunning) {
				t.Fatalf("second acquire: %v, want ErrAlreadyRunning", err)
			}
			// Another sync's lease, and the export's, are their own.
			for _, name := range []string{state.SyncLease("orders"), state.ExportLease, state.SyncLease(state.ExportLease)} {
				other, err := state.Acquire(ctx, st, name, "b", nil)
				if err != nil {
					t.Fatalf("lease %s: %v", name, err)
				}
				defer other.Release(ctx)
			}
			if err := a.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.Release(ctx); err != nil {
				t.Fatalf("a second release: %v", err)
			}
			b, err := state.Acquire(ctx, st, users, "b", nil)
			if err != nil {
				t.Fatalf("acquire after release: %v", err)
			}

			// b's lease is taken over (its process stalled past the expiry): b's
			// releases leave c's lease alone.
			if ok, err := st.TakeOverLease(ctx, users, "b", "c", time.Now().Add(time.Hour)); err != nil || !ok {
				t.Fatalf("take over: %v %v", ok, err)
			}
			if err := b.Renew(ctx); !errors.Is(err, store.ErrLeaseLost) {
				t.Fatalf("renew of a lost lease: %v, want ErrLeaseLost", err)
			}
			for i := 0; i < 2; i++ {
				if err := b.Release(ctx); err != nil {
					t.Fatalf("release %d of a lost lease: %v", i+1, err)
				}
			}
			if holder, _, err := st.LeaseHolder(ctx, users); err != nil || holder != "c" {
				t.Fatalf("after the loser's releases the lease is %q's (%v), want c's", holder, err)
			}
		})
	}
}
