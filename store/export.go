package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
)

// The warehouse export's cursor (SPEC §6). Every write of a person sets
// people.export_pending (writePeople), and a people_pending row lists those it turned
// pending. Export N
//
//  1. claims the pending people the people_pending rows list: export_pending = FALSE,
//     and a row in export_people, in short transactions that delete the rows they read
//     (StartExport);
//  2. reads the people export_people lists for N in one snapshot, each with the names of
//     the attributes their change log touched after their exported_log_seq (ReadExport);
//  3. once its manifest is in place, moves each one's exported_log_seq: to their last
//     change the snapshot saw if no write came since the claim, else not at all, so
//     the next export takes their changes from where this one started (FinishExport).
//
// A write that commits after the claim makes the person pending again, so they go in
// the next export too. Which writes came after the claim is read from the flag, never
// from the order of change_log.seq, which on PostgreSQL is not the order transactions
// commit in. No advisory locks, no triggers.

// Export states.
const (
	ExportRunning = "running" // started; if its process died, the next export finishes or redoes it
	ExportDone    = "done"
)

// exportChunk is how many people one short transaction claims or moves the cursor of,
// so an export never holds the SQLite write lock, or many PostgreSQL row locks, for long.
const exportChunk = 5000

// Export is one export, as the exports table records it.
type Export struct {
	Seq           int64
	Full          bool
	Format        string
	State         string
	Manifest      string // absolute path of its manifest
	Started       time.Time
	Finished      time.Time // zero until done
	AfterLogSeq   int64     // the previous export's ThroughLogSeq
	ThroughLogSeq int64     // the largest change_log.seq its snapshot saw
	People        int64
	Attributes    int64
}

// ExportAttribute is one attribute row of an export: the current value, or nil for an
// attribute that was removed.
type ExportAttribute struct {
	Name  string
	Value json.RawMessage
}

const exportColumns = `seq, full_export, format, state, manifest, started_ms, finished_ms, after_log_seq,
	through_log_seq, people, attributes`

func scanExport(row scanner) (Export, error) {
	var (
		ex                Export
		started           int64
		finished, through sql.NullInt64
	)
	err := row.Scan(&ex.Seq, &ex.Full, &ex.Format, &ex.State, &ex.Manifest, &started, &finished,
		&ex.AfterLogSeq, &through, &ex.People, &ex.Attributes)
	if err != nil {
		return ex, err
	}
	ex.Started = time.UnixMilli(started).UTC()
	if finished.Valid {
		ex.Finished = time.UnixMilli(finished.Int64).UTC()
	}
	ex.ThroughLogSeq = through.Int64
	return ex, nil
}

