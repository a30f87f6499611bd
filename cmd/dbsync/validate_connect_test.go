package main

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/internal/testdb"
)

// TestValidateConnectColumns: validate --connect checks that the source selects
// every column the config names (exactly, or case-insensitively when one matches),
// each missing one an error naming the field and column (exit 2); it warns when the
// watermark key has no unique index, notes that a query: sync is not checked, and
// exits 1 when a source cannot be reached.
func TestValidateConnectColumns(t *testing.T) {
	for _, typ := range []string{"postgres", "mysql"} {
		t.Run(typ, func(t *testing.T) {
			dsn, create := testdb.Postgres(t), `CREATE TABLE users (id int PRIMARY KEY, user_id text, "Email" text, plan text, updated_at timestamptz)`
			if typ == "mysql" {
				dsn, create = testdb.MySQL(t), "CREATE TABLE users (id int PRIMARY KEY, user_id varchar(50), Email varchar(50), plan text, updated_at datetime(6))"
			}
			db, err := sql.Open(typ, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(create); err != nil {
				t.Fatal(err)
			}

			sync := func(name, from, key, attrs string) string {
				return fmt.Sprintf(`
  - name: %s
    source: {type: %s, dsn: %q}
    %s
    watermark: {column: updated_at, key: %s}
    identifiers: {id: user_id, email: email}
    attributes: {%s}`, name, typ, dsn, from, key, attrs)
			}
			validate := func(syncs string) (int, string) {
				cfg := writeConfig(t, "sqlite", testdb.SQLite(t), "", syncs)
				code, out, errOut := dbsync(t, "validate", "--connect", "-c", cfg)
				return code, out + errOut
			}

			code, out := validate(sync("good", "table: users", "id", "plan: plan"))
			if code != 0 || strings.Contains(out, "warning") || strings.Contains(out, "INVALID") {
				t.Fatalf("good: exit %d, want 0 and no warning\n%s", code, out)
			}
			code, out = validate(sync("nonunique", "table: users", "user_id", "plan: plan"))
			if code != 0 || !strings.Contains(out, `warning: syncs[0].watermark.key: column "user_id" has no unique index`) {
				t.Fatalf("nonunique: exit %d, want 0 and a warning on the key\n%s", code, out)
			}
			code, out = validate(sync("query", `query: 'SELECT id, user_id, `+map[string]string{"postgres": `"Email"`, "mysql": "`Email`"}[typ]+`, plan, updated_at FROM users'`, "id", "plan: plan"))
			if code != 0 || !strings.Contains(out, "note: syncs[0].watermark.key: not checked") {
				t.Fatalf("query: exit %d, want 0 and a note\n%s", code, out)
			}
			code, out = validate(sync("missing", "table: users", "ID", "plan: plan_name, tier: tier"))
			if code != exitUsage {
				t.Fatalf("missing: exit %d, want 2\n%s", code, out)
			}
			for _, want := range []string{`syncs[0].attributes.plan: column "plan_name" is not selected`, `syncs[0].attributes.tier: column "tier" is not selected`} {
				if !strings.Contains(out, want) {
					t.Fatalf("missing: want %q\n%s", want, out)
				}
			}
			if strings.Contains(out, "watermark.key") || strings.Contains(out, "identifiers.email") {
				t.Fatalf("missing: a column matching by case was reported\n%s", out)
			}
			down := strings.Replace(sync("down", "table: users", "id", "plan: plan"), dsn, map[string]string{
				"postgres": "postgres://app@127.0.0.1:1/app?sslmode=disable", "mysql": "app@tcp(127.0.0.1:1)/app"}[typ], 1)
			if code, out = validate(down); code != exitFailed {
				t.Fatalf("down: exit %d, want 1\n%s", code, out)
			}
		})
	}
}

// TestValidateConnectSQLiteKey: on SQLite the key check reads PRAGMA index_list /
// index_info, and an INTEGER PRIMARY KEY (the rowid, in no index) is unique too.
func TestValidateConnectSQLiteKey(t *testing.T) {
	path := testdb.SQLite(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY, user_id TEXT UNIQUE, email TEXT, team TEXT, updated_at INTEGER)`,
		`CREATE INDEX users_team ON users (team)`,
		`CREATE UNIQUE INDEX users_pair ON users (team, email)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	for key, unique := range map[string]bool{"id": true, "user_id": true, "team": false, "email": false} {
		cfg := writeConfig(t, "sqlite", testdb.SQLite(t), "", fmt.Sprintf(`
  - name: users
    source: {type: sqlite, dsn: %q}
    table: users
    watermark: {column: updated_at, key: %s}
    identifiers: {email: email}`, path, key))
		code, out, errOut := dbsync(t, "validate", "--connect", "-c", cfg)
		if code != 0 || strings.Contains(out, "warning") == unique {
			t.Errorf("key %s: exit %d, want 0 and a warning only for a key without a unique index of its own\n%s%s", key, code, out, errOut)
		}
	}
}
