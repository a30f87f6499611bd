package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// Email case is folded one way, in Go, on both stores and in every workspace (SPEC
// §1): `people get` finds a person stored as Émile@x.io by any case of it, with
// spaces around, also where email does not identify ([id]) and SQL's LOWER on
// SQLite would fold only the ASCII letters.
func TestPeopleGetFoldsEmailCase(t *testing.T) {
	for _, backend := range testdb.Stores() {
		for _, ws := range []string{"[id, email]", "[id]", "[email]"} {
			t.Run(backend.Driver+ws, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				dsn := backend.DSN(t)
				cfgPath := writeConfig(t, backend.Driver, dsn, "identifiers: "+ws, "")
				cfg, err := config.Load(cfgPath)
				if err != nil {
					t.Fatal(err)
				}
				settings := cfg.Workspace.Settings()
				st, err := store.Open(ctx, backend.Driver, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				if err := st.CheckWorkspace(ctx, settings); err != nil {
					t.Fatal(err)
				}
				pl := &identity.Planner{Settings: settings, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
				err = st.InTx(ctx, func(tx *store.Tx) error {
					recs := []*record.Record{{Key: "1", ID: "e1", Email: "Émile@x.io"}}
					people, err := pl.Plan(ctx, tx, "test", recs)
					if err != nil {
						return err
					}
					return tx.Write(ctx, "test", 0, recs, people)
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, ident := range []string{"ÉMILE@X.IO", "émile@x.io", " Émile@X.io ", "Émile@x.io"} {
					code, out, errOut := dbsync(t, "people", "get", "-c", cfgPath, ident)
					var got struct{ Email string }
					if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Email != "Émile@x.io" {
						t.Errorf("people get %q: exit %d, %s%s; want Émile@x.io", ident, code, out, errOut)
					}
				}
				if code, _, _ := dbsync(t, "people", "get", "-c", cfgPath, "emile@x.io"); code != exitNotFound {
					t.Errorf("people get emile@x.io (no accent): exit %d, want 3", code)
				}
			})
		}
	}
}
