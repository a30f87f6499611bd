package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	_ "github.com/dbsync/dbsync/connectors/mysql"
	_ "github.com/dbsync/dbsync/connectors/postgres"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/store"
)

// TestDaylightSavingWallClocks syncs a zone-less column (PostgreSQL timestamp,
// MariaDB DATETIME) read in Europe/Berlin across 2024's DST changes, in several
// runs at batch sizes 1 and 100, on both stores: a cursor in the hour clocks skip
// (02:10 on 31 March) or repeat (27 October) loses no row and reads none twice,
// a lookback from it re-reads on the clock, and attributes are Unix seconds of
// the wall clock in Berlin.
func TestDaylightSavingWallClocks(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]struct {
		dsn func(t *testing.T) string
		ddl string
	}{
		"postgres": {func(t *testing.T) string { return testdb.Postgres(t) }, `CREATE TABLE users (row_id int PRIMARY KEY, user_id text, seen_at timestamp(6))`},
		"mysql":    {func(t *testing.T) string { return testdb.MySQL(t) }, `CREATE TABLE users (row_id int PRIMARY KEY, user_id varchar(16), seen_at datetime(6))`},
	}
	runs := [][]string{ // each run's rows, inserted before it
		{"2024-03-31 01:50:00", "2024-03-31 02:10:00"},
		{"2024-03-31 02:40:00", "2024-03-31 03:05:00", "2024-03-31 03:30:00"},
		{"2024-10-27 02:10:00", "2024-10-27 02:10:00"},
		{"2024-10-27 02:30:00", "2024-10-27 03:00:00"},
	}
	for typ, source := range sources {
		for _, backend := range testdb.Stores() {
			for _, batch := range []int{1, 100} {
				t.Run(fmt.Sprintf("%s/%s/batch %d", typ, backend.Driver, batch), func(t *testing.T) {
					ctx := context.Background()
					dsn := source.dsn(t)
					src, err := sql.Open(typ, dsn)
					if err != nil {
						t.Fatal(err)
					}
					defer src.Close()
					exec := func(q string, args ...any) {
						t.Helper()
						if typ == "postgres" {
							q = pgPlaceholders(q)
						}
						if _, err := src.Exec(q, args...); err != nil {
							t.Fatalf("%s: %v", q, err)
						}
					}
					exec(source.ddl)
					st, err := store.Open(ctx, backend.Driver, backend.DSN(t))
					if err != nil {
						t.Fatal(err)
					}
					defer st.Close()
					log := logrus.New()
					log.SetOutput(io.Discard)
					eng := &engine.Engine{Store: st, Settings: identity.DefaultSettings(), Log: log}
					s := config.Sync{
						Name:        "users",
						Source:      config.Source{Type: typ, DSN: dsn, Timezone: "Europe/Berlin"},
						Table:       "users",
						Watermark:   &config.Watermark{Column: "seen_at", Key: "row_id"},
						BatchSize:   batch,
						Identifiers: config.Identifiers{ID: "user_id"},
						Exclude:     []string{"row_id"},
						Nulls:       config.NullsIgnore,
					}
					id := 0
					insert := func(at string) {
						id++
						exec(`INSERT INTO users (row_id, user_id, seen_at) VALUES (?, ?, ?)`, id, fmt.Sprintf("u%d", id), at)
					}
					for r, rows := range runs {
						for _, at := range rows {
							insert(at)
						}
						res := eng.Run(ctx, s, engine.Options{})
						if res.Err != nil {
							t.Fatalf("run %d: %v", r+1, res.Err)
						}
						if res.RowsRead != int64(len(rows)) || res.Created != int64(len(rows)) {
							t.Fatalf("run %d (%s): read %d, created %d; want %d rows, each once",
								r+1, res.CursorBefore.Where(), res.RowsRead, res.Created, len(rows))
						}
					}
					p, err := st.FindPerson(ctx, identity.DefaultSettings(), "u4")
					if want := fmt.Sprint(time.Date(2024, 3, 31, 3, 5, 0, 0, berlin).Unix()); err != nil || string(p.Attributes["seen_at"]) != want {
						t.Errorf("u4 seen_at = %s (%v), want %s", p.Attributes["seen_at"], err, want)
					}

					// A row committed late, three minutes before the cursor: a
					// 5-minute lookback reads it and the cursor's row again.
					s.Lookback = config.Duration(5 * time.Minute)
					insert("2024-10-27 02:57:00")
					res := eng.Run(ctx, s, engine.Options{})
					if res.Err != nil || res.RowsRead != 2 || res.Created != 1 || res.Unchanged != 1 {
						t.Fatalf("lookback run: %v, %s", res.Err, counts(res))
					}
				})
			}
		}
	}
}

// pgPlaceholders numbers a statement's ? placeholders for PostgreSQL.
func pgPlaceholders(q string) string {
	out, n := []byte(nil), 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, fmt.Sprintf("$%d", n)...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}
