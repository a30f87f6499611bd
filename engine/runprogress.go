package engine

import (
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/store"
)

// batchProgress counts a planned batch's rows for its run's history, before the
// batch commits (the outcomes of the planned rows are in b, those mapping rejected in
// outcomes), so the counts commit with the batch.
func batchProgress(outcomes []RowOutcome, planned []int, b *identity.Batch) store.Counts {
	p := store.Counts{RowsRead: int64(len(outcomes))}
	count := func(o identity.Outcome) {
		switch o.Result {
		case identity.Created:
			p.Created++
		case identity.Updated:
			p.Updated++
		case identity.Unchanged:
			p.Unchanged++
		case identity.Rejected:
			p.Rejected++
		case identity.Skipped:
			p.Skipped++
		}
		p.FailedChanges += int64(len(o.Failed))
	}
	next := 0 // index into planned
	for i, o := range outcomes {
		if next < len(planned) && planned[next] == i {
			count(b.Outcomes[next])
			next++
			continue
		}
		count(o.Outcome)
	}
	return p
}
