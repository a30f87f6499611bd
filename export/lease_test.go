package export_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

// TestPrintHolder is not a test: run by deadHolder as a process of its own, it prints
// the holder string that process would write in a lease, and exits.
func TestPrintHolder(t *testing.T) {
	if os.Getenv("DBSYNC_PRINT_HOLDER") != "1" {
		t.Skip("run by deadHolder")
	}
	fmt.Print(state.Holder())
	os.Exit(0)
}

// deadHolder is the holder of a process that ran on this host and has exited, as an
// export killed with SIGKILL leaves it in its lease row.
func deadHolder(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPrintHolder$")
	cmd.Env = append(os.Environ(), "DBSYNC_PRINT_HOLDER=1")
	out, err := cmd.Output() // and waited for: the process is gone
	if err != nil || len(out) == 0 {
		t.Fatalf("print a holder: %v %q", err, out)
	}
	return string(out)
}

// TestExportTakesOverDeadHolderAtOnce: the export lease of a process on this host
// that is gone is taken over at once, long before it expires (SPEC §3); that of a
// live process is not. On both stores.
func TestExportTakesOverDeadHolderAtOnce(t *testing.T) {
	ctx := context.Background()
	dead := deadHolder(t)
	if !state.Gone(dead) {
		t.Skip("no /proc: same-host takeover needs it")
	}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			st, err := store.Open(ctx, backend.Driver, backend.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			seed := func(holder string) {
				now := time.Now()
				if ok, err := st.AcquireLease(ctx, state.ExportLease, holder, now, now.Add(time.Hour)); err != nil || !ok {
					t.Fatalf("seed the export lease: %v %v", ok, err)
				}
			}
			dir := t.TempDir()

			live := state.Holder() // this test's process: alive
			seed(live)
			if _, err := export.Run(ctx, st, export.Options{Dir: dir}); !errors.Is(err, state.ErrAlreadyRunning) {
				t.Fatalf("export while a live process holds the lease: %v, want ErrAlreadyRunning", err)
			}
			if err := st.ReleaseLease(ctx, state.ExportLease, live); err != nil {
				t.Fatal(err)
			}

			seed(dead)
			res, err := export.Run(ctx, st, export.Options{Dir: dir})
			if err != nil {
				t.Fatalf("export after a dead exporter on this host: %v, want its lease taken over", err)
			}
			if res.Manifest.Export != 1 {
				t.Fatalf("export %d, want 1", res.Manifest.Export)
			}
			if holder, _, err := st.LeaseHolder(ctx, state.ExportLease); err != nil || holder != "" {
				t.Fatalf("after the export the lease is %q's (%v), want released", holder, err)
			}
		})
	}
}
