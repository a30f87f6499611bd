package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

func attrs(kv ...string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = json.RawMessage(kv[i+1])
	}
	return m
}

func inTx(t *testing.T, st *store.Store, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := st.InTx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func writeObjects(t *testing.T, st *store.Store, insert bool, os ...objects.Object) {
	t.Helper()
	ctx := context.Background()
	inTx(t, st, func(tx *store.Tx) error {
		var ws []objects.Write
		for i := range os {
			ws = append(ws, objects.Write{Object: &os[i], Insert: insert})
		}
		return tx.WriteObjects(ctx, ws, nil)
	})
}

func writeRels(t *testing.T, st *store.Store, insert bool, rs ...objects.Relationship) {
	t.Helper()
	ctx := context.Background()
	inTx(t, st, func(tx *store.Tx) error {
		var ws []objects.RelationshipWrite
		for i := range rs {
			ws = append(ws, objects.RelationshipWrite{Relationship: &rs[i], Insert: insert})
		}
		return tx.WriteRelationships(ctx, ws)
	})
}

func findObject(t *testing.T, st *store.Store, typ, id string) *objects.Object {
	t.Helper()
	o, err := st.FindObject(context.Background(), typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// describeRels is "type/id attrs created..updated" for each live relationship of a person.
func describeRels(t *testing.T, st *store.Store, cio string) string {
	t.Helper()
	rs, err := st.PersonRelationships(context.Background(), cio)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s/%s %s %d..%d", r.ObjectType, r.ObjectID, describeAttrs(r.Attributes), r.CreatedAt, r.UpdatedAt))
	}
	return strings.Join(out, "; ")
}

func describeAttrs(m map[string]json.RawMessage) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "%s=%s,", k, m[k])
	}
	return "{" + strings.TrimSuffix(b.String(), ",") + "}"
}

func okey(typ, id string) objects.Key { return objects.Key{Type: typ, ID: id} }

func rkey(cio, typ, id string) objects.RelationshipKey {
	return objects.RelationshipKey{CioID: cio, ObjectType: typ, ObjectID: id}
}

func cioOf(t *testing.T, st *store.Store, identifier string) string {
	t.Helper()
	p, err := st.FindPerson(context.Background(), identity.DefaultSettings(), identifier)
	if err != nil {
		t.Fatalf("find %s: %v", identifier, err)
	}
	return p.CioID
}

// Objects round-trip with their attributes and change log; object ids are
// case-sensitive (SPEC §8: Acme and acme are two objects).
func TestObjectsRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		inTx(t, st, func(tx *store.Tx) error {
			return tx.WriteObjects(ctx, []objects.Write{
				{Object: &objects.Object{Type: "account", ID: "Acme", Attributes: attrs("plan", `"pro"`, "seats", `12`), CreatedAt: 100, UpdatedAt: 100}, Insert: true},
				{Object: &objects.Object{Type: "account", ID: "acme", Attributes: attrs("plan", `"free"`), CreatedAt: 101, UpdatedAt: 101}, Insert: true},
				{Object: &objects.Object{Type: "course", ID: "Acme", CreatedAt: 102, UpdatedAt: 102}, Insert: true},
			}, []objects.Change{
				{Time: 100, Sync: "accounts", RowKey: "1", ObjectType: "account", ObjectID: "Acme", Kind: objects.KindObjectCreate},
				{Time: 100, Sync: "accounts", RowKey: "1", ObjectType: "account", ObjectID: "Acme", Kind: objects.KindAttributeChange, Attribute: "plan", To: json.RawMessage(`"pro"`)},
				{Time: 101, Sync: "accounts", RowKey: "2", ObjectType: "account", ObjectID: "acme", Kind: objects.KindObjectCreate},
			})
		})
		var loaded []objects.Object
		inTx(t, st, func(tx *store.Tx) error {
			var err error
			loaded, err = tx.LoadObjects(ctx, []objects.Key{okey("account", "Acme"), okey("account", "acme"), okey("account", "ACME"), okey("course", "Acme"), okey("course", "acme")})
			return err
		})
		var got []string
		for _, o := range loaded {
			got = append(got, fmt.Sprintf("%s/%s %s %d", o.Type, o.ID, describeAttrs(o.Attributes), o.CreatedAt))
		}
		want := `account/Acme {plan="pro",seats=12} 100; account/acme {plan="free"} 101; course/Acme {} 102`
		if strings.Join(got, "; ") != want {
			t.Fatalf("loaded %q\nwant   %q", strings.Join(got, "; "), want)
		}
		if o := findObject(t, st, "account", "acme"); o == nil || string(o.Attributes["plan"]) != `"free"` {
			t.Errorf("find account acme = %+v", o)
		}
		for _, k := range [][2]string{{"account", "ACME"}, {"Account", "Acme"}, {"account", ""}, {"", "Acme"}, {"account", "\xff"}} {
			if o := findObject(t, st, k[0], k[1]); o != nil {
				t.Errorf("find %q %q = %+v, want none", k[0], k[1], o)
			}
		}
		var log []string
		err := st.EachObjectChange(ctx, "account", "Acme", func(c objects.Change) error {
			log = append(log, c.Kind+":"+c.Attribute+"="+string(c.To))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(log, " "); got != `object_create:= attribute_change:plan="pro"` {
			t.Errorf("account Acme's log = %s", got)
		}
	})
}

