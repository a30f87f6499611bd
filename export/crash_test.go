package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

var errCrash = errors.New("crash")

// An export that stops after any step (as its process dying there would), with people
// changing before and after, is finished by the next export: redone under the same
// number when no manifest was published, or recorded from its manifest, never
// rewritten, when one was. Either way the manifests chain and, loaded in order, give
// the store. (cmd/dbsync's TestKilledExportIsRedone kills a real process.)
func TestExportCrashAtEachStep(t *testing.T) {
	for _, backend := range testdb.Stores() {
		for _, step := range []string{"claim", "write", "rename", "publish"} {
			t.Run(backend.Driver+"/"+step, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				st, err := store.Open(ctx, backend.Driver, backend.DSN(t))
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				settings := identity.DefaultSettings()
				change := func(from, to int, value string) {
					var rows []*record.Record
					for i := from; i < to; i++ {
						v := []byte(value)
						if i%3 == 0 {
							v = nil // removes it
						}
						n := []byte(fmt.Sprintf(`"%d %s"`, i, value[1:len(value)-1])) // changes every time
						rows = append(rows, &record.Record{Key: fmt.Sprint(i), ID: fmt.Sprintf("u%d", i),
							Attrs: []record.Attr{{Name: "plan", Value: v}, {Name: "n", Value: n}}})
					}
					apply(t, st, settings, rows)
				}
				change(0, 50, `"free"`)
				dir := t.TempDir()
				run(t, st, dir, false, "parquet", "csv")

				change(10, 20, `"pro"`)
				// An object and a relationship written before the crashed export are in
				// exactly one export of the chain: the redone one, or the recorded one.
				acct := objects.Object{Type: "account", ID: "A", Attributes: map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`)}, CreatedAt: 1, UpdatedAt: 1}
				u1, err := st.FindPerson(ctx, settings, "u1")
				if err != nil {
					t.Fatal(err)
				}
				err = st.InTx(ctx, func(tx *store.Tx) error {
					log := []objects.Change{{Time: 1, Sync: "accounts", ObjectType: "account", ObjectID: "A",
						Kind: objects.KindAttributeChange, Attribute: "plan", To: acct.Attributes["plan"]}}
					if err := tx.WriteObjects(ctx, []objects.Write{{Object: &acct, Insert: true}}, log); err != nil {
						return err
					}
					rel := objects.Relationship{CioID: u1.CioID, ObjectType: "account", ObjectID: "A", CreatedAt: 1, UpdatedAt: 1}
					return tx.WriteRelationships(ctx, []objects.RelationshipWrite{{Relationship: &rel, Insert: true}})
				})
				if err != nil {
					t.Fatal(err)
				}
				opt := export.WithAfterStep(export.Options{Dir: dir, Formats: []string{"parquet", "csv"}}, func(s string) error {
					if s == step {
						return errCrash
					}
					return nil
				})
				if _, err := export.Run(ctx, st, opt); !errors.Is(err, errCrash) {
					t.Fatalf("the export did not stop after %s: %v", step, err)
				}
				manifest2 := filepath.Join(dir, "manifest-00000002.json")
				before, err := os.ReadFile(manifest2)
				if published := err == nil; published != (step == "publish") {
					t.Fatalf("after a crash after %s, manifest 2 is there: %v", step, published)
				}
				change(15, 25, `"team"`) // changes while nothing runs

				res := run(t, st, dir, false, "parquet", "csv")
				if step == "publish" {
					after, _ := os.ReadFile(manifest2)
					if res.Recovered != 2 || res.Manifest.Export != 3 || !bytes.Equal(before, after) {
						t.Fatalf("recovered %d, exported %d; manifest 2 rewritten: %v", res.Recovered, res.Manifest.Export, !bytes.Equal(before, after))
					}
				} else if res.Recovered != 0 || res.Manifest.Export != 2 || res.Manifest.People != 15 {
					t.Fatalf("the rerun is export %d with %d people (recovered %d), want export 2 again with u10..u24",
						res.Manifest.Export, res.Manifest.People, res.Recovered)
				}
				if m := run(t, st, dir, false, "csv").Manifest; m.People != 0 {
					t.Fatalf("an export with nothing changed holds %d people", m.People)
				}

				ms := manifests(t, dir)
				checkChain(t, ms)
				var objs, objAttrs, rels int64
				for _, m := range ms {
					objs, objAttrs, rels = objs+m.Objects, objAttrs+m.ObjectAttributes, rels+m.Relationships
				}
				if objs != 1 || objAttrs != 1 || rels != 1 {
					t.Fatalf("the exports hold %d objects, %d object attributes, %d relationships, want each once", objs, objAttrs, rels)
				}
				var dumps []dump
				for _, m := range ms {
					dumps = append(dumps, read(t, dir, m, "csv"))
				}
				people, attrs := storeView(t, st)
				if got, want := describe(replay(dumps)), describe(people, attrs); got != want {
					t.Fatalf("the exports loaded in order:\n%s\nwant the store:\n%s", got, want)
				}
				exports, err := st.Exports(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, ex := range exports {
					if ex.State != store.ExportDone {
						t.Fatalf("export %d is %s", ex.Seq, ex.State)
					}
				}
			})
		}
	}
}
