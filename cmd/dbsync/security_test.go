package main

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
)

// TestSecretsNeverPrinted runs syncs that fail in the ways a credential could leak
// (a wrong password, an unknown user, an unreachable host, a TLS failure, a DSN that
// does not parse) through run, validate --connect and state show, and looks for the
// password in everything printed: logs, errors, summaries.
func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "Sup3r-s3cret-pw"
	t.Setenv("DBSYNC_TEST_SECRET_DSN", "postgres://app:"+secret+"@127.0.0.1:1/app?sslmode=disable")
	failing := map[string]string{
		"unreachable":    "${DBSYNC_TEST_SECRET_DSN}",
		"pg_unknown":     "postgres://nobody_here:" + secret + "@127.0.0.1:5432/dbsync_test?sslmode=disable",
		"pg_tls":         "postgres://postgres:" + secret + "@127.0.0.1:5432/dbsync_test?sslmode=verify-full",
		"pg_bad_dsn":     "postgres://app:" + secret + "@127.0.0.1:notaport/app",
		"pg_hash_dsn":    "postgres://app:" + secret[:8] + "#" + secret[8:] + "@127.0.0.1:5432/app",
		"pg_escape_dsn":  "postgres://app:" + secret[:8] + "%ZZ" + secret[8:] + "@127.0.0.1:5432/app",
		"pg_kv_space":    "host=127.0.0.1 user=app password=" + secret[:8] + " " + secret[8:] + " dbname=app",
		"mysql_password": "root:" + secret + "@tcp(127.0.0.1:3306)/mysql",
		"mysql_hash_dsn": "root:" + secret[:8] + "#" + secret[8:] + "@tcp(127.0.0.1:3306/mysql",
		"mysql_bad_dsn":  "root:" + secret + "@tcp(127.0.0.1:3306/mysql",
	}
	var syncs strings.Builder
	for name, dsn := range failing {
		typ := "postgres"
		if strings.HasPrefix(name, "mysql") {
			typ = "mysql"
		}
		fmt.Fprintf(&syncs, `
  - name: %s
    source: {type: %s, dsn: %q}
    table: users
    watermark: {column: updated_at, key: id}
    identifiers: {id: user_id}`, name, typ, dsn)
	}
	cfg := writeConfig(t, "sqlite", testdb.SQLite(t), "", syncs.String())
	var all strings.Builder
	for _, args := range [][]string{
		{"run", "-c", cfg},
		{"validate", "-c", cfg, "--connect"},
		{"state", "show", "-c", cfg},
		{"runs", "-c", cfg},
		{"preview", "-c", cfg, "--sync", "pg_unknown"},
	} {
		code, out, errOut := dbsync(t, args...)
		fmt.Fprintf(&all, "$ dbsync %s (exit %d)\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	printed := all.String()
	if strings.Contains(printed, secret) || strings.Contains(printed, secret[:8]) {
		t.Fatalf("the password was printed:\n%s", printed)
	}
	for name := range failing {
		if !strings.Contains(printed, `{"sync":"`+name+`","status":"failed"`) {
			t.Errorf("sync %s did not fail in the run:\n%s", name, printed)
		}
		if !strings.Contains(printed, `"reason":"sync `+name+`: `) {
			t.Errorf("the failed run of %s has no reason in its JSON line", name)
		}
	}
}

// TestQueriesCannotWrite: a query: sync that tries DELETE, INSERT, UPDATE, or a
// function with a side effect fails and changes nothing, on PostgreSQL and MariaDB.
func TestQueriesCannotWrite(t *testing.T) {
	pgDSN := testdb.Postgres(t)
	pg, err := sql.Open("postgres", pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	myDSN := testdb.MySQL(t)
	my, err := sql.Open("mysql", myDSN+"?multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	for _, q := range []string{
		`CREATE TABLE users (id int PRIMARY KEY, user_id text, updated_at timestamptz)`,
		`INSERT INTO users VALUES (1, 'u1', now()), (2, 'u2', now())`,
		`CREATE TABLE audit (n int)`,
		`CREATE SEQUENCE ticks`,
		`CREATE FUNCTION touch() RETURNS int LANGUAGE sql AS 'INSERT INTO audit VALUES (1) RETURNING n'`,
	} {
		if _, err := pg.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`CREATE TABLE users (id int PRIMARY KEY, user_id varchar(16), updated_at datetime(6))`,
		`INSERT INTO users VALUES (1, 'u1', now(6)), (2, 'u2', now(6))`,
		`CREATE TABLE audit (n int)`,
		`CREATE FUNCTION touch() RETURNS int MODIFIES SQL DATA BEGIN INSERT INTO audit VALUES (1); RETURN 1; END`,
	} {
		if _, err := my.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	writes := map[string][]string{
		"postgres": {
			`WITH d AS (DELETE FROM users RETURNING *) SELECT id, user_id, updated_at FROM d`,
			`WITH i AS (INSERT INTO users VALUES (3, 'u3', now()) RETURNING *) SELECT id, user_id, updated_at FROM i`,
			`WITH u AS (UPDATE users SET user_id = 'x' RETURNING *) SELECT id, user_id, updated_at FROM u`,
			`SELECT id, user_id, updated_at, touch() AS t FROM users`,
			`SELECT id, user_id, updated_at, nextval('ticks') AS t FROM users`,
		},
		"mysql": {
			`SELECT id, user_id, updated_at, touch() AS t FROM users`,
			`SELECT id, user_id, updated_at FROM users WHERE id IN (SELECT touch())`,
		},
	}
	dsns := map[string]string{"postgres": pgDSN, "mysql": myDSN}
	for typ, queries := range writes {
		for i, q := range queries {
			name := fmt.Sprintf("%s_%d", typ, i)
			cfg := writeConfig(t, "sqlite", testdb.SQLite(t), "", fmt.Sprintf(`
  - name: %s
    source: {type: %s, dsn: %q}
    query: %q
    watermark: {column: updated_at, key: id}
    identifiers: {id: user_id}`, name, typ, dsns[typ], q))
			code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
			// A query that is not one SELECT is a bad config naming the sync;
			// one that writes through a function fails when it runs.
			failed := code == exitFailed && strings.Contains(out, name+": failed")
			refused := code == exitUsage && strings.Contains(errOut, "sync "+name+": must be one SELECT")
			if !failed && !refused {
				t.Errorf("%s: a writing query: exit %d\n%s%s", q, code, out, errOut)
			}
		}
	}
	for _, c := range []struct {
		db   *sql.DB
		q    string
		want string
	}{
		{pg, `SELECT count(*) || ':' || string_agg(user_id, ',' ORDER BY id) FROM users`, "2:u1,u2"},
		{pg, `SELECT count(*) || ':' || (SELECT last_value FROM ticks) FROM audit`, "0:1"},
		{my, `SELECT CONCAT(COUNT(*), ':', GROUP_CONCAT(user_id ORDER BY id)) FROM users`, "2:u1,u2"},
		{my, `SELECT CONCAT(COUNT(*), ':') FROM audit`, "0:"},
	} {
		var got string
		if err := c.db.QueryRow(c.q).Scan(&got); err != nil || got != c.want {
			t.Errorf("after the writing queries, %s = %q (%v), want %q", c.q, got, err, c.want)
		}
	}
}

// TestStoreDSNNeverPrinted: a store DSN that does not parse (URL and key=value
// forms, SQLite file: URIs) is a config error (exit 2) from every command that opens
// the store, and one that parses but cannot be reached is exit 1; neither prints the
// password, run through a real process.
func TestStoreDSNNeverPrinted(t *testing.T) {
	const secret = "Sup3rSECRETpw"
	dir := t.TempDir()
	forms := []struct {
		name, driver, dsn string
		code              int // exit code of the commands that open the store
	}{
		{"bad escape", "postgres", "postgres://postgres:pw%ZZ" + secret + "@127.0.0.1:5432/dbsync_test", exitUsage},
		{"raw percent", "postgres", "postgres://postgres:" + secret + "%@127.0.0.1:5432/dbsync_test", exitUsage},
		{"space", "postgres", "postgres://postgres:pw " + secret + "@127.0.0.1:5432/dbsync_test", exitUsage},
		{"bad port", "postgres", "postgres://postgres:" + secret + "@127.0.0.1:notaport/dbsync_test", exitUsage},
		{"missing bracket", "postgres", "postgres://postgres:" + secret + "@[::1:5432/dbsync_test", exitUsage},
		{"kv unquoted space", "postgres", "host=127.0.0.1 password=pw " + secret + " dbname=dbsync_test", exitUsage},
		{"kv open quote", "postgres", "host=127.0.0.1 password='" + secret + " dbname=dbsync_test", exitUsage},
		{"kv trailing backslash", "postgres", "host=127.0.0.1 dbname=dbsync_test password=" + secret + `\`, exitUsage},
		{"url unreachable", "postgres", "postgres://postgres:" + secret + "@127.0.0.1:1/dbsync_test?sslmode=disable", exitFailed},
		{"kv unreachable", "postgres", "host=127.0.0.1 port=1 password=" + secret + " sslmode=disable", exitFailed},
		{"sqlite bad escape", "sqlite", "file:" + dir + "/x%ZZ.db?_pragma=key('" + secret + "')", exitUsage},
		{"sqlite no directory", "sqlite", "file:" + dir + "/nowhere/x.db?_pragma=key('" + secret + "')", exitFailed},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			cfg := writeConfig(t, f.driver, f.dsn, "", `
  - name: s
    schedule: "@every 1m"
    source: {type: sqlite, dsn: unused.db}
    table: users
    identifiers: {id: id}`)
			for _, args := range [][]string{
				{"run"}, {"run", "--dry-run"}, {"serve", "--listen", "127.0.0.1:0"}, {"validate"}, {"validate", "--connect"},
				{"runs"}, {"people", "get", "u1"}, {"people", "log", "u1"}, {"rejected"},
				{"people", "relationships", "u1"}, {"people", "events", "u1"}, {"objects", "get", "account", "a1"},
				{"people", "delete", "u1"}, {"people", "suppress", "u1"}, {"people", "unsuppress", "u1"},
				{"export", "--out", t.TempDir()}, {"preview", "--sync", "s"}, {"state", "show"},
			} {
				cmd, out := process(t, append(args, "-c", cfg)...)
				done := make(chan struct{})
				go func() {
					select {
					case <-done:
					case <-time.After(20 * time.Second):
						cmd.Process.Kill()
					}
				}()
				cmd.Wait()
				close(done)
				code := cmd.ProcessState.ExitCode()
				printed := out.String()
				if strings.Contains(printed, secret) || strings.Contains(printed, secret[:8]) {
					t.Errorf("dbsync %s printed the password:\n%s", strings.Join(args, " "), printed)
				}
				want := f.code
				readsNothing := args[0] == "validate" && len(args) == 1 ||
					f.driver == "sqlite" && want == exitFailed && (args[0] == "people" || args[0] == "objects" || args[0] == "runs" ||
						args[0] == "rejected" || args[0] == "state")
				if want == exitFailed && readsNothing {
					// validate without --connect does not reach the store; a SQLite
					// store that does not exist is empty for the read commands.
					want = map[string]int{"people": exitNotFound, "objects": exitNotFound}[args[0]]
				}
				if code != want {
					t.Errorf("dbsync %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, printed)
				}
			}
		})
	}
}
