package store

import (
	"context"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
)

// People stored before migration 0004 get their email_fold filled in Go, so an [id]
// store upgraded in place finds them by any case of their email.
func TestFoldEmailsBackfill(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := Open(ctx, b.Driver, b.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			settings := identity.Settings{IDIdentifies: true}
			// As 0003 left them: no email_fold.
			q := st.d.rebind(`INSERT INTO people (internal_id, external_id, email, id_key, attributes, created_at, updated_at)
				VALUES (?, ?, ?, ?, '{}', 1, 1)`)
			for i, email := range []string{"Émile@x.io", "Zoë@X.io"} {
				id := string(rune('a' + i))
				if _, err := st.db.ExecContext(ctx, q, id, id, email, id); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.FindPerson(ctx, settings, "ÉMILE@X.IO"); err != ErrNotFound {
				t.Fatalf("before the backfill: %v, want not found", err)
			}
			tx, err := st.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if err := foldEmails(ctx, st.d, tx); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			for ident, want := range map[string]string{"ÉMILE@X.IO": "a", "zoË@x.io": "b"} {
				p, err := st.FindPerson(ctx, settings, ident)
				if err != nil || p.CioID != want {
					t.Errorf("people get %s = %v, %v; want %s", ident, p, err, want)
				}
			}
		})
	}
}
