// Package engine runs a sync: it reads changed rows from the source after the stored
// cursor, maps them, applies the identity rules, and commits each batch's writes
// together with its cursor, under a lease so that only one run of a sync goes at a time.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"cloud.google.com/go/civil"
	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/mapping"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/value"
)

// ErrInterrupted means the run stopped on a signal after committing its current batch.
var ErrInterrupted = errors.New("interrupted: stopped after the current batch; the next run goes on from the cursor")

// ErrTimeout means the run stopped because the sync's timeout passed: a read still
// waiting was cancelled, the batch being written committed. The run is recorded as
// failed with reason "timeout".
var ErrTimeout = errors.New("timeout")

// Engine runs syncs against one store.
type Engine struct {
	Store    *store.Store
	Settings identity.Settings
	Log      logrus.FieldLogger
	Holder   string           // names this process in leases; state.Holder() when empty
	Now      func() time.Time // when nil, time.Now
	Progress *Progress        // nil: no progress reports
	// RetryPause is the first pause before reading again after the source failed
	// mid-run; it doubles for each of the three attempts. Default 1 s.
	RetryPause time.Duration
}

// Options change what a run does.
type Options struct {
	// DryRun reads and applies everything in one read-only store transaction, the
	// batches' writes kept in memory (store.BeginDryRun): it writes nothing, not even
	// the run history, and takes no lease.
	DryRun bool
	// Limit stops after this many rows (preview); 0 means no limit.
	Limit int
	// OnBatch sees every batch: each source row's outcome and the batch's log.
	OnBatch func(rows []RowOutcome, log []identity.Change)
}

// RowOutcome is what became of one source row.
type RowOutcome struct {
	Key     string
	Outcome identity.Outcome
}

