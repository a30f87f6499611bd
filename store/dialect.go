package store

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between the two stores. The SQL itself is shared.
type dialect struct {
	name      string
	numbered  bool   // $1 placeholders instead of ?
	maxParams int    // bound parameters per statement
	forUpdate string // row locks for the rows a batch reads, where the database has them
	copy      bool   // plain inserts go through COPY
	open      func(dsn string, create bool) (*sql.DB, error)
	describe  func(dsn string) string // where the store is, without secrets
	retryable func(error) bool        // a collision with a concurrent writer: run the transaction again
	missing   func(error) bool        // the schema is not there: a store never written
	// disconnected: the connection to the store was lost (a restarted server); a
	// transaction run again on a new connection may go through.
	disconnected func(error) bool
	unique       func(error) bool // a unique key was taken
	inList       func(column string) string
	listArg      func([]string) any
}

func dialectFor(driver string) (*dialect, error) {
	switch driver {
	case "", "sqlite":
		return sqliteDialect, nil
	case "postgres":
		return postgresDialect, nil
	}
	return nil, fmt.Errorf("unknown store driver %q (want sqlite or postgres)", driver)
}

var sqliteDialect = &dialect{
	name:      "sqlite",
	maxParams: 32766,
	open:      openSQLite,
	describe: func(dsn string) string {
		path, err := sqliteFile(dsn)
		if err != nil {
			return "(a DSN that does not parse)"
		}
		return path
	},
	retryable: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		code := e.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	},
	missing: func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "no such table")
	},
	disconnected: func(error) bool { return false }, // a file: no connection to lose
	unique: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	inList: func(column string) string { return column + " IN (SELECT value FROM json_each(?))" },
	listArg: func(values []string) any {
		if values == nil {
			values = []string{}
		}
		b, _ := json.Marshal(values)
		return string(b)
	},
}

// sqliteFile is the file a SQLite DSN names: a path, or a file: URI (its query is
// dbsync's to set, and ignored).
func sqliteFile(dsn string) (string, error) {
	if dsn == "" {
		dsn = "dbsync.db"
	}
	path, _, _ := strings.Cut(dsn, "?")
	if rest, ok := strings.CutPrefix(path, "file:"); ok {
		if after, ok := strings.CutPrefix(rest, "//"); ok {
			host, p, _ := strings.Cut(after, "/")
			if host != "" && host != "localhost" {
				return "", &dsnError{"a file: URI names a host other than localhost"}
			}
			rest = "/" + p
		}
		var err error
		if path, err = url.PathUnescape(rest); err != nil {
			return "", &dsnError{"an invalid %-escape in the file: URI (write a % as %25)"}
		}
	}
	if path == "" {
		return "", &dsnError{"no file name"}
	}
	return path, nil
}

// sqliteURI is the file: URI of path with dbsync's parameters.
func sqliteURI(path string, q url.Values) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

// openSQLite opens the file in WAL mode with a busy timeout, so reads (people get)
// go on while a run writes, and writers queue instead of failing. Write transactions
// take the write lock when they begin, so a batch never fails half way to upgrade it.
//
// A reader (create false) never creates or changes the file: it opens an existing
// file without the create flag and sets no pragma that writes; a file it may not
// write is opened read-only, and immutable when its directory does not let SQLite
// create the WAL index (a chmod 0444 file in a 0555 directory).
func openSQLite(dsn string, create bool) (*sql.DB, error) {
	path, err := sqliteFile(dsn)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if create {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		// A checkpoint every walCheckpointPages rather than SQLite's 1000: a batch
		// of thousands of rows writes more than 1000 pages, so the default
		// checkpoints after every commit, copying and syncing the index pages each
		// batch touches again; fewer, larger checkpoints write each such page once.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages))
		q.Set("_txlock", "immediate")
	} else {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoStore
		}
		switch {
		case syscall.Access(path, wOK) == nil:
			q.Set("mode", "rw")
		case syscall.Access(filepath.Dir(path), wOK) == nil || exists(path+"-shm"):
			q.Set("mode", "ro")
		default:
			q.Set("mode", "ro")
			q.Set("immutable", "1")
		}
	}
	db, err := sql.Open("sqlite", sqliteURI(path, q))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	return db, nil
}

// walCheckpointPages is how many pages the SQLite store's WAL grows to before a
// checkpoint copies them into the file: 64 MiB at 4 KiB pages.
const walCheckpointPages = 16384

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

var postgresDialect = &dialect{
	name:      "postgres",
	numbered:  true,
	maxParams: 65535,
	forUpdate: " FOR UPDATE",
	copy:      true,
	open: func(dsn string, _ bool) (*sql.DB, error) {
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres store %s: %w", describePostgres(dsn), errors.New("bad DSN"))
		}
		db.SetMaxOpenConns(8)
		return db, nil
	},
	describe: describePostgres,
	retryable: func(err error) bool {
		var e *pq.Error
		if !errors.As(err, &e) {
			return false
		}
		switch e.Code {
		case "40001", "40P01", "23505": // serialization failure, deadlock, unique key taken concurrently
			return true
		}
		return false
	},
	missing: func(err error) bool {
		var e *pq.Error
		return errors.As(err, &e) && e.Code == "42P01"
	},
	unique: func(err error) bool {
		var e *pq.Error
		return errors.As(err, &e) && e.Code == "23505"
	},
	disconnected: func(err error) bool {
		var e *pq.Error
		if errors.As(err, &e) {
			// connection exceptions; the server shutting down or starting up
			return e.Code.Class() == "08" || e.Code == "57P01" || e.Code == "57P02" || e.Code == "57P03"
		}
		var netErr net.Error
		return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.As(err, &netErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
	},
	inList:  func(column string) string { return column + " = ANY(?)" },
	listArg: func(values []string) any { return pq.Array(values) },
}

// describePostgres names the server and database of a DSN, never the password.
func describePostgres(dsn string) string {
	if isPostgresURL(dsn) {
		if u, err := url.Parse(dsn); err == nil {
			return u.Host + u.Path
		}
		rest := dsn[strings.Index(dsn, "://")+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		rest, _, _ = strings.Cut(rest, "?")
		if strings.ContainsAny(rest, " %") {
			return "(a URL that does not parse)"
		}
		return rest
	}
	opts, err := parseKeyValues(dsn)
	if err != nil {
		return "(a DSN that does not parse)"
	}
	host := opts["host"]
	if opts["port"] != "" {
		host += ":" + opts["port"]
	}
	return host + "/" + opts["dbname"]
}

const wOK = 0x2 // access(2)'s W_OK
