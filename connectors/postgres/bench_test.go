package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/dbsync/dbsync/connectors"
)

// BenchmarkRead reads a 200,000-row table in batches of 5,000 and of 500 and reports
// rows/s and the heap in use: after the first batch and at its peak, which stay close
// whatever the table size. It reads it as a table: sync (a keyset query a batch) and
// as a query: sync of the same rows (one streaming query).
//
//	go test -run ^$ -bench Read ./connectors/postgres
func BenchmarkRead(b *testing.B) {
	db := newDB(b)
	for _, q := range []string{
		`CREATE TABLE users (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, email text, plan text, score numeric(10,2), profile jsonb)`,
		`INSERT INTO users SELECT g, timestamptz '2024-01-01' + (g / 10) * interval '1 second', 'user' || g || '@example.com',
			CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END, (g % 1000) / 10.0, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b'))
			FROM generate_series(1, 200000) g`,
		`CREATE INDEX ON users (updated_at, id)`,
		`ANALYZE users`,
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
				spec.Table, spec.Query = "", "SELECT id, updated_at, email, plan, score, profile FROM users"
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
