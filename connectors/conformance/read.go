package conformance

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/value"
)

// ReadAll opens spec and reads every row a Read of req gives, for a connector's own
// tests. An error opening the source fails t; an error reading is returned, with the
// rows read before it. A zero BatchSize reads 100 at a time.
func ReadAll(t *testing.T, spec connectors.Spec, req connectors.Request) ([]value.Column, [][]any, error) {
	t.Helper()
	ctx := context.Background()
	if spec.Sync == "" {
		spec.Sync = "test"
	}
	src, err := connectors.Open(ctx, spec)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer src.Close()
	if req.BatchSize == 0 {
		req.BatchSize = 100
	}
	st, err := src.Read(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	var rows [][]any
	for {
		batch, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return st.Columns(), rows, nil
		}
		if err != nil {
			return st.Columns(), rows, err
		}
		rows = append(rows, batch.Rows...)
	}
}
