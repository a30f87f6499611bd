package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Watermark is a sync's stored position.
type Watermark struct {
	Sync         string
	Cursor       string // encoded by package state; "" before the first batch
	LastSyncTime int64  // Unix seconds: start of the last successful run, 0 before the first
	UpdatedAt    int64
}

// Watermark returns a sync's position; a sync that never ran has the zero one.
func (s *Store) Watermark(ctx context.Context, sync string) (Watermark, error) {
	w := Watermark{Sync: sync}
	var cursor sql.NullString
	err := s.db.QueryRowContext(ctx, s.d.rebind(
		`SELECT cursor_json, last_sync_time, updated_at FROM watermarks WHERE sync = ?`), sync).
		Scan(&cursor, &w.LastSyncTime, &w.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) || s.d.missing(err) {
		return w, nil
	}
	if err != nil {
		return w, fmt.Errorf("read watermark of %s: %w", sync, err)
	}
	w.Cursor = cursor.String
	return w, nil
}

// Watermarks lists every sync's position.
func (s *Store) Watermarks(ctx context.Context) ([]Watermark, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sync, cursor_json, last_sync_time, updated_at FROM watermarks ORDER BY sync`)
	if s.d.missing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read watermarks: %w", err)
	}
	defer rows.Close()
	var out []Watermark
	for rows.Next() {
		var w Watermark
		var cursor sql.NullString
		if err := rows.Scan(&w.Sync, &cursor, &w.LastSyncTime, &w.UpdatedAt); err != nil {
			return nil, fmt.Errorf("read watermarks: %w", err)
		}
		w.Cursor = cursor.String
		out = append(out, w)
	}
	return out, rows.Err()
}

// SaveCursor moves a sync's cursor in the batch's transaction, so the batch's writes
// and its cursor commit together.
func (t *Tx) SaveCursor(ctx context.Context, sync, cursor string) error {
	if t.dry != nil {
		return nil
	}
	_, err := t.tx.ExecContext(ctx, t.d.rebind(
		`INSERT INTO watermarks (sync, cursor_json, last_sync_time, updated_at) VALUES (?, ?, 0, ?)
		 ON CONFLICT (sync) DO UPDATE SET cursor_json = excluded.cursor_json, updated_at = excluded.updated_at`),
		sync, nullable(cursor), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("save cursor of %s: %w", sync, err)
	}
	return nil
}

// FinishSync records a successful run's start as the sync's last_sync_time.
func (s *Store) FinishSync(ctx context.Context, sync string, started time.Time) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind(
		`INSERT INTO watermarks (sync, last_sync_time, updated_at) VALUES (?, ?, ?)
		 ON CONFLICT (sync) DO UPDATE SET last_sync_time = excluded.last_sync_time, updated_at = excluded.updated_at`),
		sync, started.Unix(), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("save last sync time of %s: %w", sync, err)
	}
	return nil
}

// ResetWatermark forgets a sync's position, and the rows its lookback remembers
// (RememberRows): its next run reads every row again, as new. It reports whether the
// sync had a position.
func (s *Store) ResetWatermark(ctx context.Context, sync string) (bool, error) {
	var had bool
	err := s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, s.d.rebind(`DELETE FROM watermarks WHERE sync = ?`), sync)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		had = n > 0
		_, err = tx.tx.ExecContext(ctx, s.d.rebind(`DELETE FROM lookback_rows WHERE sync = ?`), sync)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("reset watermark of %s: %w", sync, err)
	}
	return had, nil
}

// Counts are what a run did with the rows it read: in its history row (Run), in its
// result (engine.Result), and what each committed batch adds (RecordProgress).
type Counts struct {
	RowsRead       int64
	Created        int64
	Updated        int64
	Unchanged      int64
	Rejected       int64
	Skipped        int64
	FailedChanges  int64 // refused attribute changes
	Deleted        int64 // people and objects deleted (SPEC §10)
	Suppressed     int64 // people suppressed (and so deleted)
	NullCursorRows int64 // rows not read: their watermark column is NULL (the run's, not a batch's)
}

// Run is one row of the run history.
type Run struct {
	ID      int64
	Sync    string
	Started time.Time
	Ended   time.Time // zero while running
	Status  string    // running, ok, failed, skipped: already running
	Counts
	CursorBefore string
	CursorAfter  string
	Error        string
}

// Run statuses.
const (
	RunRunning        = "running"
	RunOK             = "ok"
	RunFailed         = "failed"
	RunAlreadyRunning = "skipped: already running"
)

// StartRun records a run as running and returns its id.
func (s *Store) StartRun(ctx context.Context, r Run) (int64, error) {
	q := `INSERT INTO runs (sync, started_ms, ended_ms, status, cursor_before, error) VALUES (?, ?, ?, ?, ?, ?)`
	args := []any{r.Sync, r.Started.UnixMilli(), nullTime(r.Ended), r.Status, nullable(r.CursorBefore), nullable(r.Error)}
	var id int64
	var err error
	if s.d.numbered {
		err = s.db.QueryRowContext(ctx, s.d.rebind(q+` RETURNING id`), args...).Scan(&id)
	} else {
		var res sql.Result
		if res, err = s.db.ExecContext(ctx, q, args...); err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("record run of %s: %w", r.Sync, err)
	}
	return id, nil
}

// FinishRun records a run's end, counts and status.
func (s *Store) FinishRun(ctx context.Context, r Run) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind(`UPDATE runs SET ended_ms = ?, status = ?, rows_read = ?, created = ?,
		updated = ?, unchanged = ?, rejected = ?, skipped = ?, failed_changes = ?, deleted = ?, suppressed = ?,
		null_cursor_rows = ?, cursor_after = ?, error = ? WHERE id = ?`),
		nullTime(r.Ended), r.Status, r.RowsRead, r.Created, r.Updated, r.Unchanged, r.Rejected, r.Skipped,
		r.FailedChanges, r.Deleted, r.Suppressed, r.NullCursorRows, nullable(r.CursorAfter), nullable(r.Error), r.ID)
	if err != nil {
		return fmt.Errorf("record end of run %d: %w", r.ID, err)
	}
	return nil
}

// RecordProgress adds a batch's counts to its run and moves the run's cursor_after,
// in the batch's transaction: a run killed later still shows what it committed.
// runID 0 (a dry run, which has no run row) records nothing; cursor "" keeps the
// cursor_after recorded. NullCursorRows is the run's: FinishRun records it.
func (t *Tx) RecordProgress(ctx context.Context, runID int64, p Counts, cursor string) error {
	if runID == 0 || t.dry != nil {
		return nil
	}
	_, err := t.tx.ExecContext(ctx, t.d.rebind(`UPDATE runs SET rows_read = rows_read + ?, created = created + ?,
		updated = updated + ?, unchanged = unchanged + ?, rejected = rejected + ?, skipped = skipped + ?,
		failed_changes = failed_changes + ?, deleted = deleted + ?, suppressed = suppressed + ?,
		cursor_after = COALESCE(?, cursor_after) WHERE id = ?`),
		p.RowsRead, p.Created, p.Updated, p.Unchanged, p.Rejected, p.Skipped, p.FailedChanges, p.Deleted, p.Suppressed,
		nullable(cursor), runID)
	if err != nil {
		return fmt.Errorf("record progress of run %d: %w", runID, err)
	}
	return nil
}

// AbandonRuns marks a sync's runs still recorded as running as failed: their process
// died and its lease expired.
func (s *Store) AbandonRuns(ctx context.Context, sync string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind(`UPDATE runs SET status = ?, ended_ms = ?, error = ?
		WHERE sync = ? AND status = ?`),
		RunFailed, now.UnixMilli(), "the process running it stopped before it finished", sync, RunRunning)
	if err != nil {
		return fmt.Errorf("close abandoned runs of %s: %w", sync, err)
	}
	return nil
}

// Runs lists the newest runs first; sync "" means every sync.
func (s *Store) Runs(ctx context.Context, sync string, limit int) ([]Run, error) {
	deletes := `deleted, suppressed`
	if v, err := s.schemaVersion(ctx); err == nil && v < 7 {
		deletes = `0, 0` // a store not yet upgraded, opened for reading: no deletes recorded
	}
	q := `SELECT id, sync, started_ms, ended_ms, status, rows_read, created, updated, unchanged, rejected, skipped,
		failed_changes, ` + deletes + `, null_cursor_rows, cursor_before, cursor_after, error FROM runs`
	var args []any
	if sync != "" {
		q += ` WHERE sync = ?`
		args = append(args, sync)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if s.d.missing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var (
			r                          Run
			started                    int64
			ended                      sql.NullInt64
			before, after, errorString sql.NullString
		)
		err := rows.Scan(&r.ID, &r.Sync, &started, &ended, &r.Status, &r.RowsRead, &r.Created, &r.Updated,
			&r.Unchanged, &r.Rejected, &r.Skipped, &r.FailedChanges, &r.Deleted, &r.Suppressed, &r.NullCursorRows,
			&before, &after, &errorString)
		if err != nil {
			return nil, fmt.Errorf("read runs: %w", err)
		}
		r.Started = time.UnixMilli(started).UTC()
		if ended.Valid {
			r.Ended = time.UnixMilli(ended.Int64).UTC()
		}
		r.CursorBefore, r.CursorAfter, r.Error = before.String, after.String, errorString.String
		out = append(out, r)
	}
	return out, rows.Err()
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// AcquireLease takes the named lease for holder until expires, when it is free, has
// expired, or is already holder's. It reports whether holder has it now. A lease row
// with an expiry rather than advisory locks, so distributed PostgreSQL-compatible
// databases run it too.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO leases (name, holder, expires_ms) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
		WHERE leases.expires_ms < ? OR leases.holder = ?`),
		name, holder, expires.UnixMilli(), now.UnixMilli(), holder)
	if err != nil {
		return false, fmt.Errorf("take lease %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// LeaseHolder names who holds the named lease now ("" when no one does) and until when.
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, time.Time, error) {
	var holder string
	var expires int64
	err := s.db.QueryRowContext(ctx, s.d.rebind(`SELECT holder, expires_ms FROM leases WHERE name = ?`), name).
		Scan(&holder, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read lease %s: %w", name, err)
	}
	return holder, time.UnixMilli(expires), nil
}

// TakeOverLease gives the named lease to holder when it is still from's (a holder
// known to be dead), whatever its expiry. It reports whether holder has it now; two
// processes taking over the same dead holder at once cannot both win.
func (s *Store) TakeOverLease(ctx context.Context, name, from, holder string, expires time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.d.rebind(`UPDATE leases SET holder = ?, expires_ms = ? WHERE name = ? AND holder = ?`),
		holder, expires.UnixMilli(), name, from)
	if err != nil {
		return false, fmt.Errorf("take over lease %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ErrLeaseLost means another process took the lease: this one must stop writing.
var ErrLeaseLost = errors.New("lease lost to another process")

// RenewLease extends holder's lease, in a batch's transaction so that a batch commits
// only while its run still holds the lease. ErrLeaseLost when it does not.
func (t *Tx) RenewLease(ctx context.Context, name, holder string, expires time.Time) error {
	return renewLease(ctx, t.tx, t.d, name, holder, expires)
}

// RenewLease extends holder's lease outside a batch (a heartbeat while the source is slow).
func (s *Store) RenewLease(ctx context.Context, name, holder string, expires time.Time) error {
	return renewLease(ctx, s.db, s.d, name, holder, expires)
}

func renewLease(ctx context.Context, q queryer, d *dialect, name, holder string, expires time.Time) error {
	res, err := q.ExecContext(ctx, d.rebind(`UPDATE leases SET expires_ms = ? WHERE name = ? AND holder = ?`),
		expires.UnixMilli(), name, holder)
	if err != nil {
		return fmt.Errorf("renew lease %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("renew lease %s: %w", name, ErrLeaseLost)
	}
	return nil
}

// ReleaseLease gives the lease up, if holder still has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind(`DELETE FROM leases WHERE name = ? AND holder = ?`), name, holder)
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
