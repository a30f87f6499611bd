package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/internal/testdb"
)

// TestTLS: a server of the test's own with a certificate from a CA made now, that
// lets the app role in only over TLS with its password. sslmode=verify-full with
// sslrootcert naming that CA reads the rows over TLS; another CA, or a CA file
// that is not there, fails with an error that names the sync and the host and
// not the password.
func TestTLS(t *testing.T) {
	const password = "s3cret-tls-pw"
	certs := testdb.Certs(t)
	server := certs.For(t, "postgres") // the server runs as postgres and wants its key 0600
	c := testdb.OwnPostgres(t, fmt.Sprintf("ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'", server.Cert, server.Key))

	admin, err := sql.Open("postgres", c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhostssl all app 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(c.Dir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT pg_reload_conf()`,
		`CREATE ROLE app LOGIN PASSWORD '` + password + `'`,
		`CREATE TABLE users (id bigint PRIMARY KEY, name text)`,
		`INSERT INTO users VALUES (1, 'ann'), (2, 'bob')`,
		`GRANT SELECT ON users TO app`,
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	host := fmt.Sprintf("127.0.0.1:%d", c.Port)
	dsn := func(params string) string {
		return fmt.Sprintf("postgres://app:%s@%s/postgres?connect_timeout=10&%s", password, host, params)
	}
	// Each row says whether the connection that read it is encrypted.
	spec := func(dsn string) connectors.Spec {
		return connectors.Spec{Sync: "tls_users", Type: "postgres", DSN: dsn,
			Query: `SELECT id, name, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl FROM users ORDER BY id`}
	}

	t.Run("verify-full", func(t *testing.T) {
		_, rows, err := read(t, spec(dsn("sslmode=verify-full&sslrootcert="+certs.CA)), connectors.Request{})
		if err != nil {
			t.Fatal(err)
		}
		if want := [][]any{{int64(1), "ann", true}, {int64(2), "bob", true}}; !reflect.DeepEqual(rows, want) {
			t.Fatalf("rows %v, want %v", rows, want)
		}
	})

	wrongCA := testdb.Certs(t).CA
	for _, tc := range []struct {
		name, params, want string
	}{
		{"another CA", "sslmode=verify-full&sslrootcert=" + wrongCA, "certificate signed by unknown authority"},
		{"no CA file", "sslmode=verify-full&sslrootcert=" + filepath.Join(t.TempDir(), "missing.pem"), "missing.pem"},
		{"no TLS", "sslmode=disable", "no pg_hba.conf entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := connectors.Open(context.Background(), spec(dsn(tc.params)))
			if err == nil {
				src.Close()
				t.Fatal("open: no error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, "sync tls_users: connect to postgres "+host+"/postgres: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name the sync, the host and %q", msg, tc.want)
			}
			if strings.Contains(msg, password) {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}
