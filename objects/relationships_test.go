package objects_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// relBundle is one test's store and relationships planner, with a clock that moves one
// second a batch, so that what a batch wrote shows in updated_at.
type relBundle struct {
	st      *store.Store
	db      *sql.DB // the same store, read directly: tombstones and logs as stored
	planner *objects.RelationshipPlanner
	people  *identity.Planner
	clock   time.Time
}

func relSetup(t *testing.T, backend testdb.Store) *relBundle {
	t.Helper()
	ctx := context.Background()
	dsn := backend.DSN(t)
	st, err := store.Open(ctx, backend.Driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := sql.Open(backend.Driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := &relBundle{st: st, db: db, clock: time.Unix(1_700_000_000, 0)}
	now := func() time.Time { return b.clock }
	b.people = &identity.Planner{Settings: identity.DefaultSettings(), Now: now}
	b.planner = &objects.RelationshipPlanner{People: b.people, ObjectType: "account"}
	return b
}

// relate applies relationship rows as one batch, as the engine's kind writes them.
func (b *relBundle) relate(t *testing.T, rows ...record.Record) []*record.Record {
	t.Helper()
	ctx := context.Background()
	b.clock = b.clock.Add(time.Second)
	recs := make([]*record.Record, len(rows))
	for i := range rows {
		r := rows[i]
		recs[i] = &r
	}
	err := b.st.InTx(ctx, func(tx *store.Tx) error {
		plan, err := b.planner.Plan(ctx, tx, "memberships", recs)
		if err != nil {
			return err
		}
		if err := tx.Write(ctx, "memberships", b.clock.Unix(), recs, plan.People); err != nil {
			return err
		}
		if err := tx.WriteObjects(ctx, plan.Objects, plan.ObjectChanges); err != nil {
			return err
		}
		return tx.WriteRelationships(ctx, plan.Relationships)
	})
	if err != nil {
		t.Fatalf("relate: %v", err)
	}
	return recs
}

// person applies people rows as one batch.
func (b *relBundle) person(t *testing.T, rows ...record.Record) {
	t.Helper()
	ctx := context.Background()
	b.clock = b.clock.Add(time.Second)
	recs := make([]*record.Record, len(rows))
	for i := range rows {
		r := rows[i]
		recs[i] = &r
	}
	err := b.st.InTx(ctx, func(tx *store.Tx) error {
		ws, err := b.people.Plan(ctx, tx, "users", recs)
		if err != nil {
			return err
		}
		return tx.Write(ctx, "users", b.clock.Unix(), recs, ws)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dump is the store as text: people as id|email|attributes, relationships as
// person/object attributes created..updated (and "removed"), objects as
// id attributes created..updated (and "deleted"), the object log as id kind, and the
// people's log as person kind; people are named by id, or by email without one.
type dump struct {
	people, rels, objects, objectLog, log []string
}

func (b *relBundle) dump(t *testing.T) dump {
	t.Helper()
	ctx := context.Background()
	var d dump
	name := map[string]string{}
	b.st.EachPerson(ctx, func(p identity.Person) error {
		name[p.CioID] = p.ID
		if p.ID == "" {
			name[p.CioID] = p.Email
		}
		d.people = append(d.people, fmt.Sprintf("%s|%s|%s|%d", p.ID, p.Email, attrText(p.Attributes), p.UpdatedAt))
		return nil
	})
	slices.Sort(d.people)
	query := func(q string, scan func(rows *sql.Rows) string) []string {
		rows, err := b.db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			out = append(out, scan(rows))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	d.rels = query(`SELECT internal_id, object_type, object_id, attributes, created_at, updated_at, removed FROM relationships`,
		func(rows *sql.Rows) string {
			var cio, typ, id, attrs string
			var created, updated int64
			var removed bool
			if err := rows.Scan(&cio, &typ, &id, &attrs, &created, &updated, &removed); err != nil {
				t.Fatal(err)
			}
			s := fmt.Sprintf("%s/%s %s %d..%d", name[cio], id, attrs, created-1_700_000_000, updated-1_700_000_000)
			if removed {
				s += " removed"
			}
			return s
		})
	d.objects = query(`SELECT object_type, object_id, attributes, created_at, updated_at, deleted FROM objects`,
		func(rows *sql.Rows) string {
			var typ, id, attrs string
			var created, updated int64
			var deleted bool
			if err := rows.Scan(&typ, &id, &attrs, &created, &updated, &deleted); err != nil {
				t.Fatal(err)
			}
			s := fmt.Sprintf("%s/%s %s %d..%d", typ, id, attrs, created-1_700_000_000, updated-1_700_000_000)
			if deleted {
				s += " deleted"
			}
			return s
		})
	d.objectLog = query(`SELECT object_id, kind, row_key FROM object_log`, func(rows *sql.Rows) string {
		var id, kind, key string
		if err := rows.Scan(&id, &kind, &key); err != nil {
			t.Fatal(err)
		}
		return id + " " + kind + " " + key
	})
	d.log = query(`SELECT internal_id, kind FROM change_log
		UNION ALL SELECT internal_id, 'profile_create' FROM people WHERE created_seq IS NOT NULL`, func(rows *sql.Rows) string {
		var cio, kind string
		if err := rows.Scan(&cio, &kind); err != nil {
			t.Fatal(err)
		}
		return name[cio] + " " + kind
	})
	return d
}

func attrText(m map[string]json.RawMessage) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func relAttrs(kv ...any) []record.Attr {
	var out []record.Attr
	for i := 0; i < len(kv); i += 2 {
		a := record.Attr{Name: kv[i].(string)}
		if kv[i+1] != nil {
			a.Value, _ = json.Marshal(kv[i+1])
		}
		out = append(out, a)
	}
	return out
}

// member is a relationship row of the person with id (or, holding an @, email) and
// the account obj.
func member(who, obj string, kv ...any) record.Record {
	r := record.Record{Key: who + "-" + obj, ObjectID: obj, Attrs: relAttrs(kv...)}
	if strings.Contains(who, "@") {
		r.Email = who
	} else {
		r.ID = who
	}
	return r
}

func removal(who, obj string) record.Record {
	r := member(who, obj)
	r.Remove = true
	return r
}

func results(recs []*record.Record) []string {
	var out []string
	for _, r := range recs {
		s := r.Result.String()
		if r.Refused() {
			s += ":" + r.Reason
		}
		out = append(out, s)
	}
	return out
}

// relCase is a sequence of relationship batches and what the last must give. The
// earlier batches' times are seconds 1, 2, ...; the last batch's is len(given)+1.
type relCase struct {
	name    string
	people  []record.Record   // a people batch applied first, when given
	given   [][]record.Record // relationship batches applied before
	rows    []record.Record   // the batch under test
	results []string
	rels    []string // the relationships table afterwards
	objects []string // the objects table afterwards; nil: as before the batch
}

var big = strings.Repeat("x", 151)

func many(from, n int) []any {
	var kv []any
	for i := from; i < from+n; i++ {
		kv = append(kv, fmt.Sprintf("a%03d", i), i)
	}
	return kv
}

var relCases = []relCase{
	{
		name:    "a new person and a new object: created, the object empty",
		rows:    []record.Record{member("u1", "a1", "role", "admin")},
		results: []string{"created"},
		rels:    []string{`u1/a1 {"role":"admin"} 1..1`},
		objects: []string{`account/a1 {} 1..1`},
	},
	{
		name:    "no attributes: a relationship without any",
		rows:    []record.Record{member("u1", "a1")},
		results: []string{"created"},
		rels:    []string{`u1/a1 {} 1..1`},
		objects: []string{`account/a1 {} 1..1`},
	},
	{
		name:    "attributes changed: updated",
		given:   [][]record.Record{{member("u1", "a1", "role", "admin", "team", "x")}},
		rows:    []record.Record{member("u1", "a1", "role", "owner")},
		results: []string{"updated"},
		rels:    []string{`u1/a1 {"role":"owner","team":"x"} 1..2`},
	},
	{
		name:    "the same attributes: unchanged, nothing written",
		given:   [][]record.Record{{member("u1", "a1", "role", "admin")}},
		rows:    []record.Record{member("u1", "a1", "role", "admin")},
		results: []string{"unchanged"},
		rels:    []string{`u1/a1 {"role":"admin"} 1..1`},
	},
	{
		name:    "no attributes given (NULLs ignored): unchanged",
		given:   [][]record.Record{{member("u1", "a1", "role", "admin")}},
		rows:    []record.Record{member("u1", "a1")},
		results: []string{"unchanged"},
		rels:    []string{`u1/a1 {"role":"admin"} 1..1`},
	},
	{
		name:    "a NULL under nulls: unset removes the attribute",
		given:   [][]record.Record{{member("u1", "a1", "role", "admin", "team", "x")}},
		rows:    []record.Record{member("u1", "a1", "role", nil), member("u1", "a1", "role", nil)},
		results: []string{"updated", "unchanged"},
		rels:    []string{`u1/a1 {"team":"x"} 1..2`},
	},
	{
		name:    "remove: the relationship becomes a tombstone",
		given:   [][]record.Record{{member("u1", "a1", "role", "admin")}},
		rows:    []record.Record{removal("u1", "a1")},
		results: []string{"updated"},
		rels:    []string{`u1/a1 {"role":"admin"} 1..2 removed`},
	},
	{
		name:    "remove what was removed: unchanged",
		given:   [][]record.Record{{member("u1", "a1")}, {removal("u1", "a1")}},
		rows:    []record.Record{removal("u1", "a1")},
		results: []string{"unchanged"},
		rels:    []string{`u1/a1 {} 1..2 removed`},
	},
	{
		name:    "remove a relationship that does not exist: unchanged, nothing written",
		given:   [][]record.Record{{member("u1", "a1")}},
		rows:    []record.Record{removal("u1", "a2"), removal("u2", "a1")},
		results: []string{"unchanged", "unchanged"},
		rels:    []string{`u1/a1 {} 1..1`},
	},
	{
		name:    "a later row adds it again, afresh with its own attributes",
		given:   [][]record.Record{{member("u1", "a1", "role", "admin")}, {removal("u1", "a1")}},
		rows:    []record.Record{member("u1", "a1", "team", "x")},
		results: []string{"created"},
		rels:    []string{`u1/a1 {"team":"x"} 3..3`},
	},
	{
		name:    "in one batch as one at a time: add, update, remove, add again",
		rows:    []record.Record{member("u1", "a1", "role", "a"), member("u1", "a1", "role", "b"), removal("u1", "a1"), member("u1", "a1")},
		results: []string{"created", "updated", "updated", "created"},
		rels:    []string{`u1/a1 {} 1..1`},
		objects: []string{`account/a1 {} 1..1`},
	},
	{
		name:    "object ids are case-sensitive; a missing object is created once",
		rows:    []record.Record{member("u1", "Acme"), member("u1", "acme"), member("u2", "Acme")},
		results: []string{"created", "created", "created"},
		rels:    []string{`u1/Acme {} 1..1`, `u1/acme {} 1..1`, `u2/Acme {} 1..1`},
		objects: []string{`account/Acme {} 1..1`, `account/acme {} 1..1`},
	},
	{
		name:    "an existing person is found and not changed; their relationships are theirs",
		people:  []record.Record{{Key: "p", ID: "u1", Attrs: relAttrs("plan", "pro")}},
		rows:    []record.Record{member("u1", "a1", "role", "admin"), member("u1@x.io", "a1")},
		results: []string{"created", "created"},
		rels:    []string{`u1/a1 {"role":"admin"} 1..1`, `u1@x.io/a1 {} 1..1`},
		objects: []string{`account/a1 {} 1..1`},
	},
	{
		name:    "an object id of 150 bytes is kept whole",
		rows:    []record.Record{member("u1", big[:150])},
		results: []string{"created"},
		rels:    []string{`u1/` + big[:150] + ` {} 1..1`},
		objects: []string{`account/` + big[:150] + ` {} 1..1`},
	},

	// Rejected and skipped rows create no one and nothing.
	{
		name:    "no object id is rejected",
		rows:    []record.Record{member("u1", "")},
		results: []string{"rejected:" + objects.ReasonNoObjectID},
	},
	{
		name:    "an object id over 150 bytes is rejected",
		rows:    []record.Record{member("u1", big)},
		results: []string{"rejected:" + objects.ReasonObjectIDTooLong},
	},
	{
		name:    "an object id that is not text is rejected",
		rows:    []record.Record{{Key: "k", ID: "u1", ObjectID: "a\x001"}},
		results: []string{"rejected:" + identity.ReasonInvalidValue},
	},
	{
		name:    "attribute limits: name and value",
		rows:    []record.Record{member("u1", "a1", big, 1), member("u1", "a1", "bio", big+strings.Repeat("y", 900))},
		results: []string{"rejected:" + identity.ReasonAttributeNameTooLong, "rejected:" + identity.ReasonValueTooLong},
	},
	{
		name:    "more than 300 attributes set is rejected",
		rows:    []record.Record{member("u1", "a1", many(0, 301)...)},
		results: []string{"rejected:" + identity.ReasonTooManyAttributes},
	},
	{
		name:    "a row that takes a relationship over 300 attributes is rejected and changes nothing",
		given:   [][]record.Record{{member("u1", "a1", many(0, 299)...)}},
		rows:    []record.Record{member("u1", "a1", many(299, 2)...), member("u1", "a1", many(298, 2)...)},
		results: []string{"rejected:" + identity.ReasonTooManyAttributes, "updated"},
		rels:    []string{`u1/a1 ` + attrText(attrMap(many(0, 300))) + ` 1..2`},
	},
	{
		name:    "no identifier is rejected",
		rows:    []record.Record{{Key: "7", ObjectID: "a1"}},
		results: []string{"rejected:" + identity.ReasonNoIdentifier},
	},
	{
		name:    "an unknown cio_id is skipped",
		rows:    []record.Record{{Key: "7", CioID: "cio_0123456789abcdef", ObjectID: "a1"}},
		results: []string{"skipped:" + identity.ReasonCioIDNotFound},
	},
	{
		name:    "a removal of someone who does not exist creates no one",
		rows:    []record.Record{removal("u9", "a9")},
		results: []string{"unchanged"},
	},
}

func attrMap(kv []any) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for _, a := range relAttrs(kv...) {
		m[a.Name] = a.Value
	}
	return m
}

func TestRelationshipPlanner(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			for _, tc := range relCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					runRelCase(t, backend, tc)
				})
			}
		})
	}
}

