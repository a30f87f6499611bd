package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/store"
)

// TestSoak runs `dbsync serve` as a real process with three syncs on @every 2s (two
// PostgreSQL tables and a MariaDB one, into the SQLite store) while writers keep
// adding people, changing their attributes and moving updated_at forward. At the
// end the store holds exactly what the sources hold, and the process's resident
// memory did not grow. It runs DBSYNC_SOAK long (25 s by default); the real soak is
// five minutes:
//
//	DBSYNC_SOAK=5m go test ./cmd/dbsync -run TestSoak -v -timeout 15m
func TestSoak(t *testing.T) {
	soak := 25 * time.Second
	if v := os.Getenv("DBSYNC_SOAK"); v != "" {
		var err error
		if soak, err = time.ParseDuration(v); err != nil {
			t.Fatalf("DBSYNC_SOAK=%s: %v", v, err)
		}
	}
	sources := []*soakSource{newSoakSource(t, "postgres", "a"), newSoakSource(t, "postgres", "b"), newSoakSource(t, "mysql", "m")}
	storePath := testdb.SQLite(t)
	var syncs string
	for _, s := range sources {
		syncs += fmt.Sprintf(`
  - name: %s
    schedule: "@every 2s"
    source: {type: %s, dsn: %q}
    table: users
    watermark: {column: updated_at, key: id}
    batch_size: 500
    identifiers: {id: user_id, email: email}
    exclude: [id, updated_at]`, s.prefix, s.typ, s.dsn)
	}
	p := startServe(t, writeConfig(t, "sqlite", storePath, "", syncs))

	ctx, stopWriters := context.WithCancel(context.Background())
	var writers sync.WaitGroup
	for _, s := range sources {
		writers.Go(func() { s.write(ctx, t) })
	}
	// Resident memory, sampled about a hundred times over the soak.
	every := min(max(soak/100, 500*time.Millisecond), 2*time.Second)
	tick := time.NewTicker(every)
	var rss []int64
	for end := time.Now().Add(soak); time.Now().Before(end); <-tick.C {
		rss = append(rss, residentKB(t, p))
	}
	tick.Stop()
	stopWriters()
	writers.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// One more complete run of each sync, started after the last write.
	stopped := time.Now()
	st := st2(t, storePath)
	eventually(t, "an ok run of each sync that started after the writers stopped", func() bool {
		for _, s := range sources {
			runs, err := st.Runs(context.Background(), s.prefix, 5)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(runs, func(r store.Run) bool { return r.Status == store.RunOK && r.Started.After(stopped) }) {
				return false
			}
		}
		return true
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM, want 0:\n%s", code, p.out)
	}

	// The store holds every source row as a person with exactly its values, and no one else.
	var want []string
	for _, s := range sources {
		want = append(want, s.people(t)...)
		var ok, failed, read, created, updated int64
		runs, err := st.Runs(context.Background(), s.prefix, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			switch r.Status {
			case store.RunOK:
				ok++
			case store.RunFailed:
				failed++
				t.Errorf("sync %s: a run failed: %s", s.prefix, r.Error)
			}
			read, created, updated = read+r.RowsRead, created+r.Created, updated+r.Updated
		}
		t.Logf("sync %s: %d source rows (%d updates, %d touches); %d ok runs, %d failed; "+
			"%d rows read, %d people created, %d updated", s.prefix, s.rows, s.updates, s.touches, ok, failed, read, created, updated)
	}
	slices.Sort(want)
	got := people(t, "sqlite", storePath)
	if !slices.Equal(got, want) {
		missing, extra := diff(want, got), diff(got, want)
		t.Errorf("the store differs from the sources: %d people, %d source rows; %d not in the store (%.3q), %d not in the sources (%.3q)",
			len(got), len(want), len(missing), missing, len(extra), extra)
	}

	// Memory: after a warm-up (the first fifth), the highest sample of the last third
	// is within 1.3 times the highest of the first third.
	mib := make([]string, len(rss))
	for i, kb := range rss {
		mib[i] = fmt.Sprintf("%.1f", float64(kb)/1024)
	}
	t.Logf("RSS (MiB) every %v over %v: %s", every, soak, strings.Join(mib, " "))
	rest := rss[len(rss)/5:]
	third := len(rest) / 3
	first, last := slices.Max(rest[:third]), slices.Max(rest[len(rest)-third:])
	t.Logf("RSS after warm-up: first third max %.1f MiB, last third max %.1f MiB (%.2fx)",
		float64(first)/1024, float64(last)/1024, float64(last)/float64(first))
	if float64(last) > 1.3*float64(first) {
		t.Errorf("resident memory grew: %.1f MiB at most in the first third after warm-up, %.1f MiB in the last",
			float64(first)/1024, float64(last)/1024)
	}
}

// soakSource is a users table that a writer keeps changing: rows 1..rows, user_id
// and email from the prefix, a plan and a score that change, and an updated_at that
// only moves forward (each statement's strictly after the last, so reading by the
// cursor never misses a row).
type soakSource struct {
	typ, prefix, dsn string
	db               *sql.DB
	rng              *rand.Rand
	last             time.Time // the last updated_at written

	rows, updates, touches int
}

func newSoakSource(t *testing.T, typ, prefix string) *soakSource {
	t.Helper()
	s := &soakSource{typ: typ, prefix: prefix, rng: rand.New(rand.NewPCG(uint64(prefix[0]), 1))}
	table := `CREATE TABLE users (id bigint PRIMARY KEY, user_id text, email text, plan text, score integer,
		updated_at timestamptz NOT NULL)`
	if typ == "mysql" {
		s.dsn = testdb.MySQL(t)
		table = `CREATE TABLE users (id BIGINT PRIMARY KEY, user_id VARCHAR(50), email VARCHAR(100), plan VARCHAR(20),
			score INT, updated_at DATETIME(6) NOT NULL)`
	} else {
		s.dsn = testdb.Postgres(t)
	}
	db, err := sql.Open(typ, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.db = db
	exec1(t, db, table)
	exec1(t, db, `CREATE INDEX users_cursor ON users (updated_at, id)`)
	for range 10 {
		if err := s.insert(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// write changes the table ten times a second until ctx ends: three new people,
// four changed plans and scores, two rows touched (updated_at only).
func (s *soakSource) write(ctx context.Context, t *testing.T) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	db := context.WithoutCancel(ctx) // a statement is never cut off half way
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := s.insert(db, 3)
		for i := 0; i < 4 && err == nil; i++ {
			err = s.exec(db, `UPDATE users SET plan = ?, score = ?, updated_at = ? WHERE id = ?`,
				soakPlans[s.rng.IntN(len(soakPlans))], s.rng.IntN(1000), s.next(), 1+s.rng.IntN(s.rows))
			s.updates++
		}
		for i := 0; i < 2 && err == nil; i++ {
			err = s.exec(db, `UPDATE users SET updated_at = ? WHERE id = ?`, s.next(), 1+s.rng.IntN(s.rows))
			s.touches++
		}
		if err != nil {
			t.Errorf("writer %s: %v", s.prefix, err)
			return
		}
	}
}

var soakPlans = []string{"free", "pro", "team", "enterprise"}

// insert adds n people in one statement.
func (s *soakSource) insert(ctx context.Context, n int) error {
	var values []string
	var args []any
	ts := s.next()
	for i := s.rows + 1; i <= s.rows+n; i++ {
		values = append(values, "(?, ?, ?, ?, ?, ?)")
		args = append(args, i, s.prefix+strconv.Itoa(i), s.prefix+strconv.Itoa(i)+"@x.io",
			soakPlans[s.rng.IntN(len(soakPlans))], s.rng.IntN(1000), ts)
	}
	if err := s.exec(ctx, "INSERT INTO users (id, user_id, email, plan, score, updated_at) VALUES "+strings.Join(values, ", "), args...); err != nil {
		return err
	}
	s.rows += n
	return nil
}

// exec runs q with ? placeholders, numbered for PostgreSQL.
func (s *soakSource) exec(ctx context.Context, q string, args ...any) error {
	if s.typ == "postgres" {
		var b strings.Builder
		n := 0
		for _, c := range q {
			if c == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(c)
		}
		q = b.String()
	}
	_, err := s.db.ExecContext(ctx, q, args...)
	return err
}

// next is the updated_at of the next statement: now, and strictly after the last,
// in microseconds; DATETIME(6) text in UTC for MariaDB.
func (s *soakSource) next() any {
	ts := time.Now().UTC().Truncate(time.Microsecond)
	if !ts.After(s.last) {
		ts = s.last.Add(time.Microsecond)
	}
	s.last = ts
	if s.typ == "mysql" {
		return ts.Format("2006-01-02 15:04:05.000000")
	}
	return ts
}

// people describes each row as people() describes the person it makes.
func (s *soakSource) people(t *testing.T) []string {
	t.Helper()
	rows, err := s.db.Query(`SELECT user_id, email, plan, score FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, email, plan string
		var score int
		if err := rows.Scan(&id, &email, &plan, &score); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf(`%s|%s|{"plan":%q,"score":%d}|`, id, email, plan, score))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// residentKB is the process's resident set size (VmRSS) in KiB.
func residentKB(t *testing.T, p *serveProcess) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("serve is gone: %v\n%s", err, p.out)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("serve has no VmRSS (exited?):\n%s", p.out)
	return 0
}

// diff lists what is in a and not in b, both sorted.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if _, found := slices.BinarySearch(b, s); !found {
			out = append(out, s)
		}
	}
	return out
}
