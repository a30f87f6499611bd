// Package engine runs a sync: it reads changed rows from the source after the stored
// cursor, maps each into its record, has the sync's kind plan and write them (the
// identity rules, for people), and commits each batch's writes together with its
// cursor, under a lease so that only one run of a sync goes at a time.
//
// A row goes one way: read.go reads and maps it into a record.Record, apply.go hands
// the batch's records to the Kind and commits them with the cursor, and the run's
// counts come from the records (run.go keeps the run's history). people.go,
// objects.go and relationships.go are the kinds.
package engine

import (
	"errors"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
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
	// OnBatch sees every batch once it is committed: one record per source row, in
	// the order read, each with its outcome and its own changes.
	OnBatch func(recs []*record.Record)
	// NoShortcuts plans every batch with all its lookups: no backfill guess (people
	// and events). The outcome is the same either way (SPEC §1 rule 6); tests compare
	// the shortcuts with it.
	NoShortcuts bool
}

// Result is one run's summary.
type Result struct {
	Sync           string
	Kind           config.Kind // what the sync's rows are: what its counts count
	Status         string      // store.RunOK, store.RunFailed, store.RunAlreadyRunning
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
