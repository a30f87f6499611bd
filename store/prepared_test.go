package store_test

import (
	"fmt"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
)

// A batch larger than one INSERT statement's rows (1000 on SQLite, where full
// chunks run through statements prepared once for the store's life) goes in whole,
// each person with their own values, batch after batch and after the store is
// opened again.
func TestBatchesOfManyStatements(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		s := identity.DefaultSettings()
		batch := func(prefix string, n int) []*record.Record {
			rows := make([]*record.Record, n)
			for i := range rows {
				rows[i] = &record.Record{Key: fmt.Sprint(prefix, i), ID: fmt.Sprint(prefix, i),
					Attrs: []record.Attr{{Name: "n", Value: []byte(fmt.Sprint(i))}}}
			}
			return rows
		}
		st := open(t, driver, dsn)
		planWith(t, st, s, batch("a", 2500)...)
		planWith(t, st, s, batch("b", 2001)...)
		st.Close()
		st = open(t, driver, dsn)
		planWith(t, st, s, batch("c", 1000)...)
		created := map[string]string{} // row key → the created person's identifiers
		for _, c := range changeLog(t, st) {
			if c.Kind == record.ProfileCreate {
				if _, again := created[c.RowKey]; again {
					t.Errorf("row %s created two people", c.RowKey)
				}
				created[c.RowKey] = string(c.To)
			}
		}
		if len(created) != 2500+2001+1000 {
			t.Errorf("%d people created, want %d", len(created), 2500+2001+1000)
		}
		for _, id := range []string{"a0", "a999", "a1000", "a1999", "a2000", "a2499", "b0", "b2000", "c0", "c999"} {
			if want := `{"id":"` + id + `"}`; created[id] != want {
				t.Errorf("row %s created %s, want %s", id, created[id], want)
			}
			p, err := st.FindPerson(t.Context(), s, id)
			if err != nil {
				t.Errorf("find %s: %v", id, err)
				continue
			}
			if want := id[1:]; string(p.Attributes["n"]) != want {
				t.Errorf("%s has n = %s, want %s", id, p.Attributes["n"], want)
			}
		}
	})
}
