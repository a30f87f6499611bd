// Command quickstart shows dbsync end to end with nothing but Go: it creates a small
// SQLite "app database" with users, accounts and account members, syncs them into the
// embedded store as people, objects and relationships, changes a few rows, and syncs
// again — the second run reads only the changed rows of each table.
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
	"io"
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
  - name: accounts
    kind: objects
    object_type: account
    schedule: "@every 1m"
    source:
      type: sqlite
      dsn: quickstart/app.db
    table: accounts
    watermark: {column: updated_at, key: row_id}
    object_id: account_id
    exclude: [row_id, updated_at]
  - name: memberships
    kind: relationships
    object_type: account
    schedule: "@every 1m"
    source:
      type: sqlite
      dsn: quickstart/app.db
    table: account_members
    watermark: {column: updated_at, key: membership_id}
    object_id: account_id
    identifiers: {id: user_id}
    attributes: {role: role}
    remove: removed
`

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run makes the sample in ./quickstart, syncs it twice and prints what each run did
// to w.
func run(ctx context.Context, w io.Writer) error {
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
	if err := seedAccounts(ctx, src, start); err != nil {
		return fmt.Errorf("create the sample accounts: %w", err)
	}
	fmt.Fprintf(w, "Created %s/app.db: a users table with 300 rows (case-variant emails, a lead\n"+
		"without an id, a row that tries to change an id), 5 accounts (one without an id) and\n"+
		"8 account memberships (one of an account and one of a user the tables do not have).\n"+
		"Config: %s\n\n", dir, cfgPath)

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

	// Each sync in the config's order: the people first, then the accounts, then who
	// is in which account.
	runAll := func() error {
		for _, s := range cfg.Syncs {
			res := eng.Run(ctx, s, engine.Options{})
			res.WriteSummary(w)
			if res.Err != nil {
				return res.Err
			}
		}
		return nil
	}
	fmt.Fprintln(w, "== First run: every row is new")
	if err := runAll(); err != nil {
		return err
	}

	// The app changes three users and a lead signs up; Acme buys seats; u3 leaves
	// Acme and u8 becomes an admin of Globex.
	later := start.Add(48 * time.Hour).Format("2006-01-02 15:04:05.000000")
	stmts := []string{
		`UPDATE users SET plan = 'enterprise', updated_at = '` + later + `' WHERE user_id IN ('u1', 'u2', 'u3')`,
		`INSERT INTO users (user_id, email, full_name, plan, signed_up_at, updated_at)
		 VALUES (NULL, 'new.lead@example.com', 'New Lead', NULL, NULL, '` + later + `')`,
		`UPDATE accounts SET seats = 60, updated_at = '` + later + `' WHERE account_id = 'acme'`,
		`UPDATE account_members SET removed = 1, updated_at = '` + later + `' WHERE user_id = 'u3' AND account_id = 'acme'`,
		`UPDATE account_members SET role = 'admin', updated_at = '` + later + `' WHERE user_id = 'u8' AND account_id = 'globex'`,
	}
	for _, q := range stmts {
		if _, err := src.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\n== Second run, after 3 users changed, a lead signed up, Acme bought seats, u3 left Acme\n"+
		"   and u8 became an admin of Globex: only those rows are read")
	if err := runAll(); err != nil {
		return err
	}

	fmt.Fprintf(w, `
Look around:
  go run ./cmd/dbsync people get -c %[1]s u1
  go run ./cmd/dbsync people get -c %[1]s ANN.LEE@example.com
  go run ./cmd/dbsync people log -c %[1]s u7
  go run ./cmd/dbsync people relationships -c %[1]s u1
  go run ./cmd/dbsync objects get -c %[1]s account acme
  go run ./cmd/dbsync objects get -c %[1]s account hooli
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

// seedAccounts creates the accounts table (the objects) and account_members (the
// relationships between users and accounts), with a case each: an account row without
// an id, a membership of an account the accounts table does not have (the account is
// created with no attributes) and one of a user the users table does not have (the
// person is created with only the id).
func seedAccounts(ctx context.Context, db *sql.DB, start time.Time) error {
	ts := func(i int) string {
		return start.Add(time.Duration(i) * time.Minute).Format("2006-01-02 15:04:05.000000")
	}
	stmts := []string{
		`CREATE TABLE accounts (
			row_id     INTEGER PRIMARY KEY,
			account_id TEXT,
			name       TEXT,
			plan       TEXT,
			seats      INTEGER,
			updated_at DATETIME
		)`,
		`CREATE TABLE account_members (
			membership_id INTEGER PRIMARY KEY,
			user_id       TEXT,
			account_id    TEXT,
			role          TEXT,
			removed       BOOLEAN NOT NULL DEFAULT 0,
			updated_at    DATETIME
		)`,
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	accounts := [][]any{
		{"acme", "Acme Inc", "enterprise", 50, ts(1)},
		{"globex", "Globex", "team", 12, ts(2)},
		{"initech", "Initech", "pro", 5, ts(3)},
		{"umbrella", "Umbrella", "free", 1, ts(4)},
		// No account_id: rejected (no_object_id) and recorded.
		{nil, "Nameless", "free", 1, ts(5)},
	}
	for _, a := range accounts {
		if _, err := db.ExecContext(ctx, `INSERT INTO accounts (account_id, name, plan, seats, updated_at) VALUES (?, ?, ?, ?, ?)`, a...); err != nil {
			return err
		}
	}
	members := [][]any{
		{"u1", "acme", "owner"},
		{"u2", "acme", "admin"},
		{"u3", "acme", "member"},
		{"u1", "globex", "member"},
		{"u7", "globex", "owner"},
		{"u8", "globex", "member"},
		// An account the accounts table does not have: created with no attributes.
		{"u10", "hooli", "owner"},
		// A user the users table does not have: the person is created with this id.
		{"u999", "initech", "member"},
	}
	for i, m := range members {
		if _, err := db.ExecContext(ctx, `INSERT INTO account_members (user_id, account_id, role, updated_at) VALUES (?, ?, ?, ?)`,
			append(m, ts(i+1))...); err != nil {
			return err
		}
	}
	return nil
}
