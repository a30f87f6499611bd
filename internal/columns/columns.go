// Package columns holds the one rule by which a name in the config finds a column the
// source returns (SPEC §3): its exact name, or else, ignoring case, the one column that
// matches. Every part of a run uses it: watermark, identifiers, attributes, exclude.
package columns

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound means no column has the name, in any case.
var ErrNotFound = errors.New("no such column")

// ErrAmbiguous means no column has the exact name and more than one matches it ignoring case.
var ErrAmbiguous = errors.New("more than one column matches")

// Find returns the index in names of the column that name means: the column named
// exactly so, else the only one whose name equals it ignoring case. The error wraps
// ErrNotFound or ErrAmbiguous and names the column and the columns there are.
func Find(names []string, name string) (int, error) {
	found := -1
	ambiguous := false
	for i, n := range names {
		if n == name {
			return i, nil
		}
		if strings.EqualFold(n, name) {
			ambiguous = found >= 0
			found = i
		}
	}
	switch {
	case ambiguous:
		return -1, fmt.Errorf("column %q: %w ignoring case (%s)", name, ErrAmbiguous, strings.Join(names, ", "))
	case found < 0:
		return -1, fmt.Errorf("column %q: %w (the columns are %s)", name, ErrNotFound, strings.Join(names, ", "))
	}
	return found, nil
}
