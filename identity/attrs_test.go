package identity_test

import (
	"fmt"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
)

// A name given twice is refused however many attributes the row has, a few (compared
// pairwise) or many (through a map), and the first problem in the row's order is the
// one reported.
func TestAttributeGivenTwice(t *testing.T) {
	for _, n := range []int{2, 5, 16, 17, 40} {
		for _, dup := range []int{1, n / 2, n - 1} {
			attrs := make([]record.Attr, n)
			for i := range attrs {
				attrs[i] = record.Attr{Name: fmt.Sprintf("a%d", i), Value: []byte("1")}
			}
			if reason, _ := identity.CheckAttributes(attrs); reason != "" {
				t.Fatalf("%d distinct attributes: %s", n, reason)
			}
			attrs[dup].Name = "a0"
			reason, detail := identity.CheckAttributes(attrs)
			if reason != identity.ReasonDuplicateAttribute || detail != `attribute "a0" is given twice` {
				t.Errorf("%d attributes, a0 again at %d: %q %q", n, dup, reason, detail)
			}
			attrs[dup].Name = ""
			if reason, _ := identity.CheckAttributes(attrs); reason != identity.ReasonInvalidAttributeName {
				t.Errorf("%d attributes, an empty name at %d: %q, want %s", n, dup, reason, identity.ReasonInvalidAttributeName)
			}
		}
	}
}
