package emulatortest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/connectors/bigquery/emulatortest/bqtest"
	"github.com/dbsync/dbsync/connectors/conformance"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/store"
)

// TestDbsyncRunEndToEnd builds the dbsync binary and runs `dbsync run` on a sync
// whose source is a BigQuery table in the emulator (endpoint and anonymous in the
// config): the first run fills the store, a second run after updates reads only the
// changed rows.
func TestDbsyncRunEndToEnd(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "dbsync")
	// Built in the main module, with its own go.sum: the binary as users get it.
	build := exec.Command("go", "build", "-o", bin, "./cmd/dbsync")
	build.Dir = "../../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dbsync: %v\n%s", err, out)
	}

	emu := bqtest.New(t)
	db := emu.Dataset(t)
	cols := []conformance.ColumnDef{
		{Name: "user_id", Kind: conformance.Text, Key: true},
		{Name: "email", Kind: conformance.Text},
		{Name: "plan", Kind: conformance.Text},
		{Name: "seats", Kind: conformance.BigInt},
		{Name: "updated_at", Kind: conformance.TimestampTZ},
	}
	db.CreateTable(t, "users", cols)
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 123456000, time.UTC)
	var rows [][]any
	for i := 1; i <= 30; i++ {
		rows = append(rows, []any{fmt.Sprintf("u%02d", i), fmt.Sprintf("u%d@x.io", i), "free", int64(i), t0.Add(time.Duration(i) * time.Second)})
	}
	db.Insert(t, "users", cols, rows)

	storePath := filepath.Join(t.TempDir(), "store.db")
	spec := db.Spec()
	cfg := filepath.Join(t.TempDir(), "dbsync.yaml")
	yaml := fmt.Sprintf(`store: {driver: sqlite, dsn: %q}
syncs:
  - name: warehouse
    source:
      type: bigquery
      project: %s
      dataset: %s
      endpoint: %s
      anonymous: true
    table: users
    watermark: {column: updated_at, key: user_id}
    batch_size: 7
    identifiers: {id: user_id, email: email}
    exclude: [updated_at]
`, storePath, spec.Project, spec.Dataset, spec.Endpoint)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	// Piped, run prints one JSON line per sync on stdout (SPEC §5).
	run := func() string {
		t.Helper()
		var stdout, stderr strings.Builder
		cmd := exec.Command(bin, "run", "-c", cfg)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("dbsync run: %v\n%s%s", err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	if out := run(); !strings.Contains(out, `"rows_read":30,"created":30,`) {
		t.Fatalf("first run:\n%s", out)
	}

	// Two users change plan, one new user arrives, later than the cursor.
	later := t0.Add(time.Hour)
	db.Update(t, "users", cols[0], "u03", cols[2], "pro")
	db.Update(t, "users", cols[0], "u03", cols[4], later)
	db.Update(t, "users", cols[0], "u17", cols[2], "team")
	db.Update(t, "users", cols[0], "u17", cols[4], later)
	db.Insert(t, "users", cols, [][]any{{"u31", "u31@x.io", "free", int64(31), later}})
	out := run()
	if !strings.Contains(out, `"rows_read":3,"created":1,"updated":2,`) {
		t.Fatalf("second run should read only the 3 changed rows:\n%s", out)
	}

	st, err := store.Open(context.Background(), "sqlite", storePath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.FindPerson(context.Background(), identity.DefaultSettings(), "u17")
	if err != nil || string(p.Attributes["plan"]) != `"team"` || string(p.Attributes["seats"]) != "17" {
		t.Fatalf("u17 = %+v, %v", p, err)
	}
}
