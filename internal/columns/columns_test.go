package columns

import (
	"errors"
	"testing"
)

func TestFind(t *testing.T) {
	cols := []string{"user_id", "Updated_At", "EMAIL", "Email", "email_x"}
	for _, tc := range []struct {
		name string
		want int
		err  error
	}{
		{"user_id", 0, nil},
		{"USER_ID", 0, nil},
		{"updated_at", 1, nil},
		{"Updated_At", 1, nil},
		{"Email", 3, nil}, // exact beats the case-insensitive match
		{"EMAIL", 2, nil},
		{"email", -1, ErrAmbiguous},
		{"plan", -1, ErrNotFound},
		{"", -1, ErrNotFound},
	} {
		got, err := Find(cols, tc.name)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Find(%q) = %d, %v; want %d, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
