package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/lib/pq"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/jsontext"
	"github.com/dbsync/dbsync/record"
)

const personColumns = `internal_id, external_id, email, attributes, created_at, updated_at, merged_into, deleted, suppressed`

// identityColumns are personColumns without the attributes (NULL in their place,
// read as none): what finds a person, for rows that never change the people they
// find.
const identityColumns = `internal_id, external_id, email, NULL, created_at, updated_at, merged_into, deleted, suppressed`

// LoadPeople loads everyone holding one of the keys, and the people their retired
// cio_ids were merged into. On PostgreSQL the rows stay locked until the transaction
// ends, so a concurrent batch cannot change them between read and write.
func (t *Tx) LoadPeople(ctx context.Context, keys identity.Keys) ([]identity.Person, error) {
	return t.loadPeople(ctx, keys, personColumns, t.d.forUpdate, true)
}

// LoadIdentities is LoadPeople without the attributes and without the row locks:
// each person's cio_id, id, email, times and whether merged, deleted or suppressed,
// for an events batch, which finds people and never changes them (SPEC §9). A
// person's attributes are most of what LoadPeople reads and decodes. The batch writes
// for the people it found (their events), so another batch must not merge or delete
// them before it commits: call ShareEventsGate first (store/gate.go).
func (t *Tx) LoadIdentities(ctx context.Context, keys identity.Keys) ([]identity.Person, error) {
	return t.loadPeople(ctx, keys, identityColumns, "", false)
}

// loadPeople runs LoadPeople's queries for columns, each ending in lock. With
// writing, the rows are read for a write (row-locked on PostgreSQL; SQLite's write
// transaction holds the one write lock), and Tx.pending notes who is pending export.
func (t *Tx) loadPeople(ctx context.Context, keys identity.Keys, columns, lock string, writing bool) ([]identity.Person, error) {
	if t.dry != nil {
		return t.dry.load(ctx, t, keys)
	}
	d := t.d
	var pending map[string]bool // who is pending export already (notPending)
	if writing {
		columns += ", export_pending"
		if t.pending == nil {
			t.pending = map[string]bool{}
		}
		pending = t.pending
	}
	// By id and cio_id first, then by email only for the emails no one loaded holds:
	// email_key is unique, so a loaded person holding one is the only one who does. A
	// batch whose rows name a person's id and email (an update, the usual case) then
	// reads one index, not two (the email index is the more scattered: docs/benchmarks.md).
	q := `SELECT ` + columns + `, email_key FROM people WHERE ` + d.inList("id_key") + ` OR ` + d.inList("internal_id") +
		` ORDER BY internal_id` + lock
	held := map[string]bool{}
	people, err := t.queryPeople(ctx, q, pending, held, d.listArg(keys.IDs), d.listArg(keys.CioIDs))
	if err != nil {
		return nil, err
	}
	var emails []string
	for _, e := range keys.Emails {
		if !held[e] {
			emails = append(emails, e)
		}
	}
	if len(emails) > 0 {
		q := `SELECT ` + columns + ` FROM people WHERE ` + d.inList("email_key") + ` ORDER BY internal_id` + lock
		more, err := t.queryPeople(ctx, q, pending, nil, d.listArg(emails))
		if err != nil {
			return nil, err
		}
		byID := make(map[string]bool, len(people))
		for _, p := range people {
			byID[p.CioID] = true
		}
		for _, p := range more {
			if !byID[p.CioID] { // found by id too: not twice
				people = append(people, p)
			}
		}
		sort.Slice(people, func(i, j int) bool { return people[i].CioID < people[j].CioID })
	}
	// Follow merges: a retired cio_id leads to the person it was merged into.
	loaded := make(map[string]bool, len(people))
	for _, p := range people {
		loaded[p.CioID] = true
	}
	for next := people; len(next) > 0; {
		var want []string
		for _, p := range next {
			if p.MergedInto != "" && !loaded[p.MergedInto] {
				loaded[p.MergedInto] = true
				want = append(want, p.MergedInto)
			}
		}
		if len(want) == 0 {
			break
		}
		q := `SELECT ` + columns + ` FROM people WHERE ` + d.inList("internal_id") + ` ORDER BY internal_id` + lock
		if next, err = t.queryPeople(ctx, q, pending, nil, d.listArg(want)); err != nil {
			return nil, err
		}
		people = append(people, next...)
	}
	return people, nil
}

