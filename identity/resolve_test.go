package identity_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// resolveCase is one line of the decision table of SPEC §8's "finds its person as a
// people row carrying only those identifiers would": the people the store holds
// (given, applied as people rows), a batch of rows resolved together, and what each
// row must resolve to:
//
//	"@N"          the person given row N resolved to, found and unchanged
//	"=N"          the person row N of this batch resolved to
//	"new:DESC"    a new person, described as dump does
//	"nobody"      no one, and no one created
//	"skipped:R"   skipped with reason R; "rejected:R" likewise
//
// Every row carries an attribute of its own, which must never reach the person.
type resolveCase struct {
	name     string
	settings []identity.Settings
	given    []record.Record
	deleted  []int
	rows     []record.Record
	want     []string
}

func rel(r record.Record) record.Record {
	r.Attrs = attrs("role", "admin")
	return r
}

func removing(r record.Record) record.Record {
	r.Remove = true
	return r
}

var (
	allIDEmail   = []identity.Settings{idEmail, allow(idEmail), merge(idEmail), allow(merge(idEmail))}
	allIDOnly    = []identity.Settings{idOnly, allow(merge(idOnly))}
	allEmailOnly = []identity.Settings{emailOnly, allow(merge(emailOnly))}
	allSettings  = slices.Concat(allIDEmail, allIDOnly, allEmailOnly)
)

