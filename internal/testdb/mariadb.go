package testdb

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// MariaDB is a MariaDB server of a test's own, in a temporary directory on a
// spare port and its own socket, for tests that configure the server (TLS). It
// is stopped when the test ends.
type MariaDB struct {
	Dir    string
	Port   int
	Socket string
}

// OwnMariaDB makes a data directory with mariadb-install-db and starts mariadbd
// on it (as the mysql user when the test runs as root), listening on 127.0.0.1
// only. root has no password. extraArgs go to mariadbd (--ssl-cert=...,
// --require-secure-transport).
func OwnMariaDB(t testing.TB, extraArgs ...string) *MariaDB {
	t.Helper()
	installDB, mariadbd := program(t, "mariadb-install-db"), program(t, "mariadbd")
	dir := tempDir(t, "dbsync-mariadb-")
	m := &MariaDB{Dir: dir, Port: freePort(t), Socket: filepath.Join(dir, "mariadb.sock")}
	data := filepath.Join(dir, "data")
	var asUser []string
	if os.Geteuid() == 0 {
		// mariadbd refuses to run as root; it switches to --user itself.
		asUser = []string{"--user=mysql"}
		if out, err := exec.Command("chown", "mysql:mysql", dir).CombinedOutput(); err != nil {
			t.Fatalf("testdb: chown %s: %v %s", dir, err, out)
		}
	}
	install := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}, asUser...)
	if out, err := exec.Command(installDB, install...).CombinedOutput(); err != nil {
		t.Fatalf("testdb: mariadb-install-db: %v\n%s", err, out)
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--port=" + fmt.Sprint(m.Port),
		"--bind-address=127.0.0.1", "--socket=" + m.Socket, "--pid-file=" + filepath.Join(dir, "mariadb.pid"),
		"--log-error=" + filepath.Join(dir, "error.log"), "--skip-name-resolve", "--skip-log-bin",
		"--innodb-buffer-pool-size=32M"}, asUser...)
	cmd := exec.Command(mariadbd, append(args, extraArgs...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("testdb: start mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	db, err := sql.Open("mysql", m.RootDSN()+"?timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); db.Ping() != nil; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("testdb: mariadbd exited: %s", m.errorLog())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testdb: mariadbd did not answer within 30 s: %s", m.errorLog())
		}
	}
	return m
}

// RootDSN is root on the server's socket, without a database. A socket counts as
// a secure transport, so it works with --require-secure-transport too.
func (m *MariaDB) RootDSN() string {
	return "root@unix(" + m.Socket + ")/"
}

func (m *MariaDB) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(m.Dir, "error.log"))
	return string(b)
}

// program finds an installed server program, also in sbin directories that are
// not on a user's PATH.
func program(t testing.TB, name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	t.Fatalf("testdb: %s is not installed (run scripts/test)", name)
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
