// Command quickstart shows dbsync end to end with nothing but Go: it creates a small
// SQLite "app database" with a users table, syncs it into the embedded store, changes
// a few rows, and syncs again — the second run reads only the changed rows.
//
//	go run ./examples/quickstart
//
// Everything it makes is in ./quickstart (the source, the store and dbsync.yaml), so
// the dbsync commands it prints at the end can be tried on it.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	_ "modernc.org/sqlite"

	"github.com/dbsync/dbsync/config"
	_ "github.com/dbsync/dbsync/connectors/sqlite"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/store"
)

const dir = "quickstart"

const configYAML = `# Written by go run ./examples/quickstart
store:
  driver: sqlite
  dsn: quickstart/dbsync.db
workspace:
  identifiers: [id, email]
syncs:
  - name: app_users
    schedule: "@every 1m"
    source:
      type: sqlite
      dsn: quickstart/app.db
    table: users
    watermark: {column: updated_at, key: row_id}
    identifiers: {id: user_id, email: email}
    attributes:
      name: full_name
      plan: plan
      signed_up_at: signed_up_at
    batch_size: 100
`

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "dbsync.yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML), 0o644); err != nil {
		return err
	}
	src, err := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		return err
	}
	defer src.Close()
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	if err := seed(ctx, src, start); err != nil {
		return fmt.Errorf("create the sample source: %w", err)
	}
	fmt.Printf("Created %s/app.db: a users table with 300 rows (case-variant emails, a lead\n"+
		"without an id, a row that tries to change an id). Config: %s\n\n", dir, cfgPath)

	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		return err
	}
	defer st.Close()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	eng := &engine.Engine{Store: st, Settings: cfg.Workspace.Settings(), Log: log}

	fmt.Println("== First run: every row is new")
	res := eng.Run(ctx, cfg.Syncs[0], engine.Options{})
	res.WriteSummary(os.Stdout)
	if res.Err != nil {
		return res.Err
	}

	// The app changes three users and a lead signs up.
	later := start.Add(48 * time.Hour).Format("2006-01-02 15:04:05.000000")
	stmts := []string{
		`UPDATE users SET plan = 'enterprise', updated_at = '` + later + `' WHERE user_id IN ('u1', 'u2', 'u3')`,
		`INSERT INTO users (user_id, email, full_name, plan, signed_up_at, updated_at)
		 VALUES (NULL, 'new.lead@example.com', 'New Lead', NULL, NULL, '` + later + `')`,
	}
	for _, q := range stmts {
		if _, err := src.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	fmt.Println("\n== Second run, after 3 users changed and a lead signed up: only those rows are read")
	res = eng.Run(ctx, cfg.Syncs[0], engine.Options{})
	res.WriteSummary(os.Stdout)
	if res.Err != nil {
		return res.Err
	}

	fmt.Printf(`
Look around:
  go run ./cmd/dbsync people get -c %[1]s u1
  go run ./cmd/dbsync people get -c %[1]s ANN.LEE@example.com
  go run ./cmd/dbsync people log -c %[1]s u7
  go run ./cmd/dbsync rejected -c %[1]s
  go run ./cmd/dbsync runs -c %[1]s
`, cfgPath)
	return nil
}

// seed creates the users table: 300 rows, one updated_at each, with the cases a real
// table has.
func seed(ctx context.Context, db *sql.DB, start time.Time) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE users (
		row_id       INTEGER PRIMARY KEY,
		user_id      TEXT,
		email        TEXT,
		full_name    TEXT,
		plan         TEXT,
		signed_up_at DATETIME,
		updated_at   DATETIME
	)`)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO users (user_id, email, full_name, plan, signed_up_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	plans := []string{"free", "pro", "team"}
	ts := func(i int) string {
		return start.Add(time.Duration(i) * time.Minute).Format("2006-01-02 15:04:05.000000")
	}
	for i := 1; i <= 296; i++ {
		email := fmt.Sprintf("user%d@example.com", i)
		name := fmt.Sprintf("User %d", i)
		if i == 7 {
			email, name = "Ann.Lee@example.com", "Ann Lee"
		}
		if _, err := ins.ExecContext(ctx, fmt.Sprintf("u%d", i), email, name, plans[i%3], ts(i-1000), ts(i)); err != nil {
			return err
		}
	}
	extra := [][]any{
		// The same person as u7, her email in another case: one person, not two.
		{nil, "ann.lee@EXAMPLE.com", "Ann Lee", "pro", nil, ts(297)},
		// A lead: an email and no id yet.
		{nil, "lead@example.com", "A Lead", nil, nil, ts(298)},
		// A row that tries to give u5's email another id: the id does not change.
		{"u5-renamed", "user5@example.com", "User Five", "pro", nil, ts(299)},
		// No identifier at all: rejected and recorded.
		{nil, nil, "Nobody", "free", nil, ts(300)},
	}
	for _, r := range extra {
		if _, err := ins.ExecContext(ctx, r...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