// Exports lists every export, oldest first.
func (s *Store) Exports(ctx context.Context) ([]Export, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+exportColumns+` FROM exports ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read exports: %w", err)
	}
	defer rows.Close()
	var out []Export
	for rows.Next() {
		ex, err := scanExport(rows)
		if err != nil {
			return nil, fmt.Errorf("read exports: %w", err)
		}
		out = append(out, ex)
	}
	return out, rows.Err()
}

// UnfinishedExport returns the export that started and never finished, or nil. Call it
// holding the export lease: then no live process is running it.
func (s *Store) UnfinishedExport(ctx context.Context) (*Export, error) {
	q := s.d.rebind(`SELECT ` + exportColumns + ` FROM exports WHERE state = ? ORDER BY seq LIMIT 1`)
	ex, err := scanExport(s.db.QueryRowContext(ctx, q, ExportRunning))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read unfinished export: %w", err)
	}
	return &ex, nil
}

// StartExport starts the unfinished export again, or else the next one, and claims
// the pending people, objects, relationships and events for it. manifest names where the export's manifest goes, or
// refuses the number with an error.
func (s *Store) StartExport(ctx context.Context, full bool, format string, manifest func(seq int64) (string, error)) (*Export, error) {
	var ex Export
	err := s.InTx(ctx, func(tx *Tx) error {
		ex = Export{Full: full, Format: format, State: ExportRunning, Started: time.Now().UTC()}
		q := tx.d.rebind(`SELECT ` + exportColumns + ` FROM exports ORDER BY seq DESC LIMIT 1`)
		last, err := scanExport(tx.tx.QueryRowContext(ctx, q))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			ex.Seq = 1
		case err != nil:
			return err
		case last.State == ExportRunning:
			ex.Seq, ex.AfterLogSeq = last.Seq, last.AfterLogSeq // redo it
		default:
			ex.Seq, ex.AfterLogSeq = last.Seq+1, last.ThroughLogSeq
		}
		if ex.Manifest, err = manifest(ex.Seq); err != nil {
			return err
		}
		_, err = tx.tx.ExecContext(ctx, tx.d.rebind(`INSERT INTO exports (seq, full_export, format, state, manifest,
			started_ms, after_log_seq) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (seq) DO UPDATE SET full_export = excluded.full_export, format = excluded.format,
			manifest = excluded.manifest, started_ms = excluded.started_ms`),
			ex.Seq, ex.Full, ex.Format, ex.State, ex.Manifest, ex.Started.UnixMilli(), ex.AfterLogSeq)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start export: %w", err)
	}
	if err := s.claim(ctx, ex.Seq); err != nil {
		return nil, err
	}
	if err := s.claimObjectsAndRelationships(ctx, ex.Seq); err != nil {
		return nil, err
	}
	if err := s.claimEvents(ctx, ex.Seq); err != nil {
		return nil, err
	}
	return &ex, nil
}

// claim marks the pending people as export seq's, a chunk to a transaction. The
// people_pending rows list who may be pending (0014_people_pending.sql): each chunk
// reads rows, at least exportChunk people, and in one transaction claims those of
// them still pending and deletes the rows it read. A person a batch is writing is
// claimed once the batch commits (PostgreSQL waits for its row lock), or else is
// pending again; a row that commits after the claim began waits for the next export.
// afterClaimRecord, set by a test, runs between a claim's two statements.
var afterClaimRecord func()

func (s *Store) claim(ctx context.Context, seq int64) error {
	if err := s.sweepPending(ctx); err != nil {
		return fmt.Errorf("claim people for export %d: %w", seq, err)
	}
	var through int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM people_pending`).Scan(&through); err != nil {
		return fmt.Errorf("claim people for export %d: %w", seq, err)
	}
	for after := int64(0); ; {
		rows, ids, err := s.pendingRows(ctx, after, through)
		if err != nil {
			return fmt.Errorf("claim people for export %d: %w", seq, err)
		}
		if len(rows) == 0 {
			return nil
		}
		after = rows[len(rows)-1]
		err = s.InTx(ctx, func(tx *Tx) error {
			d := tx.d
			where, args := `export_pending AND `+d.inList("internal_id"), []any{d.listArg(ids)}
			if err := tx.lockPeople(ctx, where, args...); err != nil {
				return err
			}
			record := `INSERT INTO export_people (export_seq, internal_id) SELECT ?, internal_id FROM people WHERE ` +
				where + ` ON CONFLICT (export_seq, internal_id) DO NOTHING`
			if _, err := tx.tx.ExecContext(ctx, d.rebind(record), append([]any{seq}, args...)...); err != nil {
				return err
			}
			if afterClaimRecord != nil {
				afterClaimRecord()
			}
			// Only the rows just recorded: at PostgreSQL's READ COMMITTED each statement
			// sees its own moment, and a row a writer made pending after the INSERT's
			// moment must stay pending for the next export, not be marked unrecorded.
			if _, err := tx.tx.ExecContext(ctx, d.rebind(`UPDATE people SET export_pending = FALSE WHERE `+where+
				` AND internal_id IN (SELECT internal_id FROM export_people WHERE export_seq = ?)`), append(args, seq)...); err != nil {
				return err
			}
			// The rows read, and only those: one that committed since lists a write
			// the next export takes. (Numbers the store gave, written as numbers.)
			done := make([]string, len(rows))
			for i, r := range rows {
				done[i] = strconv.FormatInt(r, 10)
			}
			_, err := tx.tx.ExecContext(ctx, `DELETE FROM people_pending WHERE seq IN (`+strings.Join(done, ", ")+`)`)
			return err
		})
		if err != nil {
			return fmt.Errorf("claim people for export %d: %w", seq, err)
		}
	}
}

// sweepWindow is how long after migration 0014 an older dbsync may still be writing.
const sweepWindow = time.Hour

