package identity

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dbsync/dbsync/record"
)

// CheckAttributes checks a row's attributes against the limits of SPEC §2 that need
// no store: every name non-empty, valid text and at most MaxAttributeNameBytes, no
// name given twice, every value at most MaxValueBytes. It returns the first problem's
// reason and detail, or two empty strings. People and objects both check with it, so
// every kind refuses an attribute with the same reason.
func CheckAttributes(attrs []record.Attr) (reason, detail string) {
	if why := checkAttributes(attrs); why != nil {
		return why.reason, why.detail
	}
	return "", ""
}

func checkAttributes(attrs []record.Attr) *rejection {
	// A row's few attributes are compared with those before them; only a long list
	// pays for a map (every row of a backfill comes through here).
	var seen map[string]struct{}
	if len(attrs) > smallAttributes {
		seen = make(map[string]struct{}, len(attrs))
	}
	for j, a := range attrs {
		switch {
		case a.Name == "":
			return reject(ReasonInvalidAttributeName, "an attribute has an empty name")
		case len(a.Name) > MaxAttributeNameBytes:
			return reject(ReasonAttributeNameTooLong, "%q (%d bytes > %d)",
				a.Name[:32]+"…", len(a.Name), MaxAttributeNameBytes)
		case !utf8.ValidString(a.Name) || strings.IndexByte(a.Name, 0) >= 0:
			return reject(ReasonInvalidAttributeName, "attribute name %q is not valid UTF-8 text", a.Name)
		}
		if given(attrs[:j], seen, a.Name) {
			return reject(ReasonDuplicateAttribute, "attribute %q is given twice", a.Name)
		}
		if seen != nil {
			seen[a.Name] = struct{}{}
		}
		if n := valueSize(a.Value); n > MaxValueBytes {
			return reject(ReasonValueTooLong, "%s (%d bytes > %d)", a.Name, n, MaxValueBytes)
		}
	}
	return nil
}

// smallAttributes is the most attributes checkAttributes compares pairwise.
const smallAttributes = 16

// given reports whether name is among before, the attributes ahead of it (seen holds
// their names when there are more than smallAttributes).
func given(before []record.Attr, seen map[string]struct{}, name string) bool {
	if seen != nil {
		_, ok := seen[name]
		return ok
	}
	for _, b := range before {
		if b.Name == name {
			return true
		}
	}
	return false
}

// AttributesAfter is how many attributes a holder of have would have after a row's
// attributes apply (a nil value removes one): what MaxAttributes limits.
func AttributesAfter(have map[string]json.RawMessage, attrs []record.Attr) int {
	n := len(have)
	for _, a := range attrs {
		_, had := have[a.Name]
		switch {
		case a.Value != nil && !had:
			n++
		case a.Value == nil && had:
			n--
		}
	}
	return n
}

// TooManyAttributes is the detail of a too_many_attributes rejection: what would
// have had n attributes.
func TooManyAttributes(what string, n int) string {
	return fmt.Sprintf("the %s would have %d attributes (> %d)", what, n, MaxAttributes)
}
