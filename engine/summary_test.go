package engine_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/store"
)

// TestSummaryCountsDeletes: a run's summary names the people or objects it deleted
// and suppressed (SPEC §10), and the rows skipped as not_found and suppressed under
// rows rejected with their reasons; a run that deleted nothing has no such lines.
func TestSummaryCountsDeletes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		res  engine.Result
		want []string
		not  []string
	}{
		{
			res: engine.Result{Sync: "users", Kind: config.KindPeople, Status: store.RunOK,
				Counts:     store.Counts{RowsRead: 9, Updated: 1, Deleted: 3, Suppressed: 2, Skipped: 3},
				RejectedBy: map[string]int64{identity.ReasonNotFound: 2, identity.ReasonSuppressed: 1}},
			want: []string{"  people deleted:  3\n", "  people suppressed: 2\n", "  rows rejected:   3 (not_found 2, suppressed 1)\n"},
		},
		{
			res: engine.Result{Sync: "accounts", Kind: config.KindObjects, Status: store.RunOK,
				Counts: store.Counts{RowsRead: 2, Deleted: 1, Skipped: 1}, RejectedBy: map[string]int64{identity.ReasonNotFound: 1}},
			want: []string{"  objects deleted: 1\n", "  rows rejected:   1 (not_found 1)\n"},
			not:  []string{"suppressed"},
		},
		{
			res:  engine.Result{Sync: "users", Kind: config.KindPeople, Status: store.RunOK, Counts: store.Counts{RowsRead: 1, Created: 1}},
			want: []string{"  people created:  1\n"},
			not:  []string{"deleted", "suppressed"},
		},
	}
	for _, tc := range cases {
		tc.res.Started, tc.res.Ended = now, now.Add(time.Second)
		var b bytes.Buffer
		tc.res.WriteSummary(&b)
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("the summary lacks %q:\n%s", w, b.String())
			}
		}
		for _, n := range tc.not {
			if strings.Contains(b.String(), n) {
				t.Errorf("the summary has %q:\n%s", n, b.String())
			}
		}
	}
}
