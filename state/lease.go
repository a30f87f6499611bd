package state

import (
	"context"
	"errors"
	"time"

	"github.com/dbsync/dbsync/store"
)

// LeaseTTL is how long a lease lasts without renewal: a run whose process died is
// taken over at most this long after its last renewal (SPEC §3: within 30 s).
const LeaseTTL = 30 * time.Second

// renewEvery keeps a live holder's lease well inside LeaseTTL.
const renewEvery = LeaseTTL / 3

// ErrAlreadyRunning means another process holds the sync's lease.
var ErrAlreadyRunning = errors.New("already running")

// Lease is a held one-run-at-a-time lease on a sync. Machine clocks are assumed to
// agree to within a few seconds.
type Lease struct {
	Name   string
	Holder string
	st     *store.Store
	stop   chan struct{}
	done   chan struct{}
	lost   chan struct{}
}

func takeOverGone(ctx context.Context, st *store.Store, name, holder string, expires time.Time) (bool, error) {
	current, _, err := st.LeaseHolder(ctx, name)
	if err != nil || current == "" || !Gone(current) {
		return false, err
	}
	return st.TakeOverLease(ctx, name, current, holder, expires)
}

// LeaseName is the lease of a sync.
func LeaseName(sync string) string { return "sync:" + sync }

// Acquire takes a sync's lease and renews it in the background until Release. It
// returns ErrAlreadyRunning when a live process holds it.
func Acquire(ctx context.Context, st *store.Store, sync, holder string) (*Lease, error) {
	name := LeaseName(sync)
	now := time.Now()
	ok, err := st.AcquireLease(ctx, name, holder, now, now.Add(LeaseTTL))
	if err != nil {
		return nil, err
	}
	if !ok {
		// A holder that ran on this host and whose process is gone is taken over at
		// once (SPEC §3), not after its lease runs out.
		if ok, err = takeOverGone(ctx, st, name, holder, now.Add(LeaseTTL)); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, ErrAlreadyRunning
	}
	l := &Lease{Name: name, Holder: holder, st: st,
		stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
	go l.renew(context.WithoutCancel(ctx))
	return l, nil
}

func (l *Lease) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(renewEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			err := l.st.RenewLease(ctx, l.Name, l.Holder, time.Now().Add(LeaseTTL))
			if errors.Is(err, store.ErrLeaseLost) {
				close(l.lost)
				return
			}
		}
	}
}

// Lost is closed when another process took the lease over.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Expiry is the expiry to write when renewing in a batch's transaction.
func (l *Lease) Expiry() time.Time { return time.Now().Add(LeaseTTL) }

// Release stops renewing and gives the lease up. Safe to call twice.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	<-l.done
	return l.st.ReleaseLease(context.WithoutCancel(ctx), l.Name, l.Holder)
}
