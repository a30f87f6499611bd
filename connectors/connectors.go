// Package connectors reads changed rows from a customer's database. Each source type
// is its own package (connectors/postgres, connectors/mysql, connectors/sqlite,
// connectors/bigquery) that registers itself here; every one passes the same
// conformance suite (connectors/conformance).
//
// A source reads rows in (watermark column, key) order strictly after a cursor, in
// batches, and hands back values in a small set of Go types (package value), so mapping
// never needs to know which database a value came from.
//
// # Adding a source type
//
//  1. A package of its own, connectors/NAME, with an Opener that returns a Source
//     (Read after a cursor, Close) and, where the database can answer them, Describer,
//     KeyChecker and Checker for `validate --connect`. A database/sql source builds
//     on connectors/sqlsource; errors never show a DSN or a credential.
//  2. Register in the package's init: connectors.Register("NAME", Open). A type
//     registered twice panics.
//  3. A test that runs the conformance suite, conformance.Run(t, harness) (and
//     conformance.RunDaylightSaving where the source has zone-less times), against
//     the real database or an emulator started in the test, never a mock; a
//     database/sql source implements the harness with connectors/conformance/sqlharness.
//     The connector is done when the suite passes.
//  4. The config's list of types: a Source constant in config/validate.go, in
//     config.SourceTypes, with the fields the type needs (and the ones it refuses)
//     in validateSource and config.Source, and config.Sync.Spec passing them on.
//  5. A blank import in cmd/dbsync/main.go, so the binary has it.
//     config/sourcetypes_test.go fails until steps 2, 4 and 5 agree, and names what
//     is missing.
//  6. config.example.yaml (an example sync, every new option with a comment) and
//     the README's "Pointing it at your database" and Layout table.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/dbsync/dbsync/value"
)

// Spec says where a sync reads from and what. It comes from one `syncs[]` entry of
// the config.
type Spec struct {
	Sync string // the sync's name, for errors

	Type     string
	DSN      string         // postgres, mysql, sqlite; never printed
	Timezone *time.Location // how zone-less DATETIME/TIMESTAMP values are read; nil means UTC

	// BigQuery.
	Project, Dataset, Location, CredentialsFile, Endpoint string
	Anonymous                                             bool

	// Exactly one of Table and Query.
	Table string // may be schema-qualified: "public.users"
	Query string // may use {{last_sync_time}}

	Watermark Watermark // empty Column: no cursor, every run reads every row

	// ConnectTimeout bounds Open (0: no bound); ReadTimeout bounds each wait for
	// rows from the source (0: no bound): a read that passes it is cancelled on the
	// server and fails with ErrReadTimeout.
	ConnectTimeout, ReadTimeout time.Duration
}

// Watermark names the cursor columns: rows are read in (Column, Key) order. Key is unique.
type Watermark struct {
	Column string
	Key    string
}

// Request is one run's read.
type Request struct {
	After     *value.Cursor // nil: from the first row
	BatchSize int
	// BatchBytes, when positive, also ends a batch: at the row that brings its
	// RowBytes to BatchBytes or more (a batch has at least one row). 0: rows only.
	BatchBytes   int64
	LastSyncTime int64 // Unix seconds for {{last_sync_time}}, bound as a parameter
}

// Source is an open connection to one sync's source.
type Source interface {
	// Read starts reading the rows after req.After. Rows whose watermark column is
	// NULL are never returned; the stream counts them.
	//
	// "After" is strictly after the cursor in (column, key) order, with one
	// exception: rows that tie the cursor on both column and key (a key that is
	// not unique, which a sync reports as duplicate_key) are returned, not passed
	// over. A source reads from the cursor row itself and leaves out that one row,
	// so a repeated key at a batch boundary reaches the sync. A cursor with a nil
	// Key (a lookback restart) reads from Value inclusive.
	//
	// Read finds the watermark column and key among the columns it reads by the
	// rule of SPEC §3 (internal/columns.Find) and fails, naming the sync, when the
	// source has no such column. The rest of a run takes the cursors from the
	// batches (see Stream.Next) and never compares watermark values itself.
	Read(ctx context.Context, req Request) (Stream, error)
	Close() error
}

// Stream hands out a run's rows in batches.
type Stream interface {
	Columns() []value.Column
	// Next returns the next batch of 1 to BatchSize rows, each in Columns order, or
	// io.EOF after the last one. The slices are the caller's to keep. A batch ends
	// early at the row that brings its RowBytes to Request.BatchBytes, and may end
	// anywhere else: the cursors say where the next Read goes on.
	//
	// With a watermark, the batch carries each row's (column, key) in
	// Batch.Cursors, so its Cursor is the last row's, and flags in Batch.Repeated
	// the rows that tie the row before them (the first row of the Read: req.After)
	// on both: build it with NewBatch. Without one, Cursors and Repeated are nil.
	Next(ctx context.Context) (Batch, error)
	// NullCursorRows is how many rows were left out because their watermark column is NULL.
	NullCursorRows() int64
	Close() error
}

// ErrConnection wraps a read's error when the connection to the source was lost or
// refused (a dropped connection, a restarted server): a new Read after the last
// batch may succeed, where reading again after any other error would fail the same way.
var ErrConnection = errors.New("connection to the source lost")

// ErrReadTimeout wraps a read's error when the source returned no rows for
// Spec.ReadTimeout: the query was cancelled. Reading again would wait as long.
var ErrReadTimeout = errors.New("read_timeout passed")

// Checker is a Source that can say more than "it connects" for `validate --connect`:
// for BigQuery, the bytes a run's query would scan.
type Checker interface {
	Check(ctx context.Context) (string, error)
}

// Describer is a Source that can list the columns a sync selects without reading
// rows, for `validate --connect`.
type Describer interface {
	Describe(ctx context.Context) ([]value.Column, error)
}

// ErrNoIndexCheck is returned by KeyChecker.UniqueIndexed when the source cannot
// tell (a query: sync, a source type without the check).
var ErrNoIndexCheck = errors.New("cannot check indexes")

// KeyChecker is a Source that can say whether a `table:` sync's column has a
// unique index (or primary key) of that one column.
type KeyChecker interface {
	UniqueIndexed(ctx context.Context, column string) (bool, error)
}

// Opener opens a Source for a spec.
type Opener func(ctx context.Context, spec Spec) (Source, error)

var (
	mu      sync.Mutex
	openers = map[string]Opener{}
)

// Register makes a source type available to Open. It panics when the type is
// registered twice, which is a programming error.
func Register(typ string, open Opener) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := openers[typ]; dup {
		panic(fmt.Sprintf("connectors: source type %q registered twice", typ))
	}
	openers[typ] = open
}

// Types lists the registered source types.
func Types() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(openers))
	for t := range openers {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ErrUnknownType is returned by Open for a type nobody registered.
var ErrUnknownType = errors.New("unknown source type")

// Open opens the source a spec names.
func Open(ctx context.Context, spec Spec) (Source, error) {
	mu.Lock()
	open, ok := openers[spec.Type]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (forgotten import?)", ErrUnknownType, spec.Type)
	}
	return open(ctx, spec)
}
