package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	_ "github.com/dbsync/dbsync/connectors/postgres"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/store"
)

// BenchmarkRun syncs a PostgreSQL users table of b.N rows (10 columns) into an empty
// store, in process, so it can be profiled:
//
//	go test ./sync -run XXX -bench Run/postgres -benchtime 200000x -cpuprofile cpu.out
func BenchmarkRun(b *testing.B) {
	for _, backend := range testdb.Stores() {
		b.Run(backend.Driver, func(b *testing.B) {
			ctx := context.Background()
			srcDSN := testdb.Postgres(b)
			src, err := sql.Open("postgres", srcDSN)
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			for _, q := range []string{
				`CREATE TABLE users (user_id bigint PRIMARY KEY, email text NOT NULL, first_name text, last_name text,
					plan text, country text, seats int, beta boolean, created_at timestamptz, updated_at timestamptz NOT NULL)`,
				fmt.Sprintf(`INSERT INTO users SELECT i, 'user' || i || '@example.com', 'First' || (i %% 1000), 'Last' || (i %% 997),
					(ARRAY['free','pro','team','enterprise'])[1 + i %% 4], (ARRAY['NZ','DE','US','BR','JP'])[1 + i %% 5], i %% 50, i %% 2 = 0,
					'2020-01-01'::timestamptz + i * interval '1 second', '2026-01-01'::timestamptz + i * interval '1 millisecond'
					FROM generate_series(1, %d) i`, b.N),
				`CREATE INDEX users_cursor ON users (updated_at, user_id)`,
				`ANALYZE users`,
			} {
				if _, err := src.Exec(q); err != nil {
					b.Fatal(err)
				}
			}
			st, err := store.Open(ctx, backend.Driver, backend.DSN(b))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			log := logrus.New()
			log.SetOutput(io.Discard)
			eng := &engine.Engine{Store: st, Settings: identity.DefaultSettings(), Log: log}
			s := config.Sync{
				Name:        "users",
				Source:      config.Source{Type: "postgres", DSN: srcDSN},
				Table:       "users",
				Watermark:   &config.Watermark{Column: "updated_at", Key: "user_id"},
				BatchSize:   5000,
				Identifiers: config.Identifiers{ID: "user_id", Email: "email"},
				Exclude:     []string{"user_id", "updated_at"},
				Nulls:       config.NullsIgnore,
			}
			b.ResetTimer()
			res := eng.Run(ctx, s, engine.Options{})
			b.StopTimer()
			if res.Err != nil || res.Created != int64(b.N) {
				b.Fatalf("run: %v, %d created", res.Err, res.Created)
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			d := res.Ended.Sub(res.Started)
			b.ReportMetric(float64(b.N)/d.Seconds(), "rows/s")
			b.ReportMetric(float64(m.HeapInuse)/(1<<20), "heap-MiB")
		})
	}
}
