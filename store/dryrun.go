package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/dbsync/dbsync/identity"
)

// OpenDryRun opens the store for a dry run (preview, run --dry-run): for reading
// only, as OpenExisting. A store never created (no SQLite file, no schema) is an
// empty one in memory, so the dry run shows what a first run would do and creates
// nothing.
func OpenDryRun(ctx context.Context, driver, dsn string) (*Store, error) {
	s, err := OpenExisting(ctx, driver, dsn)
	if errors.Is(err, ErrNoStore) {
		return openEmpty(ctx)
	}
	if err != nil {
		return nil, err
	}
	ms, err := s.d.loadMigrations()
	if err != nil {
		s.Close()
		return nil, err
	}
	var v int
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	switch {
	case s.d.missing(err) || err == nil && v == 0:
		s.Close()
		return openEmpty(ctx)
	case err != nil:
		s.Close()
		return nil, fmt.Errorf("read schema version: %w", err)
	case v < ms[len(ms)-1].version:
		s.Close()
		return nil, fmt.Errorf("the store's schema is version %d, this dbsync's is %d: a run upgrades it (a dry run writes nothing)", v, ms[len(ms)-1].version)
	}
	return s, nil
}

// openEmpty is an empty store in memory, for a dry run against a store not created.
func openEmpty(ctx context.Context) (*Store, error) {
	b := make([]byte, 8)
	rand.Read(b)
	db, err := sql.Open("sqlite", "file:dbsync-empty-"+hex.EncodeToString(b)+"?mode=memory&cache=shared&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("open an empty store: %w", err)
	}
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	s := &Store{db: db, d: sqliteDialect}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open an empty store: %w", err)
	}
	s.readOnly = true
	return s, nil
}

// BeginDryRun starts a dry run's transaction: it reads in a read-only transaction
// (on SQLite a deferred one, which never takes the write lock; on PostgreSQL READ
// ONLY, locking no rows), and the batches it "writes" are kept in memory, so later
// batches see earlier ones as in a real run while the store is not written at all
// and a concurrent run is never blocked.
func (s *Store) BeginDryRun(ctx context.Context) (*Tx, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &Tx{tx: tx, d: s.d, dry: &overlay{people: map[string]*overlayPerson{}, byID: map[string]string{}, byEmail: map[string]string{}}}, nil
}

// overlay holds the people a dry run's batches would have written, in their final
// state and with the keys they would hold.
type overlay struct {
	people        map[string]*overlayPerson // by cio_id
	byID, byEmail map[string]string         // key -> cio_id
	obj           *objectOverlay            // objects and relationships (dryrun_objects.go)
	ev            *eventOverlay             // events (dryrun_events.go)
	// The ids and folded emails the dry run's batches suppressed.
	supIDs, supEmails map[string]bool
	// What its batches remembered of the rows they read (RememberRows), by sync
	// and key.
	remembered map[string]Remembered
}

// suppress keeps a suppression a dry run's batch made.
func (o *overlay) suppress(k identity.Keys) {
	if o.supIDs == nil {
		o.supIDs, o.supEmails = map[string]bool{}, map[string]bool{}
	}
	for _, id := range k.IDs {
		o.supIDs[id] = true
	}
	for _, e := range k.Emails {
		o.supEmails[e] = true
	}
}

// suppressed adds to what the store holds of keys the suppressions of the dry run's
// batches (it never releases one).
func (o *overlay) suppressed(keys, held identity.Keys) identity.Keys {
	in := func(list []string, v string) bool {
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	for _, id := range keys.IDs {
		if o.supIDs[id] && !in(held.IDs, id) {
			held.IDs = append(held.IDs, id)
		}
	}
	for _, e := range keys.Emails {
		if o.supEmails[e] && !in(held.Emails, e) {
			held.Emails = append(held.Emails, e)
		}
	}
	return held
}

type overlayPerson struct {
	p               identity.Person
	idKey, emailKey string
}

func (o *overlay) write(people []identity.Write) {
	for _, w := range people {
		cio := w.Person.CioID
		if old := o.people[cio]; old != nil {
			if o.byID[old.idKey] == cio {
				delete(o.byID, old.idKey)
			}
			if o.byEmail[old.emailKey] == cio {
				delete(o.byEmail, old.emailKey)
			}
		}
		o.people[cio] = &overlayPerson{p: clonePerson(*w.Person), idKey: w.IDKey, emailKey: w.EmailKey}
		if w.IDKey != "" {
			o.byID[w.IDKey] = cio
		}
		if w.EmailKey != "" {
			o.byEmail[w.EmailKey] = cio
		}
	}
}

// load is LoadPeople for a dry run: the store's people (without row locks) as the
// earlier batches left them.
func (o *overlay) load(ctx context.Context, t *Tx, keys identity.Keys) ([]identity.Person, error) {
	d := t.d
	q := `SELECT ` + personColumns + ` FROM people WHERE ` +
		d.inList("id_key") + ` OR ` + d.inList("email_key") + ` OR ` + d.inList("internal_id")
	stored, err := t.queryPeople(ctx, q, nil, nil, d.listArg(keys.IDs), d.listArg(keys.Emails), d.listArg(keys.CioIDs))
	if err != nil {
		return nil, err
	}
	found := map[string]identity.Person{}
	for _, p := range stored {
		if o.people[p.CioID] == nil { // written by an earlier batch: its stored keys are stale
			found[p.CioID] = p
		}
	}
	add := func(cio string) {
		if op := o.people[cio]; op != nil {
			found[cio] = clonePerson(op.p)
		}
	}
	for _, k := range keys.IDs {
		add(o.byID[k])
	}
	for _, k := range keys.Emails {
		add(o.byEmail[k])
	}
	for _, k := range keys.CioIDs {
		add(k)
	}
	// Follow merges, as LoadPeople does.
	for {
		var want []string
		for _, p := range found {
			if p.MergedInto != "" {
				if _, ok := found[p.MergedInto]; !ok {
					want = append(want, p.MergedInto)
				}
			}
		}
		if len(want) == 0 {
			break
		}
		for _, cio := range want {
			if op := o.people[cio]; op != nil {
				found[cio] = clonePerson(op.p)
				continue
			}
			q := `SELECT ` + personColumns + ` FROM people WHERE internal_id = ?`
			more, err := t.queryPeople(ctx, q, nil, nil, cio)
			if err != nil {
				return nil, err
			}
			if len(more) == 0 {
				return nil, fmt.Errorf("load people: %s, merged into, is not in the store", cio)
			}
			found[cio] = more[0]
		}
	}
	out := make([]identity.Person, 0, len(found))
	for _, p := range found {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CioID < out[j].CioID })
	return out, nil
}

// clonePerson copies a person with its own attributes map: the planner may change
// the people it loads.
func clonePerson(p identity.Person) identity.Person {
	attrs := make(map[string]json.RawMessage, len(p.Attributes))
	for k, v := range p.Attributes {
		attrs[k] = v
	}
	p.Attributes = attrs
	return p
}