// A write that changes nothing touches nothing (SPEC §2): updated_at stays. A deleted
// object is found by no command but still loads, for the planner.
func TestObjectWrites(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		writeObjects(t, st, true, objects.Object{Type: "account", ID: "a1", Attributes: attrs("plan", `"pro"`), CreatedAt: 100, UpdatedAt: 100})
		writeObjects(t, st, false, objects.Object{Type: "account", ID: "a1", Attributes: attrs("plan", `"pro"`), CreatedAt: 100, UpdatedAt: 200})
		if o := findObject(t, st, "account", "a1"); o == nil || o.UpdatedAt != 100 {
			t.Fatalf("after an unchanged write: %+v, want updated_at 100", o)
		}
		writeObjects(t, st, false, objects.Object{Type: "account", ID: "a1", Attributes: attrs("plan", `"team"`), CreatedAt: 100, UpdatedAt: 300})
		if o := findObject(t, st, "account", "a1"); o == nil || o.UpdatedAt != 300 || string(o.Attributes["plan"]) != `"team"` || o.CreatedAt != 100 {
			t.Fatalf("after a change: %+v", o)
		}
		writeObjects(t, st, false, objects.Object{Type: "account", ID: "a1", CreatedAt: 100, UpdatedAt: 400, Deleted: true})
		if o := findObject(t, st, "account", "a1"); o != nil {
			t.Fatalf("a deleted object was found: %+v", o)
		}
		inTx(t, st, func(tx *store.Tx) error {
			os, err := tx.LoadObjects(ctx, []objects.Key{okey("account", "a1")})
			if err != nil {
				return err
			}
			if len(os) != 1 || !os[0].Deleted || os[0].UpdatedAt != 400 {
				t.Errorf("load a deleted object: %+v", os)
			}
			return nil
		})
	})
}

// Many thousands of keys in one batch load in one statement each way.
func TestObjectsLargeBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		const n = 12000
		os := make([]objects.Object, n)
		keys := make([]objects.Key, n)
		for i := range os {
			os[i] = objects.Object{Type: "account", ID: fmt.Sprintf("a%05d", i), Attributes: attrs("n", fmt.Sprint(i)), CreatedAt: 1, UpdatedAt: 1}
			keys[i] = os[i].Key()
		}
		writeObjects(t, st, true, os...)
		writeObjects(t, st, false, os...) // an upsert of the same, in chunks
		inTx(t, st, func(tx *store.Tx) error {
			got, err := tx.LoadObjects(ctx, keys)
			if err != nil {
				return err
			}
			if len(got) != n || got[n-1].ID != "a11999" || string(got[n-1].Attributes["n"]) != "11999" {
				t.Errorf("loaded %d objects", len(got))
			}
			return nil
		})
	})
}

