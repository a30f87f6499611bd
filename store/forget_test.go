package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// planWith plans and writes rows as one batch under the settings.
func planWith(t *testing.T, st *store.Store, s identity.Settings, rows ...*record.Record) {
	t.Helper()
	ctx := context.Background()
	pl := &identity.Planner{Settings: s, Now: func() time.Time { return time.Unix(1000, 0) }}
	inTx(t, st, func(tx *store.Tx) error {
		people, err := pl.Plan(ctx, tx, "test", rows)
		if err != nil {
			return err
		}
		return tx.Write(ctx, "test", 1000, rows, people)
	})
}

func changeLog(t *testing.T, st *store.Store, cios ...string) []record.Change {
	t.Helper()
	var out []record.Change
	if err := st.EachChange(context.Background(), func(c record.Change) error { out = append(out, c); return nil }, cios...); err != nil {
		t.Fatal(err)
	}
	return out
}

// Deleting a person erases from the store every value of theirs (SPEC §10): id,
// email, attributes, the values of whoever was merged into them, relationships,
// events, and the values of their change log, whose kinds and times stay with
// profile_delete last. No identifier finds them after, and a later row with their
// id creates someone new. The store's tables are read directly.
func TestForgetPersonErases(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		s := identity.DefaultSettings()
		s.MergeDuplicates = true
		str := func(v string) []byte { return []byte(`"` + v + `"`) }
		planWith(t, st, s,
			&record.Record{Key: "rk-erin-1", ID: "Erin-42", Attrs: []record.Attr{{Name: "plan", Value: str("gold-secret")}}},
			&record.Record{Key: "rk-lead-1", Email: "Lead-Zed@x.io", Attrs: []record.Attr{{Name: "note", Value: str("zebra-note")}}},
			&record.Record{Key: "k-bob", ID: "bob", Attrs: []record.Attr{{Name: "plan", Value: str("bob-keeps")}}})
		erin, lead := cioOf(t, st, "Erin-42"), cioOf(t, st, "lead-zed@x.io")
		planWith(t, st, s, &record.Record{Key: "rk-erin-2", ID: "Erin-42", Email: "lead-zed@x.io"}) // merges the lead into Erin
		planWith(t, st, s, &record.Record{Key: "rk-erin-3", ID: "Erin-42", Email: "other-erin@x.io"})
		if cioOf(t, st, "lead-zed@x.io") != erin {
			t.Fatal("the lead was not merged into Erin")
		}
		writeRels(t, st, true,
			objects.Relationship{CioID: erin, ObjectType: "account", ObjectID: "acc-1", Attributes: attrs("role", `"rel-secret"`), CreatedAt: 1, UpdatedAt: 1},
			objects.Relationship{CioID: lead, ObjectType: "account", ObjectID: "acc-2", Attributes: attrs("role", `"rel-secret"`), CreatedAt: 1, UpdatedAt: 1, Removed: true})
		writeEvents(t, st, ev("orders", "1", erin, "purchase", 10, `{"x":"evdata-secret"}`))
		before := changeLog(t, st, erin, lead)

		cio, err := st.ForgetPerson(ctx, s, "operator:test", "LEAD-ZED@X.IO", false)
		if err != nil || cio != erin {
			t.Fatalf("ForgetPerson by the merged-in email: %q %v, want %s", cio, err, erin)
		}

		dump := strings.ToLower(testdb.Dump(t, driver, dsn))
		for _, v := range []string{"erin-42", "lead-zed", "gold-secret", "zebra-note", "other-erin", "rk-erin", "rk-lead", "rel-secret", "evdata-secret"} {
			if strings.Contains(dump, v) {
				t.Errorf("the store still holds %q:\n%s", v, dump)
			}
		}
		if !strings.Contains(dump, "bob-keeps") || !strings.Contains(dump, "k-bob") {
			t.Errorf("someone else's values were erased:\n%s", dump)
		}
		for _, id := range []string{"Erin-42", "erin-42", "lead-zed@x.io", "Lead-Zed@x.io", "cio_" + erin, "cio_" + lead} {
			if _, err := st.FindPerson(ctx, s, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindPerson(%s) after the delete: %v, want ErrNotFound", id, err)
			}
			if _, err := st.ForgetPerson(ctx, s, "operator:test", id, false); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("ForgetPerson(%s) again: %v, want ErrNotFound", id, err)
			}
		}
		if err := st.DeletePerson(ctx, erin); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeletePerson again: %v, want ErrNotFound", err)
		}

		after := changeLog(t, st, erin, lead)
		if len(after) != len(before)+1 {
			t.Fatalf("the change log has %d entries, want %d (kinds stay, one more)", len(after), len(before)+1)
		}
		for i, c := range after {
			if c.Attribute != "" || c.From != nil || c.To != nil || c.RowKey != "" {
				t.Errorf("entry %d keeps a value: %+v", i, c)
			}
			if i < len(before) && (c.Kind != before[i].Kind || c.Time != before[i].Time || c.CioID != before[i].CioID) {
				t.Errorf("entry %d: %s %d %s, was %s %d %s", i, c.Kind, c.Time, c.CioID, before[i].Kind, before[i].Time, before[i].CioID)
			}
		}
		if last := after[len(after)-1]; last.Kind != record.ProfileDelete || last.Sync != "operator:test" || last.CioID != erin {
			t.Errorf("last entry %+v, want profile_delete by operator:test", last)
		}
		if rs, err := st.PersonRelationships(ctx, erin); err != nil || len(rs) != 0 {
			t.Errorf("relationships after the delete: %v %v", rs, err)
		}

		again := &record.Record{Key: "k9", ID: "Erin-42"}
		planWith(t, st, s, again)
		if again.Result != record.Created || again.Person == erin || again.Person == lead {
			t.Errorf("a later row with the id: %v %s, want a new person", again.Result, again.Person)
		}
	})
}

