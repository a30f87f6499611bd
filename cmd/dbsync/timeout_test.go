package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
)

// slowSource makes a users table of 4 rows whose query sends rows 1–2 at once and
// then sleeps 30 s, so a batch of rows 1–2 is read and the next waits. The query
// is read once, streamed, so the sleep must come after the database has sent rows
// 1 and 2: PostgreSQL postpones the sleeping function past the query's own ORDER
// BY … LIMIT, which the read's ORDER BY then needs no sort for, and sleeps from row
// 4 (the end of each row waits in its send buffer until the next row comes);
// MariaDB evaluates it as it sends each row, and sleeps from row 3. Each row is
// 28 KB, more than either server buffers. It returns the sync's YAML.
func slowSource(t *testing.T, typ string, extra string) (yaml string, db *sql.DB) {
	t.Helper()
	var dsn, q string
	var setup []string
	switch typ {
	case "postgres":
		dsn = testdb.Postgres(t)
		setup = []string{
			`CREATE TABLE users (id int PRIMARY KEY, email text, updated_at timestamptz)`,
			`INSERT INTO users SELECT i, 'u' || i || '@x.io', '2026-01-01'::timestamptz + i * interval '1 second' FROM generate_series(1, 4) i`,
			`CREATE FUNCTION slow(i int) RETURNS int LANGUAGE plpgsql STABLE AS $$
			 BEGIN IF i >= 4 THEN PERFORM pg_sleep(30); END IF; RETURN i; END $$`,
		}
		q = `SELECT id, email, updated_at, slow(id) AS s, repeat(email, 4000) AS pad FROM users ORDER BY updated_at, id LIMIT 1000`
	case "mysql":
		dsn = testdb.MySQL(t)
		setup = []string{
			`CREATE TABLE users (id int PRIMARY KEY, email varchar(100), updated_at datetime(6))`,
			`INSERT INTO users VALUES (1, 'u1@x.io', '2026-01-01 00:00:01'), (2, 'u2@x.io', '2026-01-01 00:00:02'),
			 (3, 'u3@x.io', '2026-01-01 00:00:03'), (4, 'u4@x.io', '2026-01-01 00:00:04')`,
		}
		q = `SELECT id, email, updated_at, CASE WHEN id >= 3 THEN SLEEP(30) ELSE 0 END AS s, REPEAT(email, 4000) AS pad FROM users`
	}
	driver := map[string]string{"postgres": "postgres", "mysql": "mysql"}[typ]
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, s := range setup {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf(`
  - name: slow
    source: {type: %s, dsn: %q%s}
    query: %q
    watermark: {column: updated_at, key: id}
    batch_size: 2
    identifiers: {email: email}
    exclude: [id, updated_at, s, pad]`, typ, dsn, extra, q), db
}

// lastRun is the newest entry of `dbsync runs --json`.
func lastRun(t *testing.T, cfg string) map[string]any {
	t.Helper()
	code, out, errOut := dbsync(t, "runs", "-c", cfg, "--json", "--limit", "1")
	if code != 0 {
		t.Fatalf("runs: exit %d\n%s%s", code, out, errOut)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &r); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, out)
	}
	return r
}

