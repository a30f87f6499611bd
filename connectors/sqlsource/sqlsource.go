// Package sqlsource is the keyset reader the database/sql sources share
// (connectors/postgres, connectors/mysql, connectors/sqlite). A source package
// opens a *sql.DB and gives a Dialect: how the database quotes names, numbers
// its parameters, writes "after the cursor", and reads each column's values.
// Everything else is here, once:
//
//   - a `table:` sync reads `SELECT * FROM "schema"."table"`, every identifier
//     quoted; a `query:` sync reads `SELECT * FROM (<query>) AS dbsync_src`, with
//     each {{last_sync_time}} bound as its own parameter;
//   - at Read, a `LIMIT 0` probe learns the columns and their types, so cursor
//     values are bound in the source's own type and time zone (a column may
//     first look at the data to choose how: Column.Adapt); one COUNT query
//     counts the rows left out for a NULL watermark column or key;
//   - a `table:` sync with a watermark reads each batch with a query of its own:
//     the rows strictly after the last row of the previous batch in (column, key)
//     order, LIMIT BatchSize, which an index on (column, key) serves, in a short
//     transaction; memory stays flat whatever the table size;
//   - a `query:` sync reads its query once per Read, as one streaming statement
//     (the rows after the cursor in (column, key) order, no LIMIT) handed out in
//     batches: a keyset query per batch would run a GROUP BY or a join again for
//     each batch. A read without a watermark is one streaming query too;
//   - a batch ends at BatchSize rows or at Request.BatchBytes of row data
//     (connectors.RowBytes); each carries its rows' cursors and flags a key
//     repeated at the cursor (connectors.NewBatch);
//   - every query runs in a read-only transaction that is rolled back.
package sqlsource

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/internal/columns"
	"github.com/dbsync/dbsync/value"
)

// DefaultBatchSize is the batch size of a Request that gives none.
const DefaultBatchSize = 5000

// Dialect is what one database does differently.
type Dialect interface {
	// Quote returns name as a quoted identifier: read as a name, whatever it holds.
	Quote(name string) string
	// Placeholder is the marker of the n-th bound parameter, from 1.
	Placeholder(n int) string
	// AtOrAfter is the condition for rows at or after (value, key) in (col, key)
	// order; col and key are SQL expressions. bind adds a parameter and returns
	// its placeholder.
	AtOrAfter(col, key string, value, k any, bind func(any) string) string
	// Columns says how to read each column a probe found. table is nil for a
	// query: sync.
	Columns(ctx context.Context, db *sql.DB, table *Table, probe []*sql.ColumnType) ([]Column, error)
}

// Table is a `table:` sync's table; Schema is empty when the name has no dot.
type Table struct {
	Schema, Name string
}

// Column is how a dialect reads one selected column.
type Column struct {
	Name string
	Type string // the source's own type name, for messages

	// Decode turns a non-NULL driver value into one of the connectors value
	// types. Data it cannot represent becomes value.Invalid; an error means
	// the driver gave a Go type the dialect did not expect. nil passes values on.
	Decode func(v any) (value.Value, error)
	// Bind turns a cursor value back into a parameter compared with Order. nil:
	// the column cannot be a watermark or key.
	Bind func(v any) (any, error)

	Select string // how the column is selected; "" selects it by its quoted name
	Order  string // what it is compared and sorted by; "" is its quoted name

	// Adapt, when set, is called at Read when the column is the watermark
	// column or key, with what the sync reads FROM, that clause's parameters
	// and a read-only transaction to look at the rows in. It returns the column
	// as this read binds, compares and sorts it (SQLite compares dates and
	// times as stored when they all have one form, so an index serves the
	// keyset query).
	Adapt func(ctx context.Context, tx *sql.Tx, from string, args []any) (Column, error)
}

// Config is an opened database/sql source.
type Config struct {
	DB      *sql.DB
	Dialect Dialect
	Spec    connectors.Spec
	// Where names the source in errors without a secret: "postgres 10.0.0.5:5432/app".
	Where string
}

// Open checks that the source answers and returns it; it closes cfg.DB when it
// does not.
// Spec.ConnectTimeout bounds the connecting; a connection refused or timed out is
// wrapped with connectors.ErrConnection, so that a caller may try again.
func Open(ctx context.Context, cfg Config) (connectors.Source, error) {
	pctx := ctx
	if d := cfg.Spec.ConnectTimeout; d > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := ping(pctx, cfg.DB); err != nil {
		cfg.DB.Close()
		s := &source{cfg: cfg}
		if errors.Is(pctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("sync %s: connect to %s: %w: no answer within source.connect_timeout (%s)",
				cfg.Spec.Sync, cfg.Where, connectors.ErrConnection, cfg.Spec.ConnectTimeout)
		}
		if s.lost(err) {
			return nil, fmt.Errorf("sync %s: connect to %s: %w: %w", cfg.Spec.Sync, cfg.Where, connectors.ErrConnection, err)
		}
		return nil, fmt.Errorf("sync %s: connect to %s: %w", cfg.Spec.Sync, cfg.Where, err)
	}
	return &source{cfg: cfg}, nil
}

