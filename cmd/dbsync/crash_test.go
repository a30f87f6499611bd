package main

import (
	"context"
	"database/sql"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/store"
)

// TestKilledAnywhereLosesNothing: a 300k-row sync, into the SQLite store and into the
// PostgreSQL store, killed with SIGKILL at 20 random moments (a real process each
// time) and run again until done, leaves the store a clean run leaves, and the change
// log holds each change once.
func TestKilledAnywhereLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("300k rows, 20 kills")
	}
	const rows = 300_000
	srcDSN, _ := pgSource(t, rows)
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			cleanDSN := backend.DSN(t)
			clean := writeConfig(t, backend.Driver, cleanDSN, "", usersSync("users", srcDSN, 5000))
			if code, out, errOut := dbsyncTerm(t, "run", "-c", clean); code != 0 {
				t.Fatalf("clean run: exit %d\n%s%s", code, out, errOut)
			}

			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", usersSync("users", srcDSN, 5000))
			rng := rand.New(rand.NewSource(int64(len(backend.Driver))))
			midRun := 0
			for kill := 0; kill < 20; kill++ {
				if killRun(t, rng, backend.Driver, dsn, "users", cfg, kill, 600*time.Millisecond) {
					midRun++
				}
			}
			code, out, errOut := dbsyncTerm(t, "run", "-c", cfg)
			if code != 0 || !strings.Contains(out, "users: ok") {
				t.Fatalf("the run after the kills: exit %d\n%s%s", code, out, errOut)
			}
			t.Logf("%d of 20 kills landed in the middle of a run", midRun)
			if midRun < 5 {
				t.Fatalf("only %d kills landed mid-run: the test proves little", midRun)
			}
			if a, b := people(t, backend.Driver, cleanDSN), people(t, backend.Driver, dsn); len(a) != rows || !slices.Equal(a, b) {
				t.Fatalf("people differ from a clean run's: %d and %d", len(a), len(b))
			}
			a, b := changes(t, backend.Driver, cleanDSN), changes(t, backend.Driver, dsn)
			if !slices.Equal(a, b) || hasDuplicates(b) {
				t.Fatalf("change logs differ: %d entries after a clean run, %d after the kills", len(a), len(b))
			}
		})
	}
}

// killRun starts `dbsync run -c cfg`, SIGKILLs it at a random moment and says
// whether the kill landed mid-run (the sync's last run is left "running"). Even
// kills come at a random moment of the first `early` (start-up, the lease, the first
// batch); odd ones at a random moment up to 100 ms after this run's first commit
// moved the watermark, so that kills land between batches however fast the machine.
// The dead process's lease would be taken over after 30 s; killRun moves the clock
// instead of waiting.
func killRun(t *testing.T, rng *rand.Rand, driver, dsn, sync, cfg string, kill int, early time.Duration) bool {
	t.Helper()
	before := watermark(t, driver, dsn, sync)
	cmd, _ := process(t, "run", "-c", cfg)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	if kill%2 == 1 {
	wait:
		for watermark(t, driver, dsn, sync) == before {
			select {
			case <-exited:
				break wait
			case <-time.After(5 * time.Millisecond):
			}
		}
		early = 100 * time.Millisecond
	}
	select {
	case <-exited:
	case <-time.After(time.Duration(rng.Int63n(int64(early)))):
	}
	cmd.Process.Kill()
	<-exited
	mid := runningSync(t, driver, dsn, sync)
	expire(t, driver, dsn)
	return mid
}

// running says whether the last run recorded is still "running": its process died.
func running(t *testing.T, driver, dsn string) bool {
	t.Helper()
	st, err := store.OpenExisting(context.Background(), driver, dsn)
	if err != nil {
		return false
	}
	defer st.Close()
	runs, _ := st.Runs(context.Background(), "users", 1)
	return len(runs) == 1 && runs[0].Status == store.RunRunning
}

// expire stands in for 30 s passing: every lease runs out.
func expire(t *testing.T, driver, dsn string) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Exec(`UPDATE leases SET expires_ms = 0`) // no table yet: nothing to expire
}

// TestKilledRunShowsCommittedProgress: a run SIGKILLed after some batches committed
// shows in `runs` the rows read, counts and cursor_after of what committed (each
// batch records them in its own transaction), on both stores.
func TestKilledRunShowsCommittedProgress(t *testing.T) {
	srcDSN, _ := pgSource(t, 200_000)
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", usersSync("users", srcDSN, 1000))
			cmd, out := process(t, "run", "-c", cfg)
			eventually(t, "a few batches to commit", func() bool {
				st, err := store.OpenExisting(context.Background(), backend.Driver, dsn)
				if err != nil {
					return false
				}
				defer st.Close()
				w, _ := st.Watermark(context.Background(), "users")
				return w.Cursor != ""
			})
			time.Sleep(200 * time.Millisecond)
			cmd.Process.Kill()
			cmd.Wait()
			if !running(t, backend.Driver, dsn) {
				t.Fatalf("the run was not killed mid-run:\n%s", out)
			}
			st, err := store.OpenExisting(context.Background(), backend.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			w, _ := st.Watermark(context.Background(), "users")
			n := len(people(t, backend.Driver, dsn))
			code, stdout, errOut := dbsync(t, "runs", "-c", cfg, "--json")
			lines := jsonLines(t, stdout)
			if code != 0 || len(lines) != 1 {
				t.Fatalf("runs: exit %d\n%s%s", code, stdout, errOut)
			}
			r := lines[0]
			if n == 0 || n == 200_000 || r["rows_read"] != float64(n) || r["created"] != float64(n) ||
				r["cursor_after"] != showCursor(w.Cursor) {
				t.Fatalf("%d people committed, cursor %s; runs shows %v", n, showCursor(w.Cursor), r)
			}
		})
	}
}

// TestKilledRunIsTakenOverAtOnce: a run SIGKILLed on this host does not block the
// next run for 30 s: its lease is taken over at once (SPEC §3), on both stores.
func TestKilledRunIsTakenOverAtOnce(t *testing.T) {
	srcDSN, _ := pgSource(t, 100_000)
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			dsn := backend.DSN(t)
			cfg := writeConfig(t, backend.Driver, dsn, "", usersSync("users", srcDSN, 1000))
			cmd, out := process(t, "run", "-c", cfg)
			eventually(t, "a batch to commit", func() bool {
				st, err := store.OpenExisting(context.Background(), backend.Driver, dsn)
				if err != nil {
					return false
				}
				defer st.Close()
				w, _ := st.Watermark(context.Background(), "users")
				return w.Cursor != ""
			})
			cmd.Process.Kill()
			cmd.Wait()
			if !running(t, backend.Driver, dsn) {
				t.Fatalf("the run was not killed mid-run:\n%s", out)
			}
			code, stdout, errOut := dbsyncTerm(t, "run", "-c", cfg)
			if code != 0 || !strings.Contains(stdout, "users: ok") {
				t.Fatalf("the run right after the kill: exit %d\n%s%s", code, stdout, errOut)
			}
			if n := len(people(t, backend.Driver, dsn)); n != 100_000 {
				t.Fatalf("%d people after the second run", n)
			}
		})
	}
}
