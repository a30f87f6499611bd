package engine_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// memberships adds the source's memberships table and returns its relationships sync:
// a person by user_id, email or cio_id, an account by account_id, the role as the
// relationship's attribute and removed as its remove flag.
func (b *bundle) memberships(t *testing.T) config.Sync {
	t.Helper()
	b.exec(t, `CREATE TABLE memberships (m_id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, cio_id TEXT,
		account_id TEXT, role TEXT, removed INTEGER, updated_at DATETIME)`)
	return config.Sync{
		Name:        "memberships",
		Kind:        config.KindRelationships,
		Source:      b.sync.Source,
		Table:       "memberships",
		Watermark:   &config.Watermark{Column: "updated_at", Key: "m_id"},
		BatchSize:   b.sync.BatchSize,
		Identifiers: config.Identifiers{ID: "user_id", Email: "email", CioID: "cio_id"},
		ObjectType:  "account",
		ObjectID:    "account_id",
		Attributes:  map[string]string{"role": "role"},
		Remove:      "removed",
		Nulls:       config.NullsIgnore,
	}
}

// member is one row of the memberships table; "" is NULL.
type member struct {
	id, email, cio, account, role string
	removed                       bool
}

// addMember writes a memberships row (a new one, or one again with a later time).
func (b *bundle) addMember(t *testing.T, mID int, m member, at time.Time) {
	t.Helper()
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	removed := 0
	if m.removed {
		removed = 1
	}
	b.exec(t, `INSERT OR REPLACE INTO memberships (m_id, user_id, email, cio_id, account_id, role, removed, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, mID, null(m.id), null(m.email), null(m.cio), null(m.account), null(m.role), removed, at.Format(ts))
}

func (b *bundle) runSync(t *testing.T, s config.Sync, opt engine.Options) *engine.Result {
	t.Helper()
	res := b.engine.Run(context.Background(), s, opt)
	if res.Err != nil {
		t.Fatalf("run %s: %v", s.Name, res.Err)
	}
	return res
}

func relCounts(r *engine.Result) string {
	return fmt.Sprintf("read %d created %d updated %d unchanged %d rejected %d skipped %d failed %d",
		r.RowsRead, r.Created, r.Updated, r.Unchanged, r.Rejected, r.Skipped, r.FailedChanges)
}

// storeText is everything the store holds of people, objects and relationships, as
// text: people, the change log, relationships (tombstones too), objects, the object
// log, and the rejected rows (first seen). Generated cio_ids are named by the order
// their person first appears in the change log (P1, P2, ...): they are random, the
// rest must be byte-equal between stores given the same rows.
func storeText(t *testing.T, b *bundle) []string {
	t.Helper()
	ctx := context.Background()
	people, log := canonical(t, b.st)
	var names []string
	seen := map[string]bool{}
	b.st.EachChange(ctx, func(c record.Change) error {
		if !seen[c.CioID] {
			seen[c.CioID] = true
			names = append(names, c.CioID, fmt.Sprintf("P%d", len(names)/2+1))
		}
		return nil
	})
	rename := strings.NewReplacer(names...)
	db, err := sql.Open(b.st.Driver(), b.stDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	query := func(what, q string, n int) []string {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			vals := make([]sql.NullString, n)
			ptrs := make([]any, n)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			parts := make([]string, n)
			for i, v := range vals {
				parts[i] = v.String
				if parts[i] == "1" || parts[i] == "0" { // SQLite's booleans
					parts[i] = map[string]string{"1": "true", "0": "false"}[parts[i]]
				}
			}
			out = append(out, rename.Replace(what+" "+strings.Join(parts, "|")))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	out := slices.Concat(prefixed("person ", people), prefixed("log ", log),
		query("relationship", `SELECT internal_id, object_type, object_id, attributes, created_at, updated_at, removed FROM relationships`, 7),
		query("object", `SELECT object_type, object_id, attributes, created_at, updated_at, deleted FROM objects`, 6),
		query("object_log", `SELECT at, sync, row_key, object_type, object_id, kind, attribute, from_value, to_value, reason FROM object_log`, 10))
	b.st.EachRejected(ctx, "", 0, func(r store.Rejection) error {
		out = append(out, fmt.Sprintf("rejected %d|%s|%s|%v|%s|%s", r.Time, r.Sync, r.Key, r.Skipped, r.Reason, r.Detail))
		return nil
	})
	return out
}

func prefixed(p string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = p + l
	}
	return out
}

// personText is everything about one person: all their fields and their change log.
func personText(t *testing.T, st *store.Store, cio string) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	st.EachPerson(ctx, func(p identity.Person) error {
		if p.CioID == cio {
			out = append(out, fmt.Sprintf("%s|%s|%s|%s|%d|%d|%s|%v", p.CioID, p.ID, p.Email, attrText(p.Attributes),
				p.CreatedAt, p.UpdatedAt, p.MergedInto, p.Deleted))
		}
		return nil
	})
	st.EachChange(ctx, func(c record.Change) error {
		out = append(out, fmt.Sprintf("%d|%s|%s|%s|%s|%s|%s", c.Time, c.Sync, c.RowKey, c.Kind, c.Attribute, c.To, c.Reason))
		return nil
	}, cio)
	return strings.Join(out, "\n")
}

func relsOf(t *testing.T, st *store.Store, cio string) []string {
	t.Helper()
	rs, err := st.PersonRelationships(context.Background(), cio)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		attrs, _ := json.Marshal(r.Attributes)
		out = append(out, fmt.Sprintf("%s/%s %s %d..%d", r.ObjectType, r.ObjectID, attrs, r.CreatedAt, r.UpdatedAt))
	}
	return out
}

func cioOf(t *testing.T, st *store.Store, s identity.Settings, ident string) string {
	t.Helper()
	p, err := st.FindPerson(context.Background(), s, ident)
	if err != nil {
		t.Fatalf("people get %s: %v", ident, err)
	}
	return p.CioID
}

// TestRelationshipSync is SPEC §8's relationship rows through the engine, on both
// stores: a new person and a new (empty) object; existing people found by id, email
// and cio_id and never changed; an unknown cio_id skipped; rows without identifier or
// object id rejected; attributes updated, unchanged rows writing nothing, a re-read
// writing nothing; a removal and adding again.
func TestRelationshipSync(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := identity.DefaultSettings()
			b := setup(t, backend)
			clock := time.Unix(1_800_000_000, 0)
			b.engine.Now = func() time.Time { return clock }
			b.exec(t, `INSERT INTO users (row_id, user_id, email, plan, updated_at) VALUES
				(1, 'u1', 'u1@x.io', 'pro', ?), (2, NULL, 'lead@x.io', 'trial', ?), (3, 'u3', NULL, 'free', ?)`,
				t0.Format(ts), t0.Format(ts), t0.Format(ts))
			b.run(t, engine.Options{})
			u1, lead, u3 := cioOf(t, b.st, s, "u1"), cioOf(t, b.st, s, "lead@x.io"), cioOf(t, b.st, s, "u3")
			before := map[string]string{}
			for _, cio := range []string{u1, lead, u3} {
				before[cio] = personText(t, b.st, cio)
			}

			m := b.memberships(t)
			at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
			rows := []member{
				1: {id: "n1", account: "a1", role: "admin"},
				2: {id: "u1", email: "other@x.io", account: "a1", role: "member"}, // by id; the email is not changed
				3: {id: "lx", email: "LEAD@x.io", account: "a2"},                  // by email; the lead gets no id
				4: {id: "zz", cio: "cio_" + u3, account: "a2", role: "owner"},     // by cio_id; u3's id stays
				5: {cio: "cio_0123456789abcdef", account: "a1", role: "x"},
				6: {account: "a1", role: "x"},
				7: {id: "u1", role: "x"},
			}
			for i := 1; i < len(rows); i++ {
				b.addMember(t, i, rows[i], at(1))
			}
			clock = clock.Add(time.Hour)
			created := clock.Unix()
			res := b.runSync(t, m, engine.Options{})
			if got, want := relCounts(res), "read 7 created 4 updated 0 unchanged 0 rejected 2 skipped 1 failed 0"; got != want {
				t.Fatalf("first run: %s, want %s", got, want)
			}
			for cio, was := range before {
				if now := personText(t, b.st, cio); now != was {
					t.Errorf("a relationship row changed a person:\n%s\nnow\n%s", was, now)
				}
			}
			n1 := cioOf(t, b.st, s, "n1")
			if p := personText(t, b.st, n1); p != fmt.Sprintf("%s|n1|||%d|%d||false\n%d|memberships|1|profile_create||{\"id\":\"n1\"}|", n1, created, created, created) {
				t.Errorf("the new person:\n%s", p)
			}
			for _, id := range []string{"a1", "a2"} {
				o, err := b.st.FindObject(ctx, "account", id)
				if err != nil || len(o.Attributes) != 0 || o.CreatedAt != created {
					t.Errorf("object %s = %+v, %v; want created empty", id, o, err)
				}
				var log []string
				b.st.EachObjectChange(ctx, "account", id, func(c objects.Change) error {
					log = append(log, c.Kind+" "+c.RowKey)
					return nil
				})
				if len(log) != 1 || !strings.HasPrefix(log[0], objects.KindObjectCreate+" ") {
					t.Errorf("object %s log = %q, want its object_create", id, log)
				}
			}
			span := fmt.Sprintf("%d..%d", created, created)
			for cio, want := range map[string][]string{
				n1:   {`account/a1 {"role":"admin"} ` + span},
				u1:   {`account/a1 {"role":"member"} ` + span},
				lead: {`account/a2 {} ` + span},
				u3:   {`account/a2 {"role":"owner"} ` + span},
			} {
				if got := relsOf(t, b.st, cio); !slices.Equal(got, want) {
					t.Errorf("relationships of %s = %q, want %q", cio, got, want)
				}
			}
			var refused []string
			b.st.EachRejected(ctx, "memberships", 0, func(r store.Rejection) error {
				refused = append(refused, fmt.Sprintf("%s %s %v", r.Key, r.Reason, r.Skipped))
				return nil
			})
			if want := []string{"5 cio_id_not_found true", "6 no_identifier false", "7 no_object_id false"}; !slices.Equal(refused, want) {
				t.Errorf("rejected = %q, want %q", refused, want)
			}

			// Attributes: one changed, one the same, one NULL (ignored).
			b.addMember(t, 2, member{id: "u1", account: "a1", role: "owner"}, at(2))
			b.addMember(t, 1, rows[1], at(2))
			b.addMember(t, 4, member{cio: "cio_" + u3, account: "a2"}, at(2))
			clock = clock.Add(time.Hour)
			updated := clock.Unix()
			if got, want := relCounts(b.runSync(t, m, engine.Options{})), "read 3 created 0 updated 1 unchanged 2 rejected 0 skipped 0 failed 0"; got != want {
				t.Fatalf("second run: %s, want %s", got, want)
			}
			if got, want := relsOf(t, b.st, u1), []string{fmt.Sprintf(`account/a1 {"role":"owner"} %d..%d`, created, updated)}; !slices.Equal(got, want) {
				t.Errorf("u1's = %q, want %q", got, want)
			}
			if got, want := relsOf(t, b.st, n1), []string{`account/a1 {"role":"admin"} ` + span}; !slices.Equal(got, want) {
				t.Errorf("n1's = %q, want %q (unchanged)", got, want)
			}

			// A full re-read writes nothing.
			was := storeText(t, b)
			if _, err := b.st.ResetWatermark(ctx, "memberships"); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(time.Hour)
			if got, want := relCounts(b.runSync(t, m, engine.Options{})), "read 7 created 0 updated 0 unchanged 4 rejected 2 skipped 1 failed 0"; got != want {
				t.Fatalf("re-read: %s, want %s", got, want)
			}
			if d := firstDifference("store", was, storeText(t, b)); d != "" {
				t.Errorf("a re-read wrote: %s", d)
			}

			// Remove, remove again, add again.
			remove := rows[1]
			remove.removed = true
			b.addMember(t, 1, remove, at(3))
			clock = clock.Add(time.Hour)
			if got, want := relCounts(b.runSync(t, m, engine.Options{})), "read 1 created 0 updated 1 unchanged 0 rejected 0 skipped 0 failed 0"; got != want {
				t.Fatalf("removal: %s, want %s", got, want)
			}
			if got := relsOf(t, b.st, n1); len(got) != 0 {
				t.Errorf("n1's after the removal = %q", got)
			}
			if o, err := b.st.FindObject(ctx, "account", "a1"); err != nil || o.CreatedAt != created {
				t.Errorf("the object went with the relationship: %+v, %v", o, err)
			}
			b.addMember(t, 1, remove, at(4))
			b.addMember(t, 8, member{id: "n9", account: "a9", removed: true}, at(4))
			clock = clock.Add(time.Hour)
			if got, want := relCounts(b.runSync(t, m, engine.Options{})), "read 2 created 0 updated 0 unchanged 2 rejected 0 skipped 0 failed 0"; got != want {
				t.Fatalf("removing again, and what never was: %s, want %s", got, want)
			}
			if _, err := b.st.FindPerson(ctx, s, "n9"); err == nil {
				t.Errorf("removing a relationship created its person")
			}
			if _, err := b.st.FindObject(ctx, "account", "a9"); err == nil {
				t.Errorf("removing a relationship created its object")
			}
			b.addMember(t, 1, member{id: "n1", account: "a1", role: "viewer"}, at(5))
			clock = clock.Add(time.Hour)
			if got, want := relCounts(b.runSync(t, m, engine.Options{})), "read 1 created 1 updated 0 unchanged 0 rejected 0 skipped 0 failed 0"; got != want {
				t.Fatalf("adding again: %s, want %s", got, want)
			}
			if got, want := relsOf(t, b.st, n1), []string{fmt.Sprintf(`account/a1 {"role":"viewer"} %d..%d`, clock.Unix(), clock.Unix())}; !slices.Equal(got, want) {
				t.Errorf("n1's added again = %q, want %q", got, want)
			}
		})
	}
}

// TestRelationshipSyncDryRun: a dry run of a relationships sync counts what a run
// would do and writes nothing; the real run after it does the same.
func TestRelationshipSyncDryRun(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			m := b.memberships(t)
			for i := 1; i <= 25; i++ {
				b.addMember(t, i, member{id: fmt.Sprintf("u%d", i%7), account: fmt.Sprintf("a%d", i%3), role: fmt.Sprint("r", i%2)}, t0.Add(time.Duration(i)*time.Second))
			}
			dry := relCounts(b.runSync(t, m, engine.Options{DryRun: true}))
			if want := "read 25 created 21 updated 4 unchanged 0 rejected 0 skipped 0 failed 0"; dry != want {
				t.Fatalf("dry run: %s, want %s", dry, want)
			}
			if text := storeText(t, b); len(text) != 0 {
				t.Fatalf("a dry run wrote: %q", text)
			}
			if got := relCounts(b.runSync(t, m, engine.Options{})); got != dry {
				t.Fatalf("the run after it: %s, want %s", got, dry)
			}
		})
	}
}

// randomRelationshipRuns draws several runs of people rows and relationship rows
// over shared pools of ids, emails and accounts: new people by either kind, people
// found by id or email, leads to merge, attributes that change or stay, NULLs,
// removals and adding again, unknown cio_ids and rows without identifier or object id.
func randomRelationshipRuns(seed int64, runs, users, members int) (people [][]srcRow, rels [][]member) {
	rng := rand.New(rand.NewSource(seed))
	fresh := 0
	var ids, emails []string
	pick := func(pool []string, prefix, suffix string) string {
		if len(pool) == 0 || rng.Intn(3) == 0 {
			fresh++
			return fmt.Sprintf("%s%d%s", prefix, fresh, suffix)
		}
		return pool[rng.Intn(len(pool))]
	}
	remember := func(id, email string) {
		if id != "" {
			ids = append(ids, id)
		}
		if email != "" {
			emails = append(emails, strings.ToLower(email))
		}
	}
	accounts := []string{"a1", "a2", "A1", "a3", "a4"}
	var added []member
	people, rels = make([][]srcRow, runs), make([][]member, runs)
	for run := 0; run < runs; run++ {
		for i := 0; i < users; i++ {
			var r srcRow
			switch k := rng.Intn(10); {
			case k < 3:
				r.id = pick(ids, "n", "")
			case k < 5:
				r.email = pick(emails, "m", "@x.io")
			default:
				r.id, r.email = pick(ids, "n", ""), pick(emails, "m", "@x.io")
			}
			if rng.Intn(2) == 0 {
				r.plan = fmt.Sprint("p", rng.Intn(3))
			}
			remember(r.id, r.email)
			people[run] = append(people[run], r)
		}
		for i := 0; i < members; i++ {
			var m member
			if len(added) > 0 && rng.Intn(4) == 0 {
				// A membership seen before, removed, or again: re-added, changed or the same.
				m = added[rng.Intn(len(added))]
				m.removed = rng.Intn(2) == 0
				if rng.Intn(2) == 0 {
					m.role = fmt.Sprint("r", rng.Intn(3))
				}
				rels[run] = append(rels[run], m)
				continue
			}
			switch k := rng.Intn(20); {
			case k < 6:
				m.id = pick(ids, "n", "")
			case k < 10:
				m.email = pick(emails, "m", "@x.io")
				if rng.Intn(4) == 0 {
					m.email = strings.ToUpper(m.email)
				}
			case k < 16:
				m.id, m.email = pick(ids, "n", ""), pick(emails, "m", "@x.io")
			case k < 17:
				m.id = pick(emails, "m", "@x.io") // rule 2
			case k < 18:
				m.cio = "cio_0123456789abcdef"
			case k < 19: // no identifier
			default:
				m.id = pick(ids, "n", "")
				m.account = "-" // no object id
			}
			remember(m.id, m.email)
			if m.account == "" {
				m.account = accounts[rng.Intn(len(accounts))]
			} else {
				m.account = ""
			}
			if rng.Intn(3) > 0 {
				m.role = fmt.Sprint("r", rng.Intn(3))
			}
			m.removed = rng.Intn(10) == 0
			if m.account != "" {
				added = append(added, m)
			}
			rels[run] = append(rels[run], m)
		}
	}
	return people, rels
}

// TestRelationshipBatchSizeDoesNotMatter is SPEC §1 rule 6 for relationships:
// several runs of a people sync and a relationships sync over one store give
// byte-equal people, change log, relationships, objects, object log and rejected
// rows at batch sizes 1, 2, 7 and 1000, on both stores, in each workspace setting.
func TestRelationshipBatchSizeDoesNotMatter(t *testing.T) {
	settings := []identity.Settings{
		{IDIdentifies: true, EmailIdentifies: true, AllowEmailUpdateByID: true, MergeDuplicates: true},
		{IDIdentifies: true, EmailIdentifies: true},
		{IDIdentifies: true},
		{EmailIdentifies: true},
	}
	sizes := []int{1, 2, 7, 1000}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			for i, s := range settings {
				t.Run(fmt.Sprintf("%s,allow=%v,merge=%v", strings.Join(s.Identifiers(), "+"), s.AllowEmailUpdateByID, s.MergeDuplicates), func(t *testing.T) {
					people, rels := randomRelationshipRuns(int64(1500+i), 3, 30, 60)
					bundles := make([]*equivBundle, len(sizes))
					syncs := make([]config.Sync, len(sizes))
					for j, size := range sizes {
						bundles[j] = newEquivBundle(t, backend, s, size)
						syncs[j] = bundles[j].memberships(t)
					}
					next := 1
					var first []string
					for n := range people {
						for j, b := range bundles {
							b.add(t, people[n]...)
							b.run(t, engine.Options{})
							for k, m := range rels[n] {
								b.addMember(t, next+k, m, t0.Add(time.Duration(next+k)*time.Second))
							}
							b.runSync(t, syncs[j], engine.Options{})
							text := storeText(t, b.bundle)
							if j == 0 {
								first = text
								continue
							}
							if d := firstDifference("stores", first, text); d != "" {
								t.Fatalf("after run %d, batch size 1 and %d differ: %s", n+1, sizes[j], d)
							}
						}
						next += len(rels[n])
					}
					var live, removed, objs int
					for _, line := range first {
						switch {
						case strings.HasPrefix(line, "relationship ") && strings.HasSuffix(line, "|true"):
							removed++
						case strings.HasPrefix(line, "relationship "):
							live++
						case strings.HasPrefix(line, "object "):
							objs++
						}
					}
					t.Logf("%d live relationships, %d removed, %d objects", live, removed, objs)
					if live < 20 || removed < 3 || objs < 4 {
						t.Fatalf("too little happened to prove anything: %d live relationships, %d removed, %d objects", live, removed, objs)
					}
				})
			}
		})
	}
}
