package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// srcRow is one row of the users table: "" is NULL.
type srcRow struct {
	id, email, plan string
	gone            string // "delete" or "suppress": the row's delete or suppress column is true (SPEC §10)
}

// equivBundle is a source and store run with one batch size under a fixed clock.
type equivBundle struct {
	*bundle
	next int // the next row_id
}

func newEquivBundle(t *testing.T, backend testdb.Store, s identity.Settings, batch int) *equivBundle {
	t.Helper()
	b := setup(t, backend)
	clock := time.Unix(1_800_000_000, 0)
	b.engine.Settings = s
	b.engine.Now = func() time.Time { return clock }
	b.sync.BatchSize = batch
	b.sync.Exclude = append(b.sync.Exclude, "score")
	b.exec(t, `ALTER TABLE users ADD COLUMN gone_at DATETIME`)
	b.exec(t, `ALTER TABLE users ADD COLUMN suppressed BOOLEAN`)
	b.sync.Delete, b.sync.Suppress = "gone_at", "suppressed"
	if err := b.st.CheckWorkspace(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return &equivBundle{bundle: b, next: 1}
}

// add appends rows to the source, each updated one second after the one before.
func (b *equivBundle) add(t *testing.T, rows ...srcRow) {
	t.Helper()
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	for _, r := range rows {
		var goneAt, suppressed any
		switch r.gone {
		case "delete":
			goneAt = t0.Format(ts)
		case "suppress":
			suppressed = true
		}
		b.exec(t, `INSERT INTO users (row_id, user_id, email, plan, updated_at, gone_at, suppressed) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			b.next, null(r.id), null(r.email), null(r.plan), t0.Add(time.Duration(b.next)*time.Second).Format(ts), goneAt, suppressed)
		b.next++
	}
}

// canonical is the store's people and change log as text, with each generated cio_id
// named by the order its person was created in (P1, P2, ...): cio_ids are random, the
// rest must be byte-equal.
func canonical(t *testing.T, st *store.Store) (people, log []string) {
	t.Helper()
	ctx := context.Background()
	var names []string
	seen := map[string]bool{}
	var changes []record.Change
	err := st.EachChange(ctx, func(c record.Change) error {
		if !seen[c.CioID] {
			seen[c.CioID] = true
			names = append(names, c.CioID, fmt.Sprintf("P%d", len(names)/2+1))
		}
		changes = append(changes, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rename := strings.NewReplacer(names...)
	for _, c := range changes {
		log = append(log, rename.Replace(fmt.Sprintf("%d|%s|%s|%s|%s|%s|%s|%s|%s", c.Time, c.Sync, c.RowKey, c.CioID,
			c.Kind, c.Attribute, c.From, c.To, c.Reason)))
	}
	err = st.EachPerson(ctx, func(p identity.Person) error {
		people = append(people, rename.Replace(fmt.Sprintf("%s|%s|%s|%s|%d|%d|%s|%v|%v", p.CioID, p.ID, p.Email,
			attrText(p.Attributes), p.CreatedAt, p.UpdatedAt, p.MergedInto, p.Deleted, p.Suppressed)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.EachSuppression(ctx, func(kind, value, cio string, at int64) error {
		people = append(people, rename.Replace(fmt.Sprintf("suppressed %s|%s|%s|%d", kind, value, cio, at)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(people)
	return people, log
}

// countKinds counts the canonical change log's entries of the kinds.
func countKinds(log []string, kinds ...string) int {
	n := 0
	for _, l := range log {
		for _, k := range kinds {
			if strings.Contains(l, "|"+k+"|") {
				n++
			}
		}
	}
	return n
}

func attrText(a map[string]json.RawMessage) string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%s;", k, a[k])
	}
	return sb.String()
}

func firstDifference(what string, a, b []string) string {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("%s differ at %d (of %d and %d):\n  %s\n  %s", what, i, len(a), len(b), x, y)
		}
	}
	return ""
}

func compareStores(t *testing.T, want, got *store.Store) string {
	t.Helper()
	wp, wl := canonical(t, want)
	gp, gl := canonical(t, got)
	if d := firstDifference("people", wp, gp); d != "" {
		return d
	}
	return firstDifference("change log", wl, gl)
}

// TestBackfillGuessReleasedEmail is the repro of issue 13: after a batch whose lookups
// found no one, a batch naming a stored person's email, which a later row of the batch
// releases, must still update that person (SPEC §1 rule 6).
func TestBackfillGuessReleasedEmail(t *testing.T) {
	s := identity.Settings{IDIdentifies: true, EmailIdentifies: true, AllowEmailUpdateByID: true}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			var stores []*store.Store
			for _, size := range []int{1, 2} {
				b := newEquivBundle(t, backend, s, size)
				b.add(t, srcRow{id: "Z", email: "e1@x.io"})
				b.run(t, engine.Options{})
				b.add(t, srcRow{id: "n1"}, srcRow{id: "n2"}, srcRow{id: "A", email: "e1@x.io", plan: "p"}, srcRow{id: "A", email: "e2@x.io"})
				b.run(t, engine.Options{})
				ctx := context.Background()
				z, err := b.st.FindPerson(ctx, s, "Z")
				if err != nil || string(z.Attributes["plan"]) != `"p"` || z.Email != "e1@x.io" {
					t.Errorf("batch size %d: Z = %+v, %v; want plan p and e1", size, z, err)
				}
				a, err := b.st.FindPerson(ctx, s, "A")
				if err != nil || a.Email != "e2@x.io" || a.Attributes["plan"] != nil {
					t.Errorf("batch size %d: A = %+v, %v; want e2 and no plan", size, a, err)
				}
				stores = append(stores, b.st)
			}
			if d := compareStores(t, stores[0], stores[1]); d != "" {
				t.Errorf("batch size 1 and 2 differ: %s", d)
			}
		})
	}
}

// randomRuns draws the source rows of several runs: mostly new people (so batches
// that find no one come often), and rows that name people of earlier rows or runs by
// id or email, change emails, move them between people and make leads to merge.
func randomRuns(seed int64, runs, perRun int) [][]srcRow {
	rng := rand.New(rand.NewSource(seed))
	fresh := 0
	var ids, emails []string
	newID := func() string { fresh++; return fmt.Sprintf("n%d", fresh) }
	newEmail := func() string { fresh++; return fmt.Sprintf("m%d@x.io", fresh) }
	old := func(pool []string, make func() string) string {
		if len(pool) == 0 || rng.Intn(3) == 0 {
			return make()
		}
		return pool[rng.Intn(len(pool))]
	}
	out := make([][]srcRow, runs)
	for run := range out {
		for i := 0; i < perRun; i++ {
			var r srcRow
			switch k := rng.Intn(20); {
			case k < 9: // a new person
				r.id, r.email = newID(), newEmail()
				if rng.Intn(3) == 0 {
					r.id = ""
				}
			case k < 12:
				r.id, r.email = old(ids, newID), old(emails, newEmail)
			case k < 15:
				r.id, r.email = newID(), old(emails, newEmail)
			case k < 17:
				r.id, r.email = old(ids, newID), newEmail()
			case k < 18:
				r.email = strings.ToUpper(old(emails, newEmail))
			case k < 19:
				r.id = old(ids, newID)
			default:
				r.id, r.email = old(ids, newID), ""
			}
			if rng.Intn(3) == 0 {
				r.plan = fmt.Sprint("p", rng.Intn(4))
			}
			// Deletes and suppressions of people of earlier rows (SPEC §10), now and
			// then: a later row with their id or email creates someone new, or is
			// skipped when suppressed.
			switch k := rng.Intn(40); {
			case k < 3:
				r.gone = "delete"
			case k < 5:
				r.gone = "suppress"
			}
			if r.gone != "" && len(ids) > 0 && len(emails) > 0 {
				if rng.Intn(2) == 0 {
					r.id, r.email = ids[rng.Intn(len(ids))], ""
				} else {
					r.id, r.email = "", strings.ToUpper(emails[rng.Intn(len(emails))])
				}
			}
			if r.id != "" {
				ids = append(ids, r.id)
			}
			if r.email != "" {
				emails = append(emails, strings.ToLower(r.email))
			}
			out[run] = append(out[run], r)
		}
	}
	return out
}

// TestBatchSizeDoesNotMatterAcrossRuns is SPEC §1 rule 6 through the engine: several
// runs over the same store, with batches that follow batches which found no one, give
// the same people and change log at every batch size, in every workspace setting.
func TestBatchSizeDoesNotMatterAcrossRuns(t *testing.T) {
	var settings []identity.Settings
	for _, ids := range [][2]bool{{true, true}, {true, false}, {false, true}} {
		for _, allow := range []bool{false, true} {
			for _, merge := range []bool{false, true} {
				settings = append(settings, identity.Settings{IDIdentifies: ids[0], EmailIdentifies: ids[1],
					AllowEmailUpdateByID: allow, MergeDuplicates: merge})
			}
		}
	}
	sizes := []int{1, 2, 7, 1000}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			for i, s := range settings {
				t.Run(fmt.Sprintf("%s,allow=%v,merge=%v", strings.Join(s.Identifiers(), "+"), s.AllowEmailUpdateByID, s.MergeDuplicates), func(t *testing.T) {
					runs := randomRuns(int64(1300+i), 3, 60)
					bundles := make([]*equivBundle, len(sizes))
					for j, size := range sizes {
						bundles[j] = newEquivBundle(t, backend, s, size)
					}
					for n, rows := range runs {
						for j, b := range bundles {
							b.add(t, rows...)
							b.run(t, engine.Options{})
							if j == 0 {
								continue
							}
							if d := compareStores(t, bundles[0].st, b.st); d != "" {
								t.Fatalf("after run %d, batch size 1 and %d differ: %s", n+1, sizes[j], d)
							}
						}
					}
					people, log := canonical(t, bundles[0].st)
					if len(people) < 50 || len(log) < len(people) {
						t.Fatalf("too little happened to prove anything: %d people, %d log entries", len(people), len(log))
					}
					if forgot := countKinds(log, record.ProfileDelete, record.ProfileSuppress); forgot < 5 {
						t.Fatalf("too few deletes to prove anything: %d", forgot)
					}
				})
			}
		})
	}
}

// TestBatchBytesAndQueryDoNotMatter is SPEC §1 rule 6 for batches that batch_bytes
// ends (one row, a few rows of varying size) and for a query: sync read once,
// streamed, into batches: several runs give the same people and change log as
// batches of one row of the table.
func TestBatchBytesAndQueryDoNotMatter(t *testing.T) {
	s := identity.Settings{IDIdentifies: true, EmailIdentifies: true, AllowEmailUpdateByID: true, MergeDuplicates: true}
	variants := []struct {
		name  string
		batch int
		bytes config.ByteSize
		query bool
	}{
		{"table, batch 1", 1, 0, false},
		{"table, batch 1000, 1 byte", 1000, 1, false},
		{"table, batch 1000, 400 bytes", 1000, 400, false},
		{"query, batch 7", 7, 0, true},
		{"query, batch 1000, 400 bytes", 1000, 400, true},
		{"query, batch 1000", 1000, 0, true},
	}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			runs := randomRuns(1918, 3, 60)
			bundles := make([]*equivBundle, len(variants))
			for j, v := range variants {
				b := newEquivBundle(t, backend, s, v.batch)
				b.sync.BatchBytes = v.bytes
				if v.query {
					b.sync.Table, b.sync.Query = "", "SELECT row_id, user_id, email, plan, score, updated_at, gone_at, suppressed FROM users"
				}
				bundles[j] = b
			}
			for n, rows := range runs {
				for j, b := range bundles {
					b.add(t, rows...)
					b.run(t, engine.Options{})
					if j == 0 {
						continue
					}
					if d := compareStores(t, bundles[0].st, b.st); d != "" {
						t.Fatalf("after run %d, %q and %q differ: %s", n+1, variants[0].name, variants[j].name, d)
					}
				}
			}
			if people, _ := canonical(t, bundles[0].st); len(people) < 50 {
				t.Fatalf("too little happened to prove anything: %d people", len(people))
			}
		})
	}
}

// TestBatchBytesEndsBatches: a sync's batch_bytes reaches the source: 1 byte makes
// a batch of each row, of a table: and a query: sync, and the default holds 20
// narrow rows in one batch.
func TestBatchBytesEndsBatches(t *testing.T) {
	for _, tc := range []struct {
		bytes   config.ByteSize
		query   bool
		batches int
	}{{1, false, 20}, {1, true, 20}, {config.DefaultBatchBytes, false, 1}, {config.DefaultBatchBytes, true, 1}} {
		b := setup(t, testdb.Stores()[0])
		b.insert(t, 1, 21)
		b.sync.BatchSize, b.sync.BatchBytes = 1000, tc.bytes
		if tc.query {
			b.sync.Table, b.sync.Query = "", "SELECT row_id, user_id, email, plan, score, updated_at FROM users"
		}
		var sizes []int
		res := b.run(t, engine.Options{OnBatch: func(recs []*record.Record) { sizes = append(sizes, len(recs)) }})
		if len(sizes) != tc.batches || res.Created != 20 {
			t.Errorf("batch_bytes %v, query %v: batches of %v, %d created; want %d batches, 20 created",
				tc.bytes, tc.query, sizes, res.Created, tc.batches)
		}
	}
}
