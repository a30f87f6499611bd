package testdb

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// Cluster is a PostgreSQL server of a test's own, in a temporary directory on a spare
// port, for tests that restart or reconfigure the server. It is stopped when the test
// ends.
type Cluster struct {
	Dir  string
	Port int
	bin  string
	t    testing.TB
}

// OwnPostgres makes and starts a PostgreSQL cluster with initdb (from the installed
// PostgreSQL), trusting local connections. extraConf is appended to postgresql.conf.
func OwnPostgres(t testing.TB, extraConf string) *Cluster {
	t.Helper()
	bin := postgresBin(t)
	dir, err := os.MkdirTemp("", "dbsync-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := freePort(t)
	c := &Cluster{Dir: filepath.Join(dir, "data"), Port: port, bin: bin, t: t}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		if out, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("testdb: chown %s: %v %s", dir, err, out)
		}
	}
	c.pg("initdb", "-D", c.Dir, "-A", "trust", "-U", "postgres", "--no-sync")
	conf := fmt.Sprintf("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\n%s\n",
		port, dir, extraConf)
	f, err := os.OpenFile(filepath.Join(c.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conf)
	f.Close()
	c.pg("pg_ctl", "-D", c.Dir, "-l", filepath.Join(dir, "log"), "-w", "start")
	t.Cleanup(func() { c.pgQuiet("pg_ctl", "-D", c.Dir, "-m", "immediate", "-w", "stop") })
	return c
}

// DSN is the postgres database of the cluster.
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
}

// Restart stops the server (fast: connections are cut) and starts it again.
func (c *Cluster) Restart() {
	// -l: the server must not keep this command's output open, or it never ends.
	c.pg("pg_ctl", "-D", c.Dir, "-l", filepath.Join(filepath.Dir(c.Dir), "log"), "-m", "fast", "-w", "restart")
}

// Wait blocks until the server answers.
func (c *Cluster) Wait() {
	db, err := sql.Open("postgres", c.DSN())
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if db.Ping() == nil {
			return
		}
	}
	c.t.Fatal("testdb: the cluster did not come back")
}

func (c *Cluster) pg(tool string, args ...string) {
	c.t.Helper()
	if out, err := c.command(tool, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("testdb: %s: %v\n%s", tool, err, out)
	}
}

func (c *Cluster) pgQuiet(tool string, args ...string) { c.command(tool, args...).Run() }

func (c *Cluster) command(tool string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, tool)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// postgresBin finds the newest installed PostgreSQL's programs.
func postgresBin(t testing.TB) string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	t.Fatal("testdb: no PostgreSQL server programs in /usr/lib/postgresql (run scripts/test)")
	return ""
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