// A suppression deletes the person and keeps their id and email: rows carrying
// either (the email in any case) are skipped, suppressed, and create no one, people
// rows and the rows that only find a person (relationships, events) alike, until an
// unsuppress by either identifier releases both.
func TestSuppressAndUnsuppress(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		s := identity.DefaultSettings()
		planWith(t, st, s, &record.Record{Key: "1", ID: "sam", Email: "Sam@x.io"})
		sam := cioOf(t, st, "sam")
		if cio, err := st.ForgetPerson(ctx, s, "operator:test", "sam", true); err != nil || cio != sam {
			t.Fatalf("suppress: %q %v", cio, err)
		}
		inTx(t, st, func(tx *store.Tx) error {
			got, err := tx.Suppressed(ctx, identity.Keys{IDs: []string{"sam", "Sam", "other"}, Emails: []string{"sam@x.io", "x@x.io"}})
			if err != nil {
				return err
			}
			if strings.Join(got.IDs, ",") != "sam" || strings.Join(got.Emails, ",") != "sam@x.io" {
				t.Errorf("Suppressed: %+v, want sam and sam@x.io", got)
			}
			return nil
		})
		rows := []*record.Record{{Key: "2", ID: "sam"}, {Key: "3", Email: "SAM@X.IO"}, {Key: "4", ID: "Sam"}, {Key: "5", ID: "new", Email: "sam@x.io"}}
		planWith(t, st, s, rows...)
		for i, want := range []record.Result{record.Skipped, record.Skipped, record.Created, record.Skipped} {
			if r := rows[i]; r.Result != want || (want == record.Skipped && r.Reason != identity.ReasonSuppressed) {
				t.Errorf("row %s: %v %s, want %v", r.Key, r.Result, r.Reason, want)
			}
		}
		inTx(t, st, func(tx *store.Tx) error {
			recs := []*record.Record{{Key: "r1", ID: "sam"}, {Key: "r2", Email: "Sam@X.io"}}
			pl := &identity.Planner{Settings: s}
			if _, err := pl.Resolve(ctx, tx, "rel", recs); err != nil {
				return err
			}
			for _, r := range recs {
				if r.Result != record.Skipped || r.Reason != identity.ReasonSuppressed || r.Person != "" {
					t.Errorf("resolve %s: %v %s %s, want skipped suppressed", r.Key, r.Result, r.Reason, r.Person)
				}
			}
			return nil
		})

		if err := st.Unsuppress(ctx, "operator:test", "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unsuppress of nothing: %v", err)
		}
		if err := st.Unsuppress(ctx, "operator:test", "SAM@x.IO"); err != nil {
			t.Fatal(err)
		}
		if err := st.Unsuppress(ctx, "operator:test", "sam"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the id stayed suppressed after the email's release: %v", err)
		}
		back := &record.Record{Key: "6", ID: "sam"}
		planWith(t, st, s, back)
		if back.Result != record.Created || back.Person == sam {
			t.Errorf("after unsuppress: %v %s, want a new person", back.Result, back.Person)
		}
		var kinds []string
		for _, c := range changeLog(t, st, sam) {
			kinds = append(kinds, c.Kind)
		}
		if got := strings.Join(kinds, ","); got != "profile_create,profile_suppress,profile_unsuppress" {
			t.Errorf("the suppressed person's log: %s", got)
		}
	})
}

