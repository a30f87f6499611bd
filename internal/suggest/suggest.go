// Package suggest finds the valid name nearest to a mistyped one, for the
// `did you mean "run"?` of usage errors and unknown config keys (SPEC §5).
package suggest

// Nearest returns the name in valid nearest to got, within an edit distance of 2 (a
// transposition counts as one edit), or "" when none is that near. Ties go to the
// first in valid.
func Nearest(got string, valid []string) string {
	best, bestD := "", 3
	for _, v := range valid {
		if d := Distance(got, v); d < bestD {
			best, bestD = v, d
		}
	}
	return best
}

// Distance is the optimal string alignment (restricted Damerau–Levenshtein)
// distance between a and b, in runes.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
