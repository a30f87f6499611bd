package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/store"
)

func forEachStore(t *testing.T, fn func(t *testing.T, driver, dsn string)) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Driver, b.DSN(t))
		})
	}
}

func open(t *testing.T, driver, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Workers starting together on a new store apply each migration once and all open.
func TestMigrateConcurrently(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := store.Open(context.Background(), driver, dsn)
				if err == nil {
					st.Close()
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("open: %v", err)
			}
		}
		open(t, driver, dsn) // and once more, on an up-to-date schema
	})
}

func TestWorkspaceIdentifiersAreFixed(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		s := identity.DefaultSettings()
		if err := st.CheckWorkspace(ctx, s); err != nil {
			t.Fatal(err)
		}
		s.AllowEmailUpdateByID, s.MergeDuplicates = true, true // these may change
		if err := st.CheckWorkspace(ctx, s); err != nil {
			t.Fatal(err)
		}
		s.EmailIdentifies = false
		err := st.CheckWorkspace(ctx, s)
		if err == nil || !strings.Contains(err.Error(), "workspace.identifiers: the store was built with [id, email], the config says [id]") {
			t.Fatalf("err = %v, want the identifiers named", err)
		}
	})
}

func TestFindPersonInAStoreNeverWritten(t *testing.T) {
	ctx := context.Background()
	_, err := store.OpenExisting(ctx, "sqlite", testdb.SQLite(t))
	if !errors.Is(err, store.ErrNoStore) {
		t.Fatalf("open a missing SQLite file: %v, want ErrNoStore", err)
	}
	// A PostgreSQL database without the schema: no one is found, nothing is created.
	st, err := store.OpenExisting(ctx, "postgres", testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.FindPerson(ctx, identity.DefaultSettings(), "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("find in an empty database: %v, want ErrNotFound", err)
	}
}

func TestLease(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		now := time.Now()
		take := func(holder string, at time.Time) bool {
			t.Helper()
			ok, err := st.AcquireLease(ctx, "sync:a", holder, at, at.Add(30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !take("one", now) {
			t.Fatal("a free lease was not taken")
		}
		if take("two", now.Add(29*time.Second)) {
			t.Fatal("a live lease was taken over")
		}
		if !take("one", now.Add(time.Second)) {
			t.Fatal("the holder could not take its own lease again")
		}
		if !take("two", now.Add(32*time.Second)) {
			t.Fatal("an expired lease was not taken over")
		}
		// The old holder finds out when it renews, in a batch's transaction too.
		if err := st.RenewLease(ctx, "sync:a", "one", now.Add(time.Minute)); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renew a lost lease: %v, want ErrLeaseLost", err)
		}
		tx, err := st.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.RenewLease(ctx, "sync:a", "one", now.Add(time.Minute)); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renew a lost lease in a transaction: %v, want ErrLeaseLost", err)
		}
		tx.Rollback()
		if err := st.ReleaseLease(ctx, "sync:a", "one"); err != nil { // not its lease: nothing happens
			t.Fatal(err)
		}
		if take("three", now.Add(33*time.Second)) {
			t.Fatal("a release by a former holder freed the lease")
		}
		if err := st.ReleaseLease(ctx, "sync:a", "two"); err != nil {
			t.Fatal(err)
		}
		if !take("three", now.Add(33*time.Second)) {
			t.Fatal("a released lease was not free")
		}
	})
}

// An identifier that is not valid UTF-8 is one no one could have (every stored id and
// email is valid UTF-8): no one matches, on PostgreSQL too (SPEC §5: exit 3).
func TestFindPersonInvalidUTF8(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		s := identity.DefaultSettings()
		if err := st.CheckWorkspace(ctx, s); err != nil {
			t.Fatal(err)
		}
		for _, ident := range []string{"\xff", "a\xffb@x.io", "cio_\xff"} {
			if _, err := st.FindPerson(ctx, s, ident); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindPerson(%q) = %v, want ErrNotFound", ident, err)
			}
		}
	})
}

// TestRunCounts: a run's counts, added batch by batch (RecordProgress) and then
// recorded at its end (FinishRun), read back from the run history as they were
// written, each count in its own column. On both stores.
func TestRunCounts(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		ctx := context.Background()
		st := open(t, driver, dsn)
		run := store.Run{Sync: "users", Started: time.Now(), Status: store.RunRunning}
		var err error
		if run.ID, err = st.StartRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		batch := store.Counts{RowsRead: 1, Created: 2, Updated: 3, Unchanged: 4, Rejected: 5, Skipped: 6, FailedChanges: 7, Deleted: 8, Suppressed: 9}
		for i := 0; i < 2; i++ {
			if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.RecordProgress(ctx, run.ID, batch, "") }); err != nil {
				t.Fatal(err)
			}
		}
		runs, err := st.Runs(ctx, "users", 1)
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs: %v %v", runs, err)
		}
		want := store.Counts{RowsRead: 2, Created: 4, Updated: 6, Unchanged: 8, Rejected: 10, Skipped: 12, FailedChanges: 14, Deleted: 16, Suppressed: 18}
		if runs[0].Counts != want {
			t.Fatalf("after two batches: %+v, want %+v", runs[0].Counts, want)
		}

		run.Status, run.Ended = store.RunOK, time.Now()
		run.Counts = store.Counts{RowsRead: 11, Created: 12, Updated: 13, Unchanged: 14, Rejected: 15, Skipped: 16,
			FailedChanges: 17, Deleted: 18, Suppressed: 19, NullCursorRows: 20}
		if err := st.FinishRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if runs, err = st.Runs(ctx, "users", 1); err != nil || len(runs) != 1 {
			t.Fatalf("runs: %v %v", runs, err)
		}
		if runs[0].Counts != run.Counts {
			t.Fatalf("after the end: %+v, want %+v", runs[0].Counts, run.Counts)
		}
	})
}
