package identity

import (
	"encoding/hex"

	"github.com/google/uuid"
)

// The random bits of new cio_ids come from a pool filled from crypto/rand a few
// hundred bytes at a time rather than a read each: a backfill makes one a row. Set
// before any goroutine can make a UUID, as the package asks.
func init() { uuid.EnableRandPool() }

// NewCioID returns a new internal_customer_id: 32 hex digits of a version 7 UUID.
// It needs no round trip to the store, and being time-ordered it keeps inserts into
// the people table's primary key near its end.
func NewCioID() string {
	u := uuid.Must(uuid.NewV7())
	var b [32]byte
	hex.Encode(b[:], u[:])
	return string(b[:])
}