var resolveCases = []resolveCase{
	// Rule 4, neither exists: a new person with the row's identifiers and nothing else.
	{
		name:     "neither: a new person with the id and email",
		settings: slices.Concat(allIDEmail, allIDOnly),
		rows:     []record.Record{rel(person("u1", "a@x.io"))},
		want:     []string{"new:u1|a@x.io|{}"},
	},
	{
		name:     "[email] neither: a new person with the email; the id, an attribute there, is not set",
		settings: allEmailOnly,
		rows:     []record.Record{rel(person("u1", "a@x.io"))},
		want:     []string{"new:|a@x.io|{}"},
	},
	{
		name:     "[email] neither: an id that is not the person's identifier finds no one",
		settings: allEmailOnly,
		given:    []record.Record{person("u1", "a@x.io")},
		rows:     []record.Record{rel(person("u1", "b@x.io"))},
		want:     []string{"new:|b@x.io|{}"},
	},
	{
		name:     "[id] neither: an email that does not identify finds no one",
		settings: allIDOnly,
		given:    []record.Record{person("u1", "a@x.io")},
		rows:     []record.Record{rel(person("u2", "a@x.io"))},
		want:     []string{"new:u2|a@x.io|{}"},
	},

	// Rule 4, only A.
	{
		name:     "only A without an email: found, the email is not set",
		settings: slices.Concat(allIDEmail, allIDOnly),
		given:    []record.Record{person("u1", "")},
		rows:     []record.Record{rel(person("u1", "a@x.io"))},
		want:     []string{"@0"},
	},
	{
		name:     "only A with another email: found, the email is not changed and no refusal recorded",
		settings: slices.Concat(allIDEmail, allIDOnly),
		given:    []record.Record{person("u1", "a@x.io", "plan", "pro")},
		rows:     []record.Record{rel(person("u1", "b@x.io"))},
		want:     []string{"@0"},
	},

	// Rule 4, only B.
	{
		name:     "only B without an id: found, the lead keeps no id",
		settings: allIDEmail,
		given:    []record.Record{person("", "a@x.io")},
		rows:     []record.Record{rel(person("u1", "A@x.io"))},
		want:     []string{"@0"},
	},
	{
		name:     "only B with another id: found, no id_change_not_allowed recorded",
		settings: allIDEmail,
		given:    []record.Record{person("u9", "a@x.io")},
		rows:     []record.Record{rel(person("u1", "a@x.io"))},
		want:     []string{"@0"},
	},
	{
		name:     "[email] only B: found, the id attribute is not changed",
		settings: allEmailOnly,
		given:    []record.Record{person("u1", "a@x.io"), person("", "b@x.io")},
		rows:     []record.Record{rel(person("u2", "A@x.io")), rel(person("u3", "b@x.io"))},
		want:     []string{"@0", "@1"},
	},

	// Rule 4, A and B the same person.
	{
		name:     "A and B the same: found",
		settings: allSettings,
		given:    []record.Record{person("u1", "a@x.io")},
		rows:     []record.Record{rel(person("u1", "A@X.IO"))},
		want:     []string{"@0"},
	},

	// Rule 4, A and B differ.
	{
		name:     "A and B differ: A, the email not moved, no merge even of a lead, no refusal recorded",
		settings: allIDEmail,
		given:    []record.Record{person("u1", "a@x.io"), person("", "b@x.io", "plan", "pro")},
		rows:     []record.Record{rel(person("u1", "b@x.io"))},
		want:     []string{"@0"},
	},
	{
		name:     "A and B differ, A without an email: A, B's email not taken",
		settings: allIDEmail,
		given:    []record.Record{person("u1", ""), person("", "b@x.io")},
		rows:     []record.Record{rel(person("u1", "b@x.io"))},
		want:     []string{"@0"},
	},
	{
		name:     "[id] an A and another holder of the email: A",
		settings: allIDOnly,
		given:    []record.Record{person("u1", "a@x.io"), person("u2", "b@x.io")},
		rows:     []record.Record{rel(person("u1", "b@x.io"))},
		want:     []string{"@0"},
	},
	{
		name:     "[email] an A by id is no one: B by email",
		settings: allEmailOnly,
		given:    []record.Record{person("u1", "a@x.io"), person("u2", "b@x.io")},
		rows:     []record.Record{rel(person("u1", "b@x.io"))},
		want:     []string{"@1"},
	},

	// Rule 3: cio_id given.
	{
		name:     "cio_id found: the person; the row's id and email are not set",
		settings: slices.Concat(allIDEmail, allEmailOnly),
		given:    []record.Record{person("", "a@x.io")},
		rows:     []record.Record{rel(byCio("@0", "u1", "b@x.io")), rel(byCio("cio_@0", "", "c@x.io"))},
		want:     []string{"@0", "@0"},
	},
	{
		name:     "[id] cio_id found: the person; the row's id and email are not set",
		settings: allIDOnly,
		given:    []record.Record{person("u1", "")},
		rows:     []record.Record{rel(byCio("cio_@0", "u2", "b@x.io"))},
		want:     []string{"@0"},
	},
	{
		name:     "cio_id only finds: an unknown one is skipped though its id names someone",
		settings: allSettings,
		given:    []record.Record{person("u1", "a@x.io")},
		rows:     []record.Record{rel(byCio("cio_0123456789abcdef", "u1", "a@x.io"))},
		want:     []string{"skipped:" + identity.ReasonCioIDNotFound},
	},
	{
		name:     "cio_id that is only the prefix is no one's",
		settings: allSettings,
		given:    []record.Record{person("u1", "a@x.io")},
		rows:     []record.Record{rel(byCio("cio_", "u1", "a@x.io"))},
		want:     []string{"skipped:" + identity.ReasonCioIDNotFound},
	},
	{
		name:     "a retired cio_id finds the person it was merged into",
		settings: []identity.Settings{merge(idEmail), allow(merge(idEmail))},
		given:    []record.Record{person("u1", ""), person("", "b@x.io"), person("u1", "b@x.io")},
		rows:     []record.Record{rel(byCio("@1", "", ""))},
		want:     []string{"@0"},
	},

	// A deleted person is no one.
	{
		name:     "a deleted person's cio_id is skipped",
		settings: allSettings,
		given:    []record.Record{person("u1", "a@x.io")},
		deleted:  []int{0},
		rows:     []record.Record{rel(byCio("@0", "", ""))},
		want:     []string{"skipped:" + identity.ReasonCioIDNotFound},
	},
	{
		name:     "a deleted person's id and email are free: a new person",
		settings: slices.Concat(allIDEmail, allIDOnly),
		given:    []record.Record{person("u1", "a@x.io")},
		deleted:  []int{0},
		rows:     []record.Record{rel(person("u1", "a@x.io"))},
		want:     []string{"new:u1|a@x.io|{}"},
	},

	// Rule 1.
	{
		name:     "no identifier is rejected",
		settings: allSettings,
		rows:     []record.Record{rel(record.Record{Key: "7"})},
		want:     []string{"rejected:" + identity.ReasonNoIdentifier},
	},
	{
		name:     "[id] an email alone is no identifier",
		settings: allIDOnly,
		rows:     []record.Record{rel(person("", "a@x.io"))},
		want:     []string{"rejected:" + identity.ReasonNoIdentifier},
	},
	{
		name:     "[email] an id alone is no identifier",
		settings: allEmailOnly,
		rows:     []record.Record{rel(person("u1", ""))},
		want:     []string{"rejected:" + identity.ReasonNoIdentifier},
	},
	{
		name:     "an id over 150 bytes is rejected",
		settings: slices.Concat(allIDEmail, allIDOnly),
		rows:     []record.Record{rel(person(strings.Repeat("i", 151), ""))},
		want:     []string{"rejected:" + identity.ReasonIDTooLong},
	},
	{
		name:     "a malformed email beside an id: the person by id, no refusal recorded",
		settings: allIDEmail,
		rows:     []record.Record{rel(person("u1", "a@@x.io"))},
		want:     []string{"new:u1||{}"},
	},

	// Rule 2.
	{
		name:     "rule 2: an id that is an email finds the person by email",
		settings: slices.Concat(allIDEmail, allEmailOnly),
		given:    []record.Record{person("", "lead@x.io")},
		rows:     []record.Record{rel(person("LEAD@x.io", ""))},
		want:     []string{"@0"},
	},
	{
		name:     "rule 2: an id that is an email makes a new person with that email",
		settings: slices.Concat(allIDEmail, allEmailOnly),
		rows:     []record.Record{rel(person("Lead@x.io", ""))},
		want:     []string{"new:|Lead@x.io|{}"},
	},
	{
		name:     "rule 2: where email does not identify, the id stays the id",
		settings: allIDOnly,
		rows:     []record.Record{rel(person("lead@x.io", ""))},
		want:     []string{"new:lead@x.io||{}"},
	},

	// Rule 6: as if one at a time.
	{
		name:     "a person created by an earlier row is found by later ones",
		settings: allIDEmail,
		rows: []record.Record{
			rel(person("u1", "a@x.io")), rel(person("u1", "")), rel(person("", "A@x.io")),
			rel(person("u1", "b@x.io")), rel(person("u2", "a@x.io")),
		},
		want: []string{"new:u1|a@x.io|{}", "=0", "=0", "=0", "=0"},
	},
	{
		name:     "[email] a person created by an earlier row is found by later ones",
		settings: allEmailOnly,
		rows:     []record.Record{rel(person("u1", "a@x.io")), rel(person("u2", "A@x.io")), rel(person("u1", "b@x.io"))},
		want:     []string{"new:|a@x.io|{}", "=0", "new:|b@x.io|{}"},
	},

	// A removing row.
	{
		name:     "a removing row creates no one",
		settings: slices.Concat(allIDEmail, allIDOnly),
		rows:     []record.Record{removing(rel(person("u1", ""))), rel(person("u1", "")), removing(rel(person("u1", "")))},
		want:     []string{"nobody", "new:u1||{}", "=1"},
	},
	{
		name:     "[email] a removing row creates no one",
		settings: allEmailOnly,
		rows:     []record.Record{removing(rel(person("", "a@x.io"))), rel(person("", "a@x.io"))},
		want:     []string{"nobody", "new:|a@x.io|{}"},
	},
	{
		name:     "a removing row finds the person",
		settings: allSettings,
		given:    []record.Record{person("u1", "u1@x.io")},
		rows:     []record.Record{removing(rel(person("u1", "u1@x.io")))},
		want:     []string{"@0"},
	},
}

