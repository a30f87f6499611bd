package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/internal/testdb"
)

// A store written before migration 0006 holds no events: people events, which never
// upgrades a store, lists none rather than fail; the upgrade then creates the table.
func TestEventsInAStoreBefore0006(t *testing.T) {
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
			if ms[5].version != 6 {
				t.Fatalf("migration 6 is %s", ms[5].name)
			}
			for _, m := range ms[:5] {
				if err := st.apply(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			if err := st.PersonEvents(ctx, "x", 0, func(events.Event) error { n++; return nil }); err != nil || n != 0 {
				t.Errorf("events: %d, %v; want none", n, err)
			}
			if err := st.migrate(ctx); err != nil {
				t.Fatal(err)
			}
			err = st.InTx(ctx, func(tx *Tx) error {
				return tx.WriteEvents(ctx, []events.Event{{Sync: "orders", ID: "1", CioID: "x", Name: "purchase", Timestamp: 1, Data: []byte(`{}`)}})
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.PersonEvents(ctx, "x", 0, func(events.Event) error { n++; return nil }); err != nil || n != 1 {
				t.Errorf("events after the upgrade: %d, %v; want 1", n, err)
			}
		})
	}
}

// The SQLite store checkpoints its WAL every walCheckpointPages, on every connection
// a writer opens, not SQLite's 1000 pages (a checkpoint after each batch).
func TestSQLiteCheckpointsLess(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "sqlite", testdb.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conns := make([]*sql.Conn, 3) // the pool's first connection and new ones
	for i := range conns {
		if conns[i], err = st.db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
		var pages int
		if err := conns[i].QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if pages != walCheckpointPages {
			t.Errorf("connection %d: wal_autocheckpoint = %d, want %d", i+1, pages, walCheckpointPages)
		}
	}
}