// sweepPending lists everyone pending export in people_pending, 5000 to a row, while
// the store is due a sweep (0014_people_pending.sql: the people pending at the
// upgrade, and those an older dbsync still running writes pending without listing
// them), and ends the sweeps with the first one at least sweepWindow after the
// migration. It reads the whole people table.
func (s *Store) sweepPending(ctx context.Context) error {
	var due string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'people_pending.sweep'`).Scan(&due)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the pending sweep: %w", err)
	}
	var migrated int64
	if err := s.db.QueryRowContext(ctx, `SELECT applied_at FROM schema_migrations WHERE version = 14`).Scan(&migrated); err != nil {
		return fmt.Errorf("read the pending sweep: %w", err)
	}
	agg := `json_agg(internal_id ORDER BY internal_id)::text`
	if s.d == sqliteDialect {
		agg = `json_group_array(internal_id)`
	}
	list := `INSERT INTO people_pending (ids) SELECT ` + agg + ` FROM (SELECT internal_id,
		(row_number() OVER (ORDER BY internal_id) - 1) / 5000 AS chunk FROM people WHERE export_pending ORDER BY internal_id) p
		GROUP BY chunk ORDER BY chunk`
	return s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, list); err != nil {
			return fmt.Errorf("sweep the pending people: %w", err)
		}
		if time.Since(time.Unix(migrated, 0)) < sweepWindow {
			return nil
		}
		_, err := tx.tx.ExecContext(ctx, `DELETE FROM meta WHERE key = 'people_pending.sweep'`)
		return err
	})
}

// pendingRows reads the people_pending rows after seq after, up to through, in seq
// order, until they list exportChunk people or 100 rows: their seqs and the people
// they list.
func (s *Store) pendingRows(ctx context.Context, after, through int64) ([]int64, []string, error) {
	rs, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT seq, ids FROM people_pending WHERE seq > ? AND seq <= ?
		ORDER BY seq LIMIT 100`), after, through)
	if err != nil {
		return nil, nil, err
	}
	defer rs.Close()
	var rows []int64
	var ids []string
	for len(ids) < exportChunk && rs.Next() {
		var row int64
		var list string
		if err := rs.Scan(&row, &list); err != nil {
			return nil, nil, err
		}
		var more []string
		if err := json.Unmarshal([]byte(list), &more); err != nil {
			return nil, nil, fmt.Errorf("people_pending row %d: %w", row, err)
		}
		rows, ids = append(rows, row), append(ids, more...)
	}
	return rows, ids, rs.Err()
}