// A removed relationship stays as a tombstone (loaded, not listed); written again it
// is live again. An unchanged write touches nothing.
func TestRelationshipRemoveAndReAdd(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		apply(t, st, &record.Record{Key: "1", ID: "u1"})
		cio := cioOf(t, st, "u1")
		rel := func(role string, created, updated int64, removed bool) objects.Relationship {
			return objects.Relationship{CioID: cio, ObjectType: "account", ObjectID: "Acme", Attributes: attrs("role", role),
				CreatedAt: created, UpdatedAt: updated, Removed: removed}
		}
		writeRels(t, st, true, rel(`"admin"`, 100, 100, false),
			objects.Relationship{CioID: cio, ObjectType: "account", ObjectID: "acme", CreatedAt: 100, UpdatedAt: 100})
		if got, want := describeRels(t, st, cio), `account/Acme {role="admin"} 100..100; account/acme {} 100..100`; got != want {
			t.Fatalf("relationships %q, want %q", got, want)
		}
		writeRels(t, st, false, rel(`"admin"`, 100, 150, false))
		if got, want := describeRels(t, st, cio), `account/Acme {role="admin"} 100..100; account/acme {} 100..100`; got != want {
			t.Fatalf("after an unchanged write %q, want %q", got, want)
		}
		writeRels(t, st, false, rel(`"admin"`, 100, 200, true))
		if got, want := describeRels(t, st, cio), `account/acme {} 100..100`; got != want {
			t.Fatalf("after the removal %q, want %q", got, want)
		}
		inTx(t, st, func(tx *store.Tx) error {
			rs, err := tx.LoadRelationships(ctx, []objects.RelationshipKey{rkey(cio, "account", "Acme"), rkey(cio, "account", "ACME")})
			if err != nil {
				return err
			}
			if len(rs) != 1 || !rs[0].Removed || rs[0].UpdatedAt != 200 {
				t.Errorf("the tombstone: %+v", rs)
			}
			return nil
		})
		writeRels(t, st, false, rel(`"member"`, 300, 300, false))
		if got, want := describeRels(t, st, cio), `account/Acme {role="member"} 300..300; account/acme {} 100..100`; got != want {
			t.Fatalf("after the re-add %q, want %q", got, want)
		}
	})
}

// A merge (SPEC §1 rule 4) moves the merged person's relationships to the survivor
// (§8) in the batch's transaction: where both have one with an object, the
// survivor's live one stays; a tombstone of the survivor's gives way to the merged
// person's live one. The merged person's become tombstones.
func TestMergeMovesRelationships(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		apply(t, st, &record.Record{Key: "1", ID: "a1"}, &record.Record{Key: "2", Email: "b@x.io"})
		a, b := cioOf(t, st, "a1"), cioOf(t, st, "b@x.io")
		rel := func(cio, obj, role string, at int64, removed bool) objects.Relationship {
			return objects.Relationship{CioID: cio, ObjectType: "account", ObjectID: obj, Attributes: attrs("role", role), CreatedAt: at, UpdatedAt: at, Removed: removed}
		}
		writeRels(t, st, true,
			rel(a, "shared", `"admin"`, 10, false), rel(a, "gone", `"admin"`, 11, true),
			rel(b, "shared", `"member"`, 20, false), rel(b, "only_b", `"member"`, 21, false),
			rel(b, "gone", `"member"`, 22, false), rel(b, "b_removed", `"member"`, 23, true))

		pl := &identity.Planner{Settings: identity.DefaultSettings(), Now: func() time.Time { return time.Unix(1000, 0) }}
		pl.Settings.MergeDuplicates = true
		inTx(t, st, func(tx *store.Tx) error {
			recs := []*record.Record{{Key: "3", ID: "a1", Email: "b@x.io"}}
			batch, err := pl.Plan(ctx, tx, "test", recs)
			if err != nil {
				return err
			}
			return tx.Write(ctx, "test", 0, recs, batch)
		})
		if cioOf(t, st, "b@x.io") != a {
			t.Fatal("b was not merged into a")
		}
		want := `account/gone {role="member"} 22..1000; account/only_b {role="member"} 21..1000; account/shared {role="admin"} 10..10`
		if got := describeRels(t, st, a); got != want {
			t.Errorf("the survivor's relationships:\n%s\nwant\n%s", got, want)
		}
		if got := describeRels(t, st, b); got != "" {
			t.Errorf("the merged person kept %s", got)
		}
		inTx(t, st, func(tx *store.Tx) error {
			rs, err := tx.LoadRelationships(ctx, []objects.RelationshipKey{rkey(b, "account", "shared"), rkey(b, "account", "only_b"), rkey(b, "account", "gone")})
			if err != nil {
				return err
			}
			for _, r := range rs {
				if !r.Removed || r.UpdatedAt != 1000 {
					t.Errorf("the merged person's %s: %+v, want a tombstone at 1000", r.ObjectID, r)
				}
			}
			if len(rs) != 3 {
				t.Errorf("the merged person's tombstones: %d, want 3", len(rs))
			}
			return nil
		})
	})
}