// ping is db.PingContext that returns when ctx ends even if the driver does not
// watch ctx while it dials or greets the server (the ping goes on in the
// background and closes with the db).
func ping(ctx context.Context, db *sql.DB) error {
	done := make(chan error, 1)
	go func() { done <- db.PingContext(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// QueryCanceler is a Dialect whose driver, when a query's context is cancelled,
// only drops the connection and leaves the statement running on the server
// (MySQL's): it names a transaction's session, and cancels that session's
// statement from another connection.
type QueryCanceler interface {
	SessionID(ctx context.Context, tx *sql.Tx) (int64, error)
	CancelQuery(ctx context.Context, db *sql.DB, id int64) error
}

var errReadTimeout = errors.New("read timeout")

// bound returns ctx bounded by Spec.ReadTimeout.
func (s *source) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d := s.cfg.Spec.ReadTimeout; d > 0 {
		return context.WithTimeoutCause(ctx, d, errReadTimeout)
	}
	return context.WithCancel(ctx)
}

// timedOut replaces err with connectors.ErrReadTimeout when qctx passed the read
// timeout.
func (s *source) timedOut(qctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(qctx), errReadTimeout) {
		return fmt.Errorf("%w: no rows from the source within source.read_timeout (%s); the query was cancelled",
			connectors.ErrReadTimeout, s.cfg.Spec.ReadTimeout)
	}
	return err
}

// cancelOnServer makes the end of qctx cancel the statement tx's session runs,
// for a dialect that needs it. The returned func stops that (call it before qctx
// is cancelled on success).
func (s *source) cancelOnServer(qctx context.Context, tx *sql.Tx) (func() bool, error) {
	qc, ok := s.cfg.Dialect.(QueryCanceler)
	if !ok {
		return func() bool { return true }, nil
	}
	id, err := qc.SessionID(qctx, tx)
	if err != nil {
		return nil, fmt.Errorf("session id: %w", err)
	}
	return context.AfterFunc(qctx, func() {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(qctx), 10*time.Second)
		defer cancel()
		qc.CancelQuery(kctx, s.cfg.DB, id) //nolint:errcheck // best effort: the connection is dropped anyway
	}), nil
}

type source struct {
	cfg Config
}

func (s *source) Close() error { return s.cfg.DB.Close() }

// LostConnection is a Dialect that can tell, from its driver's errors, that the
// connection to the database was lost (PostgreSQL's connection exceptions, MySQL's
// "server has gone away").
type LostConnection interface {
	LostConnection(err error) bool
}

// lost says whether a read failed because the connection was lost or refused, so
// that a new read may get past it.
func (s *source) lost(err error) bool {
	var netErr net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &netErr) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	d, ok := s.cfg.Dialect.(LostConnection)
	return ok && d.LostConnection(err)
}

// readError wraps a failed read's error: with connectors.ErrConnection when the
// connection was lost.
func (s *source) readError(what string, err error) error {
	if s.lost(err) {
		return s.errorf("%s: %w: %w", what, connectors.ErrConnection, err)
	}
	return s.errorf("%s: %w", what, err)
}

// errorf is fmt.Errorf with the sync and the source named in front.
func (s *source) errorf(format string, args ...any) error {
	args = append([]any{s.cfg.Spec.Sync, s.cfg.Where}, args...)
	return fmt.Errorf("sync %s: %s: "+format, args...)
}

