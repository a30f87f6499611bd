// Package testdb gives each test its own database on the servers that run on the
// development and CI machines (PostgreSQL on 127.0.0.1:5432, MariaDB on
// 127.0.0.1:3306), and drops it when the test ends, so tests run in parallel and
// leave nothing behind. scripts/test starts the servers; a test fails, never skips,
// when they are down.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/lib/pq"
)

// PostgresURL is the test database; DBSYNC_TEST_POSTGRES overrides it.
func PostgresURL() string {
	if v := os.Getenv("DBSYNC_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/dbsync_test?sslmode=disable"
}

// MySQLDSN is the MariaDB/MySQL server, without a database; DBSYNC_TEST_MYSQL overrides it.
func MySQLDSN() string {
	if v := os.Getenv("DBSYNC_TEST_MYSQL"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

func name(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Postgres creates a schema of its own in the test database and returns a DSN whose
// search_path is that schema.
func Postgres(t testing.TB) string {
	t.Helper()
	base := PostgresURL()
	db, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer db.Close()
	schema := name("t_")
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("testdb: create schema on %s (is PostgreSQL up? run scripts/test): %v", base, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("postgres", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// MySQL creates a database of its own and returns a DSN that uses it.
func MySQL(t testing.TB) string {
	t.Helper()
	base := MySQLDSN()
	db, err := sql.Open("mysql", base)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer db.Close()
	dbname := name("t_")
	if _, err := db.Exec("CREATE DATABASE " + dbname); err != nil {
		t.Fatalf("testdb: create database on %s (is MariaDB up? run scripts/test): %v", base, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP DATABASE " + dbname)
	})
	dsn, params, _ := strings.Cut(base, "?")
	if params != "" {
		params = "?" + params
	}
	return strings.TrimSuffix(dsn, "/") + "/" + dbname + params
}

// SQLite returns the path of a new SQLite file in the test's temporary directory.
func SQLite(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), fmt.Sprintf("%s.db", name("t_")))
}

// Store is one of the store backends a suite runs against.
type Store struct {
	Driver string
	DSN    func(t testing.TB) string
}

// Stores lists both store backends, so a suite can run the same tests on each.
func Stores() []Store {
	return []Store{
		{Driver: "sqlite", DSN: SQLite},
		{Driver: "postgres", DSN: Postgres},
	}
}
