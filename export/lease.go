package export

import (
	"context"
	"errors"
	"time"

	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

// leaseName is the lease one export at a time holds; sync leases are "sync:NAME".
const leaseName = "export"

// ErrAlreadyRunning means another process is exporting from the store.
var ErrAlreadyRunning = errors.New("another export is running")

// lease is the held export lease, renewed in the background like a sync's
// (state.LeaseTTL): a dead exporter's lease is taken over within 30 s.
type lease struct {
	st     *store.Store
	holder string
	stop   chan struct{}
	done   chan struct{}
	lost   chan struct{}
}

func acquire(ctx context.Context, st *store.Store, holder string) (*lease, error) {
	now := time.Now()
	ok, err := st.AcquireLease(ctx, leaseName, holder, now, now.Add(state.LeaseTTL))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrAlreadyRunning
	}
	l := &lease{st: st, holder: holder, stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
	go l.renew(context.WithoutCancel(ctx))
	return l, nil
}

func (l *lease) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(state.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			err := l.st.RenewLease(ctx, leaseName, l.holder, time.Now().Add(state.LeaseTTL))
			if errors.Is(err, store.ErrLeaseLost) {
				close(l.lost)
				return
			}
		}
	}
}

// check fails once another process has taken the lease over: this one must not publish.
func (l *lease) check(ctx context.Context) error {
	select {
	case <-l.lost:
		return store.ErrLeaseLost
	default:
	}
	return l.st.RenewLease(ctx, leaseName, l.holder, time.Now().Add(state.LeaseTTL))
}

func (l *lease) release(ctx context.Context) {
	close(l.stop)
	<-l.done
	l.st.ReleaseLease(context.WithoutCancel(ctx), leaseName, l.holder)
}
