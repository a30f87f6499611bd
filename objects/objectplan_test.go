package objects_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// bundle is a store and an objects planner whose clock moves 10 s with each batch,
// so an object's times tell which batch wrote it (t1, t2, ...).
type bundle struct {
	st      *store.Store
	planner *objects.ObjectPlanner
	batch   int
}

const t0 = 1_700_000_000

func setup(t *testing.T, backend testdb.Store) *bundle {
	t.Helper()
	st, err := store.Open(context.Background(), backend.Driver, backend.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &bundle{st: st}
	b.planner = &objects.ObjectPlanner{Type: "account", Now: func() time.Time { return time.Unix(t0+10*int64(b.batch), 0) }}
	return b
}

// apply plans rows as one batch and writes it, as the engine's objects kind does.
func (b *bundle) apply(t *testing.T, rows ...record.Record) []*record.Record {
	t.Helper()
	b.batch++
	recs := make([]*record.Record, len(rows))
	for i := range rows {
		r := rows[i]
		if r.Key == "" {
			r.Key = fmt.Sprintf("b%dr%d", b.batch, i+1)
		}
		recs[i] = &r
	}
	ctx := context.Background()
	err := b.st.InTx(ctx, func(tx *store.Tx) error {
		writes, err := b.planner.Plan(ctx, tx, "accounts", recs)
		if err != nil {
			return err
		}
		if err := tx.WriteObjects(ctx, writes, objects.ChangesOf(recs)); err != nil {
			return err
		}
		return tx.WriteRefused(ctx, "accounts", t0, recs)
	})
	if err != nil {
		t.Fatalf("apply batch %d: %v", b.batch, err)
	}
	return recs
}

// row is an objects row: an id and attribute pairs; the value "NULL" is a nil value
// (a NULL under nulls: unset), any other is JSON text.
func row(id string, kv ...string) record.Record {
	r := record.Record{ObjectID: id}
	for i := 0; i+1 < len(kv); i += 2 {
		a := record.Attr{Name: kv[i]}
		if kv[i+1] != "NULL" {
			a.Value = json.RawMessage(kv[i+1])
		}
		r.Attrs = append(r.Attrs, a)
	}
	return r
}

// del is a deleting objects row (SPEC §10), with attributes as row's.
func del(id string, kv ...string) record.Record {
	r := row(id, kv...)
	r.Delete = true
	return r
}

// outcome is a record's result, reason and changes as text.
func outcome(r *record.Record) string {
	s := r.Result.String()
	if r.Reason != "" {
		s += " " + r.Reason
	}
	for _, c := range r.Changes {
		s += " " + c.Kind
		if c.Attribute != "" {
			s += fmt.Sprintf(":%s=%s>%s", c.Attribute, orNone(c.From), orNone(c.To))
		}
	}
	return s
}

func orNone(v json.RawMessage) string {
	if v == nil {
		return "-"
	}
	return string(v)
}

// describe is every stored object as "ID{attrs} created updated", the times as the
// batch that set them (t1, t2, ...), deleted ones marked.
func describe(t *testing.T, st *store.Store) string {
	t.Helper()
	var out []string
	err := st.EachObject(context.Background(), func(o objects.Object) error {
		names := make([]string, 0, len(o.Attributes))
		for k := range o.Attributes {
			names = append(names, k)
		}
		sort.Strings(names)
		var attrs []string
		for _, k := range names {
			attrs = append(attrs, k+"="+string(o.Attributes[k]))
		}
		s := fmt.Sprintf("%s{%s} t%d t%d", o.ID, strings.Join(attrs, ","), (o.CreatedAt-t0)/10, (o.UpdatedAt-t0)/10)
		if o.Deleted {
			s += " deleted"
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "; ")
}

// logOf is the object change log as "ID kind[:attr=from>to]" entries.
func logOf(t *testing.T, st *store.Store) string {
	t.Helper()
	var out []string
	err := st.EachObjectLog(context.Background(), func(c objects.Change) error {
		s := c.ObjectID + " " + c.Kind
		if c.Attribute != "" {
			s += fmt.Sprintf(":%s=%s>%s", c.Attribute, orNone(c.From), orNone(c.To))
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "; ")
}

// attrs makes n attributes a1..an.
func attrs(n int) []string {
	kv := make([]string, 0, 2*n)
	for i := 1; i <= n; i++ {
		kv = append(kv, fmt.Sprintf("a%d", i), "1")
	}
	return kv
}

func str(n int) string { return `"` + strings.Repeat("x", n) + `"` }

// TestObjectRules is the objects planner's decision table (SPEC §8 with §2's
// attribute rules), on both stores: each case is batches of rows, the outcome of
// every row in order, and the objects and object change log the store holds after.
func TestObjectRules(t *testing.T) {
	long, max := strings.Repeat("i", objects.MaxIDBytes+1), strings.Repeat("i", objects.MaxIDBytes)
	deletedAcme := objects.Object{Type: "account", ID: "Acme", Attributes: map[string]json.RawMessage{"old": json.RawMessage(`1`)},
		CreatedAt: t0, UpdatedAt: t0, Deleted: true}
	cases := []struct {
		name    string
		stored  []objects.Object // written before the batches
		batches [][]record.Record
		want    []string // each row's outcome, in order
		objects string
		log     string
	}{
		{
			name:    "a new object is created, its first attributes not logged one by one",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`, "seats", "3")}},
			want:    []string{"created object_create"},
			objects: `Acme{plan="pro",seats=3} t1 t1`,
			log:     "Acme object_create",
		},
		{
			name:    "a new object with no attributes",
			batches: [][]record.Record{{row("Acme")}},
			want:    []string{"created object_create"},
			objects: `Acme{} t1 t1`,
			log:     "Acme object_create",
		},
		{
			name:    "object ids are case-sensitive: Acme and acme are two objects",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`), row("acme", "plan", `"free"`)}, {row("ACME")}},
			want:    []string{"created object_create", "created object_create", "created object_create"},
			objects: `ACME{} t2 t2; Acme{plan="pro"} t1 t1; acme{plan="free"} t1 t1`,
			log:     "Acme object_create; acme object_create; ACME object_create",
		},
		{
			name:    "an update sets what it gives, logs from and to, and keeps the rest",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`, "seats", "3")}, {row("Acme", "plan", `"team"`, "region", `"eu"`)}},
			want:    []string{"created object_create", `updated attribute_change:plan="pro">"team" attribute_change:region=->"eu"`},
			objects: `Acme{plan="team",region="eu",seats=3} t1 t2`,
			log:     `Acme object_create; Acme attribute_change:plan="pro">"team"; Acme attribute_change:region=->"eu"`,
		},
		{
			name:    "a row whose values equal the stored ones changes nothing: no write, no updated_at, no log",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`, "seats", "3")}, {row("Acme", "plan", `"pro"`)}, {row("Acme", "seats", "3", "plan", `"pro"`)}},
			want:    []string{"created object_create", "unchanged", "unchanged"},
			objects: `Acme{plan="pro",seats=3} t1 t1`,
			log:     "Acme object_create",
		},
		{
			name: "a NULL under nulls: unset removes the attribute, once; a NULL for none changes nothing",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`, "seats", "3")}, {row("Acme", "seats", "NULL")},
				{row("Acme", "seats", "NULL", "region", "NULL")}, {row("Beta", "plan", "NULL")}},
			want:    []string{"created object_create", "updated attribute_change:seats=3>-", "unchanged", "created object_create"},
			objects: `Acme{plan="pro"} t1 t2; Beta{} t4 t4`,
			log:     "Acme object_create; Acme attribute_change:seats=3>-; Beta object_create",
		},
		{
			name:    "a row without an object id is rejected",
			batches: [][]record.Record{{row("", "plan", `"pro"`)}},
			want:    []string{"rejected no_object_id"},
		},
		{
			name:    "an object id of at most 150 bytes; one longer is rejected",
			batches: [][]record.Record{{row(long), row(max)}},
			want:    []string{"rejected object_id_too_long", "created object_create"},
			objects: max + "{} t1 t1",
			log:     max + " object_create",
		},
		{
			name:    "an object id that is not text is rejected",
			batches: [][]record.Record{{row("a\x00b")}},
			want:    []string{"rejected invalid_value"},
		},
		{
			name: "values of at most 1000 bytes, names of at most 150; a row over a limit changes nothing",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`)},
				{row("Acme", "plan", `"team"`, "note", str(1001)), row("Acme", strings.Repeat("n", 151), "1"), row("Beta", "note", str(1000))},
				{row("Acme", "plan", `"x"`, "plan", `"y"`), row("Acme", "", "1")}},
			want: []string{"created object_create", "rejected value_too_long", "rejected attribute_name_too_long", "created object_create",
				"rejected duplicate_attribute", "rejected invalid_attribute_name"},
			objects: `Acme{plan="pro"} t1 t1; Beta{note=` + str(1000) + `} t2 t2`,
			log:     "Acme object_create; Beta object_create",
		},
		{
			name: "at most 300 attributes an object, counting the stored ones and those a row removes",
			batches: [][]record.Record{{row("Wide", attrs(301)...), row("Acme", attrs(300)...)},
				{row("Acme", "extra", "1"), row("Acme", "extra", "1", "a1", "NULL")}},
			want: []string{"rejected too_many_attributes", "created object_create", "rejected too_many_attributes",
				"updated attribute_change:extra=->1 attribute_change:a1=1>-"},
		},
		{
			name: "rows apply one at a time within a batch: the second row for an object sees the first",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`), row("Acme", "plan", `"team"`), row("Acme", "plan", `"team"`),
				row("Acme", "plan", str(1001)), row("Acme", "seats", "2")}},
			want: []string{"created object_create", `updated attribute_change:plan="pro">"team"`, "unchanged", "rejected value_too_long",
				"updated attribute_change:seats=->2"},
			objects: `Acme{plan="team",seats=2} t1 t1`,
			log:     `Acme object_create; Acme attribute_change:plan="pro">"team"; Acme attribute_change:seats=->2`,
		},
		{
			name:    "rows that change an object and change it back in one batch move updated_at, as one at a time they would",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`)}, {row("Acme", "plan", `"team"`), row("Acme", "plan", `"pro"`)}},
			want:    []string{"created object_create", `updated attribute_change:plan="pro">"team"`, `updated attribute_change:plan="team">"pro"`},
			objects: `Acme{plan="pro"} t1 t2`,
			log:     `Acme object_create; Acme attribute_change:plan="pro">"team"; Acme attribute_change:plan="team">"pro"`,
		},
		{
			name:    "a deleted object is no object: a row for it creates it again, with only the row's attributes",
			stored:  []objects.Object{deletedAcme},
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`)}, {row("Acme", "plan", `"pro"`)}},
			want:    []string{`created object_create attribute_change:plan=->"pro"`, "unchanged"},
			objects: `Acme{plan="pro"} t1 t1`,
			log:     `Acme object_create; Acme attribute_change:plan=->"pro"`,
		},
		{
			name:    "a deleting row makes the object a tombstone: its attributes erased, each logged as removed, then object_delete",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`, "seats", "3")}, {del("Acme")}},
			want:    []string{"created object_create", `deleted attribute_change:plan="pro">- attribute_change:seats=3>- object_delete`},
			objects: `Acme{} t1 t2 deleted`,
			log:     `Acme object_create; Acme attribute_change:plan="pro">-; Acme attribute_change:seats=3>-; Acme object_delete`,
		},
		{
			name:    "deleting no object, or a deleted one, is skipped (not_found) and creates nothing",
			stored:  []objects.Object{deletedAcme},
			batches: [][]record.Record{{del("Acme"), del("Beta")}, {del("Beta", "plan", `"pro"`)}},
			want:    []string{"skipped not_found", "skipped not_found", "skipped not_found"},
			objects: `Acme{old=1} t0 t0 deleted`,
		},
		{
			name:    "a deleting row's attributes are neither applied nor checked against the limits",
			batches: [][]record.Record{{row("Acme")}, {del("Acme", "note", str(1001), "plan", `"x"`)}},
			want:    []string{"created object_create", "deleted object_delete"},
			objects: `Acme{} t1 t2 deleted`,
			log:     `Acme object_create; Acme object_delete`,
		},
		{
			name: "within a batch a later row sees the delete: created again, deleted again, then not found",
			batches: [][]record.Record{{row("Acme", "plan", `"pro"`), del("Acme"), row("Acme", "seats", "2"), del("Acme"), del("Acme")},
				{row("Acme", "plan", `"team"`)}},
			want: []string{"created object_create", `deleted attribute_change:plan="pro">- object_delete`,
				"created object_create attribute_change:seats=->2", "deleted attribute_change:seats=2>- object_delete", "skipped not_found",
				`created object_create attribute_change:plan=->"team"`},
			objects: `Acme{plan="team"} t2 t2`,
			log: `Acme object_create; Acme attribute_change:plan="pro">-; Acme object_delete; Acme object_create; ` +
				`Acme attribute_change:seats=->2; Acme attribute_change:seats=2>-; Acme object_delete; Acme object_create; Acme attribute_change:plan=->"team"`,
		},
		{
			name:    "a row without an object id is rejected, deleting or not",
			batches: [][]record.Record{{del("")}},
			want:    []string{"rejected no_object_id"},
		},
	}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					b := setup(t, backend)
					if len(tc.stored) > 0 {
						var ws []objects.Write
						for i := range tc.stored {
							o := tc.stored[i]
							ws = append(ws, objects.Write{Object: &o, Insert: true})
						}
						if err := b.st.InTx(context.Background(), func(tx *store.Tx) error { return tx.WriteObjects(context.Background(), ws, nil) }); err != nil {
							t.Fatal(err)
						}
					}
					var got []string
					for _, batch := range tc.batches {
						for _, r := range b.apply(t, batch...) {
							got = append(got, outcome(r))
						}
					}
					if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
						t.Errorf("outcomes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
					}
					if tc.objects != "" || tc.log != "" || strings.Contains(tc.want[0], "rejected") && len(tc.want) == 1 {
						if got := describe(t, b.st); got != tc.objects {
							t.Errorf("objects:\n%s\nwant\n%s", got, tc.objects)
						}
						if got := logOf(t, b.st); got != tc.log {
							t.Errorf("log:\n%s\nwant\n%s", got, tc.log)
						}
					}
				})
			}
		})
	}
}

