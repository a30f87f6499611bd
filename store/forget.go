package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
)

// Deletes and suppression (SPEC §10). A sync's delete or suppress row and an
// operator's `people delete|suppress` take the same way: the person is written
// deleted by Tx.Write, which then erases what the store holds of them (erase).

// Suppression kinds, as the suppressions table holds them.
const (
	suppressedID    = "id"
	suppressedEmail = "email"
)

// Suppressed returns those of keys.IDs and keys.Emails (folded) that a suppression
// holds (identity.Loader). Most stores hold none: then one cheap look says so, where
// sending a batch's ids and emails to be matched took ~7 ms a batch on PostgreSQL
// (12 % of a backfill, docs/benchmarks.md). The answer is the same.
func (t *Tx) Suppressed(ctx context.Context, keys identity.Keys) (identity.Keys, error) {
	var out identity.Keys
	if len(keys.IDs)+len(keys.Emails) == 0 {
		return out, nil
	}
	d := t.d
	var any bool
	if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM suppressions)`).Scan(&any); err != nil {
		return out, fmt.Errorf("read suppressions: %w", err)
	}
	if !any {
		if t.dry != nil {
			out = t.dry.suppressed(keys, out)
		}
		return out, nil
	}
	q := `SELECT kind, value FROM suppressions WHERE (kind = 'id' AND ` + d.inList("value") +
		`) OR (kind = 'email' AND ` + d.inList("value") + `)`
	rows, err := t.tx.QueryContext(ctx, d.rebind(q), d.listArg(keys.IDs), d.listArg(keys.Emails))
	if err != nil {
		return out, fmt.Errorf("read suppressions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, value string
		if err := rows.Scan(&kind, &value); err != nil {
			return out, fmt.Errorf("read suppressions: %w", err)
		}
		if kind == suppressedID {
			out.IDs = append(out.IDs, value)
		} else {
			out.Emails = append(out.Emails, value)
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("read suppressions: %w", err)
	}
	if t.dry != nil {
		out = t.dry.suppressed(keys, out)
	}
	return out, nil
}

// erase finishes the deletes of a batch written by Write: for each person written
// deleted it erases, besides the identifiers and attributes writePeople already left
// out, what else the store holds of them and of everyone merged into them (their
// retired cio_ids): the values of those people rows, their relationships and events,
// and the values of their change log — attribute, from, to and row key; the kind,
// time, sync and reason of each entry stay, the batch's profile_delete or
// profile_suppress last. A suppression keeps their id and email in suppressions. The
// people row stays, with its cio_id, times and deleted flag, so the cio_id is never
// reused and finds no one; it is pending for the export, which tells the warehouse.
func (t *Tx) erase(ctx context.Context, writes []identity.Write) error {
	var gone []string
	var sup []identity.Write
	forgot := map[string]string{} // attribute NUL value → the deleted person's cio_id
	for _, w := range writes {
		if w.Person.Deleted {
			gone = append(gone, w.Person.CioID)
			for _, id := range w.Forget.IDs {
				forgot["id\x00"+id] = w.Person.CioID
			}
			for _, e := range w.Forget.Emails {
				forgot["email\x00"+e] = w.Person.CioID
			}
		}
		if len(w.Suppress.IDs)+len(w.Suppress.Emails) > 0 {
			sup = append(sup, w)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if t.dry != nil {
		for _, w := range sup {
			t.dry.suppress(w.Suppress)
		}
		return nil
	}
	history, err := t.mergedInto(ctx, gone)
	if err != nil {
		return err
	}
	d := t.d
	if _, err := t.tx.ExecContext(ctx, d.rebind(`UPDATE people SET external_id = NULL, email = NULL, id_key = NULL,
		email_key = NULL, email_fold = NULL, attributes = '{}', created_key = NULL, created_to = NULL,
		export_pending = TRUE WHERE `+d.inList("internal_id")),
		d.listArg(history)); err != nil {
		return fmt.Errorf("erase deleted people: %w", err)
	}
	if err := t.listPending(ctx, history); err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, d.rebind(`UPDATE change_log SET row_key = NULL, attribute = NULL,
		from_value = NULL, to_value = NULL WHERE `+d.inList("internal_id")), d.listArg(history)); err != nil {
		return fmt.Errorf("erase the change log of deleted people: %w", err)
	}
	if err := t.eraseRefused(ctx, gone, forgot); err != nil {
		return err
	}
	if err := t.eraseRelationships(ctx, history); err != nil {
		return err
	}
	if err := t.eraseEvents(ctx, history); err != nil {
		return err
	}
	return t.insertSuppressions(ctx, sup)
}

// eraseRefused erases the deleted people's ids and emails where they are refused
// values in other people's logs: a row before the delete that tried to give someone
// else an id or email the deleted person held (forgot maps "attribute NUL value" to
// the person). Entries after the delete in row order are not theirs: the value was
// free by then, as it is with a batch of one row. Such entries are few (refused
// identifier changes only) and are compared in Go, an email by its folded key (SPEC
// §1), never by SQL's LOWER. The entry stays, its kind, attribute and reason too.
func (t *Tx) eraseRefused(ctx context.Context, gone []string, forgot map[string]string) error {
	if len(forgot) == 0 {
		return nil
	}
	deletedAt, err := t.deleteSeqs(ctx, gone)
	if err != nil {
		return err
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT seq, attribute, to_value FROM change_log
		WHERE kind = 'failed_attribute_change' AND attribute IN ('id', 'email') AND to_value IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("read refused identifiers: %w", err)
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		var attr, to string
		if err := rows.Scan(&seq, &attr, &to); err != nil {
			rows.Close()
			return fmt.Errorf("read refused identifiers: %w", err)
		}
		var v string
		if json.Unmarshal([]byte(to), &v) != nil {
			continue
		}
		if attr == "email" {
			v = identity.EmailKey(v)
		}
		if cio, ok := forgot[attr+"\x00"+v]; ok && seq < deletedAt[cio] {
			seqs = append(seqs, seq)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read refused identifiers: %w", err)
	}
	for _, seq := range seqs { // a few: one statement each
		if _, err := t.tx.ExecContext(ctx, t.d.rebind(`UPDATE change_log SET to_value = NULL WHERE seq = ?`), seq); err != nil {
			return fmt.Errorf("erase refused identifiers: %w", err)
		}
	}
	return nil
}

// deleteSeqs is the change-log seq of each deleted person's profile_delete or
// profile_suppress, the last entry of their log.
func (t *Tx) deleteSeqs(ctx context.Context, cioIDs []string) (map[string]int64, error) {
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(`SELECT internal_id, MAX(seq) FROM change_log
		WHERE kind IN ('profile_delete', 'profile_suppress') AND `+t.d.inList("internal_id")+` GROUP BY internal_id`), t.d.listArg(cioIDs))
	if err != nil {
		return nil, fmt.Errorf("read deletes: %w", err)
	}
	defer rows.Close()
	seqs := make(map[string]int64, len(cioIDs))
	for rows.Next() {
		var cio string
		var seq int64
		if err := rows.Scan(&cio, &seq); err != nil {
			return nil, fmt.Errorf("read deletes: %w", err)
		}
		seqs[cio] = seq
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read deletes: %w", err)
	}
	return seqs, nil
}

// mergedInto is cioIDs with everyone merged into them, directly or through others.
func (t *Tx) mergedInto(ctx context.Context, cioIDs []string) ([]string, error) {
	all := append([]string(nil), cioIDs...)
	seen := make(map[string]bool, len(cioIDs))
	for _, c := range cioIDs {
		seen[c] = true
	}
	for next := cioIDs; len(next) > 0; {
		rows, err := t.tx.QueryContext(ctx, t.d.rebind(`SELECT internal_id FROM people WHERE merged_into IS NOT NULL AND `+
			t.d.inList("merged_into")), t.d.listArg(next))
		if err != nil {
			return nil, fmt.Errorf("read merges into deleted people: %w", err)
		}
		next = nil
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read merges into deleted people: %w", err)
			}
			if !seen[id] {
				seen[id] = true
				next = append(next, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read merges into deleted people: %w", err)
		}
		all = append(all, next...)
	}
	return all, nil
}

// insertSuppressions keeps the suppressed people's ids and emails. A value kept
// already (from a person deleted before) now names the latest person, so that
// unsuppressing either of this one's identifiers releases both.
func (t *Tx) insertSuppressions(ctx context.Context, writes []identity.Write) error {
	type kept struct{ kind, value, cio string }
	var rows []kept
	at := map[[2]string]int{}
	add := func(kind, value, cio string) {
		k := [2]string{kind, value}
		if i, ok := at[k]; ok { // an upsert may not touch a row twice
			rows[i].cio = cio
			return
		}
		at[k] = len(rows)
		rows = append(rows, kept{kind, value, cio})
	}
	var now int64
	for _, w := range writes {
		now = max(now, w.Person.UpdatedAt)
		for _, id := range w.Suppress.IDs {
			add(suppressedID, id, w.Person.CioID)
		}
		for _, e := range w.Suppress.Emails {
			add(suppressedEmail, e, w.Person.CioID)
		}
	}
	const upsert = ` ON CONFLICT (kind, value) DO UPDATE SET internal_id = excluded.internal_id, at = excluded.at`
	args := make([]any, 0, 4)
	return t.insert(ctx, "suppressions", []string{"kind", "value", "internal_id", "at"}, upsert, len(rows), func(i int) []any {
		r := rows[i]
		args = append(args[:0], r.kind, r.value, r.cio, now)
		return args
	})
}

// ForgetPerson deletes — or, with suppress, suppresses — the person identifier finds
// (as FindPerson finds them), logged under sync. It returns the person's cio_id, or
// ErrNotFound when no one matches.
//
// The person's row is locked (FOR UPDATE on PostgreSQL, as a sync's batch locks the
// people it loads; SQLite's write transactions are serial), so a delete racing a
// batch that writes the same person ends as one of the two orders would: a batch that
// loaded them first commits before the delete reads them; one that comes second finds
// their identifiers gone and their suppression kept.
func (s *Store) ForgetPerson(ctx context.Context, settings identity.Settings, sync, identifier string, suppress bool) (string, error) {
	var cio string
	err := s.InTx(ctx, func(tx *Tx) error {
		p, err := tx.findLatest(ctx, settings, identifier)
		if err != nil {
			return err
		}
		cio = p.CioID
		return tx.forgetPerson(ctx, p, sync, suppress)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("forget %s: %w", identifier, err)
	}
	return cio, err
}

// DeletePerson deletes the person with that cio_id (not one merged into another),
// as `people delete cio_…` would, logged under the sync "operator".
func (s *Store) DeletePerson(ctx context.Context, cioID string) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		p, err := tx.personWhere(ctx, "internal_id = ?", cioID, false)
		if err != nil {
			return err
		}
		if p.MergedInto != "" {
			return ErrNotFound
		}
		return tx.forgetPerson(ctx, p, "operator", false)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete person %s: %w", cioID, err)
	}
	return err
}

// forgetPerson writes p deleted (or suppressed) by the batch's way, Write.
func (t *Tx) forgetPerson(ctx context.Context, p *identity.Person, sync string, suppress bool) error {
	now := time.Now().Unix()
	w := identity.Write{
		Person: &identity.Person{CioID: p.CioID, CreatedAt: p.CreatedAt, UpdatedAt: now, Deleted: true, Suppressed: suppress},
		// The keys are cleared before the row is written, as for a batch's changed person.
		ClearKeys: true,
	}
	w.Forget = identity.SuppressionOf(p)
	kind, result := record.ProfileDelete, record.Deleted
	if suppress {
		kind, result = record.ProfileSuppress, record.Suppressed
		w.Suppress = w.Forget
	}
	rec := &record.Record{Outcome: record.Outcome{Result: result, Person: p.CioID,
		Changes: []record.Change{{Time: now, Sync: sync, CioID: p.CioID, Kind: kind}}}}
	return t.Write(ctx, sync, now, []*record.Record{rec}, []identity.Write{w})
}

// findLatest is findPerson until two lookups agree. On PostgreSQL a lookup that
// waited for a batch holding the row sees that batch's change to the row alone (its
// statement's snapshot is older than the batch's commit): the identifier may have
// moved to someone the batch created. The next lookup sees all the batch did, so the
// person found is the one the order "batch, then delete" would find.
func (t *Tx) findLatest(ctx context.Context, settings identity.Settings, identifier string) (*identity.Person, error) {
	p, err := t.findPerson(ctx, settings, identifier)
	for tries := 0; tries < 10; tries++ {
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		q, err2 := t.findPerson(ctx, settings, identifier)
		if err2 != nil && !errors.Is(err2, ErrNotFound) {
			return nil, err2
		}
		if (p == nil) == (q == nil) && (p == nil || p.CioID == q.CioID) {
			return q, err2
		}
		p, err = q, err2
	}
	return nil, fmt.Errorf("find %s: it keeps moving between people", identifier)
}

// findPerson is FindPerson in the transaction, locking the row found.
func (t *Tx) findPerson(ctx context.Context, settings identity.Settings, identifier string) (*identity.Person, error) {
	if identifier == "" || !utf8.ValidString(identifier) || strings.ContainsRune(identifier, 0) { // as FindPerson
		return nil, ErrNotFound
	}
	for _, try := range lookups(settings, identifier) {
		p, err := t.personWhere(ctx, try.where, try.arg, true)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		return p, err
	}
	return nil, ErrNotFound
}

// personWhere finds the person a where clause names, locked; with follow, a retired
// cio_id leads to the person it was merged into. A deleted person is ErrNotFound.
func (t *Tx) personWhere(ctx context.Context, where string, arg any, follow bool) (*identity.Person, error) {
	for hops := 0; hops < 64; hops++ {
		q := t.d.rebind(`SELECT ` + personColumns + ` FROM people WHERE ` + where + ` ORDER BY internal_id LIMIT 1` + t.d.forUpdate)
		p, err := scanPerson(t.tx.QueryRowContext(ctx, q, arg))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, ErrNotFound
		case err != nil:
			return nil, err
		case p.Deleted:
			return nil, ErrNotFound
		case p.MergedInto != "" && follow:
			where, arg = "internal_id = ?", p.MergedInto
			continue
		}
		return &p, nil
	}
	return nil, fmt.Errorf("merge chain from %v is too long", arg)
}

// Unsuppress releases a suppressed id or email and the identifier suppressed with it,
// logging profile_unsuppress under sync in the suppressed person's change log. It
// returns ErrNotFound when no suppression holds identifier. An id is matched as
// given, an email folded (identity.EmailKey).
func (s *Store) Unsuppress(ctx context.Context, sync, identifier string) error {
	_, err := s.UnsuppressPerson(ctx, sync, identifier)
	return err
}

// UnsuppressPerson is Unsuppress, returning the cio_id of the person whose
// suppression it released.
func (s *Store) UnsuppressPerson(ctx context.Context, sync, identifier string) (string, error) {
	var cio string
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		cio, err = tx.suppressionOf(ctx, identifier)
		if err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(ctx, tx.d.rebind(`DELETE FROM suppressions WHERE internal_id = ?`), cio); err != nil {
			return fmt.Errorf("release suppression: %w", err)
		}
		now := time.Now().Unix()
		rec := &record.Record{Outcome: record.Outcome{Changes: []record.Change{{Time: now, Sync: sync, CioID: cio, Kind: record.ProfileUnsuppress}}}}
		log, err := tx.planLog(ctx, []*record.Record{rec})
		if err != nil {
			return err
		}
		return tx.writeLog(ctx, log)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("unsuppress %s: %w", identifier, err)
	}
	return cio, err
}

// SuppressedPerson is the cio_id of the person whose suppression holds identifier (a
// suppressed id, or email in any case), or ErrNotFound, a store never written
// included.
func (s *Store) SuppressedPerson(ctx context.Context, identifier string) (string, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return "", fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	d := *s.d
	d.forUpdate = "" // a read-only transaction locks nothing
	cio, err := (&Tx{tx: tx, d: &d}).suppressionOf(ctx, identifier)
	if s.d.missing(err) {
		return "", ErrNotFound
	}
	return cio, err
}

// suppressionOf is the cio_id of the person whose suppression holds identifier: as
// an id, else as an email.
func (t *Tx) suppressionOf(ctx context.Context, identifier string) (string, error) {
	if identifier == "" || !utf8.ValidString(identifier) || strings.ContainsRune(identifier, 0) { // as FindPerson
		return "", ErrNotFound
	}
	tries := [][2]string{{suppressedID, identifier}}
	if email := strings.TrimSpace(identifier); identity.ValidEmail(email) {
		tries = append(tries, [2]string{suppressedEmail, identity.EmailKey(email)})
	}
	for _, try := range tries {
		var cio string
		err := t.tx.QueryRowContext(ctx, t.d.rebind(`SELECT internal_id FROM suppressions WHERE kind = ? AND value = ?`+t.d.forUpdate),
			try[0], try[1]).Scan(&cio)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return "", fmt.Errorf("read suppressions: %w", err)
		}
		return cio, nil
	}
	return "", ErrNotFound
}

// EachSuppression calls fn for every suppressed id and email (folded), in kind and
// value order, with the cio_id of the person suppressed and when (Unix seconds).
func (s *Store) EachSuppression(ctx context.Context, fn func(kind, value, cioID string, at int64) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, value, internal_id, at FROM suppressions ORDER BY kind, value`)
	if s.d.missing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read suppressions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, value, cio string
		var at int64
		if err := rows.Scan(&kind, &value, &cio, &at); err != nil {
			return fmt.Errorf("read suppressions: %w", err)
		}
		if err := fn(kind, value, cio, at); err != nil {
			return err
		}
	}
	return rows.Err()
}
