package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
)

// LoadPeople looks up by id and cio_id first and by email only for the emails no one
// it loaded holds. It must load exactly whom one lookup by all three keys would: a
// randomized store (merges leaving retired people, emails moved by id, deletes, case
// variants) against a reference that reads every people row's keys.
func TestLoadPeopleFindsEveryKeyHolder(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := Open(ctx, b.Driver, b.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			s := identity.DefaultSettings()
			s.MergeDuplicates, s.AllowEmailUpdateByID = true, true
			pl := &identity.Planner{Settings: s}
			rng := rand.New(rand.NewPCG(7, 11))
			id := func() string { return fmt.Sprintf("u%d", rng.IntN(12)) }
			email := func() string {
				e := fmt.Sprintf("e%d@x.io", rng.IntN(12))
				if rng.IntN(3) == 0 {
					e = strings.ToUpper(e)
				}
				return e
			}
			for batch := 0; batch < 30; batch++ {
				var rows []*record.Record
				for i := 0; i < 1+rng.IntN(6); i++ {
					r := &record.Record{Key: fmt.Sprint(i)}
					switch rng.IntN(5) {
					case 0:
						r.ID = id()
					case 1:
						r.Email = email()
					case 2:
						r.ID, r.Email, r.Delete = id(), email(), rng.IntN(4) == 0
					default:
						r.ID, r.Email = id(), email()
					}
					rows = append(rows, r)
				}
				err := st.InTx(ctx, func(tx *Tx) error {
					for _, r := range rows {
						r.Outcome = record.Outcome{}
					}
					ws, err := pl.Plan(ctx, tx, "s", rows)
					if err != nil {
						return err
					}
					return tx.Write(ctx, "s", int64(batch), rows, ws)
				})
				if err != nil {
					t.Fatal(err)
				}
			}

			type keys struct{ id, email, merged sql.NullString }
			all := map[string]keys{}
			rs, err := st.db.QueryContext(ctx, `SELECT internal_id, id_key, email_key, merged_into FROM people`)
			if err != nil {
				t.Fatal(err)
			}
			var cios []string
			for rs.Next() {
				var cio string
				var k keys
				if err := rs.Scan(&cio, &k.id, &k.email, &k.merged); err != nil {
					t.Fatal(err)
				}
				all[cio] = k
				cios = append(cios, cio)
			}
			rs.Close()
			retired := 0
			for _, k := range all {
				if k.merged.Valid {
					retired++
				}
			}
			if retired == 0 {
				t.Fatal("the random store holds no merged person: the test checks less than it should")
			}

			for round := 0; round < 300; round++ {
				var k identity.Keys
				for i := 0; i < rng.IntN(5); i++ {
					k.IDs = append(k.IDs, id())
				}
				for i := 0; i < rng.IntN(5); i++ {
					k.Emails = append(k.Emails, identity.EmailKey(email()))
				}
				for i := 0; i < rng.IntN(3); i++ {
					k.CioIDs = append(k.CioIDs, cios[rng.IntN(len(cios))])
				}
				want := map[string]bool{}
				in := func(v sql.NullString, list []string) bool {
					for _, x := range list {
						if v.Valid && v.String == x {
							return true
						}
					}
					return false
				}
				for cio, pk := range all {
					if in(pk.id, k.IDs) || in(pk.email, k.Emails) || in(sql.NullString{String: cio, Valid: true}, k.CioIDs) {
						want[cio] = true
					}
				}
				for changed := true; changed; {
					changed = false
					for cio := range want {
						if m := all[cio].merged; m.Valid && !want[m.String] {
							want[m.String], changed = true, true
						}
					}
				}
				var got []identity.Person
				err := st.InTx(ctx, func(tx *Tx) error {
					var err error
					got, err = tx.LoadPeople(ctx, k)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				var gotIDs, wantIDs []string
				for _, p := range got {
					gotIDs = append(gotIDs, p.CioID)
				}
				for cio := range want {
					wantIDs = append(wantIDs, cio)
				}
				sort.Strings(wantIDs)
				if !sameSet(gotIDs, wantIDs) {
					t.Fatalf("keys %+v: loaded %v, want %v", k, gotIDs, wantIDs)
				}
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x]--; seen[x] < 0 {
			return false
		}
	}
	return true
}
