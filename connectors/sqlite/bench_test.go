package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/dbsync/dbsync/connectors"
)

// BenchmarkRead reads a 200k-row table, with an index on (updated_at, id), in
// batches of 5000, as a first run does:
//
//	go test ./connectors/sqlite -run '^$' -bench BenchmarkRead -benchtime 3x
func BenchmarkRead(b *testing.B) {
	const rows, batch = 200_000, 5000
	for _, bc := range []struct {
		name, value string // value: updated_at of row i, as SQL
	}{
		// Seconds shuffled against id, so the index order is not the key's;
		// three rows a second, so batches end in ties.
		{"text", `strftime('%Y-%m-%d %H:%M:%S', 1700000000 + (i * 7919) % 66667, 'unixepoch') || printf('.%06d', (i * 104729) % 1000000)`},
		{"unix", `1700000000 + (i * 7919) % 66667`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			db := newDB(b)
			for _, q := range []string{
				`CREATE TABLE events (id INTEGER PRIMARY KEY, updated_at DATETIME, note TEXT)`,
				`CREATE INDEX events_updated_at_id ON events (updated_at, id)`,
				fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
				INSERT INTO events SELECT i, %s, 'row ' || i FROM n`, rows, bc.value),
			} {
				if _, err := db.SQL.Exec(q); err != nil {
					b.Fatal(err)
				}
			}
			spec := db.Source
			spec.Sync = "bench"
			spec.Table = "events"
			spec.Watermark = connectors.Watermark{Column: "updated_at", Key: "id"}
			ctx := context.Background()
			src, err := connectors.Open(ctx, spec)
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			b.ResetTimer()
			for range b.N {
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
				}
				st.Close()
				if n != rows {
					b.Fatalf("read %d rows, want %d", n, rows)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
