package store

import (
	"context"

	"github.com/dbsync/dbsync/record"
)

// WriteRefused records a batch's rejected and skipped rows from its records, at the
// time at (Unix seconds), as Write does for a people batch: for the kinds whose
// writes go elsewhere (WriteObjects). A dry run records none, as it writes nothing.
func (t *Tx) WriteRefused(ctx context.Context, sync string, at int64, recs []*record.Record) error {
	if t.dry != nil {
		return nil
	}
	return t.writeRejected(ctx, sync, at, recs)
}