// Result is one run's summary.
type Result struct {
	Sync           string
	Status         string // store.RunOK, store.RunFailed, store.RunAlreadyRunning
	Err            error
	Started, Ended time.Time
	store.Counts                    // as the run's history row has them
	RejectedBy     map[string]int64 // rejected and skipped rows by reason
	FailedBy       map[string]int64 // failed attribute changes by reason; they add up to FailedChanges
	CursorBefore   *value.Cursor
	CursorAfter    *value.Cursor
	DryRun         bool
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Run runs one sync once. It never panics on bad data: rows that cannot be applied
// are recorded and counted; the run fails only when the source, the store or the
// config stop it, and then nothing after the last committed batch is lost.
func (e *Engine) Run(ctx context.Context, s config.Sync, opt Options) *Result {
	res := &Result{Sync: s.Name, Started: e.now(), DryRun: opt.DryRun,
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

// reader is one run's read loop.
type reader struct {
	engine *Engine
	sync   config.Sync
	opt    Options
	res    *Result
	log    logrus.FieldLogger
	lease  *state.Lease
	runID  int64 // the run's history row; 0 in a dry run
	dryTx  *store.Tx
	fresh  bool // the last batch found no one already in the store
}

func (r *reader) read(ctx, readCtx context.Context, wm store.Watermark) error {
	s, res := r.sync, r.res
	loc, err := time.LoadLocation(s.Source.Timezone)
	if err != nil {
		loc = time.UTC
	}
	after, err := lookbackStart(res.CursorBefore, time.Duration(s.Lookback), loc)
	if err != nil {
		return err
	}
	spec := s.Spec()
	src, err := r.open(readCtx)
	if err != nil {
		return errors.Join(r.stopped(ctx, readCtx), err)
	}
	defer src.Close()
	read := func(after *value.Cursor) (connectors.Stream, error) {
		return src.Read(readCtx, connectors.Request{After: after, BatchSize: s.BatchSize, LastSyncTime: wm.LastSyncTime})
	}
	stream, err := read(after)
	if err != nil {
		if stop := r.stopped(ctx, readCtx); stop != nil {
			return stop
		}
		return err
	}
	res.NullCursorRows = stream.NullCursorRows()
	if res.NullCursorRows > 0 {
		r.log.WithField("rows", res.NullCursorRows).Warn("rows with a NULL watermark column are not read; " +
			"fix the data, or sync them with a query: that COALESCEs the column")
	}

	cols := stream.Columns()
	mapper, err := mapping.New(s, cols)
	if err != nil {
		return fmt.Errorf("sync %s: %w", s.Name, err)
	}

	if r.opt.DryRun {
		if r.dryTx, err = r.engine.Store.BeginDryRun(ctx); err != nil {
			return err
		}
		defer r.dryTx.Rollback()
	}
	planner := &identity.Planner{Settings: r.engine.Settings, Now: r.engine.Now}
	progress := r.engine.Progress.start(s.Name, spec.Timezone, res)
	defer progress.stop()

	// Reading and mapping the next batch goes on while this one is written.
	fetchCtx, stopFetch := context.WithCancel(readCtx)
	batches := r.prefetch(fetchCtx, &resumable{stream: stream, read: read, after: after}, mapper)
	defer func() {
		stopFetch()
		for range batches { // wait for the reader before the stream closes
		}
	}()

	for batchNo := 1; ; batchNo++ {
		if stop := r.stopped(ctx, readCtx); stop != nil {
			return stop
		}
		if r.lease != nil {
			select {
			case <-r.lease.Lost():
				return fmt.Errorf("sync %s: %w", s.Name, store.ErrLeaseLost)
			default:
			}
		}
		p, ok := <-batches
		if !ok {
			// The reader stops on the last batch, or when ctx is cancelled: then
			// this run is interrupted, not done (a done run moves last_sync_time).
			return r.stopped(ctx, readCtx)
		}
		if p.err != nil {
			if stop := r.stopped(ctx, readCtx); stop != nil {
				return stop
			}
			return p.err
		}
		if err := r.apply(ctx, planner, p); err != nil {
			return err
		}
		r.log.WithFields(logrus.Fields{"batch": batchNo, "rows": len(p.outcomes)}).Debug("batch committed")
		progress.batch()
	}
}

// open connects to the source. A connection refused or lost (a source that is
// down at start) is tried again a few times with growing, jittered pauses, all
// within source.connect_timeout: the sqlsource connectors bound each attempt by
// it too, so one that never answers uses it up and is not tried again.
func (r *reader) open(ctx context.Context) (connectors.Source, error) {
	spec := r.sync.Spec()
	if spec.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.ConnectTimeout)
		defer cancel()
	}
	pause := r.engine.RetryPause
	if pause <= 0 {
		pause = time.Second
	}
	for attempt := 1; ; attempt++ {
		src, err := connectors.Open(ctx, spec)
		if err == nil || !errors.Is(err, connectors.ErrConnection) || attempt > 3 {
			return src, err
		}
		r.log.WithError(err).WithField("attempt", attempt).Warn("cannot connect to the source; trying again")
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(jitter(pause << (attempt - 1))):
		}
	}
}

// jitter spreads a pause over [d/2, d*3/2), so that workers a source's restart
// dropped together do not all come back at the same moment.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// prepared is a batch read from the source and mapped, ready for the identity rules.
type prepared struct {
	rows     []identity.Row
	outcomes []RowOutcome // one per source row; mapping's rejections already filled in
	planned  []int        // which source rows are in rows
	cursor   *value.Cursor
	encoded  string // the cursor as the store keeps it
	err      error
}

// resumable is a run's stream and how to open it again after the last row read.
type resumable struct {
	stream connectors.Stream
	read   func(after *value.Cursor) (connectors.Stream, error)
	after  *value.Cursor // the cursor of the last batch read, where a new read starts
}

