package main

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/internal/testdb"
)

// TestSmuggledStatements: a query: sync that closes the subquery it is read in
// and runs COMMIT; DROP TABLE (with and without a watermark and
// {{last_sync_time}}) is refused by run and preview, naming the sync, on
// PostgreSQL and MariaDB (also with multiStatements=true), and drops nothing.
func TestSmuggledStatements(t *testing.T) {
	pgDSN, myDSN := testdb.Postgres(t), testdb.MySQL(t)
	dbs := map[string]string{"postgres": pgDSN, "mysql": myDSN + "?multiStatements=true"}
	for typ, dsn := range dbs {
		db, err := sql.Open(typ, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE TABLE victim (id int)`); err != nil {
			t.Fatal(err)
		}
		for i, q := range []string{
			`SELECT 'x' AS user_id) AS a; COMMIT; DROP TABLE victim; SELECT user_id FROM (SELECT 'y' AS user_id`,
			`SELECT 'x' AS user_id, {{last_sync_time}} AS t) AS a; COMMIT; DROP TABLE victim; SELECT user_id, 1 AS t FROM (SELECT 'y' AS user_id`,
		} {
			for _, wm := range []string{"", "\n    watermark: {column: user_id, key: user_id}"} {
				name := fmt.Sprintf("%s_%d_%d", typ, i, len(wm))
				cfg := writeConfig(t, "sqlite", testdb.SQLite(t), "", fmt.Sprintf(`
  - name: %s
    source: {type: %s, dsn: %q}
    query: %q%s
    identifiers: {id: user_id}`, name, typ, dsn, q, wm))
				for _, args := range [][]string{{"run", "-c", cfg}, {"preview", "-c", cfg, "--sync", name}} {
					code, out, errOut := dbsync(t, args...)
					if code == 0 || !strings.Contains(out+errOut, "sync "+name+": must be one SELECT") {
						t.Errorf("%s %s: exit %d\n%s%s", args[0], name, code, out, errOut)
					}
				}
				var n int
				if err := db.QueryRow(`SELECT COUNT(*) FROM victim`).Scan(&n); err != nil {
					t.Fatalf("%s: the table is gone: %v", name, err)
				}
			}
		}
	}
}