// lockPeople takes the row locks of the people matching where in internal_id order,
// the order batches take them in (LoadPeople), so an export and a batch never
// deadlock. SQLite has one writer at a time and no row locks.
func (t *Tx) lockPeople(ctx context.Context, where string, args ...any) error {
	if t.d.forUpdate == "" {
		return nil
	}
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(`SELECT internal_id FROM people WHERE `+where+` ORDER BY internal_id`+t.d.forUpdate), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// ReadExport reads export ex's people in one snapshot, in internal_id order, streaming:
// memory stays flat however many there are. For each it calls fn with the attribute
// rows to write: every current attribute when the person was never exported, had
// someone merged into them, or ex is full; and each attribute their change log touched since their
// last export, with its current value or nil when removed. A deleted person comes
// with no identifiers and no attribute rows. A full export reads everyone, retired
// and deleted people included. It returns the largest change_log.seq
// the snapshot saw.
func (s *Store) ReadExport(ctx context.Context, ex *Export, fn func(p *identity.Person, attrs []ExportAttribute) error) (int64, error) {
	opts := &sql.TxOptions{ReadOnly: true} // SQLite: a deferred read transaction, so writers go on
	if s.d.numbered {
		opts.Isolation = sql.LevelRepeatableRead // one snapshot for the whole read
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("read export %d: %w", ex.Seq, err)
	}
	defer tx.Rollback()
	var through int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM change_log`).Scan(&through); err != nil {
		return 0, fmt.Errorf("read export %d: %w", ex.Seq, err)
	}
	agg := `json_group_array(DISTINCT c.attribute)`
	if s.d.numbered {
		agg = `json_agg(DISTINCT c.attribute)::text`
	}
	since := `FROM change_log c WHERE c.internal_id = p.internal_id AND c.seq > p.exported_log_seq`
	q := `SELECT ` + personColumns + `, p.exported_log_seq,
		(SELECT ` + agg + ` ` + since + ` AND c.kind = '` + record.AttributeChange + `'),
		EXISTS (SELECT 1 ` + since + ` AND c.kind = '` + record.ProfileMerge + `')
		FROM people p`
	var args []any
	if !ex.Full {
		q += ` WHERE p.internal_id IN (SELECT e.internal_id FROM export_people e WHERE e.export_seq = ?)`
		args = append(args, ex.Seq)
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind(q+` ORDER BY p.internal_id`), args...)
	if err != nil {
		return 0, fmt.Errorf("read export %d: %w", ex.Seq, err)
	}
	defer rows.Close()
	var (
		logSeq  sql.NullInt64
		changed sql.NullString
		merged  bool
		attrs   []ExportAttribute
	)
	row := &extraScanner{rows, []any{&logSeq, &changed, &merged}}
	for rows.Next() {
		p, err := scanPerson(row)
		if err != nil {
			return 0, fmt.Errorf("read export %d: %w", ex.Seq, err)
		}
		var names []string
		if changed.Valid {
			if err := json.Unmarshal([]byte(changed.String), &names); err != nil {
				return 0, fmt.Errorf("read export %d: changed attributes of %s: %w", ex.Seq, p.CioID, err)
			}
		}
		attrs = attrs[:0]
		if p.Deleted {
			// Deleted (or suppressed): only the key and the flags go out (SPEC §6), so a
			// warehouse deletes its copy by internal_customer_id, whatever the row
			// still holds.
			p.ID, p.Email, p.Attributes = "", "", nil
		} else {
			attrs = exportAttributes(attrs, &p, ex.Full || !logSeq.Valid || merged, names)
		}
		if err := fn(&p, attrs); err != nil {
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read export %d: %w", ex.Seq, err)
	}
	return through, nil
}

// extraScanner scans a person's columns and then the extra ones after them.
type extraScanner struct {
	rows  *sql.Rows
	extra []any
}

func (e *extraScanner) Scan(dest ...any) error { return e.rows.Scan(append(dest, e.extra...)...) }

// exportAttributes lists a person's attribute rows, by name: all current attributes
// when all is set, and each changed one with its current value or nil when removed.
// "id" and "email" in the change log are the identifier columns, which the people
// file carries, unless the person has an attribute of that name.
func exportAttributes(out []ExportAttribute, p *identity.Person, all bool, changed []string) []ExportAttribute {
	seen := make(map[string]bool, len(changed))
	if all {
		for name, v := range p.Attributes {
			out = append(out, ExportAttribute{Name: name, Value: v})
			seen[name] = true
		}
	}
	for _, name := range changed {
		if seen[name] {
			continue
		}
		seen[name] = true
		v, ok := p.Attributes[name]
		if !ok && (name == "id" || name == "email") {
			continue
		}
		out = append(out, ExportAttribute{Name: name, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FinishExport moves the cursor of export ex's people and records ex done with its
// counts. Call it once the manifest is in place. A person not written since the claim
// had every change committed before the snapshot: their cursor moves to the last one
// the snapshot saw (at most ex.ThroughLogSeq). A person written since keeps their
// cursor, and the next export takes their changes from there (NULL becomes 0: they
// were exported once, so the next export has only their changed attributes, removals
// included). Run again after a crash, it sets the same values.
func (s *Store) FinishExport(ctx context.Context, ex *Export) error {
	// Before the people, whose last chunk records ex done.
	if err := s.finishObjectsAndRelationships(ctx, ex); err != nil {
		return err
	}
	const set = `UPDATE people SET exported_log_seq = CASE WHEN export_pending THEN COALESCE(exported_log_seq, 0)
		ELSE COALESCE((SELECT MAX(c.seq) FROM change_log c WHERE c.internal_id = people.internal_id AND c.seq <= ?), 0) END
		WHERE `
	bound := s.d.rebind(`SELECT internal_id FROM export_people WHERE export_seq = ? AND internal_id > ?
		ORDER BY internal_id LIMIT 1 OFFSET ?`)
	claimed := `internal_id IN (SELECT internal_id FROM export_people WHERE export_seq = ? AND internal_id > ?`
	done := s.d.rebind(`UPDATE exports SET state = ?, finished_ms = ?, through_log_seq = ?, people = ?, attributes = ?
		WHERE seq = ? AND state = ?`)
	for after := ""; ; {
		var upTo string
		err := s.db.QueryRowContext(ctx, bound, ex.Seq, after, exportChunk-1).Scan(&upTo)
		last := errors.Is(err, sql.ErrNoRows)
		if err != nil && !last {
			return fmt.Errorf("finish export %d: %w", ex.Seq, err)
		}
		where, args := claimed, []any{ex.Seq, after}
		if !last {
			where, args = where+` AND internal_id <= ?`, append(args, upTo)
		}
		where += `)`
		err = s.InTx(ctx, func(tx *Tx) error {
			if err := tx.lockPeople(ctx, where, args...); err != nil {
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, tx.d.rebind(set+where), append([]any{ex.ThroughLogSeq}, args...)...); err != nil {
				return err
			}
			// The chunk's people are done: forget that export N claimed them.
			forget := `DELETE FROM export_people WHERE export_seq = ? AND internal_id > ?`
			if !last {
				forget += ` AND internal_id <= ?`
			}
			if _, err := tx.tx.ExecContext(ctx, tx.d.rebind(forget), args...); err != nil {
				return err
			}
			if !last {
				return nil
			}
			ex.Finished = time.Now().UTC()
			res, err := tx.tx.ExecContext(ctx, done, ExportDone, ex.Finished.UnixMilli(), ex.ThroughLogSeq,
				ex.People, ex.Attributes, ex.Seq, ExportRunning)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("it is not running")
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("finish export %d: %w", ex.Seq, err)
		}
		if last {
			ex.State = ExportDone
			return nil
		}
		after = upTo
	}
}