// next reads the next batch. When the connection to the source is lost (a dropped
// connection, a restarted server) and the sync has a watermark, it opens a new read
// after the last batch read, a few times with a growing pause, before it gives up.
// Any other error (a query the source refuses) would only fail again: it ends the run.
func (r *reader) next(ctx context.Context, rs *resumable) (connectors.Batch, error) {
	b, err := rs.stream.Next(ctx)
	if err == nil || !errors.Is(err, connectors.ErrConnection) || ctx.Err() != nil || r.sync.Watermark == nil {
		return b, err
	}
	pause := r.engine.RetryPause
	if pause <= 0 {
		pause = time.Second
	}
	for attempt := 1; attempt <= 3; attempt++ {
		r.log.WithError(err).WithField("attempt", attempt).Warn("source read failed; reading again after the last batch read")
		select {
		case <-ctx.Done():
			return connectors.Batch{}, err
		case <-time.After(jitter(pause << (attempt - 1))):
		}
		rs.stream.Close()
		rs.stream, err = rs.read(rs.after)
		if err != nil {
			rs.stream = failed{err}
			continue
		}
		if b, err = rs.stream.Next(ctx); err == nil || !errors.Is(err, connectors.ErrConnection) {
			return b, err
		}
	}
	return connectors.Batch{}, err
}

// failed is a stream that could not be opened again.
type failed struct{ err error }

func (f failed) Columns() []value.Column                        { return nil }
func (f failed) Next(context.Context) (connectors.Batch, error) { return connectors.Batch{}, f.err }
func (f failed) NullCursorRows() int64                          { return 0 }
func (f failed) Close() error                                   { return nil }

// prefetch reads and maps batches one ahead of the writer. The channel closes after
// the last batch (or the Limit); a batch with err set is the last one sent. It owns
// the stream and closes it.
func (r *reader) prefetch(ctx context.Context, rs *resumable, mapper *mapping.Mapper) <-chan prepared {
	out := make(chan prepared, 1)
	go func() {
		defer close(out)
		defer func() { rs.stream.Close() }()
		read := 0
		for {
			b, err := r.next(ctx, rs)
			if errors.Is(err, io.EOF) {
				return
			}
			var p prepared
			if err != nil {
				p.err = err
			} else {
				if limit := r.opt.Limit; limit > 0 && read+len(b.Rows) > limit {
					b = b.Head(limit - read)
				}
				read += len(b.Rows)
				if len(b.Rows) == 0 {
					return
				}
				p = r.prepare(mapper, b)
				if p.cursor != nil {
					rs.after = p.cursor
				}
			}
			select {
			case out <- p:
			case <-ctx.Done():
				return
			}
			if p.err != nil || (r.opt.Limit > 0 && read >= r.opt.Limit) {
				return
			}
		}
	}()
	return out
}

// prepare maps a batch's rows and takes its cursor. A row the stream flags as tying
// the row before it on column and key is a second row with the same key, which is
// reported, not applied.
func (r *reader) prepare(mapper *mapping.Mapper, b connectors.Batch) prepared {
	p := prepared{
		rows:     make([]identity.Row, 0, len(b.Rows)),
		outcomes: make([]RowOutcome, len(b.Rows)),
		planned:  make([]int, 0, len(b.Rows)),
	}
	p.cursor = b.Cursor()
	if r.sync.Watermark != nil && p.cursor == nil { // a source that breaks Stream.Next's contract
		p.err = fmt.Errorf("sync %s: the source gave a batch without its cursor", r.sync.Name)
		return p
	}
	if p.cursor != nil {
		var err error
		if p.encoded, err = state.EncodeCursor(p.cursor); err != nil {
			p.err = fmt.Errorf("sync %s: %w", r.sync.Name, err)
			return p
		}
	}
	for i, v := range b.Rows {
		row, rej := mapper.Row(v)
		p.outcomes[i].Key = row.Key
		if b.Repeats(i) {
			c := b.Cursors[i]
			rej = &mapping.Rejection{Reason: ReasonDuplicateKey, Detail: fmt.Sprintf(
				"key %s %v appears again at %s %v: the watermark key must be unique",
				r.sync.Watermark.Key, c.Key, r.sync.Watermark.Column, state.FormatCursor(&value.Cursor{Value: c.Value}))}
		}
		if rej != nil {
			p.outcomes[i].Outcome = identity.Outcome{Result: identity.Rejected, Reason: rej.Reason, Detail: rej.Detail}
			continue
		}
		p.rows = append(p.rows, row)
		p.planned = append(p.planned, i)
	}
	return p
}

// counting is a Loader that counts the people it loads.
type counting struct {
	identity.Loader
	n *int
}