// TestObjectRejectionsAreRecorded: the rows an objects batch refuses are in the
// rejected table with their key and a reason naming the limit; the others are not.
func TestObjectRejectionsAreRecorded(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			recs := b.apply(t, row("Acme"), row(""), row("Beta", "note", str(1001)))
			if recs[2].Detail != "note (1001 bytes > 1000)" {
				t.Errorf("value_too_long detail %q, want it to name the attribute and the limit", recs[2].Detail)
			}
			var got []string
			err := b.st.EachRejected(context.Background(), "accounts", 0, func(r store.Rejection) error {
				got = append(got, r.Key+" "+r.Reason)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ", ") != "b1r2 no_object_id, b1r3 value_too_long" {
				t.Errorf("rejected: %v", got)
			}
		})
	}
}

// The reasons an objects row shares with people are the people's, word for word.
func TestObjectReasonsArePeoples(t *testing.T) {
	if objects.ReasonInvalidObjectID != identity.ReasonInvalidValue || record.ObjectCreate != objects.KindObjectCreate ||
		record.AttributeChange != objects.KindAttributeChange {
		t.Fatal("the objects' reasons and log kinds differ from the people's")
	}
}

// relationshipsOf is every relationship the store holds, tombstones included, as
// "person object{attrs} created updated [removed]", the times as batches (t1, ...).
func relationshipsOf(t *testing.T, st *store.Store) string {
	t.Helper()
	var out []string
	err := st.EachRelationship(context.Background(), func(r objects.Relationship) error {
		s := fmt.Sprintf("%s %s%s t%d t%d", r.CioID, r.ObjectID, attrsText(r.Attributes), (r.CreatedAt-t0)/10, (r.UpdatedAt-t0)/10)
		if r.Removed {
			s += " removed"
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "; ")
}

func attrsText(m map[string]json.RawMessage) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		names[i] = k + "=" + string(m[k])
	}
	return "{" + strings.Join(names, ",") + "}"
}