// sourceQueries says how many statements other than the caller's run on the
// source's server and mention the table's sleeping column.
func sleeping(t *testing.T, typ string, db *sql.DB) int {
	t.Helper()
	q := `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%dbsync_src%'`
	if typ == "mysql" {
		q = `SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND = 'Execute' OR (INFO LIKE '%dbsync_src%' AND ID <> CONNECTION_ID())`
	}
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTimeoutStopsRun: a sync's timeout cancels the read that waits on a sleeping
// query; the batch committed before is kept, the run is failed with reason
// "timeout", run exits 1, and the query no longer runs on the server.
func TestTimeoutStopsRun(t *testing.T) {
	for _, typ := range []string{"postgres", "mysql"} {
		for _, st := range testdb.Stores() {
			t.Run(typ+"/"+st.Driver, func(t *testing.T) {
				syncYAML, db := slowSource(t, typ, "")
				syncYAML = strings.Replace(syncYAML, "batch_size: 2", "batch_size: 2\n    timeout: 2s", 1)
				storeDSN := st.DSN(t)
				cfg := writeConfig(t, st.Driver, storeDSN, "", syncYAML)
				start := time.Now()
				code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
				if code != exitFailed {
					t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
				}
				if d := time.Since(start); d > 20*time.Second {
					t.Fatalf("the run took %s: the timeout did not cancel the read", d)
				}
				if n := len(people(t, st.Driver, storeDSN)); n != 2 {
					t.Fatalf("%d people, want the 2 of the committed batch", n)
				}
				r := lastRun(t, cfg)
				if r["status"] != "failed" || r["reason"] != "timeout" {
					t.Fatalf("run recorded as %v / %v, want failed / timeout", r["status"], r["reason"])
				}
				if n := stillSleeping(t, typ, db); n != 0 {
					t.Fatalf("%d source queries still running after the timeout", n)
				}
			})
		}
	}
}

// TestReadTimeoutLockedTable: a read waiting on a table another session locked
// fails after read_timeout with an error naming the sync and the timeout, and the
// waiting query is cancelled on the server.
func TestReadTimeoutLockedTable(t *testing.T) {
	for _, typ := range []string{"postgres", "mysql"} {
		t.Run(typ, func(t *testing.T) {
			syncYAML, db := slowSource(t, typ, ", read_timeout: 2s")
			syncYAML = strings.Replace(syncYAML, "query:", "table: users\n    #", 1)
			lockConn, err := db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer lockConn.Close()
			if typ == "postgres" {
				if _, err := lockConn.ExecContext(t.Context(), "BEGIN"); err != nil {
					t.Fatal(err)
				}
				if _, err := lockConn.ExecContext(t.Context(), "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
					t.Fatal(err)
				}
			} else if _, err := lockConn.ExecContext(t.Context(), "LOCK TABLES users WRITE"); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, "sqlite", testdb.SQLite(t), "", syncYAML)
			start := time.Now()
			code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
			if code != exitFailed {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("the run took %s", d)
			}
			if all := out + errOut; !strings.Contains(all, "slow") || !strings.Contains(all, "read_timeout (2s)") {
				t.Fatalf("want the sync and read_timeout named:\n%s%s", out, errOut)
			}
			if n := stillSleeping(t, typ, db); n != 0 {
				t.Fatalf("%d source queries still waiting on the lock", n)
			}
		})
	}
}

// TestConnectTimeoutSilentServer: a source whose port accepts TCP but never
// answers fails the run within connect_timeout, naming it.
func TestConnectTimeoutSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // held open, never written to
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, typ := range []string{"postgres", "mysql"} {
		t.Run(typ, func(t *testing.T) {
			dsn := fmt.Sprintf("postgres://app@127.0.0.1:%d/app?sslmode=disable", port)
			if typ == "mysql" {
				dsn = fmt.Sprintf("app@tcp(127.0.0.1:%d)/app", port)
			}
			cfg := writeConfig(t, "sqlite", testdb.SQLite(t), "", fmt.Sprintf(`
  - name: silent
    source: {type: %s, dsn: %q, connect_timeout: 2s}
    table: users
    watermark: {column: updated_at, key: id}
    identifiers: {email: email}`, typ, dsn))
			start := time.Now()
			code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
			if code != exitFailed {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("the run took %s, want about connect_timeout (2s)", d)
			}
			if !strings.Contains(out+errOut, "connect_timeout (2s)") {
				t.Fatalf("want connect_timeout named:\n%s%s", out, errOut)
			}
		})
	}
}

// TestFirstConnectRetried: a source that drops the first connections (down at the
// start of a run) is tried again, and the run succeeds once it answers.
func TestFirstConnectRetried(t *testing.T) {
	srcDSN, _ := pgSource(t, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if n < 2 {
				c.Close() // down: the connection is dropped at once
				continue
			}
			go func() {
				defer c.Close()
				pg, err := net.Dial("tcp", "127.0.0.1:5432")
				if err != nil {
					return
				}
				defer pg.Close()
				go io.Copy(pg, c)
				io.Copy(c, pg)
			}()
		}
	}()
	proxied := strings.Replace(srcDSN, "127.0.0.1:5432", ln.Addr().String(), 1)
	if proxied == srcDSN {
		t.Fatalf("cannot point %s at the proxy", srcDSN)
	}
	storePath := testdb.SQLite(t)
	cfg := writeConfig(t, "sqlite", storePath, "", usersSync("users", proxied, 100))
	code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "cannot connect to the source; trying again") {
		t.Fatalf("want the retry logged:\n%s", errOut)
	}
	if n := len(people(t, "sqlite", storePath)); n != 10 {
		t.Fatalf("%d people, want 10", n)
	}
}

// stillSleeping is how many of the test's source queries are still on the server
// 10 s after the run ended: the server carries a cancel out asynchronously, later on a
// busy machine, but a query that was never cancelled sleeps far longer than that.
func stillSleeping(t *testing.T, typ string, db *sql.DB) int {
	t.Helper()
	n := sleeping(t, typ, db)
	for deadline := time.Now().Add(10 * time.Second); n != 0 && time.Now().Before(deadline); n = sleeping(t, typ, db) {
		time.Sleep(100 * time.Millisecond)
	}
	return n
}
