package store

import (
	"context"
	"errors"
	"testing"

	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
)

// A store written before migration 0005 holds no objects: the read commands, which
// never upgrade a store, find none rather than fail (exit 3, not 1); the upgrade
// then creates the tables.
func TestObjectsInAStoreBefore0005(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := open(ctx, b.Driver, b.DSN(t), true)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			ms, err := st.d.loadMigrations()
			if err != nil {
				t.Fatal(err)
			}
			if ms[4].version != 5 {
				t.Fatalf("migration 5 is %s", ms[4].name)
			}
			for _, m := range ms[:4] {
				if err := st.apply(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.FindObject(ctx, "account", "a"); !errors.Is(err, ErrNotFound) {
				t.Errorf("find an object: %v, want ErrNotFound", err)
			}
			if rs, err := st.PersonRelationships(ctx, "x"); err != nil || len(rs) != 0 {
				t.Errorf("relationships: %v, %v; want none", rs, err)
			}
			if err := st.EachObjectChange(ctx, "account", "a", func(objects.Change) error { return nil }); err != nil {
				t.Errorf("object change log: %v", err)
			}
			if err := st.migrate(ctx); err != nil {
				t.Fatal(err)
			}
			err = st.InTx(ctx, func(tx *Tx) error {
				return tx.WriteObjects(ctx, []objects.Write{{Object: &objects.Object{Type: "account", ID: "a", CreatedAt: 1, UpdatedAt: 1}, Insert: true}}, nil)
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.FindObject(ctx, "account", "a"); err != nil {
				t.Errorf("find after the upgrade: %v", err)
			}
		})
	}
}
