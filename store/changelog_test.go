package store_test

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
)

// A profile_create kept on the person's row is read back in its place in the log, in
// row order among the other entries: one written in the same batch after another
// person's change comes after it, one in a batch with nothing else logged comes
// before what the next batch logs.
func TestCreationsKeepTheirPlaceInTheLog(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		s := identity.DefaultSettings()
		attr := func(v string) []record.Attr { return []record.Attr{{Name: "plan", Value: []byte(`"` + v + `"`)}} }
		planWith(t, st, s,
			&record.Record{Key: "1", ID: "a", Attrs: attr("one")},
			&record.Record{Key: "2", ID: "a", Attrs: attr("two")},
			&record.Record{Key: "3", Email: "b@x.io", Attrs: attr("one")},
			&record.Record{Key: "4", Email: "b@x.io", Attrs: attr("two")})
		planWith(t, st, s, &record.Record{Key: "5", ID: "c"})
		planWith(t, st, s, &record.Record{Key: "6", ID: "a", Attrs: attr("three")})
		a, b := cioOf(t, st, "a"), cioOf(t, st, "b@x.io")
		describe := func(log []record.Change) string {
			var out []string
			for _, c := range log {
				out = append(out, c.RowKey+" "+c.Kind+" "+string(c.To))
			}
			return strings.Join(out, "|")
		}
		want := `1 profile_create {"id":"a"}|2 attribute_change "two"|3 profile_create {"email":"b@x.io"}|4 attribute_change "two"|` +
			`5 profile_create {"id":"c"}|6 attribute_change "three"`
		if got := describe(changeLog(t, st)); got != want {
			t.Errorf("the log:\n %s\nwant\n %s", got, want)
		}
		want = `1 profile_create {"id":"a"}|2 attribute_change "two"|3 profile_create {"email":"b@x.io"}|4 attribute_change "two"|` +
			`6 attribute_change "three"`
		if got := describe(changeLog(t, st, a, b)); got != want {
			t.Errorf("a's and b's log:\n %s\nwant\n %s", got, want)
		}
	})
}

// The log, each merged survivor's history included, reads the same whatever the
// batches (SPEC §1 rule 6): random rows over a few ids and emails, with merges,
// deletes and suppressions, written one row a batch and in random batches, on both
// stores.
func TestLogOrderDoesNotDependOnBatches(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			logOrderDoesNotDependOnBatches(t, func() string { return b.DSN(t) }, b.Driver)
		})
	}
}

func logOrderDoesNotDependOnBatches(t *testing.T, newDSN func() string, driver string) {
	{
		for seed := int64(1); seed <= 3; seed++ {
			rng := rand.New(rand.NewSource(seed))
			var rows [][4]string // id, email, plan, and "delete", "suppress" or ""
			for i := 0; i < 120; i++ {
				var r [4]string
				if rng.Intn(3) > 0 {
					r[0] = fmt.Sprintf("u%d", rng.Intn(12))
				}
				if rng.Intn(3) > 0 || r[0] == "" {
					r[1] = fmt.Sprintf("e%d@x.io", rng.Intn(12))
				}
				r[2] = fmt.Sprint(rng.Intn(3))
				switch rng.Intn(20) {
				case 0:
					r[3] = "delete"
				case 1:
					r[3] = "suppress"
				}
				rows = append(rows, r)
			}
			s := identity.DefaultSettings()
			s.MergeDuplicates, s.AllowEmailUpdateByID = true, seed%2 == 0
			logs := func(sizes func() int) (all string, histories []string) {
				st := open(t, driver, newDSN())
				if err := st.CheckWorkspace(context.Background(), s); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < len(rows); {
					n := min(sizes(), len(rows)-i)
					var batch []*record.Record
					for j, r := range rows[i : i+n] {
						batch = append(batch, &record.Record{Key: fmt.Sprint(i + j), ID: r[0], Email: r[1],
							Attrs: []record.Attr{{Name: "plan", Value: []byte(r[2])}}, Delete: r[3] == "delete", Suppress: r[3] == "suppress"})
					}
					planWith(t, st, s, batch...)
					i += n
				}
				log := changeLog(t, st)
				names := newNames()
				all = names.describe(log)
				var people []string
				for _, c := range log {
					if !slices.Contains(people, c.CioID) {
						people = append(people, c.CioID)
					}
				}
				for _, cio := range people {
					history, err := st.PersonHistory(context.Background(), cio)
					if err != nil {
						t.Fatal(err)
					}
					histories = append(histories, names.describe(changeLog(t, st, history...)))
				}
				return all, histories
			}
			oneAll, oneHistories := logs(func() int { return 1 })
			manyAll, manyHistories := logs(func() int { return 1 + rng.Intn(40) })
			if oneAll != manyAll {
				t.Fatalf("seed %d: the log in batches of one:\n%s\nin random batches:\n%s", seed, oneAll, manyAll)
			}
			if !slices.Equal(oneHistories, manyHistories) {
				t.Fatalf("seed %d: histories in batches of one:\n%s\nin random batches:\n%s", seed,
					strings.Join(oneHistories, "\n"), strings.Join(manyHistories, "\n"))
			}
			for _, kind := range []string{record.ProfileMerge, record.ProfileDelete, record.ProfileSuppress} {
				if !strings.Contains(oneAll, kind) {
					t.Fatalf("seed %d: no %s: the test tests less than it says", seed, kind)
				}
			}
		}
	}
}

// names renames cio_ids in the order first seen, so that two stores' logs compare.
type names map[string]string

func newNames() names { return names{} }

func (n names) describe(log []record.Change) string {
	var out []string
	for _, c := range log {
		out = append(out, fmt.Sprintf("%s %s %s %s %s %s %s", c.RowKey, n.of(c.CioID), c.Kind, c.Attribute,
			n.rename(string(c.From)), n.rename(string(c.To)), c.Reason))
	}
	return strings.Join(out, "\n")
}

func (n names) of(cio string) string {
	if _, ok := n[cio]; !ok {
		n[cio] = fmt.Sprintf("P%d", len(n)+1)
	}
	return n[cio]
}

// rename replaces the cio_ids a value names (a merge's from and to).
func (n names) rename(v string) string {
	for cio, name := range n {
		v = strings.ReplaceAll(v, cio, name)
	}
	return v
}