// Deleting a person erases their relationships, tombstones too (SPEC §10).
func TestDeletePersonErasesRelationships(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		apply(t, st, &record.Record{Key: "1", ID: "u1"}, &record.Record{Key: "2", ID: "u2"})
		u1, u2 := cioOf(t, st, "u1"), cioOf(t, st, "u2")
		writeRels(t, st, true,
			objects.Relationship{CioID: u1, ObjectType: "account", ObjectID: "x", CreatedAt: 1, UpdatedAt: 1},
			objects.Relationship{CioID: u1, ObjectType: "account", ObjectID: "y", CreatedAt: 1, UpdatedAt: 1, Removed: true},
			objects.Relationship{CioID: u2, ObjectType: "account", ObjectID: "x", CreatedAt: 1, UpdatedAt: 1})
		if err := st.DeletePerson(ctx, u1); err != nil {
			t.Fatal(err)
		}
		if err := st.DeletePerson(ctx, u1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete again: %v, want ErrNotFound", err)
		}
		inTx(t, st, func(tx *store.Tx) error {
			rs, err := tx.LoadRelationships(ctx, []objects.RelationshipKey{rkey(u1, "account", "x"), rkey(u1, "account", "y"), rkey(u2, "account", "x")})
			if err != nil {
				return err
			}
			if len(rs) != 1 || rs[0].CioID != u2 {
				t.Errorf("after the delete: %+v, want u2's only", rs)
			}
			return nil
		})
	})
}

// A dry run's writes stay in memory: later batches of the dry run see them, the store
// holds none of them; a merge in a dry run moves relationships in memory too.
func TestDryRunObjectsAndRelationships(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		apply(t, st, &record.Record{Key: "1", ID: "a1"}, &record.Record{Key: "2", Email: "b@x.io"})
		a, b := cioOf(t, st, "a1"), cioOf(t, st, "b@x.io")
		writeObjects(t, st, true, objects.Object{Type: "account", ID: "stored", Attributes: attrs("plan", `"pro"`), CreatedAt: 1, UpdatedAt: 1})
		writeRels(t, st, true, objects.Relationship{CioID: b, ObjectType: "account", ObjectID: "stored", CreatedAt: 1, UpdatedAt: 1})

		dry, err := store.OpenDryRun(ctx, driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer dry.Close()
		tx, err := dry.BeginDryRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		err = tx.WriteObjects(ctx, []objects.Write{
			{Object: &objects.Object{Type: "account", ID: "new", Attributes: attrs("plan", `"free"`), CreatedAt: 5, UpdatedAt: 5}, Insert: true},
			{Object: &objects.Object{Type: "account", ID: "stored", Attributes: attrs("plan", `"team"`), CreatedAt: 1, UpdatedAt: 5}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		os, err := tx.LoadObjects(ctx, []objects.Key{okey("account", "new"), okey("account", "stored"), okey("account", "stored"), okey("account", "none")})
		if err != nil {
			t.Fatal(err)
		}
		if len(os) != 2 || os[0].ID != "new" || string(os[1].Attributes["plan"]) != `"team"` {
			t.Fatalf("a dry run's later batch loads %+v", os)
		}
		os[1].Attributes["plan"] = json.RawMessage(`"changed by the planner"`)
		again, _ := tx.LoadObjects(ctx, []objects.Key{okey("account", "stored")})
		if string(again[0].Attributes["plan"]) != `"team"` {
			t.Fatal("a loaded object shares its attributes with the overlay")
		}
		err = tx.WriteRelationships(ctx, []objects.RelationshipWrite{{Relationship: &objects.Relationship{CioID: a, ObjectType: "account", ObjectID: "new", CreatedAt: 5, UpdatedAt: 5}, Insert: true}})
		if err != nil {
			t.Fatal(err)
		}
		pl := &identity.Planner{Settings: identity.DefaultSettings(), Now: func() time.Time { return time.Unix(1000, 0) }}
		pl.Settings.MergeDuplicates = true
		recs := []*record.Record{{Key: "3", ID: "a1", Email: "b@x.io"}}
		batch, err := pl.Plan(ctx, tx, "test", recs)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Write(ctx, "test", 0, recs, batch); err != nil {
			t.Fatal(err)
		}
		rs, err := tx.LoadRelationships(ctx, []objects.RelationshipKey{rkey(a, "account", "new"), rkey(a, "account", "stored"), rkey(b, "account", "stored")})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, fmt.Sprintf("%s/%s removed=%v", map[string]string{a: "a", b: "b"}[r.CioID], r.ObjectID, r.Removed))
		}
		if want := "a/new removed=false; a/stored removed=false; b/stored removed=true"; strings.Join(got, "; ") != want {
			t.Errorf("after a dry-run merge: %s\nwant %s", strings.Join(got, "; "), want)
		}
		tx.Rollback()

		if findObject(t, st, "account", "new") != nil || string(findObject(t, st, "account", "stored").Attributes["plan"]) != `"pro"` {
			t.Error("a dry run wrote objects to the store")
		}
		if got := describeRels(t, st, a); got != "" {
			t.Errorf("a dry run wrote relationships: %s", got)
		}
		if got := describeRels(t, st, b); got != "account/stored {} 1..1" {
			t.Errorf("a dry run moved a stored relationship: %s", got)
		}
	})
}

