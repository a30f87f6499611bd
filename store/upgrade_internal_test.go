package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
)

// storeBefore is a store with the migrations before version applied, as an older
// dbsync left it, and a function that runs SQL on it.
func storeBefore(t *testing.T, b testdb.Store, version int) (*Store, func(q string, args ...any)) {
	t.Helper()
	ctx := context.Background()
	st, err := open(ctx, b.Driver, b.DSN(t), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := st.db.ExecContext(ctx, st.d.rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`)
	ms, err := st.d.loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version >= version {
			break
		}
		if err := st.apply(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return st, exec
}

// A store written before migrations 0003 and 0004 is upgraded in place: rejected rows
// and refused changes recorded again by re-reads are merged into their first entry
// (last_seen the latest), and people of an [id] store get their email_fold, filled in
// Go, so that `people get` finds them by any case of their email.
func TestUpgradeMergesRepeatsAndFoldsEmails(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, exec := storeBefore(t, b, 3)
			for i, email := range []string{"Émile@x.io", "Zoë@X.io"} {
				id := string(rune('a' + i))
				exec(`INSERT INTO people (internal_id, external_id, email, id_key, attributes, created_at, updated_at)
					VALUES (?, ?, ?, ?, '{}', 1, 1)`, id, id, email, id)
			}
			for at := 10; at <= 30; at += 10 {
				exec(`INSERT INTO rejected (at, sync, row_key, skipped, reason) VALUES (?, 's', '2', FALSE, 'no_identifier')`, at)
				exec(`INSERT INTO rejected (at, sync, row_key, skipped, reason) VALUES (?, 's', NULL, FALSE, 'no_identifier')`, at)
				exec(`INSERT INTO change_log (at, sync, row_key, internal_id, kind, attribute, to_value, reason)
					VALUES (?, 's', '4', 'a', 'failed_attribute_change', 'email', '"bad"', 'invalid_email')`, at)
				exec(`INSERT INTO change_log (at, sync, row_key, internal_id, kind, attribute, to_value)
					VALUES (?, 's', '4', 'a', 'attribute_change', 'plan', '"pro"')`, at)
			}
			if err := st.migrate(ctx); err != nil {
				t.Fatal(err)
			}

			var got []string
			st.EachRejected(ctx, "s", 0, func(r Rejection) error {
				got = append(got, fmt.Sprintf("%q %d-%d", r.Key, r.Time, r.LastSeen))
				return nil
			})
			if want := `"2" 10-30|"" 10-30`; strings.Join(got, "|") != want {
				t.Errorf("rejected = %s, want %s", strings.Join(got, "|"), want)
			}
			got = got[:0]
			st.EachChange(ctx, func(c record.Change) error {
				got = append(got, fmt.Sprintf("%d %s", c.Time, c.Kind))
				return nil
			})
			if want := "10 failed_attribute_change|10 attribute_change|20 attribute_change|30 attribute_change"; strings.Join(got, "|") != want {
				t.Errorf("change log = %s, want %s", strings.Join(got, "|"), want)
			}
			settings := identity.Settings{IDIdentifies: true}
			for ident, want := range map[string]string{"ÉMILE@X.IO": "a", " zoË@x.io": "b"} {
				p, err := st.FindPerson(ctx, settings, ident)
				if err != nil || p.CioID != want {
					t.Errorf("people get %q = %v, %v; want %s", ident, p, err, want)
				}
			}
		})
	}
}

// A store written before migration 0013 keeps its profile_create entries in change_log;
// people created after it hold theirs on their row. A survivor's log reads in row order
// across the two: the old person's creation and change, then the lead created after the
// upgrade, then the merge of the lead into them.
func TestUpgradeKeepsOldCreationsInTheLog(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, exec := storeBefore(t, b, 13)
			exec(`INSERT INTO people (internal_id, external_id, id_key, attributes, created_at, updated_at) VALUES ('old', 'u1', 'u1', '{"plan":"a"}', 10, 10)`)
			exec(`INSERT INTO change_log (at, sync, row_key, internal_id, kind, to_value) VALUES (10, 's', '1', 'old', 'profile_create', '{"id":"u1"}')`)
			exec(`INSERT INTO change_log (at, sync, row_key, internal_id, kind, attribute, from_value, to_value)
				VALUES (10, 's', '2', 'old', 'attribute_change', 'plan', NULL, '"a"')`)
			// Read before the upgrade, as `people log` does with a newer binary on a store
			// no run has upgraded yet.
			var before []string
			err := st.EachChange(ctx, func(c record.Change) error {
				before = append(before, c.RowKey+" "+c.Kind)
				return nil
			}, "old")
			if got := strings.Join(before, "|"); err != nil || got != "1 profile_create|2 attribute_change" {
				t.Errorf("the log of a store before migration 0013: %s, %v", got, err)
			}
			if err := st.migrate(ctx); err != nil {
				t.Fatal(err)
			}
			s := identity.DefaultSettings()
			s.MergeDuplicates = true
			pl := &identity.Planner{Settings: s, Now: func() time.Time { return time.Unix(20, 0) }}
			for _, rows := range [][]*record.Record{
				{{Key: "3", Email: "b@x.io"}},
				{{Key: "4", ID: "u1", Email: "b@x.io"}},
			} {
				err := st.InTx(ctx, func(tx *Tx) error {
					people, err := pl.Plan(ctx, tx, "s", rows)
					if err != nil {
						return err
					}
					return tx.Write(ctx, "s", 20, rows, people)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			history, err := st.PersonHistory(ctx, "old")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = st.EachChange(ctx, func(c record.Change) error {
				who := c.CioID
				if who != "old" {
					who = "lead"
				}
				got = append(got, fmt.Sprintf("%s %s %s %s", c.RowKey, who, c.Kind, c.Attribute))
				return nil
			}, history...)
			if err != nil {
				t.Fatal(err)
			}
			want := "1 old profile_create |2 old attribute_change plan|3 lead profile_create |4 "
			if g := strings.Join(got, "|"); !strings.HasPrefix(g, want) || len(history) != 2 || !strings.Contains(g, "profile_merge") {
				t.Errorf("the survivor's log across the upgrade:\n%s\nwant it to start %s and hold the merge", strings.Join(got, "\n"), want)
			}
		})
	}
}

// The people pending export when migration 0014 runs are in the first export after
// it, and only they, however many rows of 5000 they are listed in.
func TestUpgradeKeepsPendingPeoplePending(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, exec := storeBefore(t, b, 14)
			const n = 12_001
			exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
				INSERT INTO people (internal_id, external_id, id_key, attributes, created_at, updated_at, export_pending)
				SELECT 'c' || i, 'p' || i, 'p' || i, '{}', 1, 1, i % 3 <> 0 FROM n`, n)
			if err := st.migrate(ctx); err != nil {
				t.Fatal(err)
			}
			ex, err := st.StartExport(ctx, false, "ndjson", func(int64) (string, error) { return "m", nil })
			if err != nil {
				t.Fatal(err)
			}
			claimed := map[string]bool{}
			if _, err := st.ReadExport(ctx, ex, func(p *identity.Person, _ []ExportAttribute) error {
				claimed[p.ID] = true
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= n; i++ {
				if id := fmt.Sprint("p", i); claimed[id] != (i%3 != 0) {
					t.Fatalf("%s (pending: %v) is in the export: %v", id, i%3 != 0, claimed[id])
				}
			}
			var left int
			if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM people_pending`).Scan(&left); err != nil || left != 0 {
				t.Errorf("after the claim people_pending holds %d rows (%v), want none", left, err)
			}
		})
	}
}

// People an older dbsync writes pending after migration 0014, without listing them (a
// `serve` still running while the new one starts), are in the next export: exports
// sweep everyone pending into the list until one at least an hour after the
// migration. A new store is never swept.
func TestUpgradeSweepsWhatAnOlderDbsyncWrites(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, exec := storeBefore(t, b, 14)
			exec(`INSERT INTO people (internal_id, external_id, id_key, attributes, created_at, updated_at, export_pending)
				VALUES ('c-old', 'old', 'old', '{}', 1, 1, FALSE)`)
			if err := st.migrate(ctx); err != nil {
				t.Fatal(err)
			}
			exported := func() string {
				t.Helper()
				ex, err := st.StartExport(ctx, false, "ndjson", func(int64) (string, error) { return "m", nil })
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				if _, err := st.ReadExport(ctx, ex, func(p *identity.Person, _ []ExportAttribute) error {
					ids = append(ids, p.ID)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if err := st.FinishExport(ctx, ex); err != nil {
					t.Fatal(err)
				}
				return strings.Join(ids, ",")
			}
			olderWrites := func(id string) { // as a dbsync before 0014 writes: the flag, no list
				exec(`UPDATE people SET export_pending = TRUE WHERE internal_id = 'c-old'`)
				exec(`INSERT INTO people (internal_id, external_id, id_key, attributes, created_at, updated_at)
					VALUES (?, ?, ?, '{}', 1, 1)`, "c-"+id, id, id)
			}
			olderWrites("late")
			if got := exported(); got != "late,old" {
				t.Fatalf("the export after an older dbsync wrote: %q, want late,old", got)
			}
			exec(`UPDATE schema_migrations SET applied_at = applied_at - 7200 WHERE version = 14`)
			olderWrites("later")
			if got := exported(); got != "later,old" {
				t.Fatalf("the first export an hour after the migration: %q, want later,old", got)
			}
			var due int
			if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM meta WHERE key = 'people_pending.sweep'`).Scan(&due); err != nil || due != 0 {
				t.Errorf("after the last sweep the store is still due one (%d, %v)", due, err)
			}

			fresh, err := Open(ctx, b.Driver, b.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			if err := fresh.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM meta WHERE key = 'people_pending.sweep'`).Scan(&due); err != nil || due != 0 {
				t.Errorf("a new store is due a sweep (%d, %v)", due, err)
			}
		})
	}
}