func (c counting) LoadPeople(ctx context.Context, keys identity.Keys) ([]identity.Person, error) {
	people, err := c.Loader.LoadPeople(ctx, keys)
	*c.n += len(people)
	return people, err
}

// guess is a Loader for a batch planned as all new people: it finds no one, and
// keeps the keys the batch names so that the guess can be checked (see checkGuess).
type guess struct{ named identity.Keys }

func (g *guess) LoadPeople(_ context.Context, keys identity.Keys) ([]identity.Person, error) {
	g.named = keys
	return nil, nil
}

// checkGuess reports whether a batch planned as all new people is the plan its
// lookups would have given (SPEC §1 rule 6: no shortcut changes an outcome).
//
// Why it is exact. Plan loads the people holding a key the batch names (its rows'
// ids and emails that identify; a batch naming a cio_id is never guessed) and then
// decides from those alone. When no one in the store holds a named key, the lookup
// loads no one and the real plan is the guessed plan, row for row. So the guess is
// right when no named key is held in the store, and it is checked in two parts:
//   - a named key that one of the guessed writes holds at the end of the batch: the
//     guess writes only new people and leaves every stored person as stored, so a
//     stored holder of the key still holds it and the insert fails on the unique key,
//     and the batch is planned again with lookups (in apply);
//   - every other named key (an email released later in the batch: moved by
//     allow_email_update_by_id, or dropped by a merge) is looked up here; a holder
//     found means the guess is wrong.
//
// Usually the writes hold every named key and nothing is looked up.
func checkGuess(ctx context.Context, l identity.Loader, named identity.Keys, writes []identity.Write) (bool, error) {
	heldIDs := make(map[string]struct{}, len(named.IDs))
	heldEmails := make(map[string]struct{}, len(named.Emails))
	for _, w := range writes {
		if w.IDKey != "" {
			heldIDs[w.IDKey] = struct{}{}
		}
		if w.EmailKey != "" {
			heldEmails[w.EmailKey] = struct{}{}
		}
	}
	var check identity.Keys
	for _, k := range named.IDs {
		if _, ok := heldIDs[k]; !ok {
			check.IDs = append(check.IDs, k)
		}
	}
	for _, k := range named.Emails {
		if _, ok := heldEmails[k]; !ok {
			check.Emails = append(check.Emails, k)
		}
	}
	if len(check.IDs)+len(check.Emails) == 0 {
		return true, nil
	}
	people, err := l.LoadPeople(ctx, check)
	if err != nil {
		return false, fmt.Errorf("check the batch planned as new people: %w", err)
	}
	return len(people) == 0, nil
}

// hasCioID: a row naming a cio_id needs its person looked up, whatever the guess.
func hasCioID(rows []identity.Row) bool {
	for _, r := range rows {
		if r.CioID != "" {
			return true
		}
	}
	return false
}

// ReasonDuplicateKey is recorded for a row whose watermark column and key both equal
// the row before it's: the key is not unique, and the second row is not applied.
const ReasonDuplicateKey = "duplicate_key"

// lookbackStart is where a run starts reading: after the cursor, or lookback before
// its time, inclusive, to catch rows committed late with an earlier time. A wall
// clock (in loc, the sync's timezone) goes back lookback on the clock or in real
// time, whichever is earlier: across a DST change the window is never shorter.
func lookbackStart(c *value.Cursor, lookback time.Duration, loc *time.Location) (*value.Cursor, error) {
	if c == nil || lookback <= 0 {
		return c, nil
	}
	switch v := c.Value.(type) {
	case time.Time:
		return &value.Cursor{Value: v.Add(-lookback)}, nil
	case civil.DateTime:
		start := civil.DateTimeOf(v.In(time.UTC).Add(-lookback))
		if real := civil.DateTimeOf(v.In(loc).Add(-lookback).In(loc)); real.Before(start) {
			start = real
		}
		return &value.Cursor{Value: start}, nil
	}
	return nil, fmt.Errorf("lookback needs a date or time watermark column; the cursor holds %T", c.Value)
}

