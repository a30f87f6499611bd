package store

import (
	"context"
	"fmt"
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
	write := func(id string) { t.Helper(); planAndWrite(t, st, &record.Record{Key: id, ID: id}) }
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

// The people_pending rows list each pending person about once, whether or not anyone
// exports (0014_people_pending.sql): written again while pending, a person is not
// listed again; written after an export claimed them, they are, once. On both stores.
func TestPendingListStaysAsLongAsThePending(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := Open(ctx, b.Driver, b.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			write := func(ids []string, v int) {
				t.Helper()
				var recs []*record.Record
				for _, id := range ids {
					recs = append(recs, &record.Record{Key: id, ID: id, Attrs: []record.Attr{{Name: "v", Value: []byte(fmt.Sprint(v))}}})
				}
				planAndWrite(t, st, recs...)
			}
			listed := func() int {
				t.Helper()
				rows, ids, err := st.pendingRows(ctx, 0, 1<<62)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) == 100 {
					t.Fatal("more than 100 people_pending rows")
				}
				return len(ids)
			}
			var all []string
			for i := range 20 {
				all = append(all, fmt.Sprint("p", i))
			}
			write(all, 0)
			for v := 1; v <= 5; v++ {
				write(all, v)
			}
			if n := listed(); n != 20 {
				t.Errorf("20 people written six times and never exported are listed %d times, want 20", n)
			}
			if _, err := st.StartExport(ctx, false, "ndjson", func(int64) (string, error) { return "m", nil }); err != nil {
				t.Fatal(err)
			}
			if n := listed(); n != 0 {
				t.Errorf("after the claim %d people are listed, want none", n)
			}
			write(all[:5], 6)
			write(all[:5], 7)
			if n := listed(); n != 5 {
				t.Errorf("5 people written twice after the claim are listed %d times, want 5", n)
			}
		})
	}
}

// planAndWrite plans recs in one transaction with the default settings and writes them.
func planAndWrite(t *testing.T, st *Store, recs ...*record.Record) {
	t.Helper()
	ctx := context.Background()
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
