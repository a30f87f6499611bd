package store

import (
	"context"
	"database/sql"
	"sync"
)

// prepared keeps the SQLite store's full-chunk INSERT statements prepared for the
// store's life. The SQLite driver prepares a statement afresh at every Exec, and a
// chunk of 1000 rows is a statement with thousands of placeholders: parsing them
// took 13 % of a backfill's CPU (docs/benchmarks.md). A statement prepared once runs
// the same SQL with the same values, so nothing about an outcome changes.
//
// PostgreSQL keeps its unnamed statements: a named one would outlive the transaction
// on a server connection a transaction-mode pooler hands to someone else.
type prepared struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// exec runs q with args in tx, through q's prepared statement.
func (p *prepared) exec(ctx context.Context, tx *sql.Tx, q string, args []any) error {
	st, err := p.statement(ctx, q)
	if err != nil {
		return err
	}
	in := tx.StmtContext(ctx, st) // prepared on tx's connection once, then reused there
	defer in.Close()
	_, err = in.ExecContext(ctx, args...)
	return err
}

func (p *prepared) statement(ctx context.Context, q string) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.m[q]; ok {
		return st, nil
	}
	st, err := p.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if p.m == nil {
		p.m = map[string]*sql.Stmt{}
	}
	p.m[q] = st
	return st, nil
}

func (p *prepared) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.m {
		st.Close()
	}
	p.m = nil
}
