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

// A store written before migrations 0003 and 0004 is upgraded in place: rejected rows
// and refused changes recorded again by re-reads are merged into their first entry
// (last_seen the latest), and people of an [id] store get their email_fold, filled in
// Go, so that `people get` finds them by any case of their email.
func TestUpgradeMergesRepeatsAndFoldsEmails(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := open(ctx, b.Driver, b.DSN(t), true)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
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
			for _, m := range ms[:2] {
				if err := st.apply(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
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
