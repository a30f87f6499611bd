package state

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/store"
)

// holderOf is the holder string the process pid would have written.
func holderOf(t *testing.T, pid int) string {
	t.Helper()
	id := processIdentity(pid)
	if id == "" {
		t.Skip("no /proc: same-host takeover needs it")
	}
	host, _ := os.Hostname()
	return host + "/" + strconv.Itoa(pid) + "/00000000/" + id
}

// TestLeaseOfDeadProcessOnThisHost: a lease whose holder ran on this host and whose
// process was SIGKILLed is taken over at once, long before it expires; a live
// holder, one on another host, and one whose pid now belongs to another process are
// told apart. On both stores.
func TestLeaseOfDeadProcessOnThisHost(t *testing.T) {
	ctx := context.Background()
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			st, err := store.Open(ctx, backend.Driver, backend.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			take := func(sync, holder string) error {
				now := time.Now()
				if ok, err := st.AcquireLease(ctx, SyncLease(sync), holder, now, now.Add(time.Hour)); err != nil || !ok {
					t.Fatalf("seed lease %s: %v %v", sync, ok, err)
				}
				l, err := Acquire(ctx, st, SyncLease(sync), Holder(), nil)
				if err == nil {
					l.Release(ctx)
				}
				return err
			}

			child := exec.Command("sleep", "60")
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			dead := holderOf(t, child.Process.Pid)
			child.Process.Kill()
			child.Wait()
			if err := take("killed", dead); err != nil {
				t.Errorf("a SIGKILLed holder on this host: %v, want the lease taken over", err)
			}

			zombie := exec.Command("sleep", "60")
			if err := zombie.Start(); err != nil {
				t.Fatal(err)
			}
			z := holderOf(t, zombie.Process.Pid)
			zombie.Process.Kill()
			time.Sleep(100 * time.Millisecond) // dead, not yet reaped
			if err := take("zombie", z); err != nil {
				t.Errorf("a killed holder not yet reaped: %v, want the lease taken over", err)
			}
			zombie.Wait()

			live := exec.Command("sleep", "60")
			if err := live.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { live.Process.Kill(); live.Wait() }()
			alive := holderOf(t, live.Process.Pid)
			if err := take("live", alive); !errors.Is(err, ErrAlreadyRunning) {
				t.Errorf("a live holder on this host: %v, want ErrAlreadyRunning", err)
			}
			// The same pid with another start time: the pid was reused by a process
			// that is not the holder.
			parts := strings.Split(alive, "/")
			f := strings.Split(parts[3], ".")
			start, _ := strconv.Atoi(f[2])
			parts[3] = f[0] + "." + f[1] + "." + strconv.Itoa(start-1)
			if err := take("reused", strings.Join(parts, "/")); err != nil {
				t.Errorf("a holder whose pid is now another process's: %v, want the lease taken over", err)
			}
			// Another host, or another boot of this one, or an old three-part holder:
			// the lease runs out instead.
			for name, h := range map[string]string{
				"otherhost": strings.Replace(dead, parts[0]+"/", "elsewhere/", 1),
				"otherboot": strings.Replace(dead, f[0], "0123456789abcdef0123456789abcdef", 1),
				"oldformat": strings.Join(strings.Split(dead, "/")[:3], "/"),
			} {
				if err := take(name, h); !errors.Is(err, ErrAlreadyRunning) {
					t.Errorf("%s: %v, want ErrAlreadyRunning", name, err)
				}
			}
		})
	}
}
