package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// exported is what an export read: "id: name=value" for each attribute row, and
// "id" for each person, sorted.
func readExport(t *testing.T, st *store.Store, ex *store.Export) []string {
	t.Helper()
	var out []string
	through, err := st.ReadExport(context.Background(), ex, func(p *identity.Person, attrs []store.ExportAttribute) error {
		out = append(out, p.ID)
		for _, a := range attrs {
			v := "NULL"
			if a.Value != nil {
				v = string(a.Value)
			}
			out = append(out, p.ID+": "+a.Name+"="+v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ex.ThroughLogSeq = through
	slices.Sort(out)
	return out
}

func startExport(t *testing.T, st *store.Store, dir string) *store.Export {
	t.Helper()
	ex, err := st.StartExport(context.Background(), false, "ndjson", func(seq int64) (string, error) {
		return filepath.Join(dir, "manifest.json"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func finishExport(t *testing.T, st *store.Store, ex *store.Export) {
	t.Helper()
	if err := st.FinishExport(context.Background(), ex); err != nil {
		t.Fatal(err)
	}
}

func writeRows(t *testing.T, tx *store.Tx, rows ...*record.Record) {
	t.Helper()
	ctx := context.Background()
	people, err := (&identity.Planner{Settings: identity.DefaultSettings()}).Plan(ctx, tx, "test", rows)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(ctx, "test", 0, rows, people); err != nil {
		t.Fatal(err)
	}
}

func apply(t *testing.T, st *store.Store, rows ...*record.Record) {
	t.Helper()
	tx, err := st.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	writeRows(t, tx, rows...)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func row(id, name, value string) *record.Record {
	return &record.Record{Key: id, ID: id, Attrs: []record.Attr{{Name: name, Value: []byte(value)}}}
}

// A batch that writes a claimed person and commits after the export's snapshot (on
// PostgreSQL with a change_log.seq below changes the snapshot saw, as another batch
// committed first) is not in that export, and its change is in the next one.
func TestExportLateCommit(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		dir := t.TempDir()
		apply(t, st, row("p", "a", "1"), row("q", "a", "1"))
		ex := startExport(t, st, dir)
		if got := strings.Join(readExport(t, st, ex), "; "); got != "p; p: a=1; q; q: a=1" {
			t.Fatalf("export 1: %s", got)
		}
		finishExport(t, st, ex)

		apply(t, st, row("p", "a", "2")) // p is pending
		ex = startExport(t, st, dir)     // and claimed by export 2
		late, err := st.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer late.Rollback()
		writeRows(t, late, &record.Record{Key: "p", ID: "p", Attrs: []record.Attr{{Name: "b", Value: []byte("3")}, {Name: "a", Value: nil}}})
		if driver == "postgres" { // SQLite has one writer at a time
			apply(t, st, row("q", "a", "5"))
		}
		if got := strings.Join(readExport(t, st, ex), "; "); got != "p; p: a=2" {
			t.Fatalf("export 2: %s", got)
		}
		if err := late.Commit(); err != nil {
			t.Fatal(err)
		}
		finishExport(t, st, ex)

		ex = startExport(t, st, dir)
		want := "p; p: a=NULL; p: b=3"
		if driver == "postgres" {
			want += "; q; q: a=5"
		}
		if got := strings.Join(readExport(t, st, ex), "; "); got != want {
			t.Fatalf("export 3: %s, want %s", got, want)
		}
		finishExport(t, st, ex)
	})
}

// Migration 0002 makes the people of an existing store pending: the first export
// holds them all, with all their attributes.
func TestExportMigrationMakesEveryonePending(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		v1, err := os.ReadFile(filepath.Join("migrations", driver, "0001_init.sql"))
		if err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range []string{
			string(v1),
			`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`,
			`INSERT INTO schema_migrations VALUES (1, 0)`,
			`INSERT INTO people (internal_id, external_id, attributes, created_at, updated_at) VALUES ('c1', 'old', '{"x":1}', 1, 1)`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		st := open(t, driver, dsn)
		ex := startExport(t, st, t.TempDir())
		if got := strings.Join(readExport(t, st, ex), "; "); got != "old; old: x=1" {
			t.Fatalf("first export after the upgrade: %s", got)
		}
	})
}

// Each export holds exactly the people written or deleted since the one before
// (SPEC §6), whatever the batches: random rows over a few ids, a delete now and
// then, exports at fixed points, written one row a batch and in random batches, on
// both stores. A person written again while pending is listed for export once; one
// written after an export claimed them is listed again.
func TestExportsDoNotDependOnBatches(t *testing.T) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			seed := time.Now().UnixNano()
			rng := rand.New(rand.NewSource(seed))
			type step struct {
				rows   []*record.Record
				delete string // an id to delete after the rows
			}
			ids := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
			var steps []step
			for k := range 12 {
				var s step
				for j := range rng.Intn(9) {
					s.rows = append(s.rows, row(ids[rng.Intn(len(ids))], "n", fmt.Sprint(k*100+j)))
				}
				if rng.Intn(3) == 0 {
					s.delete = ids[rng.Intn(len(ids))]
				}
				steps = append(steps, s)
			}
			for run, batches := range []string{"one row a batch", "random batches", "random batches"} {
				st := open(t, b.Driver, b.DSN(t))
				for k, s := range steps {
					for start := 0; start < len(s.rows); {
						n := 1
						if run > 0 {
							n = 1 + rng.Intn(len(s.rows))
						}
						end := min(start+n, len(s.rows))
						apply(t, st, s.rows[start:end]...)
						start = end
					}
					// What the export must hold: the ids the step wrote; a person it
					// deleted, once, as a tombstone.
					var want []string
					for _, r := range s.rows {
						want = append(want, r.ID)
					}
					if s.delete != "" {
						p, err := st.FindPerson(ctx, identity.DefaultSettings(), s.delete)
						if err == nil && p != nil && !p.Deleted {
							if err := st.DeletePerson(ctx, p.CioID); err != nil {
								t.Fatal(err)
							}
							want = append(slices.DeleteFunc(want, func(id string) bool { return id == s.delete }), "(deleted)")
						}
					}
					slices.Sort(want)
					want = slices.Compact(want)
					ex := startExport(t, st, t.TempDir())
					var got []string
					if _, err := st.ReadExport(ctx, ex, func(p *identity.Person, _ []store.ExportAttribute) error {
						id := p.ID
						if p.Deleted {
							id = "(deleted)"
						}
						got = append(got, id)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					finishExport(t, st, ex)
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Fatalf("seed %d, %s, export %d holds %v, want %v", seed, batches, k+1, got, want)
					}
				}
				st.Close()
			}
		})
	}
}
