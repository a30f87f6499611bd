package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/dbsync/dbsync/connectors"
)

// BenchmarkRead reads a 200,000-row table as a table: sync (a keyset query a batch)
// and as a query: sync of the same rows (one streaming query), in batches of 5,000
// and 500, and reports rows/s and the heap in use after the first batch and at its
// peak: the driver reads a streaming query's rows as they are asked for, so the
// peak stays close to the first batch's.
//
//	go test -run ^$ -bench Read ./connectors/mysql
func BenchmarkRead(b *testing.B) {
	db := newDB(b)
	for _, q := range []string{
		`CREATE TABLE users (id bigint PRIMARY KEY, updated_at datetime(6) NOT NULL, email varchar(64), plan varchar(16),
			score decimal(10,2), INDEX (updated_at, id))`,
		`INSERT INTO users SELECT seq, TIMESTAMPADD(SECOND, seq DIV 10, '2024-01-01'), CONCAT('user', seq, '@example.com'),
			IF(seq % 3 = 0, 'pro', 'free'), (seq % 1000) / 10.0 FROM seq_1_to_200000`,
		`ANALYZE TABLE users`,
	} {
		if _, err := db.SQL.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	for _, batch := range []int{5000, 500} {
		for _, how := range []string{"table", "query"} {
			spec := db.Source
			spec.Sync, spec.Table = "bench", "users"
			if how == "query" {
				spec.Table, spec.Query = "", "SELECT id, updated_at, email, plan, score FROM users"
			}
			spec.Watermark = connectors.Watermark{Column: "updated_at", Key: "id"}
			b.Run(fmt.Sprintf("%s/batch=%d", how, batch), func(b *testing.B) { benchRead(b, spec, batch) })
		}
	}
}

func benchRead(b *testing.B, spec connectors.Spec, batch int) {
	const rows = 200_000
	ctx := context.Background()
	src, err := Open(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var first, peak uint64
	var m runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		st, err := src.Read(ctx, connectors.Request{BatchSize: batch})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			got, err := st.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(got.Rows)
			runtime.ReadMemStats(&m)
			if first == 0 {
				first = m.HeapInuse
			}
			peak = max(peak, m.HeapInuse)
		}
		st.Close()
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(first)/(1<<20), "MiB-heap-first-batch")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-heap-peak")
}
