package export_test

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// BenchmarkExport exports every person of a store of 20k and of 200k people (six
// attributes each) in Parquet, CSV and NDJSON: the claim, the read, the files and the
// cursor update. The peak heap stays flat as the store grows tenfold: the export
// streams.
//
//	go test ./export -run XXX -bench Export -benchtime 1x
func BenchmarkExport(b *testing.B) {
	for _, backend := range testdb.Stores() {
		for _, n := range []int{20_000, 200_000} {
			b.Run(fmt.Sprintf("%s/people=%d", backend.Driver, n), func(b *testing.B) { benchmarkExport(b, backend, n) })
		}
	}
}

func benchmarkExport(b *testing.B, backend testdb.Store, n int) {
	ctx := context.Background()
	dsn := backend.DSN(b)
	st, err := store.Open(ctx, backend.Driver, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	fill(b, st, n)
	db, err := sql.Open(backend.Driver, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()

	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Everyone changed: this export claims and writes them all.
		list := `INSERT INTO people_pending (ids) SELECT json_agg(internal_id)::text FROM people`
		if backend.Driver == "sqlite" {
			list = `INSERT INTO people_pending (ids) SELECT json_group_array(internal_id) FROM people`
		}
		for _, q := range []string{`UPDATE people SET export_pending = TRUE, exported_log_seq = NULL`, list} {
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		stop := sampleHeap(&peak)
		b.StartTimer()
		res := run(b, st, b.TempDir(), false, "parquet", "csv", "ndjson")
		b.StopTimer()
		stop()
		if res.Manifest.People != int64(n) || res.Manifest.Attributes != int64(6*n) {
			b.Fatalf("exported %d people and %d attributes", res.Manifest.People, res.Manifest.Attributes)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "people/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// sampleHeap records the largest heap in use until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			*peak = max(*peak, m.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

func fill(b *testing.B, st *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	pl := &identity.Planner{Settings: identity.DefaultSettings()}
	for start := 0; start < n; start += 5000 {
		var rows []*record.Record
		for k := start; k < min(start+5000, n); k++ {
			rows = append(rows, &record.Record{Key: fmt.Sprint(k), ID: fmt.Sprintf("user-%d", k), Email: fmt.Sprintf("user%d@example.com", k),
				Attrs: attrs("name", fmt.Sprintf(`"User Number %d"`, k), "plan", `"pro"`, "seats", fmt.Sprint(k%50),
					"signed_up_at", fmt.Sprint(1_600_000_000+k), "country", `"NZ"`, "beta", "true")})
		}
		err := st.InTx(ctx, func(tx *store.Tx) error {
			bt, err := pl.Plan(ctx, tx, "bench", rows)
			if err != nil {
				return err
			}
			return tx.Write(ctx, "bench", 0, rows, bt)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