// Two people merged into one in a batch: of their relationships with one object, the
// first merged one's stays, as with batches of one row (SPEC §1 rule 6).
func TestTwoMergesInABatchMoveRelationships(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		apply(t, st, &record.Record{Key: "1", ID: "a1"}, &record.Record{Key: "2", Email: "b1@x.io"}, &record.Record{Key: "3", Email: "b2@x.io"})
		a, b1, b2 := cioOf(t, st, "a1"), cioOf(t, st, "b1@x.io"), cioOf(t, st, "b2@x.io")
		rel := func(cio, role string) objects.Relationship {
			return objects.Relationship{CioID: cio, ObjectType: "account", ObjectID: "shared", Attributes: attrs("role", role), CreatedAt: 1, UpdatedAt: 1}
		}
		writeRels(t, st, true, rel(b1, `"first"`), rel(b2, `"second"`))
		pl := &identity.Planner{Settings: identity.DefaultSettings(), Now: func() time.Time { return time.Unix(1000, 0) }}
		pl.Settings.MergeDuplicates = true
		inTx(t, st, func(tx *store.Tx) error {
			recs := []*record.Record{{Key: "4", ID: "a1", Email: "b1@x.io"}, {Key: "5", ID: "a1", Email: "b2@x.io"}}
			batch, err := pl.Plan(ctx, tx, "test", recs)
			if err != nil {
				return err
			}
			return tx.Write(ctx, "test", 0, recs, batch)
		})
		if cioOf(t, st, "cio_"+b2) != a || cioOf(t, st, "cio_"+b1) != a {
			t.Fatal("b1 and b2 were not merged into a")
		}
		if got, want := describeRels(t, st, a), `account/shared {role="first"} 1..1000`; got != want {
			t.Errorf("the survivor's relationships: %s, want %s", got, want)
		}
	})
}

// A batch that deletes a person (a people sync's delete column, SPEC §10) erases
// their relationships in its transaction, and in a dry run's overlay for its later
// batches.
func TestBatchDeleteErasesRelationships(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		apply(t, st, &record.Record{Key: "1", ID: "u1"})
		u1 := cioOf(t, st, "u1")
		writeRels(t, st, true, objects.Relationship{CioID: u1, ObjectType: "account", ObjectID: "x", CreatedAt: 1, UpdatedAt: 1})
		keys := []objects.RelationshipKey{rkey(u1, "account", "x")}
		deleteU1 := func(tx *store.Tx) (int, error) {
			people, err := tx.LoadPeople(ctx, identity.Keys{CioIDs: []string{u1}})
			if err != nil || len(people) != 1 {
				return 0, fmt.Errorf("load u1: %v %v", people, err)
			}
			p := people[0]
			p.Deleted, p.ID, p.Attributes = true, "", nil
			if err := tx.Write(ctx, "test", 0, nil, []identity.Write{{Person: &p, ClearKeys: true}}); err != nil {
				return 0, err
			}
			rs, err := tx.LoadRelationships(ctx, keys)
			return len(rs), err
		}

		dry, err := store.OpenDryRun(ctx, driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer dry.Close()
		tx, err := dry.BeginDryRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := deleteU1(tx); err != nil || n != 0 {
			t.Errorf("a dry run's later batch sees %d relationships of a deleted person (%v)", n, err)
		}
		tx.Rollback()
		if got := describeRels(t, st, u1); got != "account/x {} 1..1" {
			t.Fatalf("a dry run erased relationships in the store: %q", got)
		}

		inTx(t, st, func(tx *store.Tx) error {
			n, err := deleteU1(tx)
			if n != 0 {
				t.Errorf("%d relationships of a deleted person", n)
			}
			return err
		})
		if got := describeRels(t, st, u1); got != "" {
			t.Errorf("after the delete: %q", got)
		}
	})
}