// TestObjectDeleteRemovesRelationships: deleting an object removes its relationships
// (SPEC §10): each live one becomes a tombstone at the delete's time, attributes kept
// as a removal keeps them; a tombstone stays as it was, other objects' (Acme and
// acme are two) are untouched, and creating the object again brings none back. On
// both stores.
func TestObjectDeleteRemovesRelationships(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, backend)
			b.apply(t, row("Acme"), row("acme"))
			rel := func(cio, id string, removed bool, kv ...string) objects.Relationship {
				attrs := map[string]json.RawMessage{}
				for i := 0; i+1 < len(kv); i += 2 {
					attrs[kv[i]] = json.RawMessage(kv[i+1])
				}
				return objects.Relationship{CioID: cio, ObjectType: "account", ObjectID: id, Attributes: attrs,
					CreatedAt: t0 + 10, UpdatedAt: t0 + 10, Removed: removed}
			}
			rs := []objects.Relationship{rel("p1", "Acme", false, "role", `"admin"`), rel("p2", "Acme", true), rel("p3", "Acme", false),
				rel("p1", "acme", false)}
			var ws []objects.RelationshipWrite
			for i := range rs {
				ws = append(ws, objects.RelationshipWrite{Relationship: &rs[i], Insert: true})
			}
			if err := b.st.InTx(ctx, func(tx *store.Tx) error { return tx.WriteRelationships(ctx, ws) }); err != nil {
				t.Fatal(err)
			}
			b.apply(t, del("Acme"), row("Acme", "plan", `"pro"`))
			want := `p1 Acme{role="admin"} t1 t2 removed; p1 acme{} t1 t1; p2 Acme{} t1 t1 removed; p3 Acme{} t1 t2 removed`
			if got := relationshipsOf(t, b.st); got != want {
				t.Errorf("relationships:\n%s\nwant\n%s", got, want)
			}
			if got, err := b.st.PersonRelationships(ctx, "p1"); err != nil || len(got) != 1 || got[0].ObjectID != "acme" {
				t.Errorf("p1's live relationships: %+v, %v", got, err)
			}
		})
	}
}