// Read implements connectors.Source.
func (s *source) Read(ctx context.Context, req connectors.Request) (connectors.Stream, error) {
	spec := s.cfg.Spec
	d := s.cfg.Dialect
	batch := req.BatchSize
	switch {
	case batch == 0:
		batch = DefaultBatchSize
	case batch < 0:
		return nil, s.errorf("batch size %d: must be positive", batch)
	}
	from, table, baseArgs, err := fromClause(d, spec, req.LastSyncTime)
	if err != nil {
		return nil, s.errorf("%w", err)
	}
	cols, err := s.describe(ctx, from, table, baseArgs)
	if err != nil {
		return nil, err
	}
	if req.BatchBytes < 0 {
		return nil, s.errorf("batch bytes %d: must not be negative", req.BatchBytes)
	}
	st := &stream{src: s, from: from, baseArgs: baseArgs, batch: batch, bytes: req.BatchBytes, cols: cols, wm: -1, key: -1}
	st.selectList = selectList(d, cols)
	if spec.Watermark.Column == "" {
		if err := st.startStreamed(ctx); err != nil {
			return nil, err
		}
		return st, nil
	}
	if st.wm, err = findColumn(cols, spec.Watermark.Column); err != nil {
		return nil, s.errorf("watermark.column: %w", err)
	}
	if st.key, err = findColumn(cols, spec.Watermark.Key); err != nil {
		return nil, s.errorf("watermark.key: %w", err)
	}
	for _, i := range []int{st.wm, st.key} {
		if cols[i].Bind == nil {
			return nil, s.errorf("column %q (%s) cannot be a watermark column or key", cols[i].Name, cols[i].Type)
		}
		if adapt := cols[i].Adapt; adapt != nil {
			var c Column
			err := s.readOnly(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
				c, err = adapt(ctx, tx, from, baseArgs)
				return err
			})
			if err != nil {
				return nil, s.errorf("look at column %q: %w", cols[i].Name, err)
			}
			cols[i] = c
		}
	}
	st.wmExpr, st.keyExpr = orderExpr(d, cols[st.wm]), orderExpr(d, cols[st.key])
	if req.After != nil && req.After.Value != nil {
		after := *req.After
		st.after = &after
		if after.Key != nil {
			st.unseen = 1 // the cursor's own row, read by an earlier Read
		}
	}
	if err := st.countNulls(ctx); err != nil {
		return nil, err
	}
	if table == nil {
		// A query is read once, streamed: a keyset query per batch would run the
		// whole query again for each batch (a GROUP BY, a join).
		if err := st.startStreamed(ctx); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Describe implements connectors.Describer: the columns the sync selects.
func (s *source) Describe(ctx context.Context) ([]value.Column, error) {
	from, table, args, err := fromClause(s.cfg.Dialect, s.cfg.Spec, 0)
	if err != nil {
		return nil, s.errorf("%w", err)
	}
	cols, err := s.describe(ctx, from, table, args)
	if err != nil {
		return nil, err
	}
	out := make([]value.Column, len(cols))
	for i, c := range cols {
		out[i] = value.Column{Name: c.Name, Type: c.Type}
	}
	return out, nil
}

// UniqueIndexer is a Dialect that can say whether a table has a unique index (or
// primary key) of only the given column.
type UniqueIndexer interface {
	UniqueIndexed(ctx context.Context, db *sql.DB, t Table, column string) (bool, error)
}

// UniqueIndexed implements connectors.KeyChecker.
func (s *source) UniqueIndexed(ctx context.Context, column string) (bool, error) {
	ui, ok := s.cfg.Dialect.(UniqueIndexer)
	if !ok || s.cfg.Spec.Table == "" {
		return false, connectors.ErrNoIndexCheck
	}
	t, err := ParseTable(s.cfg.Spec.Table)
	if err != nil {
		return false, s.errorf("%w", err)
	}
	ok, err = ui.UniqueIndexed(ctx, s.cfg.DB, t, column)
	if err != nil {
		return false, s.errorf("read indexes of %s: %w", s.cfg.Spec.Table, err)
	}
	return ok, nil
}

// describe probes the source with LIMIT 0 for its columns and their types.
func (s *source) describe(ctx context.Context, from string, table *Table, args []any) ([]Column, error) {
	var types []*sql.ColumnType
	err := s.readOnly(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := query(ctx, tx, "SELECT * FROM "+from+" LIMIT 0", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if types, err = rows.ColumnTypes(); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return nil, s.errorf("describe columns: %w", err)
	}
	cols, err := s.cfg.Dialect.Columns(ctx, s.cfg.DB, table, types)
	if err != nil {
		return nil, s.errorf("describe columns: %w", err)
	}
	return cols, nil
}

// query runs one statement that holds user SQL as a prepared statement, so that
// it reaches the source as one statement with bound parameters, never through a
// protocol that runs several (lib/pq's simple query protocol, which it uses for a
// query without parameters; MySQL's text protocol with multiStatements): a
// query: sync that smuggles in "; COMMIT; DROP TABLE ..." fails to prepare. The
// statement is closed with the transaction.
func query(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	stmt, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

// readOnly runs f in a read-only transaction and rolls it back. f gets ctx
// bounded by Spec.ReadTimeout; when that passes, the statement is cancelled on
// the server and the error is connectors.ErrReadTimeout.
func (s *source) readOnly(ctx context.Context, f func(context.Context, *sql.Tx) error) error {
	qctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.cfg.DB.BeginTx(qctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s.timedOut(qctx, fmt.Errorf("begin read-only transaction: %w", err))
	}
	defer tx.Rollback()
	stop, err := s.cancelOnServer(qctx, tx)
	if err != nil {
		return s.timedOut(qctx, err)
	}
	defer stop()
	return s.timedOut(qctx, f(qctx, tx))
}

// findColumn finds a watermark column or key among the selected columns by the
// one rule of SPEC §3 (columns.Find).
func findColumn(cols []Column, name string) (int, error) {
	if name == "" {
		return -1, errors.New("not set")
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return columns.Find(names, name)
}
