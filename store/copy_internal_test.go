package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
)

// A COPY on a connection the server has dropped (a restart mid-batch) must fail, and
// the transaction must still roll back: told the connection is bad, database/sql
// would otherwise wait forever for the transaction to let go of it.
func TestCopyOnALostConnectionFails(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.Postgres(t)
	st, err := Open(ctx, "postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := tx.tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.tx.ExecContext(ctx, `CREATE TEMP TABLE copy_probe (a text)`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}

	// A statement that meets the dropped connection marks it bad in the driver; what
	// runs on it next is told driver.ErrBadConn, as after a server restart.
	if _, err := tx.tx.ExecContext(ctx, `SELECT 1`); err == nil {
		t.Fatal("a statement on a terminated connection succeeded")
	}

	done := make(chan error, 1)
	go func() {
		err := tx.copyRows(ctx, "copy_probe", []string{"a"}, 3, func(_ int, f *fields) { f.Text("x") })
		tx.Rollback()
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a COPY on a terminated connection reported success")
		}
		t.Logf("copy on the lost connection: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("a COPY on a terminated connection did not return in 30 s")
	}
	// The pool still serves a working connection afterwards.
	if err := st.InTx(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `SELECT 1`)
		return err
	}); err != nil {
		t.Fatalf("a transaction after the lost one: %v", err)
	}
}
