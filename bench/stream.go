package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The query scenario (issue 18): a query: sync whose query is a GROUP BY over
// orders, at two sizes and two batch sizes. Its time should grow with the rows and
// not with the number of batches: the query is read once per run.
var (
	queryRows    = []int{100_000, 200_000}
	queryBatches = []int{100, 1000}
)

// The wide scenario (issue 18): rows of 50 text columns of 200 bytes, at batch_size
// 5000 and 50000, for peak RSS; batch_bytes (default) bounds what a batch holds.
const (
	wideRows    = 60_000
	wideColumns = 50
)

var wideBatches = []int{5000, 50000}

// wideBytes is the wide scenario's batch_bytes; "" leaves it to dbsync's default.
var wideBytes string

// generateQueryOrders makes qorders: two orders for each of users users, with the
// users' email beside them, for a GROUP BY query to read as people.
func (b *bench) generateQueryOrders(ctx context.Context, users int) error {
	qs := []string{
		`DROP TABLE IF EXISTS qorders`,
		`CREATE TABLE qorders (order_id bigint PRIMARY KEY, user_id bigint NOT NULL, email text NOT NULL,
			amount numeric(12, 2) NOT NULL, created_at timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO qorders SELECT i, 1 + (i - 1) / 2, 'user' || (1 + (i - 1) / 2) || '@example.com',
			(i %% 10000) / 100.0, '2026-01-01'::timestamptz + i * interval '1 millisecond'
			FROM generate_series(1, %d) i`, 2*users),
		`ANALYZE qorders`,
		// The query's result as a table, for a table: sync of the same rows: what
		// writing them takes at each batch size.
		`DROP TABLE IF EXISTS qspenders`,
		`CREATE TABLE qspenders AS SELECT user_id, min(email) AS email, max(created_at) AS last_order_at,
			count(*) AS orders, sum(amount) AS spent FROM qorders GROUP BY user_id`,
		`CREATE INDEX qspenders_cursor ON qspenders (last_order_at, user_id)`,
		`ANALYZE qspenders`,
	}
	for _, q := range qs {
		if _, err := b.pg.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("qorders source: %w", err)
		}
	}
	return nil
}

// queryConfig is the query scenario's sync: one person a user, the watermark the
// user's latest order.
const queryConfig = `store: {driver: postgres, dsn: %[1]q}
syncs:
  - name: spenders
    source: {type: postgres, dsn: %[2]q}
    %[4]s
    watermark: {column: last_order_at, key: user_id}
    batch_size: %[3]d
    identifiers: {id: user_id, email: email}
    exclude: [user_id, email]
`

// spendersQuery is the query scenario's query: one row a user.
const spendersQuery = `query: "SELECT user_id, min(email) AS email, max(created_at) AS last_order_at,
      count(*) AS orders, sum(amount) AS spent FROM qorders GROUP BY user_id"`

// queryBackfill times a query sync of the users (or, with table, a table: sync of
// its result) into a fresh PostgreSQL store.
func (b *bench) queryBackfill(ctx context.Context, users, batch int, table bool) (float64, float64, error) {
	if err := b.freshStore(ctx); err != nil {
		return 0, 0, err
	}
	from := spendersQuery
	if table {
		from = "table: qspenders"
	}
	cfg := filepath.Join(b.dir, "query.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(queryConfig, pgBench+"&search_path=store", pgBench, batch, from)), 0o600); err != nil {
		return 0, 0, err
	}
	secs, rss, err := b.dbsync("run", "-c", cfg)
	if err != nil {
		return 0, 0, err
	}
	return secs, rss, b.wantPeople(ctx, users)
}

// generateWide makes wide: an id, an updated_at and 50 text columns of 200
// bytes, each row's own.
func (b *bench) generateWide(ctx context.Context) error {
	cols, sel := "", ""
	for c := 1; c <= wideColumns; c++ {
		cols += fmt.Sprintf(", c%02d text NOT NULL", c)
		sel += fmt.Sprintf(", substr(m, %d, 200)", c)
	}
	qs := []string{
		`DROP TABLE IF EXISTS wide`,
		`CREATE TABLE wide (id bigint PRIMARY KEY, email text NOT NULL, updated_at timestamptz NOT NULL` + cols + `)`,
		fmt.Sprintf(`INSERT INTO wide SELECT i, 'wide' || i || '@example.com', '2026-01-01'::timestamptz + i * interval '1 millisecond'%s
			FROM (SELECT i, repeat(md5(i::text), 9) AS m FROM generate_series(1, %d) i) g`, sel, wideRows),
		`CREATE INDEX wide_cursor ON wide (updated_at, id)`,
		`ANALYZE wide`,
	}
	for _, q := range qs {
		if _, err := b.pg.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("wide source: %w", err)
		}
	}
	return nil
}

const wideConfig = `store: {driver: postgres, dsn: %[1]q}
syncs:
  - name: wide
    source: {type: postgres, dsn: %[2]q}
    table: wide
    watermark: {column: updated_at, key: id}
    batch_size: %[3]d
    identifiers: {id: id, email: email}
    exclude: [id, email, updated_at]
`

// wideBackfill times a table sync of the wide rows into a fresh PostgreSQL store;
// its peak RSS is the figure that matters.
func (b *bench) wideBackfill(ctx context.Context, batch int) (float64, float64, error) {
	if err := b.freshStore(ctx); err != nil {
		return 0, 0, err
	}
	cfg := filepath.Join(b.dir, "wide.yaml")
	text := fmt.Sprintf(wideConfig, pgBench+"&search_path=store", pgBench, batch)
	if wideBytes != "" {
		text += fmt.Sprintf("    batch_bytes: %s\n", wideBytes)
	}
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return 0, 0, err
	}
	secs, rss, err := b.dbsync("run", "-c", cfg)
	if err != nil {
		return 0, 0, err
	}
	return secs, rss, b.wantPeople(ctx, wideRows)
}

// freshStore empties the PostgreSQL store's schema.
func (b *bench) freshStore(ctx context.Context) error {
	for _, q := range []string{`DROP SCHEMA IF EXISTS store CASCADE`, `CREATE SCHEMA store`} {
		if _, err := b.pg.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// wantPeople checks the PostgreSQL store holds n people: a run that rejected its
// rows would be quick and measure nothing.
func (b *bench) wantPeople(ctx context.Context, n int) error {
	var got int
	if err := b.pg.QueryRowContext(ctx, `SELECT count(*) FROM store.people`).Scan(&got); err != nil {
		return fmt.Errorf("count the people: %w", err)
	}
	if got != n {
		return fmt.Errorf("the store holds %d people, want %d", got, n)
	}
	return nil
}

// intsFlag sets *v from a comma-separated list of positive integers.
func intsFlag(v *[]int) func(string) error {
	return func(s string) error {
		var out []int
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("want positive integers, comma-separated")
			}
			out = append(out, n)
		}
		*v = out
		return nil
	}
}
