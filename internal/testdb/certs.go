package testdb

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// CertFiles are PEM files: a CA, and a certificate it signed for DNS localhost
// and IP 127.0.0.1 with its private key, good for a server and for a client.
type CertFiles struct {
	CA, Cert, Key string
}

// Certs makes a new CA and a server certificate, generated now (no key is ever
// committed), in a temporary directory removed when the test ends. Two calls
// make two unrelated CAs, so one's CA is the wrong CA for the other's server.
func Certs(t testing.TB) CertFiles {
	t.Helper()
	dir := tempDir(t, "dbsync-certs-")
	caKey, caDER := newCert(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "dbsync test CA " + name("")},
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
	}, nil, nil)
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, der := newCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files := CertFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem")}
	writePEM(t, files.CA, "CERTIFICATE", caDER, 0o644)
	writePEM(t, files.Cert, "CERTIFICATE", der, 0o644)
	writePEM(t, files.Key, "PRIVATE KEY", keyDER, 0o600)
	return files
}

// For copies the files into a directory of their own that the system user
// owns (the key 0600), so a server that runs as that user (postgres, mysql)
// can read them. When the test does not run as root, it returns the files as
// they are.
func (c CertFiles) For(t testing.TB, username string) CertFiles {
	t.Helper()
	if os.Geteuid() != 0 {
		return c
	}
	u, err := user.Lookup(username)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := tempDir(t, "dbsync-certs-"+username+"-")
	out := CertFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem")}
	for _, f := range [][2]string{{c.CA, out.CA}, {c.Cert, out.Cert}, {c.Key, out.Key}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{dir, out.CA, out.Cert, out.Key} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// newCert makes a key and a certificate from tmpl, signed by parent (self-signed
// when parent is nil), valid from an hour ago for a day.
func newCert(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func writePEM(t testing.TB, path, typ string, der []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), perm); err != nil {
		t.Fatal(err)
	}
}

// tempDir is a new directory under the system's temporary directory (0700),
// removed when the test ends. Unlike t.TempDir, its parent is /tmp itself, so
// a server running as another user can reach it once it owns it.
func tempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