// A batch applies its deletes and suppressions as if one row at a time (SPEC §1
// rule 6): a later row with the deleted person's id creates someone new, one with
// their cio_id finds no one, one with a suppressed email is skipped; a delete row
// applies none of its attributes and creates no one.
func TestForgetInBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		s := identity.DefaultSettings()
		first := &record.Record{Key: "1", ID: "a", Email: "a@x.io"}
		planWith(t, st, s, first)
		a := first.Person
		str := []byte(`"del-attr"`)
		rows := []*record.Record{
			{Key: "2", Email: "A@X.io", Delete: true, Attrs: []record.Attr{{Name: "x", Value: str}}},
			{Key: "3", ID: "a"},
			{Key: "4", CioID: "cio_" + a},
			{Key: "5", ID: "nobody", Delete: true},
			{Key: "6", ID: "a", Suppress: true},
			{Key: "7", ID: "a", Email: "z@x.io"},
			{Key: "8", ID: "b", Email: "b@x.io"},
			{Key: "9", ID: "b", Delete: true},
			{Key: "10", Email: "b@x.io"},
		}
		planWith(t, st, s, rows...)
		type want struct {
			result record.Result
			reason string
		}
		wants := []want{{record.Deleted, ""}, {record.Created, ""}, {record.Skipped, identity.ReasonCioIDNotFound},
			{record.Skipped, identity.ReasonNotFound}, {record.Suppressed, ""}, {record.Skipped, identity.ReasonSuppressed},
			{record.Created, ""}, {record.Deleted, ""}, {record.Created, ""}}
		for i, w := range wants {
			if r := rows[i]; r.Result != w.result || r.Reason != w.reason {
				t.Errorf("row %s: %v %s, want %v %s", r.Key, r.Result, r.Reason, w.result, w.reason)
			}
		}
		if rows[0].Person != a || rows[1].Person == a || rows[4].Person != rows[1].Person || rows[8].Person == rows[6].Person {
			t.Errorf("people: %s %s %s %s %s, first %s", rows[0].Person, rows[1].Person, rows[4].Person, rows[6].Person, rows[8].Person, a)
		}
		dump := testdb.Dump(t, driver, dsn)
		if strings.Contains(dump, "del-attr") {
			t.Errorf("a delete row's attribute was stored:\n%s", dump)
		}
		if _, err := st.FindPerson(context.Background(), s, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the suppressed id finds someone: %v", err)
		}
		if p, err := st.FindPerson(context.Background(), s, "b@x.io"); err != nil || p.CioID != rows[8].Person {
			t.Errorf("b@x.io: %v %v, want the person row 10 created", p, err)
		}
	})
}

// A delete racing a batch that writes the same person ends as one of the two orders
// would (PostgreSQL, where both run at once; SQLite's writers take turns): whoever
// the suppression found is deleted, and no one alive holds a suppressed id or email,
// whether the batch loaded the person first, or waited for the suppression, or moved
// the email to someone it created.
func TestForgetPersonRacesABatch(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			st := open(t, backend.Driver, backend.DSN(t))
			ctx := context.Background()
			s := identity.DefaultSettings()
			s.AllowEmailUpdateByID = true
			if err := st.CheckWorkspace(ctx, s); err != nil {
				t.Fatal(err)
			}
			pl := &identity.Planner{Settings: s}
			batch := func(rows ...*record.Record) error {
				return st.InTx(ctx, func(tx *store.Tx) error {
					for _, r := range rows {
						r.Outcome = record.Outcome{}
					}
					people, err := pl.Plan(ctx, tx, "test", rows)
					if err != nil {
						return err
					}
					return tx.Write(ctx, "test", 1, rows, people)
				})
			}
			for round := 0; round < 40; round++ {
				x := &record.Record{Key: "x", ID: fmt.Sprintf("x%d", round), Email: fmt.Sprintf("x%d@x.io", round)}
				if err := batch(x); err != nil {
					t.Fatal(err)
				}
				rows := []*record.Record{ // x's email moves to a person the batch creates
					{Key: "1", CioID: x.Person, Email: fmt.Sprintf("tmp%d@x.io", round)},
					{Key: "2", ID: fmt.Sprintf("y%d", round), Email: x.Email},
				}
				if round%2 == 1 { // x keeps the email and changes an attribute
					rows = []*record.Record{{Key: "1", ID: x.ID, Attrs: []record.Attr{{Name: "n", Value: []byte("1")}}}}
				}
				errs := make(chan error, 2)
				var found string
				go func() { errs <- batch(rows...) }()
				go func() {
					var err error
					found, err = st.ForgetPerson(ctx, s, "op", x.Email, true)
					if errors.Is(err, store.ErrNotFound) {
						err = nil
					}
					errs <- err
				}()
				for i := 0; i < 2; i++ {
					if err := <-errs; err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
				}
				if found == "" {
					t.Fatalf("round %d: the suppression found no one", round)
				}
				var live []string
				st.EachPerson(ctx, func(p identity.Person) error {
					if !p.Deleted && p.MergedInto == "" {
						live = append(live, p.CioID)
					}
					return nil
				})
				for _, c := range live {
					if c == found {
						t.Fatalf("round %d: the person suppressed is alive", round)
					}
				}
				st.EachSuppression(ctx, func(kind, value, cio string, at int64) error {
					if p, err := st.FindPerson(ctx, s, value); err == nil {
						t.Errorf("round %d: %s %s is suppressed, and %s holds it", round, kind, value, p.CioID)
					}
					return nil
				})
			}
		})
	}
}
