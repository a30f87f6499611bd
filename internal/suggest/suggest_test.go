package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"run", "run", 0}, {"rn", "run", 1}, {"urn", "run", 1}, {"exprot", "export", 1}, {"", "ab", 2}, {"serve", "runs", 5}} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNearest(t *testing.T) {
	valid := []string{"run", "runs", "serve", "export"}
	for got, want := range map[string]string{"rnu": "run", "exprot": "export", "srve": "serve", "xyz": "", "people": ""} {
		if n := Nearest(got, valid); n != want {
			t.Errorf("Nearest(%q) = %q, want %q", got, n, want)
		}
	}
}
