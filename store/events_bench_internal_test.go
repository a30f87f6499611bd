package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/internal/testdb"
)

// BenchmarkWriteEvents writes 100,000 new events, 1,000 to a transaction as an events
// run's batches do, through each way WriteEvents may take on PostgreSQL (COPY, or
// INSERT … ON CONFLICT DO NOTHING) and SQLite's multi-row insert:
//
//	go test ./store -run '^$' -bench WriteEvents -benchtime 3x
func BenchmarkWriteEvents(b *testing.B) {
	const total, batch = 100_000, 1000
	for _, c := range []struct {
		name, driver string
		copy         bool
	}{{"sqlite", "sqlite", false}, {"postgres-copy", "postgres", true}, {"postgres-insert", "postgres", false}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			dsn := testdb.SQLite(b)
			if c.driver == "postgres" {
				dsn = testdb.Postgres(b)
			}
			st, err := Open(ctx, c.driver, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			defer func(was bool) { eventsCopy = was }(eventsCopy)
			eventsCopy = c.copy
			evs := make([]events.Event, batch)
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				for start := 0; start < total; start += batch {
					for i := range evs {
						k := start + i
						evs[i] = events.Event{Sync: "orders", ID: fmt.Sprintf("%d-%07d", n, k), CioID: fmt.Sprintf("cio%06d", k%50_000),
							Name: "purchase", Timestamp: int64(1_700_000_000 + k), Data: []byte(`{"sku":"A-1","total":"12.50","qty":2}`)}
					}
					if err := st.InTx(ctx, func(tx *Tx) error { return tx.WriteEvents(ctx, evs) }); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