// apply plans a batch and commits its writes with its cursor in one transaction.
// The transaction does not see ctx's cancellation: a SIGTERM lets the batch commit.
func (r *reader) apply(ctx context.Context, planner *identity.Planner, p prepared) error {
	s, res := r.sync, r.res
	rows, outcomes, planned, cursor, encoded := p.rows, p.outcomes, p.planned, p.cursor, p.encoded
	var err error
	var (
		batch   *identity.Batch
		attempt int
		guessed bool // planned without looking anyone up
		found   int  // people the lookups found
	)
	write := func(tx *store.Tx) error {
		wctx := context.WithoutCancel(ctx)
		if r.lease != nil {
			if err := tx.RenewLease(wctx, r.lease.Name, r.lease.Holder, r.lease.Expiry()); err != nil {
				return err
			}
		}
		attempt++
		// A backfill: the last batch's lookups found no one, so this one is planned
		// as all new people, without them, and the guess is checked (checkGuess).
		guessed = r.fresh && attempt == 1 && r.dryTx == nil && !hasCioID(rows)
		found = 0
		var err error
		if guessed {
			g := &guess{}
			if batch, err = planner.Plan(wctx, g, s.Name, rows); err != nil {
				return err
			}
			if guessed, err = checkGuess(wctx, tx, g.named, batch.Writes); err != nil {
				return err
			}
		}
		if !guessed {
			if batch, err = planner.Plan(wctx, counting{tx, &found}, s.Name, rows); err != nil {
				return err
			}
		}
		batch.Rejected = mergeRejected(outcomes, planned, batch, s.Name, r.engine.now().Unix())
		if err := tx.Write(wctx, batch); err != nil {
			return err
		}
		if err := tx.RecordProgress(wctx, r.runID, batchProgress(outcomes, planned, batch), encoded); err != nil {
			return err
		}
		if cursor == nil {
			return nil
		}
		return tx.SaveCursor(wctx, s.Name, encoded)
	}
	if r.dryTx != nil {
		err = write(r.dryTx)
	} else {
		err = r.engine.Store.InTx(context.WithoutCancel(ctx), write)
		if err != nil && guessed && store.IsUniqueViolation(err) {
			err = r.engine.Store.InTx(context.WithoutCancel(ctx), write)
		}
	}
	if err != nil {
		return fmt.Errorf("sync %s: apply batch: %w", s.Name, err)
	}
	r.fresh = guessed || found == 0

	for j, o := range batch.Outcomes {
		outcomes[planned[j]].Outcome = o
	}
	res.RowsRead += int64(len(outcomes))
	for _, o := range outcomes {
		switch o.Outcome.Result {
		case identity.Created:
			res.Created++
		case identity.Updated:
			res.Updated++
		case identity.Unchanged:
			res.Unchanged++
		case identity.Rejected:
			res.Rejected++
			res.RejectedBy[o.Outcome.Reason]++
		case identity.Skipped:
			res.Skipped++
			res.RejectedBy[o.Outcome.Reason]++
		}
		for _, f := range o.Outcome.Failed {
			res.FailedBy[f.Reason]++
			res.FailedChanges++
		}
	}
	if cursor != nil {
		res.CursorAfter = cursor
	}
	if r.opt.OnBatch != nil {
		r.opt.OnBatch(outcomes, batch.Log)
	}
	return nil
}

// mergeRejected lists the batch's rejected and skipped rows in source order: those
// mapping refused and those the identity rules did.
func mergeRejected(outcomes []RowOutcome, planned []int, b *identity.Batch, sync string, now int64) []identity.Rejection {
	if len(planned) == len(outcomes) {
		return b.Rejected
	}
	out := make([]identity.Rejection, 0, len(b.Rejected)+len(outcomes)-len(planned))
	fromPlan := b.Rejected
	next := 0 // index into planned
	for i, o := range outcomes {
		if next < len(planned) && planned[next] == i {
			if r := b.Outcomes[next].Result; r == identity.Rejected || r == identity.Skipped {
				out = append(out, fromPlan[0])
				fromPlan = fromPlan[1:]
			}
			next++
			continue
		}
		out = append(out, identity.Rejection{Time: now, Sync: sync, Key: o.Key, Reason: o.Outcome.Reason, Detail: o.Outcome.Detail})
	}
	return out
}
