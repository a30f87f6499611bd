package export_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// Writers change people concurrently, holding their transactions open a while so
// that on PostgreSQL they commit out of change_log.seq order, while exports run one
// after another. Loaded in order, the exports give exactly the store; every change
// is in an export whose range reaches its seq; and once the writers stop, the next
// export after a final one is empty: nothing is exported twice for no change.
func TestExportsWhileWriting(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := backend.DSN(t)
			st, err := store.Open(ctx, backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			settings := identity.DefaultSettings()
			var seed []*record.Record
			for i := 0; i < 200; i++ {
				seed = append(seed, &record.Record{Key: fmt.Sprint(i), ID: fmt.Sprintf("u%d", i), Attrs: attrs("a0", "0")})
			}
			apply(t, st, settings, seed)

			dir := t.TempDir()
			var wg sync.WaitGroup
			writeErr := make(chan error, 4)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					writeErr <- write(ctx, st, settings, w, 80)
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			// A pause between the claim and the read lets writers lock claimed people,
			// log changes and commit them after the read's snapshot, some with a seq
			// below changes the snapshot saw.
			opt := export.WithAfterStep(export.Options{Dir: dir, Formats: []string{"ndjson"}}, func(step string) error {
				if step == "claim" {
					time.Sleep(20 * time.Millisecond)
				}
				return nil
			})
			exports := 0
			for running := true; running; exports++ {
				select {
				case <-done:
					running = false
				default:
				}
				if _, err := export.Run(ctx, st, opt); err != nil {
					t.Fatal(err)
				}
			}
			close(writeErr)
			for err := range writeErr {
				if err != nil {
					t.Fatal(err)
				}
			}
			if last := run(t, st, dir, false, "ndjson").Manifest; last.People != 0 || last.Attributes != 0 {
				t.Errorf("an export with nothing changed since the last holds %d people and %d attributes", last.People, last.Attributes)
			}

			ms := manifests(t, dir)
			checkChain(t, ms)
			var dumps []dump
			for _, m := range ms {
				dumps = append(dumps, read(t, dir, m, "ndjson"))
			}
			people, attrs := storeView(t, st)
			if got, want := describe(replay(dumps)), describe(people, attrs); got != want {
				t.Fatalf("the exports loaded in order differ from the store:\n%s\nwant\n%s", got, want)
			}
			// Every attribute change is in an export that reaches its seq: as a row, or
			// as part of the person's first export (which has their attributes as they
			// were then: one set and removed before it needs no row).
			first := map[string]int64{}
			for _, d := range dumps {
				for id := range d.people {
					if _, ok := first[id]; !ok {
						first[id] = d.m.Export
					}
				}
			}
			db, err := sql.Open(backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.Query(`SELECT seq, internal_id, attribute FROM change_log WHERE kind = 'attribute_change'`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			changes, missing := 0, 0
		next:
			for rows.Next() {
				var seq int64
				var k attrKey
				if err := rows.Scan(&seq, &k.id, &k.name); err != nil {
					t.Fatal(err)
				}
				changes++
				for _, d := range dumps {
					_, row := d.attrs[k]
					if d.m.ChangeLog.ThroughSeq >= seq && (row || first[k.id] == d.m.Export) {
						continue next
					}
				}
				missing++
			}
			if missing > 0 || changes == 0 {
				t.Fatalf("%d of %d attribute changes are in no export", missing, changes)
			}
			t.Logf("%d exports while writing, %d attribute changes", exports, changes)
		})
	}
}

// write runs batches of random changes to random people: attributes set and removed,
// new people. Each transaction stays open a few milliseconds after its writes.
func write(ctx context.Context, st *store.Store, settings identity.Settings, worker, batches int) error {
	r := rand.New(rand.NewPCG(uint64(worker), 1))
	pl := &identity.Planner{Settings: settings}
	for b := 0; b < batches; b++ {
		var rows []*record.Record
		for i := 0; i < 10; i++ {
			id := fmt.Sprintf("u%d", r.IntN(200))
			if r.IntN(10) == 0 {
				id = fmt.Sprintf("w%d-%d-%d", worker, b, i) // a new person
			}
			var as []record.Attr
			for a := 0; a < 3; a++ {
				var v json.RawMessage // nil removes
				if r.IntN(4) > 0 {
					v = json.RawMessage(fmt.Sprint(r.IntN(1000)))
				}
				as = append(as, record.Attr{Name: fmt.Sprintf("a%d", r.IntN(6)), Value: v})
			}
			rows = append(rows, &record.Record{Key: id, ID: id, Attrs: dedupe(as)})
		}
		pause := time.Duration(r.IntN(10)) * time.Millisecond
		err := st.InTx(ctx, func(tx *store.Tx) error {
			sync := fmt.Sprintf("w%d", worker)
			people, err := pl.Plan(ctx, tx, sync, rows)
			if err != nil {
				return err
			}
			if err := tx.Write(ctx, sync, 0, rows, people); err != nil {
				return err
			}
			time.Sleep(pause)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func dedupe(as []record.Attr) []record.Attr {
	seen := map[string]bool{}
	var out []record.Attr
	for _, a := range as {
		if !seen[a.Name] {
			seen[a.Name] = true
			out = append(out, a)
		}
	}
	return out
}