func TestResolve(t *testing.T) {
	forEachStore(t, func(t *testing.T, backend testdb.Store) {
		for _, tc := range resolveCases {
			for _, s := range tc.settings {
				t.Run(tc.name+"/"+label(s), func(t *testing.T) {
					t.Parallel()
					runResolveCase(t, backend, s, tc)
				})
			}
		}
	})
}

// resolve resolves rows as one batch and writes the new people with the records.
func (b *bundle) resolve(t *testing.T, rows ...record.Record) planned {
	t.Helper()
	ctx := context.Background()
	p := planned{recs: b.resolveRefs(t, records(rows))}
	err := b.st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if p.writes, err = b.planner.Resolve(ctx, tx, "rel", p.recs); err != nil {
			return err
		}
		return tx.Write(ctx, "rel", b.clock.Unix(), p.recs, p.writes)
	})
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return p
}

func runResolveCase(t *testing.T, backend testdb.Store, s identity.Settings, tc resolveCase) {
	ctx := context.Background()
	b := setup(t, backend, s)
	if len(tc.given) > 0 {
		for i, o := range b.apply(t, tc.given...).recs {
			if o.Refused() {
				t.Fatalf("given row %d: %s %s", i, o.Result, o.Detail)
			}
		}
	}
	for _, n := range tc.deleted {
		if err := b.st.DeletePerson(ctx, b.cio(n)); err != nil {
			t.Fatal(err)
		}
	}
	before := takeSnapshot(t, b.st)
	batch := b.resolve(t, tc.rows...)

	byCio := map[string]identity.Person{}
	b.st.EachPerson(ctx, func(p identity.Person) error { byCio[p.CioID] = p; return nil })
	created := map[string]bool{}
	var wantLog []string
	for i, o := range batch.recs {
		want := tc.want[i]
		kind, arg, _ := strings.Cut(want, ":")
		var wantPerson string
		switch {
		case strings.HasPrefix(want, "@"):
			var n int
			fmt.Sscan(want[1:], &n)
			wantPerson = b.cio(n)
		case strings.HasPrefix(want, "="):
			var n int
			fmt.Sscan(want[1:], &n)
			wantPerson = batch.recs[n].Person
		}
		switch kind {
		case "new":
			p, ok := byCio[o.Person]
			if o.Result != record.Created || !ok || describe(p) != arg || created[o.Person] {
				t.Errorf("row %d = %s %q (%s) person %q; want a new person %s", i, o.Result, o.Person, o.Detail, describe(p), arg)
			}
			created[o.Person] = true
			if len(o.Changes) != 1 || o.Changes[0].Kind != record.ProfileCreate || o.Changes[0].CioID != o.Person {
				t.Errorf("row %d logged %+v; want its profile_create alone", i, o.Changes)
			}
			wantLog = append(wantLog, record.ProfileCreate)
		case "skipped", "rejected":
			if o.Result.String() != kind || o.Reason != arg || o.Person != "" || len(o.Changes) != 0 {
				t.Errorf("row %d = %s %q person %q changes %v; want %s %s", i, o.Result, o.Reason, o.Person, o.Changes, kind, arg)
			}
		default: // found, or nobody
			if o.Result != record.Unchanged || o.Person != wantPerson || len(o.Changes) != 0 {
				t.Errorf("row %d = %s %q (%s) person %q changes %v; want unchanged, person %q", i, o.Result, o.Reason, o.Detail,
					o.Person, o.Changes, wantPerson)
			}
		}
	}
	if len(batch.writes) != len(created) {
		t.Errorf("%d people written, want the %d new ones", len(batch.writes), len(created))
	}
	for _, w := range batch.writes {
		if !w.Insert || !created[w.Person.CioID] {
			t.Errorf("wrote %+v, which is not a new person", *w.Person)
		}
	}

	// Everyone who was there is exactly as they were, and the log has gained the new
	// people's profile_create entries and nothing else.
	after := takeSnapshot(t, b.st)
	var kept []string
	for _, line := range after.people {
		if cio, _, _ := strings.Cut(line, "|"); !created[cio] {
			kept = append(kept, line)
		}
	}
	if d := firstDiff("people", before.people, kept); d != "" {
		t.Errorf("resolving changed the people who were there: %s", d)
	}
	if !slices.Equal(after.log[:len(before.log)], before.log) {
		t.Errorf("the log before the batch changed")
	}
	var gotLog []string
	for _, line := range after.log[len(before.log):] {
		gotLog = append(gotLog, strings.Split(line, "|")[4])
	}
	if !slices.Equal(gotLog, wantLog) {
		t.Errorf("the batch logged %q, want %q", gotLog, wantLog)
	}
}
