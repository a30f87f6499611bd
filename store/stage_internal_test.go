package store

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
)

// Upserts through the stage (staged) must leave the store exactly as multi-row
// INSERT … VALUES does: the same random batches (updates, merges, deletes, refused
// changes, rejected rows, repeats) written once with every upsert staged and once with
// none, compared table by table, sequences included.
func TestStagedUpsertsMatchValues(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		// Not in parallel: each write sets stagedFrom, a package variable, which
		// another seed's writes would read (the race detector saw it, and a run
		// under load failed with the stores differing).
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			viaStage := writeRandomBatches(t, seed, 1)
			viaValues := writeRandomBatches(t, seed, 1<<30)
			if viaStage != viaValues {
				t.Fatalf("the stores differ:\n%s", firstDifference(viaStage, viaValues))
			}
		})
	}
}

// writeRandomBatches writes seed's batches into a new PostgreSQL store, staging an
// upsert of at least from rows, and returns the store's dump.
func writeRandomBatches(t *testing.T, seed uint64, from int) string {
	ctx := context.Background()
	dsn := testdb.Postgres(t)
	st, err := Open(ctx, "postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(seed, 99))
	settings := identity.DefaultSettings()
	settings.MergeDuplicates = seed%2 == 1
	n := 0
	pl := &identity.Planner{
		Settings: settings,
		Now:      func() time.Time { return time.Unix(1_700_000_000, 0) },
		NewCioID: func() string { n++; return fmt.Sprintf("cio%06d", n) },
	}
	staged := 0
	for batch := 0; batch < 12; batch++ {
		var rows []*record.Record
		for i := 0; i < 50+rng.IntN(250); i++ {
			r := &record.Record{Key: fmt.Sprintf("k%d", rng.IntN(400))}
			switch rng.IntN(12) {
			case 0:
				r.Email = fmt.Sprintf("E%d@x.io", rng.IntN(300)) // case differs from the others
			case 1:
				// no identifier: rejected, recorded once per key and reason
			case 2:
				r.ID, r.Delete = fmt.Sprintf("u%d", rng.IntN(300)), true
			default:
				r.ID, r.Email = fmt.Sprintf("u%d", rng.IntN(300)), fmt.Sprintf("e%d@x.io", rng.IntN(300))
			}
			r.Attrs = []record.Attr{{Name: "plan", Value: json.RawMessage(fmt.Sprintf(`"p%d"`, rng.IntN(3)))}}
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
			for _, w := range ws {
				if !w.Insert {
					staged++
				}
			}
			saved := stagedFrom
			stagedFrom = from
			defer func() { stagedFrom = saved }()
			return tx.Write(ctx, "s", int64(batch), rows, ws)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if staged < 200 {
		t.Fatalf("only %d updates in the random batches: the test checks less than it should", staged)
	}
	// Dump lists a table's rows in the order they lie on disk, which an update moves.
	// The migrations' times are the only rows that differ by when the store was made.
	var lines []string
	for _, l := range strings.Split(testdb.Dump(t, "postgres", dsn), "\n") {
		if !strings.HasPrefix(l, "schema_migrations:") {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  staged: %s\n  values: %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines staged, %d by values", len(al), len(bl))
}

// A role that may not create temporary tables still upserts: the store sees the
// missing privilege when it opens and sends upserts as VALUES.
func TestUpsertsWithoutTemporaryTables(t *testing.T) {
	ctx := context.Background()
	admin, err := sql.Open("postgres", testdb.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var suffix [4]byte
	crand.Read(suffix[:])
	name := fmt.Sprintf("notemp_%x", suffix)
	mustExec := func(db *sql.DB, q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec(admin, "CREATE DATABASE "+name)
	mustExec(admin, "CREATE ROLE "+name+" LOGIN")
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Exec("DROP ROLE IF EXISTS " + name)
	})
	u, err := url.Parse(testdb.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	owner, err := sql.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	mustExec(owner, "REVOKE TEMPORARY ON DATABASE "+name+" FROM PUBLIC")
	mustExec(owner, "CREATE SCHEMA s AUTHORIZATION "+name)
	owner.Close()
	u.User = url.User(name)
	q := u.Query()
	q.Set("search_path", "s")
	u.RawQuery = q.Encode()

	st, err := Open(ctx, "postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.stage {
		t.Fatal("the store would stage upserts for a role that may not create temporary tables")
	}
	pl := &identity.Planner{Settings: identity.DefaultSettings()}
	write := func(plan string) {
		t.Helper()
		recs := make([]*record.Record, 200)
		for i := range recs {
			recs[i] = &record.Record{Key: fmt.Sprint(i), ID: fmt.Sprintf("u%d", i),
				Attrs: []record.Attr{{Name: "plan", Value: json.RawMessage(`"` + plan + `"`)}}}
		}
		if err := st.InTx(ctx, func(tx *Tx) error {
			ws, err := pl.Plan(ctx, tx, "s", recs)
			if err != nil {
				return err
			}
			return tx.Write(ctx, "s", 1, recs, ws)
		}); err != nil {
			t.Fatalf("write plan %s: %v", plan, err)
		}
	}
	write("a")
	write("b") // 200 upserts in one batch
	p, err := st.FindPerson(ctx, identity.DefaultSettings(), "u199")
	if err != nil || string(p.Attributes["plan"]) != `"b"` {
		t.Fatalf("u199 after the upserts: %+v, %v", p, err)
	}
}
