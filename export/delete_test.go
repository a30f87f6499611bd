package export_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// TestExportDeletesAndSuppression: SPEC §6 and §10 in every format, on both stores.
// After deletes, the next export holds a deleted person once more with deleted: true
// and no identifiers or attribute rows, a suppressed one likewise with suppressed:
// true; a deleted object as a tombstone (deleted: true, no attribute rows); an object
// deleted and created again as live, with the attributes it lost as removed (NULL);
// and each relationship the deletes removed as deleted: true. The export after holds
// none of them again; a full one holds the tombstones, still without identifiers or
// attributes.
func TestExportDeletesAndSuppression(t *testing.T) {
	formats := []string{"parquet", "csv", "ndjson"}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := backend.DSN(t)
			st, err := store.Open(ctx, backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			settings := identity.DefaultSettings()
			attr := func(name, v string) []record.Attr { return []record.Attr{{Name: name, Value: json.RawMessage(v)}} }
			apply(t, st, settings, []*record.Record{
				{Key: "1", ID: "u1", Email: "u1@x.io", Attrs: attr("plan", `"pro"`)},
				{Key: "2", ID: "u2", Email: "u2@x.io", Attrs: attr("plan", `"free"`)},
				{Key: "3", ID: "u3", Email: "u3@x.io", Attrs: attr("plan", `"team"`)},
			})
			cio := map[string]string{}
			var names []string
			for _, id := range []string{"u1", "u2", "u3"} {
				p, err := st.FindPerson(ctx, settings, id)
				if err != nil {
					t.Fatal(err)
				}
				cio[id] = p.CioID
				names = append(names, p.CioID, id)
			}
			name := strings.NewReplacer(names...)

			clock := int64(1000)
			planner := &objects.ObjectPlanner{Type: "account", Now: func() time.Time { return time.Unix(clock, 0) }}
			objectRows := func(rows ...record.Record) {
				t.Helper()
				recs := make([]*record.Record, len(rows))
				for i := range rows {
					recs[i] = &rows[i]
				}
				err := st.InTx(ctx, func(tx *store.Tx) error {
					w, err := planner.Plan(ctx, tx, "accounts", recs)
					if err != nil {
						return err
					}
					return tx.WriteObjects(ctx, w, objects.ChangesOf(recs))
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			obj := func(id string, del bool, kv ...string) record.Record {
				r := record.Record{Key: id, ObjectID: id, Delete: del}
				for i := 0; i+1 < len(kv); i += 2 {
					r.Attrs = append(r.Attrs, record.Attr{Name: kv[i], Value: json.RawMessage(kv[i+1])})
				}
				return r
			}
			objectRows(obj("A", false, "plan", `"pro"`, "seats", "3"), obj("B", false, "plan", `"free"`), obj("C", false))
			var rels []objects.RelationshipWrite
			for _, r := range [][2]string{{"u1", "A"}, {"u2", "A"}, {"u3", "A"}, {"u3", "B"}, {"u3", "C"}} {
				rels = append(rels, objects.RelationshipWrite{Insert: true, Relationship: &objects.Relationship{CioID: cio[r[0]],
					ObjectType: "account", ObjectID: r[1], Attributes: map[string]json.RawMessage{}, CreatedAt: 1000, UpdatedAt: 1000}})
			}
			if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.WriteRelationships(ctx, rels) }); err != nil {
				t.Fatal(err)
			}

			dir := t.TempDir()
			check := func(m *export.Manifest, want map[string][]string) {
				t.Helper()
				for table, rows := range want {
					for _, format := range formats {
						got := readTable(t, dir, m, table, format)
						for i := range got {
							got[i] = name.Replace(got[i])
							// People's times are the wall clock's (DeletePerson): leave them out.
							switch f := strings.Split(got[i], " | "); table {
							case "people":
								got[i] = strings.Join(slices.Delete(f, 5, 7), " | ")
							case "attributes":
								got[i] = strings.Join(f[:3], " | ")
							}
						}
						if !slices.Equal(got, rows) {
							t.Errorf("export %d, %s in %s:\n%s\nwant\n%s", m.Export, table, format, strings.Join(got, "\n"), strings.Join(rows, "\n"))
						}
					}
				}
			}
			first := run(t, st, dir, false, formats...).Manifest
			check(first, map[string][]string{
				"people":  {"u1 | u1 | u1@x.io | false | false | NULL", "u2 | u2 | u2@x.io | false | false | NULL", "u3 | u3 | u3@x.io | false | false | NULL"},
				"objects": {"account | A | false | 1000 | 1000", "account | B | false | 1000 | 1000", "account | C | false | 1000 | 1000"},
			})

			// A is deleted (its three relationships go), B deleted (its one too) and
			// created again, a row for no object skipped; u2 is deleted, u1 suppressed.
			clock = 2000
			objectRows(obj("A", true), obj("B", true), obj("B", false, "seats", "5"), obj("Nobody", true))
			for _, id := range []string{"u1", "u2"} {
				if err := st.DeletePerson(ctx, cio[id]); err != nil {
					t.Fatal(err)
				}
			}
			// The suppression as people suppress leaves it (SPEC §10): deleted, and flagged.
			db, err := sql.Open(backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			q := `UPDATE people SET suppressed = TRUE, export_pending = TRUE WHERE internal_id = $1`
			if backend.Driver == "sqlite" {
				q = strings.Replace(q, "$1", "?", 1)
			}
			if _, err := db.ExecContext(ctx, q, cio["u1"]); err != nil {
				t.Fatal(err)
			}
			tombstones := []string{"u1 | NULL | NULL | true | true | NULL", "u2 | NULL | NULL | true | false | NULL"}
			second := run(t, st, dir, false, formats...).Manifest
			check(second, map[string][]string{
				"people":            tombstones,
				"attributes":        nil,
				"objects":           {"account | A | true | 1000 | 2000", "account | B | false | 2000 | 2000"},
				"object_attributes": {"account | B | plan | NULL | 2000", "account | B | seats | 5 | 2000"},
				// B's went when it was deleted; u1's and u2's are erased with them: their
				// people rows stand for them.
				"relationships": {"u3 | account | A | NULL | true | 1000 | 2000", "u3 | account | B | NULL | true | 1000 | 2000"},
			})
			if second.People != 2 || second.Attributes != 0 || second.Objects != 2 || second.ObjectAttributes != 2 || second.Relationships != 2 {
				t.Errorf("the second manifest counts %d people, %d attributes, %d objects, %d object attributes, %d relationships",
					second.People, second.Attributes, second.Objects, second.ObjectAttributes, second.Relationships)
			}
			third := run(t, st, dir, false, formats...).Manifest
			check(third, map[string][]string{"people": nil, "attributes": nil, "objects": nil, "object_attributes": nil, "relationships": nil})

			full := run(t, st, dir, true, formats...).Manifest
			check(full, map[string][]string{
				"people":            append(tombstones, "u3 | u3 | u3@x.io | false | false | NULL"),
				"attributes":        {`u3 | plan | "team"`},
				"objects":           {"account | A | true | 1000 | 2000", "account | B | false | 2000 | 2000", "account | C | false | 1000 | 1000"},
				"object_attributes": {"account | B | seats | 5 | 2000"},
				"relationships": {"u3 | account | A | NULL | true | 1000 | 2000", "u3 | account | B | NULL | true | 1000 | 2000",
					"u3 | account | C | {} | false | 1000 | 1000"},
			})
			checkChain(t, manifests(t, dir))
		})
	}
}