// queryPeople runs a query of people. With pending, the column after the person's
// is export_pending, and pending gets the cio_id of each person it is TRUE for; with
// held, the query's last column is the person's email_key, and held gets each email
// key.
func (t *Tx) queryPeople(ctx context.Context, q string, pending, held map[string]bool, args ...any) ([]identity.Person, error) {
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("load people: %w", err)
	}
	defer rows.Close()
	var out []identity.Person
	var key sql.NullString
	var flag bool
	var extra []any
	if pending != nil {
		extra = append(extra, &flag)
	}
	if held != nil {
		extra = append(extra, &key)
	}
	for rows.Next() {
		p, err := scanPerson(rows, extra...)
		if err != nil {
			return nil, err
		}
		if pending != nil && flag {
			pending[p.CioID] = true
		}
		if held != nil && key.Valid {
			held[key.String] = true
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load people: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanPerson reads a person's columns (personColumns) and then extra, if any.
func scanPerson(row scanner, extra ...any) (identity.Person, error) {
	var (
		p                        identity.Person
		id, email, merged, attrs sql.NullString
	)
	err := row.Scan(append([]any{&p.CioID, &id, &email, &attrs, &p.CreatedAt, &p.UpdatedAt, &merged, &p.Deleted, &p.Suppressed}, extra...)...)
	if err != nil {
		return p, fmt.Errorf("read person: %w", err)
	}
	p.ID, p.Email, p.MergedInto = id.String, email.String, merged.String
	if p.Attributes, err = decodeAttributes(attrs.String); err != nil {
		return p, fmt.Errorf("read person %s: attributes: %w", p.CioID, err)
	}
	return p, nil
}

// Write stores a planned batch of a sync: the people in their final state, and from
// the batch's records, in their order, the change log and the rows not applied
// (rejected or skipped), recorded at the time at (Unix seconds).
func (t *Tx) Write(ctx context.Context, sync string, at int64, recs []*record.Record, people []identity.Write) error {
	if t.dry != nil {
		t.dry.write(people)
		if err := t.followPeople(ctx, people); err != nil {
			return err
		}
		return t.erase(ctx, people)
	}
	if err := t.closeEventsGate(ctx, people); err != nil { // before the batch's first write
		return err
	}
	var clear []string
	for _, w := range people {
		if w.ClearKeys {
			clear = append(clear, w.Person.CioID)
		}
	}
	if len(clear) > 0 {
		q := `UPDATE people SET id_key = NULL, email_key = NULL WHERE ` + t.d.inList("internal_id")
		if _, err := t.tx.ExecContext(ctx, t.d.rebind(q), t.d.listArg(clear)); err != nil {
			return fmt.Errorf("release changed identifiers: %w", err)
		}
	}
	log, err := t.planLog(ctx, recs)
	if err != nil {
		return err
	}
	if err := t.writePeople(ctx, people, log.created); err != nil {
		return err
	}
	if err := t.followPeople(ctx, people); err != nil { // merged or deleted: their relationships
		return err
	}
	if err := t.writeLog(ctx, log); err != nil {
		return err
	}
	if err := t.writeRejected(ctx, sync, at, recs); err != nil {
		return err
	}
	return t.erase(ctx, people) // after the log: a delete erases its values too
}

// writePeople inserts the new people, each with its creation's log entry, and upserts
// the changed ones. Every person written becomes pending for the warehouse export:
// export_pending is TRUE by default for a new row and set again by the upsert (see
// store/export.go).
func (t *Tx) writePeople(ctx context.Context, writes []identity.Write, creations []creation) error {
	cols := []string{"internal_id", "external_id", "email", "id_key", "email_key", "email_fold", "attributes",
		"created_at", "updated_at", "merged_into", "deleted", "suppressed"}
	upsert := ` ON CONFLICT (internal_id) DO UPDATE SET external_id = excluded.external_id,
		email = excluded.email, id_key = excluded.id_key, email_key = excluded.email_key, email_fold = excluded.email_fold,
		attributes = excluded.attributes, updated_at = excluded.updated_at,
		merged_into = excluded.merged_into, deleted = excluded.deleted, suppressed = excluded.suppressed,
		export_pending = TRUE`
	var inserts, updates []int // indexes in writes (a Write is large; a batch has thousands)
	for i, w := range writes {
		if w.Insert {
			inserts = append(inserts, i)
		} else {
			updates = append(updates, i)
		}
	}
	// The planner lists the people it created in the order it created them, as the
	// log has their profile_create entries, so the two pair off in order. A person
	// written new without one (stored as it was, by a test or an import) holds none;
	// a creation left without its person would be lost, and is an error.
	creationOf := make([]*creation, len(inserts))
	k := 0
	for i, w := range inserts {
		if k < len(creations) && writes[w].Person.CioID == creations[k].CioID {
			creationOf[i] = &creations[k]
			k++
		}
	}
	if k < len(creations) {
		return fmt.Errorf("write people: the profile_create of %s has no new person to go with", creations[k].CioID)
	}
	var attrs attributeEncoder
	values := func(ws []int, insert bool) func(i int, f *fields) {
		return func(i int, f *fields) {
			w := writes[ws[i]]
			p := w.Person
			f.Text(p.CioID)
			f.NullText(p.ID)
			f.NullText(p.Email)
			f.NullTextAs(w.IDKey, 2) // usually the id itself
			f.NullTextAs(w.EmailKey, 2)
			f.NullText(emailFold(w))
			f.Bytes(attrs.json(p.Attributes))
			f.Int(p.CreatedAt)
			f.Int(p.UpdatedAt)
			f.NullText(p.MergedInto)
			f.Bool(p.Deleted)
			f.Bool(p.Suppressed)
			if !insert {
				return
			}
			if c := creationOf[i]; c != nil {
				f.Int(c.seq)
				f.Text(c.Sync)
				f.NullText(c.RowKey)
				f.JSON(c.To)
			} else {
				f.Null()
				f.Null()
				f.Null()
				f.Null()
			}
		}
	}
	pending := t.notPending(writes, updates)
	insertCols := append(cols[:len(cols):len(cols)], "created_seq", "created_sync", "created_key", "created_to")
	if err := t.insertRows(ctx, "people", insertCols, "", len(inserts), values(inserts, true)); err != nil {
		return err
	}
	if err := t.insertRows(ctx, "people", cols, upsert, len(updates), values(updates, false)); err != nil {
		return err
	}
	for _, i := range inserts {
		pending = append(pending, writes[i].Person.CioID)
	}
	return t.listPending(ctx, pending)
}

// notPending lists the people of writes[updates] not known to be pending export:
// the write makes them pending, so they go in its people_pending row. One the
// transaction loaded pending (LoadPeople: under the row lock it holds until it
// commits on PostgreSQL, under the write lock on SQLite, so no claim takes them
// meanwhile) is listed in a row no export has read yet (0014_people_pending.sql);
// listing anyone else is at worst once too often.
func (t *Tx) notPending(writes []identity.Write, updates []int) []string {
	var out []string
	for _, i := range updates {
		if cio := writes[i].Person.CioID; !t.pending[cio] {
			out = append(out, cio)
		}
	}
	return out
}

// listPending adds the people_pending row that lists ids, people the transaction
// makes pending export.
func (t *Tx) listPending(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, t.d.rebind(`INSERT INTO people_pending (ids) VALUES (?)`), string(b)); err != nil {
		return fmt.Errorf("write people: list them pending export: %w", err)
	}
	return nil
}

// emailFold is what people.email_fold holds: the folded email of a person whose
// email is not a key (an [id] workspace), so that `people get` finds them by it
// however the case is given. Where email identifies, email_key serves and this is
// empty, so a backfill there writes nothing to its index.
func emailFold(w identity.Write) string {
	if w.EmailKey != "" || w.Person.Email == "" || w.Person.Deleted || w.Person.MergedInto != "" {
		return ""
	}
	return identity.EmailKey(w.Person.Email)
}

// foldEmails fills email_fold for the people stored before it existed (migration
// 0004), in Go: SQL's LOWER folds only ASCII on SQLite.
func foldEmails(ctx context.Context, d *dialect, tx *sql.Tx) error {
	after := ""
	for {
		rows, err := tx.QueryContext(ctx, d.rebind(`SELECT internal_id, email FROM people
			WHERE internal_id > ? AND email_key IS NULL AND email IS NOT NULL AND NOT deleted AND merged_into IS NULL
			ORDER BY internal_id LIMIT 1000`), after)
		if err != nil {
			return fmt.Errorf("fold emails: %w", err)
		}
		var ids, emails []string
		for rows.Next() {
			var id, email string
			if err := rows.Scan(&id, &email); err != nil {
				rows.Close()
				return fmt.Errorf("fold emails: %w", err)
			}
			ids, emails = append(ids, id), append(emails, email)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("fold emails: %w", err)
		}
		for i, id := range ids {
			q := d.rebind(`UPDATE people SET email_fold = ? WHERE internal_id = ?`)
			if _, err := tx.ExecContext(ctx, q, identity.EmailKey(emails[i]), id); err != nil {
				return fmt.Errorf("fold emails: %w", err)
			}
		}
		if len(ids) < 1000 {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// writeRejected records the batch's rejected and skipped rows: one entry per sync,
// row key and reason, holding when it was first seen (at) and last seen. A row seen
// again moves last_seen and takes the latest detail.
func (t *Tx) writeRejected(ctx context.Context, sync string, at int64, recs []*record.Record) error {
	refused := rejectedOnce(recs)
	cols := []string{"at", "last_seen", "sync", "row_key", "skipped", "reason", "detail"}
	const upsert = ` ON CONFLICT (sync, row_key, reason) DO UPDATE SET last_seen = excluded.last_seen,
		skipped = excluded.skipped, detail = excluded.detail`
	args := make([]any, 0, len(cols))
	return t.insert(ctx, "rejected", cols, upsert, len(refused), func(i int) []any {
		r := refused[i]
		// The key is '' rather than NULL when a row has none, so that the unique
		// index holds such rows too.
		args = append(args[:0], at, at, sync, r.key, r.skipped, r.reason, nullable(r.detail))
		return args
	})
}

// refusedRow is an entry of the rejected table.
type refusedRow struct {
	key, reason, detail string
	skipped             bool
}

// rejectedOnce lists the batch's rejected and skipped records, those with the same
// key and reason as one before merged into the first (an upsert may not touch a row
// twice), which takes the last one's detail.
func rejectedOnce(recs []*record.Record) []refusedRow {
	type entry struct{ key, reason string }
	var (
		out []refusedRow
		at  map[entry]int
	)
	for _, r := range recs {
		if !r.Refused() {
			continue
		}
		row := refusedRow{key: r.Key, reason: r.Reason, detail: r.Detail, skipped: r.Result == record.Skipped}
		k := entry{r.Key, r.Reason}
		if j, dup := at[k]; dup {
			out[j].skipped, out[j].detail = row.skipped, row.detail
			continue
		}
		if at == nil {
			at = map[entry]int{}
		}
		at[k] = len(out)
		out = append(out, row)
	}
	return out
}

// insert writes n rows with multi-row INSERT statements, as many rows to a statement
// as the dialect's parameter limit allows. row(i) returns the values of row i; the
// slice may be reused between calls.
func (t *Tx) insert(ctx context.Context, table string, cols []string, suffix string, n int, row func(i int) []any) error {
	return t.insertRows(ctx, table, cols, suffix, n, func(i int, f *fields) {
		for _, v := range row(i) {
			f.Any(v)
		}
	})
}

// insertRows is insert with each row's values handed to f, unboxed where the rows go
// by COPY (fields).
func (t *Tx) insertRows(ctx context.Context, table string, cols []string, suffix string, n int, row func(i int, f *fields)) error {
	if n == 0 {
		return nil
	}
	if suffix == "" && t.d.copy {
		return t.copyRows(ctx, table, cols, n, row)
	}
	if t.stage && t.conn != nil && n >= stagedFrom {
		return t.staged(ctx, table, cols, suffix, n, row)
	}
	per := t.d.maxParams / len(cols)
	if per > 1000 {
		per = 1000
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	var full string // the statement for a full chunk, built once
	f := fields{args: make([]any, 0, per*len(cols)), width: len(cols)}
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		f.args = f.args[:0]
		for i := start; i < end; i++ {
			row(i, &f)
		}
		if f.err != nil {
			return fmt.Errorf("write %s: %w", table, f.err)
		}
		q := full
		if end-start < per || q == "" {
			q = t.d.rebind(head + strings.TrimSuffix(strings.Repeat(tuple+", ", end-start), ", ") + suffix)
			if end-start == per {
				full = q
			}
		}
		var err error
		if q == full && t.stmts != nil {
			err = t.stmts.exec(ctx, t.tx, q, f.args)
		} else {
			_, err = t.tx.ExecContext(ctx, q, f.args...)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", table, err)
		}
	}
	return nil
}

// copyChunk is about how many bytes of rows copyRows hands the driver at once.
const copyChunk = 64 << 10

// copyLines keeps copyRows' buffers from one COPY to the next (a batch runs several).
var copyLines = sync.Pool{New: func() any { return new([]byte) }}

// copyData is lib/pq's COPY statement taking rows already in COPY's text format.
type copyData interface {
	CopyData(ctx context.Context, line string) (driver.Result, error)
}

// copyRows writes plain inserts with COPY, PostgreSQL's bulk load. The rows are
// written in COPY's text format here (fields) and go to the driver's COPY statement
// a chunk at a time, on the connection the transaction holds (Tx.conn): through
// database/sql, each row's Exec took a sixth of a backfill's CPU in its bookkeeping
// (locks, argument checks, a result), and the driver's own Exec of a row, boxing and
// all, a third of what was left.
func (t *Tx) copyRows(ctx context.Context, table string, cols []string, n int, row func(i int, f *fields)) error {
	if t.conn == nil {
		return t.copyRowsSQL(ctx, table, cols, n, row)
	}
	err := t.raw(func(dc any) error {
		prep, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the driver's connection (%T) cannot prepare a COPY", dc)
		}
		stmt, err := prep.PrepareContext(ctx, pq.CopyIn(table, cols...))
		if err != nil {
			return err
		}
		defer stmt.Close()
		cd, ok := stmt.(copyData)
		if !ok {
			return fmt.Errorf("the driver's COPY (%T) takes no rows as text", stmt)
		}
		buf := copyLines.Get().(*[]byte)
		f := fields{copy: true, line: (*buf)[:0]}
		defer func() {
			if cap(f.line) <= 4*copyChunk { // a row of megabytes does not keep its buffer
				*buf = f.line[:0]
				copyLines.Put(buf)
			}
		}()
		for i := 0; i < n; i++ {
			row(i, &f)
			f.end()
			if f.err != nil {
				return f.err
			}
			if len(f.line) < copyChunk && i < n-1 {
				continue
			}
			// CopyData copies the text into its own buffer before it returns and
			// adds the last row's newline itself, so the chunk is lent, not copied.
			chunk := f.line[:len(f.line)-1]
			if _, err := cd.CopyData(ctx, unsafe.String(unsafe.SliceData(chunk), len(chunk))); err != nil {
				return err
			}
			f.line = f.line[:0]
		}
		_, err = stmt.Exec(nil) //nolint:staticcheck // the end of the COPY; the driver's own Stmt has no context form
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	return nil
}

// raw runs f on the driver's connection under the transaction. f's error never
// reaches sql.Conn.Raw: told the connection is bad (the server restarted mid-COPY),
// Raw closes the Conn, which waits for the open transaction to end while the
// transaction waits for Raw — a deadlock. The transaction's rollback discards the
// bad connection instead. A panic in f is carried out the same way and raised again.
func (t *Tx) raw(f func(dc any) error) error {
	var ferr error
	var panicked any
	err := t.conn.Raw(func(dc any) error {
		defer func() { panicked = recover() }()
		ferr = f(dc)
		return nil
	})
	if panicked != nil {
		panic(panicked)
	}
	if err != nil {
		return err
	}
	return ferr
}

// copyRowsSQL is copyRows through database/sql, for a transaction without its own
// connection.
func (t *Tx) copyRowsSQL(ctx context.Context, table string, cols []string, n int, row func(i int, f *fields)) error {
	stmt, err := t.tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	defer stmt.Close()
	f := fields{width: len(cols)}
	for i := 0; i < n; i++ {
		f.args = f.args[:0]
		if row(i, &f); f.err != nil {
			return fmt.Errorf("write %s: %w", table, f.err)
		}
		if _, err := stmt.ExecContext(ctx, f.args...); err != nil {
			return fmt.Errorf("write %s: %w", table, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// attributeEncoder writes attributes as one JSON object with sorted keys. Values are
// already canonical JSON, so equal attributes always give equal text. Its buffers are
// reused from row to row of a batch: a row written by COPY costs no allocation.
type attributeEncoder struct {
	names []string
	b     []byte
}

// json is the attributes' text in the encoder's buffer, good until its next use.
func (e *attributeEncoder) json(attrs map[string]json.RawMessage) []byte {
	if len(attrs) == 0 {
		return append(e.b[:0], "{}"...)
	}
	// Most rows of a batch have the names the row before had: the sorted list serves
	// again when attrs holds as many names and each of them (sorting was a third of
	// this function's time).
	if len(e.names) == len(attrs) {
		if b, ok := e.write(attrs); ok {
			return b
		}
	}
	e.names = e.names[:0]
	for name := range attrs {
		e.names = append(e.names, name)
	}
	sort.Strings(e.names)
	b, _ := e.write(attrs)
	return b
}

// write writes attrs in the order of e.names, all of which it must hold (ok).
func (e *attributeEncoder) write(attrs map[string]json.RawMessage) (_ []byte, ok bool) {
	b := append(e.b[:0], '{')
	for i, name := range e.names {
		v, ok := attrs[name]
		if !ok {
			return nil, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, name)
		b = append(b, ':')
		b = append(b, v...)
	}
	b = append(b, '}')
	e.b = b
	return b, true
}

// FindPerson looks a person up the way `dbsync people get` takes an identifier:
// cio_<internal_customer_id>, an id, or an email. A retired cio_id leads to the person
// it was merged into. It returns ErrNotFound when no one matches, including when the
// store was never written.
func (s *Store) FindPerson(ctx context.Context, settings identity.Settings, identifier string) (*identity.Person, error) {
	// Every stored id and email is valid UTF-8 without NUL (mapping rejects NUL);
	// PostgreSQL refuses other text outright.
	if identifier == "" || !utf8.ValidString(identifier) || strings.ContainsRune(identifier, 0) {
		return nil, ErrNotFound
	}
	for _, try := range lookups(settings, identifier) {
		p, err := s.personWhere(ctx, try.where, try.arg)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, ErrNotFound
}

// lookup is one way an identifier may find a person: a where clause and its argument.
type lookup struct{ where, arg string }

// lookups lists the ways an identifier finds a person, in the order they are tried
// (FindPerson).
func lookups(settings identity.Settings, identifier string) []lookup {
	var tries []lookup
	add := func(where, arg string) { tries = append(tries, lookup{where, arg}) }
	if cio, ok := strings.CutPrefix(identifier, "cio_"); ok {
		add("internal_id = ?", cio)
	}
	if settings.IDIdentifies { // in [email] workspaces the id is an attribute, and finds no one
		add("id_key = ?", identifier)
	}
	// Email case is folded in Go, one way (identity.EmailKey), never by SQL's LOWER.
	if email := strings.TrimSpace(identifier); identity.ValidEmail(email) {
		if settings.EmailIdentifies {
			add("email_key = ?", identity.EmailKey(email))
		} else {
			add("email_fold = ?", identity.EmailKey(email))
		}
	}
	return tries
}

func (s *Store) personWhere(ctx context.Context, where string, arg any) (*identity.Person, error) {
	for hops := 0; hops < 64; hops++ {
		q := s.d.rebind(`SELECT ` + personColumns + ` FROM people WHERE ` + where + ` ORDER BY internal_id LIMIT 1`)
		p, err := scanPerson(s.db.QueryRowContext(ctx, q, arg))
		switch {
		case errors.Is(err, sql.ErrNoRows), s.d.missing(err):
			return nil, ErrNotFound
		case err != nil:
			return nil, err
		case p.Deleted:
			return nil, ErrNotFound
		case p.MergedInto != "":
			where, arg = "internal_id = ?", p.MergedInto
			continue
		}
		return &p, nil
	}
	return nil, fmt.Errorf("merge chain from %v is too long", arg)
}
