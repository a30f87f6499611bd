// Package store keeps the identity store: people, the change log, rejected rows,
// watermarks, run history and leases, in SQLite (embedded, one file) or PostgreSQL.
// Both run the same SQL; a dialect holds the few differences.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	// ErrNoStore means the store was never created: read commands find no one.
	ErrNoStore = errors.New("the store does not exist yet")
)

// Store is an open identity store.
type Store struct {
	db       *sql.DB
	d        *dialect
	readOnly bool // opened for reading: Begin refuses, nothing is written
	// stage: PostgreSQL upserts may go through a temporary table (staged), the role
	// being allowed to create one in the database.
	stage bool
	// logSeq: on PostgreSQL, the sequence that numbers change_log (nextSeqs).
	logSeq string
	stmts  *prepared // SQLite's full-chunk INSERTs (insert)
}

// Open opens the store and creates or upgrades its schema. driver is "sqlite"
// (dsn: a file path) or "postgres" (dsn: a URL or key=value string).
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	s, err := open(ctx, driver, dsn, true)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, redact(dsn, err)
	}
	if s.d.copy {
		// Without the privilege (a locked-down role) upserts go as VALUES.
		q := `SELECT has_database_privilege(current_database(), 'TEMPORARY')`
		if err := s.db.QueryRowContext(ctx, q).Scan(&s.stage); err != nil {
			s.Close()
			return nil, redact(dsn, fmt.Errorf("open store: %w", err))
		}
		if err := s.db.QueryRowContext(ctx, changeLogSequence).Scan(&s.logSeq); err != nil {
			s.Close()
			return nil, redact(dsn, fmt.Errorf("open store: %w", err))
		}
	}
	return s, nil
}

// OpenExisting opens a store for reading only, creating and writing nothing: a
// SQLite file that does not exist gives ErrNoStore; one this process may not write
// is opened read-only.
func OpenExisting(ctx context.Context, driver, dsn string) (*Store, error) {
	return open(ctx, driver, dsn, false)
}

// open opens a store for writing (create) or for reading only. Every error it
// returns has the DSN's secrets hidden; a DSN that does not parse is ErrBadDSN.
func open(ctx context.Context, driver, dsn string, create bool) (*Store, error) {
	d, err := dialectFor(driver)
	if err != nil {
		return nil, err
	}
	if err := CheckDSN(driver, dsn); err != nil {
		return nil, err
	}
	db, err := d.open(dsn, create)
	if err != nil {
		return nil, redact(dsn, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, redact(dsn, fmt.Errorf("connect to %s store %s: %w", d.name, d.describe(dsn), err))
	}
	s := &Store{db: db, d: d, readOnly: !create}
	if !d.copy {
		s.stmts = &prepared{db: db}
	}
	return s, nil
}

// Close closes the store.
func (s *Store) Close() error {
	if s.stmts != nil {
		s.stmts.close()
	}
	return s.db.Close()
}

// InProcess reports whether the store's work runs in this process, on its CPUs
// (SQLite), rather than on a server's (PostgreSQL).
func (s *Store) InProcess() bool { return s.d == sqliteDialect }

// Driver is "sqlite" or "postgres".
func (s *Store) Driver() string { return s.d.name }

// Tx is one store transaction: a batch's people, log, rejected rows and cursor
// commit together or not at all.
type Tx struct {
	tx     *sql.Tx
	conn   *sql.Conn // the connection tx runs on, where the dialect bulk-loads with COPY (copyRows)
	stage  bool      // upserts may go through a temporary table (Store.stage)
	logSeq string    // Store.logSeq
	stmts  *prepared // Store.stmts
	// pending: the people LoadPeople found pending export, by cio_id (notPending).
	pending map[string]bool
	d       *dialect
	dry     *overlay // a dry run's: writes stay in memory (BeginDryRun)
}

// Begin starts a write transaction.
func (s *Store) Begin(ctx context.Context) (*Tx, error) {
	if s.readOnly {
		return nil, errors.New("begin: the store is open for reading only")
	}
	if !s.d.copy {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		return &Tx{tx: tx, stmts: s.stmts, d: s.d}, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &Tx{tx: tx, conn: conn, stage: s.stage, logSeq: s.logSeq, d: s.d}, nil
}

// Commit commits the transaction.
func (t *Tx) Commit() error {
	err := t.tx.Commit()
	t.release()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if t.stmts != nil {
		t.stmts.prepareWanted()
	}
	return nil
}

// Rollback abandons the transaction; it is safe after Commit.
func (t *Tx) Rollback() error {
	err := t.tx.Rollback()
	t.release()
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// release gives the transaction's connection back to the pool once it has ended.
func (t *Tx) release() {
	if t.conn != nil {
		t.conn.Close()
		t.conn = nil
	}
}

// InTx runs fn in a transaction and commits it. When two writers collide (a unique
// key taken by a concurrent batch, a deadlock, a busy SQLite file) it rolls back and
// runs fn again, a few times, so fn must start from what it reads in the transaction.
//
// A lost connection to the store (a restarted server) is retried too, with longer
// pauses (0.5 s doubling, about 7 s in all). Running fn again after a commit whose
// answer was lost is safe: fn plans from what the store holds, and rows already
// applied change nothing.
func (s *Store) InTx(ctx context.Context, fn func(*Tx) error) error {
	const attempts = 5
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		err = s.inTx(ctx, fn)
		if err == nil || ctx.Err() != nil {
			return err
		}
		var pause time.Duration
		switch {
		case s.d.retryable(err):
			pause = time.Duration(attempt*attempt) * 20 * time.Millisecond
		case s.d.disconnected(err):
			pause = 500 * time.Millisecond << (attempt - 1)
		default:
			return err
		}
		if attempt < attempts {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(pause):
			}
		}
	}
	return err
}

func (s *Store) inTx(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// IsUniqueViolation reports whether err is a unique key taken, on either store.
func IsUniqueViolation(err error) bool {
	return sqliteDialect.unique(err) || postgresDialect.unique(err)
}

// queryer is what *sql.DB and *sql.Tx share, so reads run in or out of a transaction.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rebind turns the ? placeholders of the shared SQL into the dialect's.
func (d *dialect) rebind(query string) string {
	if !d.numbered {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}
