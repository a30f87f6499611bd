package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/internal/testdb"
)

// TestTLSFiles: a MariaDB server of the test's own with a certificate from a CA
// made now, requiring secure transport. ssl-ca naming that CA reads the rows over
// TLS (ssl-cert and ssl-key add a client certificate, for a user that requires
// one); another CA, a CA file that is not there, or half a client certificate
// fails with an error that names the sync and the host (and the parameter) and
// not the password.
func TestTLSFiles(t *testing.T) {
	const password = "s3cret-tls-pw"
	certs := testdb.Certs(t)
	server := certs.For(t, "mysql") // mariadbd runs as mysql
	m := testdb.OwnMariaDB(t, "--ssl-ca="+server.CA, "--ssl-cert="+server.Cert, "--ssl-key="+server.Key,
		"--require-secure-transport=ON")

	admin, err := sql.Open("mysql", m.RootDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, q := range []string{
		`CREATE DATABASE app`,
		`CREATE TABLE app.users (id INT PRIMARY KEY, name VARCHAR(50))`,
		`INSERT INTO app.users VALUES (1, 'ann'), (2, 'bob')`,
		`CREATE USER app IDENTIFIED BY '` + password + `' REQUIRE SSL`,
		`CREATE USER certified IDENTIFIED BY '` + password + `' REQUIRE X509`,
		`GRANT SELECT ON app.* TO app, certified`,
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	host := fmt.Sprintf("127.0.0.1:%d", m.Port)
	// Each row carries the cipher of the connection that read it.
	spec := func(user, params string) connectors.Spec {
		return connectors.Spec{Sync: "tls_users", Type: "mysql",
			DSN: fmt.Sprintf("%s:%s@tcp(%s)/app?timeout=10s&%s", user, password, host, params),
			Query: `SELECT id, name, (SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS
				WHERE VARIABLE_NAME = 'Ssl_cipher') AS cipher FROM users ORDER BY id`}
	}
	clientCert := "ssl-cert=" + certs.Cert + "&ssl-key=" + certs.Key

	for _, tc := range []struct{ name, user, params string }{
		{"ssl-ca", "app", "ssl-ca=" + certs.CA},
		{"ssl_ca escaped, and tls=true", "app", "SSL_CA=" + url.QueryEscape(certs.CA) + "&tls=true"},
		{"client certificate", "certified", "ssl-ca=" + certs.CA + "&" + clientCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, rows, err := read(t, spec(tc.user, tc.params), connectors.Request{})
			if err != nil {
				t.Fatal(err)
			}
			if cipher, _ := rows[0][2].(string); len(rows) != 2 || cipher == "" {
				t.Fatalf("rows %v: want two, read over TLS", rows)
			}
			for i := range rows {
				rows[i] = rows[i][:2]
			}
			if want := [][]any{{int64(1), "ann"}, {int64(2), "bob"}}; !reflect.DeepEqual(rows, want) {
				t.Fatalf("rows %v, want %v", rows, want)
			}
		})
	}

	wrongCA := testdb.Certs(t).CA
	for _, tc := range []struct{ name, user, params, want string }{
		{"another CA", "app", "ssl-ca=" + wrongCA, "certificate signed by unknown authority"},
		{"no CA file", "app", "ssl-ca=" + filepath.Join(t.TempDir(), "missing.pem"), "ssl-ca: open "},
		{"not a CA file", "app", "ssl-ca=" + certs.Key, "ssl-ca: no PEM certificate"},
		{"tls=skip-verify", "app", "ssl-ca=" + certs.CA + "&tls=skip-verify", "tls=skip-verify cannot go with ssl-ca"},
		{"half a client certificate", "certified", "ssl-ca=" + certs.CA + "&ssl-cert=" + certs.Cert, "ssl-cert and ssl-key go together"},
		{"no client certificate", "certified", "ssl-ca=" + certs.CA, "Access denied"},
		{"no TLS", "app", "tls=false", "Access denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := connectors.Open(context.Background(), spec(tc.user, tc.params))
			if err == nil {
				src.Close()
				t.Fatal("open: no error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, "sync tls_users: ") || !strings.Contains(msg, "mysql "+host+"/app: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name the sync, the host and %q", msg, tc.want)
			}
			if strings.Contains(msg, password) {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}
