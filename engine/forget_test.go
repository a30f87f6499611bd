package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// forgetting makes the users table carry a delete and a suppress column and the sync
// use them (SPEC §10).
func (b *bundle) forgetting(t *testing.T) {
	t.Helper()
	b.exec(t, `ALTER TABLE users ADD COLUMN gone_at DATETIME`)
	b.exec(t, `ALTER TABLE users ADD COLUMN suppressed BOOLEAN`)
	b.sync.Delete, b.sync.Suppress = "gone_at", "suppressed"
}

// user writes a users row; gone is "", "delete" or "suppress".
func (b *bundle) user(t *testing.T, rowID int, id, email, plan, gone string) {
	t.Helper()
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var goneAt, suppressed any
	switch gone {
	case "delete":
		goneAt = t0.Format(ts)
	case "suppress":
		suppressed = true
	}
	b.exec(t, `INSERT OR REPLACE INTO users (row_id, user_id, email, plan, updated_at, gone_at, suppressed) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		rowID, null(id), null(email), null(plan), t0.Add(time.Duration(rowID)*time.Second).Format(ts), goneAt, suppressed)
}

// A people sync's delete and suppress columns delete and suppress the person each
// row finds, never creating one; the counts reach the run's result and history; the
// deleted person's values are nowhere in the store; a suppressed id or email skips
// later people, relationship and event rows, creating no one, until an unsuppress.
func TestDeleteAndSuppressFromColumns(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			b.forgetting(t)
			ctx := context.Background()
			s := identity.DefaultSettings()
			b.user(t, 1, "u1", "u1@x.io", "secret-plan-1", "")
			b.user(t, 2, "u2", "u2@x.io", "secret-plan-2", "")
			b.user(t, 3, "u3", "u3@x.io", "free", "")
			b.run(t, engine.Options{})
			u1, u2 := cioOf(t, b.st, s, "u1"), cioOf(t, b.st, s, "u2")

			b.user(t, 4, "u1", "", "ignored-attr", "delete")
			b.user(t, 5, "", "U2@X.IO", "", "suppress")
			b.user(t, 6, "ghost", "", "", "delete")
			b.user(t, 7, "", "", "", "delete")
			res := b.run(t, engine.Options{})
			if res.Deleted != 1 || res.Suppressed != 1 || res.Skipped != 1 || res.Rejected != 1 || res.Created != 0 {
				t.Errorf("the run: deleted %d suppressed %d skipped %d rejected %d created %d; want 1 1 1 1 0",
					res.Deleted, res.Suppressed, res.Skipped, res.Rejected, res.Created)
			}
			if res.RejectedBy[identity.ReasonNotFound] != 1 {
				t.Errorf("refused by reason: %v, want one not_found", res.RejectedBy)
			}
			runs, err := b.st.Runs(ctx, "users", 1)
			if err != nil || len(runs) != 1 || runs[0].Deleted != 1 || runs[0].Suppressed != 1 {
				t.Errorf("run history: %+v %v, want deleted 1 suppressed 1", runs, err)
			}
			// Only the suppression keeps u2's id and email.
			var dump, kept []string
			for _, line := range strings.Split(testdb.Dump(t, backend.Driver, b.stDSN), "\n") {
				if strings.HasPrefix(line, "suppressions:") {
					kept = append(kept, strings.Join(strings.Split(line, " | ")[:2], " | "))
				} else {
					dump = append(dump, line)
				}
			}
			for _, v := range []string{"u1@x.io", "u2@x.io", "u2 ", "secret-plan", "ignored-attr", "ghost"} {
				if strings.Contains(strings.Join(dump, "\n"), v) {
					t.Errorf("the store holds %q after the deletes", v)
				}
			}
			sort.Strings(kept)
			if got := strings.Join(kept, ", "); got != "suppressions: email | u2@x.io, suppressions: id | u2" {
				t.Errorf("suppressions: %s", got)
			}
			for _, id := range []string{"u1", "u1@x.io", "cio_" + u1, "u2", "u2@x.io", "cio_" + u2} {
				if _, err := b.st.FindPerson(ctx, s, id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s finds someone after the delete: %v", id, err)
				}
			}

			// A later row with the deleted id creates someone new; the suppressed ones
			// are skipped, by id or by email, in any kind of sync.
			b.user(t, 8, "u1", "", "back", "")
			b.user(t, 9, "u2", "", "back", "")
			b.user(t, 10, "", "u2@X.io", "back", "")
			res = b.run(t, engine.Options{})
			if res.Created != 1 || res.Skipped != 2 || res.RejectedBy[identity.ReasonSuppressed] != 2 {
				t.Errorf("after: created %d skipped %d %v; want 1 created, 2 suppressed", res.Created, res.Skipped, res.RejectedBy)
			}
			if p, err := b.st.FindPerson(ctx, s, "u1"); err != nil || p.CioID == u1 {
				t.Errorf("u1 again: %v %v, want a new person", p, err)
			}
			mem := b.memberships(t)
			b.addMember(t, 1, member{id: "u2", account: "acme"}, t0)
			b.addMember(t, 2, member{email: "U2@x.io", account: "acme"}, t0.Add(time.Second))
			if r := b.runSync(t, mem, engine.Options{}); r.Skipped != 2 || r.RejectedBy[identity.ReasonSuppressed] != 2 || r.Created != 0 {
				t.Errorf("relationship rows of the suppressed: %s %v", relCounts(r), r.RejectedBy)
			}
			ord := b.orders(t)
			b.addOrder(t, 1, order{id: "u2", name: "purchase"}, t0)
			b.addOrder(t, 2, order{email: "u2@x.io", name: "purchase"}, t0.Add(time.Second))
			if r := b.runSync(t, ord, engine.Options{}); r.Skipped != 2 || r.RejectedBy[identity.ReasonSuppressed] != 2 || r.Created != 0 {
				t.Errorf("event rows of the suppressed: %s %v", relCounts(r), r.RejectedBy)
			}
			if _, err := b.st.FindPerson(ctx, s, "u2"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a suppressed row created someone: %v", err)
			}

			if err := b.st.Unsuppress(ctx, "operator:test", "u2"); err != nil {
				t.Fatal(err)
			}
			b.addMember(t, 3, member{email: "u2@x.io", account: "acme"}, t0.Add(2*time.Second))
			if r := b.runSync(t, mem, engine.Options{}); r.Created != 1 {
				t.Errorf("after unsuppress, a relationship row: %s, want created", relCounts(r))
			}
			if p, err := b.st.FindPerson(ctx, s, "u2@x.io"); err != nil || p.CioID == u2 {
				t.Errorf("u2@x.io after unsuppress: %v %v, want a new person", p, err)
			}
		})
	}
}

// A dry run shows the deletes and suppressions a run would make, and that later rows
// of the run see them (a later row with the id creates someone, a suppressed one is
// skipped), and writes nothing.
func TestDeleteAndSuppressDryRun(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			b.forgetting(t)
			b.sync.BatchSize = 2
			b.user(t, 1, "u1", "u1@x.io", "free", "")
			b.user(t, 2, "u2", "u2@x.io", "free", "")
			b.run(t, engine.Options{})
			before := testdb.Dump(t, backend.Driver, b.stDSN)

			b.user(t, 3, "u1", "", "", "delete")
			b.user(t, 4, "u2", "", "", "suppress")
			b.user(t, 5, "u1", "", "", "")
			b.user(t, 6, "", "U2@x.io", "", "")
			var got []string
			res := b.run(t, engine.Options{DryRun: true, OnBatch: func(recs []*record.Record) {
				for _, r := range recs {
					got = append(got, fmt.Sprintf("%s %s %s", r.Key, r.Result, r.Reason))
				}
			}})
			if want := "3 deleted ,4 suppressed ,5 created ,6 skipped suppressed"; strings.Join(got, ",") != want {
				t.Errorf("dry run: %s\nwant %s", strings.Join(got, ","), want)
			}
			if res.Deleted != 1 || res.Suppressed != 1 {
				t.Errorf("dry run counts: deleted %d suppressed %d", res.Deleted, res.Suppressed)
			}
			if after := testdb.Dump(t, backend.Driver, b.stDSN); after != before {
				t.Errorf("the dry run wrote to the store")
			}
		})
	}
}

// A suppression racing a backfill's batch planned as all new people (which locks no
// one) still wins over it: the batch that would create someone with the suppressed
// email is planned again, with lookups, and skips the row (PostgreSQL, where both run
// at once).
func TestSuppressRacesABackfill(t *testing.T) {
	b := setup(t, testdb.Stores()[1])
	b.forgetting(t)
	b.sync.BatchSize = 5
	ctx := context.Background()
	s := identity.DefaultSettings()
	row := 1
	for round := 0; round < 30; round++ {
		x := fmt.Sprintf("x%d@x.io", round)
		b.user(t, row, fmt.Sprintf("x%d", round), x, "", "")
		row++
		b.run(t, engine.Options{})
		for i := 0; i < 10; i++ { // batches that find no one, so the next is guessed
			b.user(t, row, fmt.Sprintf("n%d-%d", round, i), "", "", "")
			row++
		}
		b.user(t, row, fmt.Sprintf("z%d", round), strings.ToUpper(x), "", "") // x's email, for a new id: a failed change, or suppressed
		row++
		done := make(chan error, 1)
		go func() {
			time.Sleep(time.Duration(round%7) * time.Millisecond)
			_, err := b.st.ForgetPerson(ctx, s, "op", x, true)
			done <- err
		}()
		b.run(t, engine.Options{})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if p, err := b.st.FindPerson(ctx, s, x); err == nil {
			t.Fatalf("round %d: %s is suppressed, and %s holds it", round, x, p.CioID)
		}
	}
}
