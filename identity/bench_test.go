package identity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// BenchmarkBackfill applies b.N new people, each with an id, an email and six
// attributes, in batches of 5000 (one transaction each), then the same rows again
// (all unchanged). It reports rows/s for both passes and the heap in use.
//
//	go test ./identity -run XXX -bench Backfill -benchtime 1000000x
func BenchmarkBackfill(b *testing.B) {
	for _, backend := range testdb.Stores() {
		b.Run(backend.Driver, func(b *testing.B) {
			ctx := context.Background()
			st, err := store.Open(ctx, backend.Driver, backend.DSN(b))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			pl := &identity.Planner{Settings: identity.DefaultSettings()}
			const batch = 5000
			rows := make([]record.Record, batch)
			recs := make([]*record.Record, batch)
			plans := []json.RawMessage{[]byte(`"free"`), []byte(`"pro"`), []byte(`"team"`)}
			fill := func(start int) []*record.Record {
				n := min(batch, b.N-start)
				for i := 0; i < n; i++ {
					k := start + i
					rows[i] = record.Record{
						Key: fmt.Sprint(k), ID: fmt.Sprintf("user-%d", k), Email: fmt.Sprintf("user%d@example.com", k),
						Attrs: []record.Attr{
							{Name: "name", Value: json.RawMessage(fmt.Sprintf(`"User Number %d"`, k))},
							{Name: "plan", Value: plans[k%3]},
							{Name: "seats", Value: json.RawMessage(fmt.Sprint(k % 50))},
							{Name: "signed_up_at", Value: json.RawMessage(fmt.Sprint(1_600_000_000 + k))},
							{Name: "country", Value: json.RawMessage(`"NZ"`)},
							{Name: "beta", Value: json.RawMessage(`true`)},
						},
					}
					recs[i] = &rows[i]
				}
				return recs[:n]
			}
			pass := func() (time.Duration, int) {
				start := time.Now()
				created := 0
				for i := 0; i < b.N; i += batch {
					err := st.InTx(ctx, func(tx *store.Tx) error {
						recs := fill(i)
						people, err := pl.Plan(ctx, tx, "bench", recs)
						if err != nil {
							return err
						}
						created += len(people)
						return tx.Write(ctx, "bench", 0, recs, people)
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start), created
			}
			b.ResetTimer()
			d, created := pass()
			b.StopTimer()
			if created != b.N {
				b.Fatalf("created %d people, want %d", created, b.N)
			}
			again, written := pass()
			if written != 0 {
				b.Fatalf("an unchanged pass wrote %d people", written)
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			b.ReportMetric(float64(b.N)/d.Seconds(), "new-rows/s")
			b.ReportMetric(float64(b.N)/again.Seconds(), "unchanged-rows/s")
			b.ReportMetric(float64(m.HeapInuse)/(1<<20), "heap-MiB")
		})
	}
}
