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
	"github.com/dbsync/dbsync/mapping"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/value"
)

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
	kind   Kind // plans and writes the sync's rows
	// lookback remembers the rows read, so that re-read rows that did not change
	// write nothing (lookback.go); nil for a sync without a lookback.
	lookback *lookback
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
	if s.Lookback > 0 && s.Watermark != nil {
		r.lookback = &lookback{sync: s.Name, window: time.Duration(s.Lookback), loc: loc}
	}
	spec := s.Spec()
	src, err := r.open(readCtx)
	if err != nil {
		return errors.Join(r.stopped(ctx, readCtx), err)
	}
	defer src.Close()
	read := func(after *value.Cursor) (connectors.Stream, error) {
		return src.Read(readCtx, connectors.Request{After: after, BatchSize: s.BatchSize, BatchBytes: int64(s.BatchBytes), LastSyncTime: wm.LastSyncTime})
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
	r.kind = r.engine.kind(s, r.opt)
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
		if err := r.apply(ctx, p); err != nil {
			return err
		}
		r.log.WithFields(logrus.Fields{"batch": batchNo, "rows": len(p.records)}).Debug("batch committed")
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

// prepared is a batch read from the source and mapped, ready for the sync's kind.
type prepared struct {
	records []*record.Record // one per source row, in the order read; mapping's rejections filled in
	cursor  *value.Cursor
	encoded string // the cursor as the store keeps it
	ahead   any    // what the kind planned of records ahead (aheadKind), or nil
	err     error
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

// prefetch reads and maps batches one ahead of the writer: the channel is unbuffered,
// so while the writer writes one batch the reader holds at most the next (a buffer
// would hold a third batch in memory and buy no overlap). The channel closes after
// the last batch (or the Limit); a batch with err set is the last one sent. It owns
// the stream and closes it.
func (r *reader) prefetch(ctx context.Context, rs *resumable, mapper *mapping.Mapper) <-chan prepared {
	out := make(chan prepared)
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
				if ak, ok := r.kind.(aheadKind); ok && p.err == nil {
					p.ahead = ak.PlanAhead(ctx, p.records)
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

// prepare makes a batch's records, one per row, maps each into its record, and takes
// the batch's cursor. A row the stream flags as tying the row before it on column and
// key is a second row with the same key, which is reported, not applied.
func (r *reader) prepare(mapper *mapping.Mapper, b connectors.Batch) prepared {
	recs := make([]record.Record, len(b.Rows))
	p := prepared{records: make([]*record.Record, len(b.Rows)), cursor: b.Cursor()}
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
		rec := &recs[i]
		p.records[i] = rec
		mapper.Map(v, rec)
		if b.Repeats(i) {
			c := b.Cursors[i]
			rec.Reject(ReasonDuplicateKey, fmt.Sprintf(
				"key %s %v appears again at %s %v: the watermark key must be unique",
				r.sync.Watermark.Key, c.Key, r.sync.Watermark.Column, state.FormatCursor(&value.Cursor{Value: c.Value})))
		}
		// A row mapping refused is refused again whenever it is read: nothing to remember.
		if r.lookback != nil && !rec.Refused() {
			if err := r.lookback.stamp(rec, b.Cursors[i]); err != nil {
				p.err = fmt.Errorf("sync %s: %w", r.sync.Name, err)
				return p
			}
		}
	}
	return p
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
