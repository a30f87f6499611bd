package state

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/store"
)

// LeaseTTL is how long a lease lasts without renewal: a run whose process died is
// taken over at most this long after its last renewal (SPEC §3: within 30 s).
const LeaseTTL = 30 * time.Second

// renewEvery keeps a live holder's lease well inside LeaseTTL.
const renewEvery = LeaseTTL / 3

// ErrAlreadyRunning means another live process holds the lease.
var ErrAlreadyRunning = errors.New("already running")

// SyncLease is the name of a sync's lease: one run of the sync at a time.
func SyncLease(sync string) string { return "sync:" + sync }

// ExportLease is the name of the store-wide lease: one export at a time.
const ExportLease = "export"

// Lease is a held one-at-a-time lease: a row in the store's leases table with an
// expiry (SPEC §4), renewed in the background until Release. Machine clocks are
// assumed to agree to within a few seconds.
type Lease struct {
	Name    string
	Holder  string
	st      *store.Store
	log     logrus.FieldLogger
	stop    chan struct{}
	done    chan struct{}
	lost    chan struct{}
	release sync.Once
	err     error // of the first Release
}

// Acquire takes the named lease (SyncLease or ExportLease) for holder and renews it
// in the background until Release. It returns ErrAlreadyRunning when a live process
// holds it. Renewals that fail for another reason than a lost lease go to log (nil:
// nowhere) and are tried again at the next renewal.
func Acquire(ctx context.Context, st *store.Store, name, holder string, log logrus.FieldLogger) (*Lease, error) {
	return acquire(ctx, st, name, holder, log, renewEvery)
}

func acquire(ctx context.Context, st *store.Store, name, holder string, log logrus.FieldLogger, every time.Duration) (*Lease, error) {
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
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	l := &Lease{Name: name, Holder: holder, st: st, log: log.WithField("lease", name),
		stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
	go l.renew(context.WithoutCancel(ctx), every)
	return l, nil
}

func takeOverGone(ctx context.Context, st *store.Store, name, holder string, expires time.Time) (bool, error) {
	current, _, err := st.LeaseHolder(ctx, name)
	if err != nil || current == "" || !Gone(current) {
		return false, err
	}
	return st.TakeOverLease(ctx, name, current, holder, expires)
}

func (l *Lease) renew(ctx context.Context, every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			err := l.st.RenewLease(ctx, l.Name, l.Holder, l.Expiry())
			switch {
			case errors.Is(err, store.ErrLeaseLost):
				close(l.lost)
				return
			case err != nil:
				// The store may be back by the next tick; the lease lasts LeaseTTL,
				// several ticks. Said, since a lease that keeps failing runs out.
				l.log.WithError(err).Warn("renew lease; trying again")
			}
		}
	}
}

// Lost is closed when another process took the lease over.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Expiry is the expiry to write when renewing in a batch's transaction.
func (l *Lease) Expiry() time.Time { return time.Now().Add(LeaseTTL) }

// Renew extends the lease now, before a step that must not happen once another
// process has taken it over: store.ErrLeaseLost then.
func (l *Lease) Renew(ctx context.Context) error {
	select {
	case <-l.lost:
		return store.ErrLeaseLost
	default:
	}
	return l.st.RenewLease(ctx, l.Name, l.Holder, l.Expiry())
}

// Release stops renewing and gives the lease up if this holder still has it. Safe
// to call twice, from several goroutines, and after the lease was lost: later calls
// return what the first one did.
func (l *Lease) Release(ctx context.Context) error {
	l.release.Do(func() {
		close(l.stop)
		<-l.done
		l.err = l.st.ReleaseLease(context.WithoutCancel(ctx), l.Name, l.Holder)
	})
	return l.err
}
