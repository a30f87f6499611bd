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
	st       *store.Store
	planner  *identity.Planner
	outcomes []identity.Outcome // of every row applied so far, in order
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
	return &bundle{st: st, planner: &identity.Planner{Settings: s, Now: func() time.Time { return clock }}}
}

// apply applies rows as one batch in one transaction. A CioID of the form "@N" or
// "cio_@N" names the person that the Nth row applied so far resolved to.
func (b *bundle) apply(t *testing.T, rows ...identity.Row) *identity.Batch {
	t.Helper()
	rows = b.resolveRefs(t, rows)
	var batch *identity.Batch
	err := b.st.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		if batch, err = b.planner.Plan(context.Background(), tx, "test", rows); err != nil {
			return err
		}
		return tx.Write(context.Background(), batch)
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	b.outcomes = append(b.outcomes, batch.Outcomes...)
	return batch
}

func (b *bundle) resolveRefs(t *testing.T, rows []identity.Row) []identity.Row {
	t.Helper()
	out := make([]identity.Row, len(rows))
	for i, r := range rows {
		prefix, ref, ok := strings.Cut(r.CioID, "@")
		if ok {
			var n int
			fmt.Sscan(ref, &n)
			if n >= len(b.outcomes) || b.outcomes[n].CioID == "" {
				t.Fatalf("row %d: @%d names no person", i, n)
			}
			r.CioID = prefix + b.outcomes[n].CioID
		}
		out[i] = r
	}
	return out
}

// cio returns the cio_id the Nth applied row resolved to.
func (b *bundle) cio(n int) string { return b.outcomes[n].CioID }

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
func attrs(kv ...any) []identity.Attr {
	var out []identity.Attr
	for i := 0; i < len(kv); i += 2 {
		a := identity.Attr{Name: kv[i].(string)}
		if kv[i+1] != nil {
			a.Value, _ = json.Marshal(kv[i+1])
		}
		out = append(out, a)
	}
	return out
}

func person(id, email string, kv ...any) identity.Row {
	return identity.Row{Key: "k-" + id + email, ID: id, Email: email, Attrs: attrs(kv...)}
}

func byCio(cio string, id, email string, kv ...any) identity.Row {
	return identity.Row{Key: "k-" + cio, CioID: cio, ID: id, Email: email, Attrs: attrs(kv...)}
}

func failures(o identity.Outcome) []string {
	var out []string
	for _, f := range o.Failed {
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
