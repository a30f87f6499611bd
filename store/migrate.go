package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrations embed.FS

// backfills are the parts of a migration that SQL cannot do; each runs after the
// migration's SQL, in its transaction.
var backfills = map[int]func(ctx context.Context, d *dialect, tx *sql.Tx) error{
	4: foldEmails,
}

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the dialect's numbered SQL files (0001_init.sql, ...).
func (d *dialect) loadMigrations() ([]migration, error) {
	dir := path.Join("migrations", d.name)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrations, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate brings the schema up to date. Each migration runs in its own transaction
// that first claims its version row, so workers starting together apply it once:
// the others wait on that row, then see it taken and move on. No advisory locks, so
// it runs on PostgreSQL-compatible distributed databases too.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := s.d.loadMigrations()
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	// Two workers creating it at once on PostgreSQL: one of them gets an error (a
	// duplicate type or key) although the table is there. It is, if it can be read.
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`
	_, createErr := s.db.ExecContext(ctx, create)
	applied, err := s.schemaVersion(ctx)
	if err != nil {
		if createErr != nil {
			return fmt.Errorf("create schema_migrations: %w", createErr)
		}
		return err
	}
	if latest := ms[len(ms)-1].version; applied > latest {
		return fmt.Errorf("the store's schema is version %d, newer than this dbsync knows (%d): upgrade dbsync", applied, latest)
	}
	for _, m := range ms {
		if m.version <= applied {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func (s *Store) schemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	claim := s.d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?) ON CONFLICT (version) DO NOTHING`)
	res, err := tx.ExecContext(ctx, claim, m.version, time.Now().Unix())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // another worker applied it
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if fill := backfills[m.version]; fill != nil {
		if err := fill(ctx, s.d, tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}
