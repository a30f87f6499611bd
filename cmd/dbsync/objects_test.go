package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// TestObjectsGet: one object as JSON with object_type, object_id, attributes,
// created_at and updated_at; the id is case-sensitive; none, a deleted one and a store
// never written are exit 3 (SPEC §5).
func TestObjectsGet(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", "")
			if code, out, _ := dbsync(t, "objects", "get", "-c", cfg, "account", "Acme"); code != exitNotFound || out != "" {
				t.Fatalf("objects get on a store never written: exit %d, %q; want 3", code, out)
			}
			st, err := store.Open(ctx, backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			err = st.InTx(ctx, func(tx *store.Tx) error {
				return tx.WriteObjects(ctx, []objects.Write{
					{Object: &objects.Object{Type: "account", ID: "Acme", Attributes: map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`), "seats": json.RawMessage(`12`)}, CreatedAt: 1_700_000_000, UpdatedAt: 1_700_000_100}, Insert: true},
					{Object: &objects.Object{Type: "account", ID: "acme", CreatedAt: 1, UpdatedAt: 1}, Insert: true},
					{Object: &objects.Object{Type: "account", ID: "gone", CreatedAt: 1, UpdatedAt: 2, Deleted: true}, Insert: true},
				}, nil)
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"objects", "get", "-c", cfg, "account", "Acme"},
				{"objects", "get", "account", "Acme", "-c", cfg, "--json"},
			} {
				code, out, errOut := dbsync(t, args...)
				if code != exitOK {
					t.Fatalf("dbsync %s: exit %d: %s", strings.Join(args, " "), code, errOut)
				}
				want := `{"object_type":"account","object_id":"Acme","attributes":{"plan":"pro","seats":12},"created_at":1700000000,"updated_at":1700000100}` + "\n"
				if out != want {
					t.Errorf("dbsync %s printed\n%s want\n%s", strings.Join(args, " "), out, want)
				}
			}
			if code, out, _ := dbsync(t, "objects", "get", "-c", cfg, "account", "acme"); code != exitOK || !strings.Contains(out, `"object_id":"acme","attributes":{}`) {
				t.Errorf("account acme: exit %d, %s", code, out)
			}
			for _, k := range [][2]string{{"account", "ACME"}, {"Account", "Acme"}, {"account", "gone"}, {"account", ""}, {"course", "Acme"}} {
				code, out, errOut := dbsync(t, "objects", "get", "-c", cfg, k[0], k[1])
				if code != exitNotFound || out != "" || !strings.Contains(errOut, "no "+k[0]+" object") {
					t.Errorf("objects get %q %q: exit %d, %q, %q; want exit 3 and nothing on stdout", k[0], k[1], code, out, errOut)
				}
			}
		})
	}
}

// TestPeopleRelationships: the person's live relationships, one JSON object a line;
// exit 3 when no one matches; none is no output, exit 0 (SPEC §5).
func TestPeopleRelationships(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", "")
			if code, _, _ := dbsync(t, "people", "relationships", "-c", cfg, "u1"); code != exitNotFound {
				t.Fatalf("on a store never written: exit %d, want 3", code)
			}
			st, err := store.Open(ctx, backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var u1 string
			err = st.InTx(ctx, func(tx *store.Tx) error {
				recs := []*record.Record{{Key: "1", ID: "u1", Email: "u1@example.com"}, {Key: "2", ID: "u2"}}
				people, err := (&identity.Planner{Settings: identity.DefaultSettings()}).Plan(ctx, tx, "test", recs)
				if err != nil {
					return err
				}
				u1 = recs[0].Person
				if err := tx.Write(ctx, "test", 0, recs, people); err != nil {
					return err
				}
				rel := func(obj string, removed bool) objects.RelationshipWrite {
					return objects.RelationshipWrite{Relationship: &objects.Relationship{CioID: u1, ObjectType: "account", ObjectID: obj,
						Attributes: map[string]json.RawMessage{"role": json.RawMessage(`"admin"`)}, CreatedAt: 10, UpdatedAt: 20, Removed: removed}, Insert: true}
				}
				return tx.WriteRelationships(ctx, []objects.RelationshipWrite{rel("b", false), rel("a", false), rel("removed", true)})
			})
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			for _, obj := range []string{"a", "b"} {
				want += fmt.Sprintf(`{"object_type":"account","object_id":%q,"attributes":{"role":"admin"},"created_at":10,"updated_at":20}`+"\n", obj)
			}
			for _, ident := range []string{"u1", "U1@EXAMPLE.COM", "cio_" + u1} {
				for _, run := range []func(*testing.T, ...string) (int, string, string){dbsync, dbsyncTerm} {
					code, out, errOut := run(t, "people", "relationships", "-c", cfg, ident)
					if code != exitOK || out != want {
						t.Errorf("people relationships %s: exit %d (%s)\n%s want\n%s", ident, code, errOut, out, want)
					}
				}
			}
			if code, out, _ := dbsync(t, "people", "relationships", "-c", cfg, "u2", "--json"); code != exitOK || out != "" {
				t.Errorf("a person without relationships: exit %d, %q; want exit 0 and nothing", code, out)
			}
			for _, ident := range []string{"U1", "nobody@example.com", "cio_ffff", ""} {
				if code, out, _ := dbsync(t, "people", "relationships", "-c", cfg, ident); code != exitNotFound || out != "" {
					t.Errorf("people relationships %q: exit %d, %q; want 3", ident, code, out)
				}
			}
			if err := st.DeletePerson(ctx, u1); err != nil {
				t.Fatal(err)
			}
			if code, _, _ := dbsync(t, "people", "relationships", "-c", cfg, "cio_"+u1); code != exitNotFound {
				t.Errorf("a deleted person: exit %d, want 3", code)
			}
		})
	}
}
