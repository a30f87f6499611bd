package identity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// forEachStore runs the same test against every store backend.
func forEachStore(t *testing.T, fn func(t *testing.T, b testdb.Store)) {
	for _, b := range testdb.Stores() {
		t.Run(b.Driver, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

type bundle struct {
	st      *store.Store
	planner *identity.Planner
	clock   time.Time
	done    []*record.Record // every row applied so far, in order, with its outcome
}

// planned is a batch as applied: its records, filled in, and the people it wrote.
type planned struct {
	recs   []*record.Record
	writes []identity.Write
}

func setup(t *testing.T, b testdb.Store, s identity.Settings) *bundle {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, b.Driver, b.DSN(t))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CheckWorkspace(ctx, s); err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_700_000_000, 0)
	return &bundle{st: st, clock: clock, planner: &identity.Planner{Settings: s, Now: func() time.Time { return clock }}}
}

// apply applies rows as one batch in one transaction. A CioID of the form "@N" or
// "cio_@N" names the person that the Nth row applied so far resolved to.
func (b *bundle) apply(t *testing.T, rows ...record.Record) planned {
	t.Helper()
	p := planned{recs: b.resolveRefs(t, records(rows))}
	err := b.st.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		if p.writes, err = b.planner.Plan(context.Background(), tx, "test", p.recs); err != nil {
			return err
		}
		return tx.Write(context.Background(), "test", b.clock.Unix(), p.recs, p.writes)
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	b.done = append(b.done, p.recs...)
	return p
}

// records makes a batch's records of rows: fresh ones, not yet planned.
func records(rows []record.Record) []*record.Record {
	out := make([]*record.Record, len(rows))
	for i, r := range rows {
		r.Outcome = record.Outcome{}
		out[i] = &r
	}
	return out
}

func (b *bundle) resolveRefs(t *testing.T, recs []*record.Record) []*record.Record {
	t.Helper()
	for i, r := range recs {
		prefix, ref, ok := strings.Cut(r.CioID, "@")
		if ok {
			var n int
			fmt.Sscan(ref, &n)
			if n >= len(b.done) || b.done[n].Person == "" {
				t.Fatalf("row %d: @%d names no person", i, n)
			}
			r.CioID = prefix + b.done[n].Person
		}
	}
	return recs
}

// cio returns the cio_id the Nth applied row resolved to.
func (b *bundle) cio(n int) string { return b.done[n].Person }

// dump describes every person as "id|email|attributes", and a retired one as
// "merged→" and the description of whom it merged into. Sorted.
func (b *bundle) dump(t *testing.T) []string {
	t.Helper()
	people := map[string]identity.Person{}
	err := b.st.EachPerson(context.Background(), func(p identity.Person) error {
		people[p.CioID] = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range people {
		switch {
		case p.MergedInto != "":
			out = append(out, "merged→"+describe(people[p.MergedInto]))
		case p.Deleted:
			out = append(out, "deleted:"+describe(p))
		default:
			out = append(out, describe(p))
		}
	}
	sort.Strings(out)
	return out
}

func describe(p identity.Person) string {
	attrs, _ := json.Marshal(p.Attributes)
	return p.ID + "|" + p.Email + "|" + string(attrs)
}

// attrs builds attributes from name, value pairs; values are JSON-encoded, and a nil
// value unsets the attribute.
func attrs(kv ...any) []record.Attr {
	var out []record.Attr
	for i := 0; i < len(kv); i += 2 {
		a := record.Attr{Name: kv[i].(string)}
		if kv[i+1] != nil {
			a.Value, _ = json.Marshal(kv[i+1])
		}
		out = append(out, a)
	}
	return out
}

func person(id, email string, kv ...any) record.Record {
	return record.Record{Key: "k-" + id + email, ID: id, Email: email, Attrs: attrs(kv...)}
}

func byCio(cio string, id, email string, kv ...any) record.Record {
	return record.Record{Key: "k-" + cio, CioID: cio, ID: id, Email: email, Attrs: attrs(kv...)}
}

// failures lists a record's failed attribute changes as attribute=value:reason.
func failures(r *record.Record) []string {
	var out []string
	for _, f := range r.Changes {
		if f.Kind != record.FailedAttributeChange {
			continue
		}
		var v string
		json.Unmarshal(f.To, &v)
		out = append(out, f.Attribute+"="+v+":"+f.Reason)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
