package identity

import (
	"regexp"
	"testing"
)

// TestNewCioID: 32 lowercase hex digits, never the same twice, in the order made
// (a version 7 UUID leads with its millisecond, and the store's primary key relies
// on new ids sorting near the end).
func TestNewCioID(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 10000; i++ {
		id := NewCioID()
		if !hex32.MatchString(id) {
			t.Fatalf("cio_id %q is not 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("cio_id %q made twice", id)
		}
		seen[id] = true
		if id[:12] < prev[:min(12, len(prev))] {
			t.Fatalf("cio_id %q sorts before the earlier %q", id, prev)
		}
		prev = id
	}
}
