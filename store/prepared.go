package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// prepared keeps the SQLite store's full-chunk INSERT statements prepared for the
// store's life. The SQLite driver prepares a statement afresh at every Exec, and a
// chunk of 1000 rows is a statement with thousands of placeholders: parsing them
// took 13 % of a backfill's CPU (docs/benchmarks.md). A statement prepared once runs
// the same SQL with the same values, so nothing about an outcome changes.
//
// A statement is prepared after the first transaction that runs it commits, never
// inside one: preparing takes a connection of its own, and one that must wait for
// the pool while the transaction holds SQLite's write lock would wait on writers
// that are themselves waiting for that lock.
//
// PostgreSQL keeps its unnamed statements: a named one would outlive the transaction
// on a server connection a transaction-mode pooler hands to someone else.
type prepared struct {
	db   *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	want map[string]bool // run unprepared; to prepare after the transaction
}

// exec runs q with args in tx: through q's prepared statement when there is one,
// else as it is, noting q for prepareWanted.
func (p *prepared) exec(ctx context.Context, tx *sql.Tx, q string, args []any) error {
	p.mu.Lock()
	st := p.m[q]
	if st == nil {
		if p.want == nil {
			p.want = map[string]bool{}
		}
		p.want[q] = true
	}
	p.mu.Unlock()
	if st == nil {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	in := tx.StmtContext(ctx, st) // prepared on tx's connection once, then reused there
	defer in.Close()
	_, err := in.ExecContext(ctx, args...)
	return err
}

// prepareWanted prepares the statements run unprepared so far. Call it with no
// transaction open in this goroutine. A statement that does not prepare is run
// unprepared again next time.
func (p *prepared) prepareWanted() {
	p.mu.Lock()
	var qs []string
	for q := range p.want {
		qs = append(qs, q)
	}
	p.mu.Unlock()
	for _, q := range qs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := p.db.PrepareContext(ctx, q)
		cancel()
		if err != nil {
			continue
		}
		p.mu.Lock()
		if p.m == nil {
			p.m = map[string]*sql.Stmt{}
		}
		if p.m[q] == nil && p.want != nil { // not closed meanwhile, nor prepared by another
			p.m[q] = st
			delete(p.want, q)
			st = nil
		}
		p.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

func (p *prepared) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.m {
		st.Close()
	}
	p.m, p.want = nil, nil
}
