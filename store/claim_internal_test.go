package store

import (
	"context"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
)

// A person a batch creates while an export claims the pending people, committed
// between the claim's INSERT and its UPDATE, is in this export or the next, never in
// neither: PostgreSQL's READ COMMITTED gives each statement its own moment, so the
// UPDATE sees a row the INSERT did not. (SQLite has one writer: nothing commits there.)
func TestClaimKeepsAPersonWrittenMidClaimPending(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "postgres", testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write := func(id string) {
		t.Helper()
		recs := []*record.Record{{Key: id, ID: id}}
		err := st.InTx(ctx, func(tx *Tx) error {
			people, err := (&identity.Planner{Settings: identity.DefaultSettings()}).Plan(ctx, tx, "test", recs)
			if err != nil {
				return err
			}
			return tx.Write(ctx, "test", 0, recs, people)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	write("before")
	afterClaimRecord = func() { write("during") }
	ex, err := st.StartExport(ctx, false, "ndjson", func(int64) (string, error) { return "m", nil })
	afterClaimRecord = nil
	if err != nil {
		t.Fatal(err)
	}
	var claimed []string
	if _, err := st.ReadExport(ctx, ex, func(p *identity.Person, _ []ExportAttribute) error {
		claimed = append(claimed, p.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var pending bool
	if err := st.db.QueryRowContext(ctx, `SELECT export_pending FROM people WHERE external_id = 'during'`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(claimed, ","); got != "before" && !(got == "before,during" || got == "during,before") || (got == "before" && !pending) {
		t.Fatalf("export holds %q, and the person written during the claim is pending: %v; it is lost", got, pending)
	}
}
