package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

// Run runs one sync once. It never panics on bad data: rows that cannot be applied
// are recorded and counted; the run fails only when the source, the store or the
// config stop it, and then nothing after the last committed batch is lost.
func (e *Engine) Run(ctx context.Context, s config.Sync, opt Options) *Result {
	res := &Result{Sync: s.Name, Kind: s.Kind, Started: e.now(), DryRun: opt.DryRun,
		RejectedBy: map[string]int64{}, FailedBy: map[string]int64{}}
	log := e.Log.WithField("sync", s.Name)
	res.Err = e.run(ctx, s, opt, res, log)
	res.Ended = e.now()
	switch {
	case errors.Is(res.Err, state.ErrAlreadyRunning):
		res.Status = store.RunAlreadyRunning
		log.Warn("skipped: already running")
	case res.Err != nil:
		res.Status = store.RunFailed
		log.WithError(res.Err).Error("sync failed")
	default:
		res.Status = store.RunOK
		log.WithFields(logrus.Fields{
			"rows": res.RowsRead, "created": res.Created, "updated": res.Updated, "unchanged": res.Unchanged,
			"rejected": res.Rejected, "skipped": res.Skipped, "failed_changes": res.FailedChanges,
			"seconds": res.Ended.Sub(res.Started).Seconds(),
		}).Info("sync done")
	}
	return res
}

func (e *Engine) run(ctx context.Context, s config.Sync, opt Options, res *Result, log logrus.FieldLogger) (err error) {
	holder := e.Holder
	if holder == "" {
		holder = state.Holder()
	}
	var lease *state.Lease
	if !opt.DryRun {
		lease, err = state.Acquire(ctx, e.Store, state.SyncLease(s.Name), holder, log)
		if errors.Is(err, state.ErrAlreadyRunning) {
			now := e.now()
			_, rerr := e.Store.StartRun(ctx, store.Run{Sync: s.Name, Started: res.Started, Ended: now, Status: store.RunAlreadyRunning})
			return errors.Join(err, rerr)
		}
		if err != nil {
			return err
		}
		defer lease.Release(ctx)
		// A run starts once it holds the lease, so that the run history never shows two
		// runs of a sync overlapping (and last_sync_time is still before the first read).
		res.Started = e.now()
		if err := e.Store.AbandonRuns(ctx, s.Name, res.Started); err != nil {
			return err
		}
	}

	wm, err := e.Store.Watermark(ctx, s.Name)
	if err != nil {
		return err
	}
	if res.CursorBefore, err = state.DecodeCursor(wm.Cursor); err != nil {
		return err
	}
	res.CursorAfter = res.CursorBefore
	// Logged here, so that run and serve alike name where each run starts.
	log.WithFields(logrus.Fields{"cursor": state.FormatCursor(res.CursorBefore), "dry_run": opt.DryRun}).Info("sync started")

	var runID int64
	if !opt.DryRun {
		run := store.Run{Sync: s.Name, Started: res.Started, Status: store.RunRunning, CursorBefore: wm.Cursor}
		if run.ID, err = e.Store.StartRun(ctx, run); err != nil {
			return err
		}
		runID = run.ID
		defer func() {
			// Record the end even when ctx is cancelled or the run panicked: the run
			// history must say how it ended, and a panic is no success.
			p := recover()
			if p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
			e.finish(context.WithoutCancel(ctx), run, res, err, log)
			if p != nil {
				panic(p)
			}
		}()
	}

	// The sync's timeout ends reading (readCtx), never a batch's writes (ctx).
	readCtx, cancel := ctx, context.CancelFunc(func() {})
	if d := time.Duration(s.Timeout); d > 0 {
		readCtx, cancel = context.WithTimeoutCause(ctx, d, ErrTimeout)
	}
	defer cancel()
	r := &reader{engine: e, sync: s, opt: opt, res: res, log: log, lease: lease, runID: runID}
	return r.read(ctx, readCtx, wm)
}

// stopped says why a run whose reading ended early stops: interrupted (ctx),
// its timeout (readCtx), or nil when neither.
func (r *reader) stopped(ctx, readCtx context.Context) error {
	switch {
	case ctx.Err() != nil:
		return ErrInterrupted
	case errors.Is(context.Cause(readCtx), ErrTimeout):
		return fmt.Errorf("sync %s: %w: stopped after timeout %s; what was committed is kept, the next run goes on from the cursor",
			r.sync.Name, ErrTimeout, time.Duration(r.sync.Timeout))
	}
	return nil
}

func (e *Engine) finish(ctx context.Context, run store.Run, res *Result, runErr error, log logrus.FieldLogger) {
	run.Ended = e.now()
	run.Status = store.RunOK
	if runErr != nil {
		run.Status, run.Error = store.RunFailed, runErr.Error()
	}
	if errors.Is(runErr, ErrTimeout) {
		run.Error = ErrTimeout.Error() // the reason `runs` shows: exactly "timeout"
	}
	run.Counts = res.Counts
	run.CursorAfter, _ = state.EncodeCursor(res.CursorAfter)
	if err := e.Store.FinishRun(ctx, run); err != nil {
		log.WithError(err).Error("record the end of the run")
	}
	if runErr == nil {
		if err := e.Store.FinishSync(ctx, res.Sync, res.Started); err != nil {
			log.WithError(err).Error("record last_sync_time")
		}
	}
}