func runRelCase(t *testing.T, backend testdb.Store, tc relCase) {
	b := relSetup(t, backend)
	if tc.people != nil {
		b.person(t, tc.people...)
		b.clock = b.clock.Add(-time.Second) // the relationship batches keep their seconds
	}
	for i, batch := range tc.given {
		for j, r := range b.relate(t, batch...) {
			if r.Refused() {
				t.Fatalf("given batch %d row %d: %s %s", i, j, r.Reason, r.Detail)
			}
		}
	}
	before := b.dump(t)
	recs := b.relate(t, tc.rows...)
	after := b.dump(t)
	if got := results(recs); !slices.Equal(got, tc.results) {
		t.Errorf("results = %q, want %q", got, tc.results)
	}
	if !slices.Equal(after.rels, tc.rels) {
		t.Errorf("relationships =\n  %q\nwant\n  %q", after.rels, tc.rels)
	}
	wantObjects := tc.objects
	if wantObjects == nil {
		wantObjects = before.objects
	}
	if !slices.Equal(after.objects, wantObjects) {
		t.Errorf("objects =\n  %q\nwant\n  %q", after.objects, wantObjects)
	}
	// Each object created has its object_create entry, and nothing else is logged of objects.
	var created []string
	for _, o := range after.objects {
		if !slices.Contains(before.objects, o) {
			created = append(created, o)
		}
	}
	if n := len(after.objectLog) - len(before.objectLog); n != len(created) {
		t.Errorf("object log gained %d entries for %d objects created: %q", n, len(created), after.objectLog)
	}
	for _, e := range after.objectLog {
		if !strings.Contains(e, " "+objects.KindObjectCreate+" ") {
			t.Errorf("object log entry %q", e)
		}
	}
	// People already there are unchanged; new ones are the rows' new people, each
	// logged by its profile_create alone.
	for _, p := range before.people {
		if !slices.Contains(after.people, p) {
			t.Errorf("person %s changed: %q", p, after.people)
		}
	}
	newPeople := map[string]bool{}
	for _, r := range recs {
		if r.Refused() && (r.Person != "" || len(r.Changes) > 0) {
			t.Errorf("refused row %s has person %q and changes %v", r.Key, r.Person, r.Changes)
		}
		for _, c := range r.Changes {
			if c.Kind != record.ProfileCreate || newPeople[c.CioID] {
				t.Errorf("row %s logged %+v", r.Key, c)
			}
			newPeople[c.CioID] = true
		}
	}
	if len(after.people) != len(before.people)+len(newPeople) {
		t.Errorf("%d people before, %d after, %d created", len(before.people), len(after.people), len(newPeople))
	}
	if len(after.log) != len(before.log)+len(newPeople) {
		t.Errorf("change log %q after %q: want only %d profile_create entries more", after.log, before.log, len(newPeople))
	}
}

// TestRelationshipDeletedObject: a relationship row naming an object an objects
// sync deleted creates it again, empty, as a missing one.
func TestRelationshipDeletedObject(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := relSetup(t, backend)
			ctx := context.Background()
			err := b.st.InTx(ctx, func(tx *store.Tx) error {
				return tx.WriteObjects(ctx, []objects.Write{{Object: &objects.Object{Type: "account", ID: "a1",
					Attributes: map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`)}, CreatedAt: 1_699_999_990, UpdatedAt: 1_699_999_995, Deleted: true}, Insert: true}}, nil)
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := results(b.relate(t, member("u1", "a1"))); !slices.Equal(got, []string{"created"}) {
				t.Fatalf("results %q", got)
			}
			d := b.dump(t)
			if want := []string{`account/a1 {} 1..1`}; !slices.Equal(d.objects, want) || len(d.objectLog) != 1 {
				t.Fatalf("objects %q, log %q; want %q created again", d.objects, d.objectLog, want)
			}
		})
	}
}
