package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// readObjectsExport is what export ex read of objects and relationships: "type/id
// [deleted]", "type/id: name=value" and "rel cio type/id [removed] {attrs}".
func readObjectsExport(t *testing.T, st *store.Store, ex *store.Export, cio string) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	err := st.ReadObjectsExport(ctx, ex, func(o *objects.Object, as []store.ExportAttribute) error {
		line := o.Type + "/" + o.ID
		if o.Deleted {
			line += " deleted"
		}
		out = append(out, line)
		for _, a := range as {
			v := "NULL"
			if a.Value != nil {
				v = string(a.Value)
			}
			out = append(out, fmt.Sprintf("%s/%s: %s=%s", o.Type, o.ID, a.Name, v))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.ReadRelationshipsExport(ctx, ex, func(r *objects.Relationship) error {
		who := r.CioID
		if who == cio {
			who = "u1"
		}
		line := "rel " + who + " " + r.ObjectType + "/" + r.ObjectID
		if r.Removed {
			line += " removed"
		}
		out = append(out, line+" "+describeAttrs(r.Attributes))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "; ")
}

// The export of objects and relationships is incremental as the people's (SPEC §6):
// the first holds everything, the next only what changed (changed attributes only,
// removals as NULL), unchanged writes export nothing, a write during an export goes
// into the next one, and a full export holds everything.
func TestObjectsExportIncremental(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		dir := t.TempDir()
		apply(t, st, &record.Record{Key: "1", ID: "u1"})
		u1 := cioOf(t, st, "u1")
		change := func(id, attr, to string) objects.Change {
			c := objects.Change{Time: 1, Sync: "accounts", ObjectType: "account", ObjectID: id, Kind: objects.KindAttributeChange, Attribute: attr}
			if to != "" {
				c.To = json.RawMessage(to)
			}
			return c
		}
		write := func(insert bool, o objects.Object, log ...objects.Change) {
			inTx(t, st, func(tx *store.Tx) error {
				return tx.WriteObjects(ctx, []objects.Write{{Object: &o, Insert: insert}}, log)
			})
		}
		write(true, objects.Object{Type: "account", ID: "A", Attributes: attrs("plan", `"pro"`, "seats", `3`), CreatedAt: 1, UpdatedAt: 1},
			change("A", "plan", `"pro"`), change("A", "seats", `3`))
		write(true, objects.Object{Type: "account", ID: "a", Attributes: attrs("plan", `"free"`), CreatedAt: 1, UpdatedAt: 1}, change("a", "plan", `"free"`))
		writeRels(t, st, true,
			objects.Relationship{CioID: u1, ObjectType: "account", ObjectID: "A", Attributes: attrs("role", `"admin"`), CreatedAt: 1, UpdatedAt: 1},
			objects.Relationship{CioID: u1, ObjectType: "account", ObjectID: "a", CreatedAt: 1, UpdatedAt: 1, Removed: true})

		ex := startExport(t, st, dir)
		want := `account/A; account/A: plan="pro"; account/A: seats=3; account/a; account/a: plan="free"; ` +
			`rel u1 account/A {role="admin"}; rel u1 account/a removed {}`
		if got := readObjectsExport(t, st, ex, u1); got != want {
			t.Fatalf("the first export:\n%s\nwant\n%s", got, want)
		}
		finishExport(t, st, ex)
		ex = startExport(t, st, dir)
		if got := readObjectsExport(t, st, ex, u1); got != "" {
			t.Fatalf("an export with nothing changed: %s", got)
		}
		finishExport(t, st, ex)

		write(false, objects.Object{Type: "account", ID: "A", Attributes: attrs("plan", `"team"`), CreatedAt: 1, UpdatedAt: 2},
			change("A", "plan", `"team"`), change("A", "seats", ""))
		write(false, objects.Object{Type: "account", ID: "a", Attributes: attrs("plan", `"free"`), CreatedAt: 1, UpdatedAt: 2}) // unchanged
		writeRels(t, st, false, objects.Relationship{CioID: u1, ObjectType: "account", ObjectID: "a", Attributes: attrs("role", `"member"`), CreatedAt: 2, UpdatedAt: 2})
		ex = startExport(t, st, dir)
		want = `account/A; account/A: plan="team"; account/A: seats=NULL; rel u1 account/a {role="member"}`
		if got := readObjectsExport(t, st, ex, u1); got != want {
			t.Fatalf("the export after changes:\n%s\nwant\n%s", got, want)
		}
		// Written after the read: pending again, so it goes into the next export, with
		// the changes this one held too (its cursor does not move).
		write(false, objects.Object{Type: "account", ID: "A", Attributes: attrs("plan", `"team"`, "region", `"eu"`), CreatedAt: 1, UpdatedAt: 3},
			change("A", "region", `"eu"`))
		finishExport(t, st, ex)
		ex = startExport(t, st, dir)
		want = `account/A; account/A: plan="team"; account/A: region="eu"; account/A: seats=NULL`
		if got := readObjectsExport(t, st, ex, u1); got != want {
			t.Fatalf("the export after a write during the last one:\n%s\nwant\n%s", got, want)
		}
		finishExport(t, st, ex)

		full, err := st.StartExport(ctx, true, "ndjson", func(int64) (string, error) { return dir + "/manifest.json", nil })
		if err != nil {
			t.Fatal(err)
		}
		want = `account/A; account/A: plan="team"; account/A: region="eu"; account/a; account/a: plan="free"; ` +
			`rel u1 account/A {role="admin"}; rel u1 account/a {role="member"}`
		if got := readObjectsExport(t, st, full, u1); got != want {
			t.Fatalf("the full export:\n%s\nwant\n%s", got, want)
		}
		finishExport(t, st, full)
	})
}
