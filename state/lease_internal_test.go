package state

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/store"
)

// TestLeaseRenewErrorIsLogged: a renewal that fails for another reason than a lost
// lease (here the leases table is briefly gone) is logged, with the lease's name, and
// the lease is kept: renewals go on once the store answers again. On both stores.
func TestLeaseRenewErrorIsLogged(t *testing.T) {
	ctx := context.Background()
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			dsn := backend.DSN(t)
			st, err := store.Open(ctx, backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			db, err := sql.Open(backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()

			log, hook := logtest.NewNullLogger()
			l, err := acquire(ctx, st, ExportLease, "a", log, 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release(ctx)
			if _, err := db.Exec(`ALTER TABLE leases RENAME TO leases_away`); err != nil {
				t.Fatal(err)
			}
			var logged *logrus.Entry
			for deadline := time.Now().Add(30 * time.Second); logged == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				for _, e := range hook.AllEntries() {
					if strings.Contains(e.Message, "renew lease") {
						logged = e
					}
				}
			}
			if _, err := db.Exec(`ALTER TABLE leases_away RENAME TO leases`); err != nil {
				t.Fatal(err)
			}
			if logged == nil {
				t.Fatal("a failed renewal was not logged")
			}
			if logged.Level != logrus.WarnLevel || logged.Data["lease"] != ExportLease || logged.Data[logrus.ErrorKey] == nil {
				t.Errorf("logged %s %q %v, want a warning naming the lease and the error", logged.Level, logged.Message, logged.Data)
			}
			select {
			case <-l.Lost():
				t.Fatal("a failed renewal lost the lease")
			default:
			}
			if err := l.Renew(ctx); err != nil {
				t.Fatalf("renew once the store answers: %v", err)
			}
		})
	}
}
