package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/value"
)

// TestServe starts `dbsync serve` as a real process with two syncs on @every 1s,
// sees both run again and again, finds /metrics agreeing with the store, then sends
// SIGTERM in the middle of a long run: the process exits 0, the store holds exactly
// the rows up to the cursor, and the next run completes the rest, each row once.
func TestServe(t *testing.T) {
	ctx := context.Background()
	srcA, dbA := pgUsers(t, "a", 300)
	exec1(t, dbA, `UPDATE users SET user_id = NULL, email = NULL WHERE id = 2`) // rejected: no_identifier
	srcB, dbB := pgUsers(t, "b", 200)
	exec1(t, dbB, `UPDATE users SET email = 'not-an-email' WHERE id = 3`) // a failed change: invalid_email
	storePath := testdb.SQLite(t)
	cfg := writeConfig(t, "sqlite", storePath, "", everySecond("a", srcA, 100)+everySecond("b", srcB, 500))

	p := startServe(t, cfg)
	st := st2(t, storePath)
	// A run is in the run history once its transaction commits, and in /metrics a
	// moment later, when the scheduler observes its end: wait for both.
	var m map[string]float64
	eventually(t, "two ok runs of each sync in the run history and in /metrics", func() bool {
		if okRuns(t, st, "a") < 2 || okRuns(t, st, "b") < 2 {
			return false
		}
		m = p.scrape(t)
		return m[`dbsync_run_duration_seconds_count{sync="a"}`] >= 2 && m[`dbsync_run_duration_seconds_count{sync="b"}`] >= 2
	})

	// The counters agree with the store and the sources. The second ok run of each
	// sync started after the first run's counts were added, and read nothing more.
	byPrefix := map[string]int{}
	for _, person := range people(t, "sqlite", storePath) {
		byPrefix[person[:1]]++
	}
	for _, c := range []struct {
		series string
		want   int
	}{
		{`dbsync_rows_read_total{sync="a"}`, count(t, dbA, `SELECT count(*) FROM users`)},
		{`dbsync_rows_read_total{sync="b"}`, count(t, dbB, `SELECT count(*) FROM users`)},
		{`dbsync_people_created_total{sync="a"}`, byPrefix["a"]},
		{`dbsync_people_created_total{sync="b"}`, byPrefix["b"]},
		{`dbsync_people_updated_total{sync="a"}`, 0},
		{`dbsync_rows_rejected_total{reason="no_identifier",sync="a"}`, rejectedRows(t, st, "a", "no_identifier")},
		{`dbsync_failed_attribute_changes_total{reason="invalid_email",sync="b"}`, failedChanges(t, st, "b", "invalid_email")},
	} {
		if got, ok := m[c.series]; !ok || got != float64(c.want) {
			t.Errorf("%s = %v (present %v), the store says %d", c.series, got, ok, c.want)
		}
	}
	if byPrefix["a"] != 299 || byPrefix["b"] != 200 || rejectedRows(t, st, "a", "no_identifier") != 1 ||
		failedChanges(t, st, "b", "invalid_email") != 1 {
		t.Errorf("the store is not what the sources make: people %v", byPrefix)
	}
	for _, s := range []string{"a", "b"} {
		if n := m[`dbsync_run_duration_seconds_count{sync="`+s+`"}`]; n < 2 {
			t.Errorf("run duration of %s observed %v times, want 2 or more", s, n)
		}
		if ts := m[`dbsync_last_success_timestamp_seconds{sync="`+s+`"}`]; time.Since(time.Unix(int64(ts), 0)).Abs() > time.Minute {
			t.Errorf("last success of %s: %v", s, ts)
		}
		cur := cursor(t, st, s)
		lag, ok := m[`dbsync_cursor_lag_seconds{sync="`+s+`"}`]
		if want := time.Since(cur.Value.(time.Time)).Seconds(); !ok || lag > want || lag < want-60 {
			t.Errorf("cursor lag of %s: %v (present %v), want about %v", s, lag, ok, want)
		}
	}

	// A long run: 200,000 more rows for b, read 500 at a time. SIGTERM once it has
	// committed a batch of them.
	const total = 200_200
	addUsers(t, dbB, "b", 201, total)
	eventually(t, "b commits a batch of the new rows", func() bool { return cursorKey(t, st, "b") > 200 })
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t)
	t.Logf("SIGTERM to exit: %v", time.Since(sent).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("serve exited %d after SIGTERM, want 0:\n%s", code, p.out)
	}

	runs, err := st.Runs(ctx, "b", 1)
	if err != nil || len(runs) != 1 || runs[0].Status != store.RunFailed || !strings.Contains(runs[0].Error, "interrupted") {
		t.Fatalf("the last run of b was not interrupted (make the table bigger?): %+v %v", runs, err)
	}
	// Every row up to the cursor is in the store, and none after it.
	k := cursorKey(t, st, "b")
	ids := peopleNumbers(t, storePath, "b")
	if len(ids) != k || ids[k-1] != k {
		t.Fatalf("cursor at b%d, but the store holds %d people of b, the last b%d", k, len(ids), last(ids))
	}
	t.Logf("interrupted with %d of %d rows of b in the store", k, total)

	// The next run completes the rest; each row created its person once.
	if code, out, errOut := dbsyncTerm(t, "run", "-c", cfg, "--sync", "b"); code != 0 ||
		!strings.Contains(out, fmt.Sprintf("rows read:       %d\n", total-k)) {
		t.Fatalf("the run after SIGTERM: exit %d\n%s%s", code, out, errOut)
	}
	if n := len(peopleNumbers(t, storePath, "b")); n != total {
		t.Fatalf("%d people of b, want %d", n, total)
	}
	if creates := profileCreates(t, "sqlite", storePath, "b"); creates.total != total || creates.keys != total {
		t.Fatalf("%d profile_create entries for %d row keys, want %d of each", creates.total, creates.keys, total)
	}
}

// TestServeSecondSignal: a second SIGTERM exits at once, in the middle of a batch's
// transaction, with 143; the transaction is rolled back, so the store still ends at
// its cursor, and once the dead process's lease expires the next run completes the
// rest, each row once.
func TestServeSecondSignal(t *testing.T) {
	ctx := context.Background()
	const total = 20_000
	src, _ := pgUsers(t, "u", total)
	storeDSN := testdb.Postgres(t)
	cfg := writeConfig(t, "postgres", storeDSN, "", everySecond("users", src, 2000))
	p := startServe(t, cfg)
	st, err := store.Open(ctx, "postgres", storeDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eventually(t, "a batch committed", func() bool { return cursorKey(t, st, "users") > 0 })

	// Hold the sync's watermark row, so that the next batch, its people written,
	// waits on the cursor: the last statement of its transaction.
	db, err := sql.Open("postgres", storeDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var me int
	if err := tx.QueryRow(`SELECT pg_backend_pid() FROM watermarks WHERE sync = 'users' FOR UPDATE`).Scan(&me); err != nil {
		t.Fatal(err)
	}
	k := cursorKey(t, st, "users")
	eventually(t, "the next batch waits to save its cursor", func() bool {
		return count(t, db, fmt.Sprintf(`SELECT count(*) FROM pg_stat_activity
			WHERE %d = ANY (pg_blocking_pids(pid)) AND query LIKE 'INSERT INTO watermarks%%'`, me)) == 1
	})

	p.cmd.Process.Signal(syscall.SIGTERM)
	eventually(t, "the first SIGTERM is taken", func() bool {
		return p.out.logField("stopping after the current batch; a second signal stops at once", "signal") != ""
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit %d after two SIGTERMs, want %d:\n%s", code, 128+int(syscall.SIGTERM), p.out)
	}
	tx.Rollback()

	// The batch that waited is not in the store: its people went with the connection.
	if n := cursorKey(t, st, "users"); n != k {
		t.Fatalf("the cursor moved from %d to %d", k, n)
	}
	if c := profileCreates(t, "postgres", storeDSN, "users"); c.total != k || c.keys != k {
		t.Fatalf("cursor at u%d, but %d profile_create entries for %d row keys", k, c.total, c.keys)
	}
	runs, _ := st.Runs(ctx, "users", 1)
	if len(runs) != 1 || runs[0].Status != store.RunRunning {
		t.Fatalf("the run was not cut off mid-run: %+v", runs)
	}

	// The dead process ran on this host: its lease is taken over at once (SPEC §3),
	// and the next run completes the rest.
	if code, out, errOut := dbsyncTerm(t, "run", "-c", cfg); code != 0 || !strings.Contains(out, "users: ok") {
		t.Fatalf("run after the hard stop: exit %d\n%s%s", code, out, errOut)
	}
	if c := profileCreates(t, "postgres", storeDSN, "users"); c.total != total || c.keys != total {
		t.Fatalf("%d profile_create entries for %d row keys, want %d of each", c.total, c.keys, total)
	}
}

// TestServeReplicas: three `dbsync serve` processes share one PostgreSQL store and
// run the same sync every second while rows keep arriving: each row is applied once,
// and no two runs of the sync overlap in the run history.
func TestServeReplicas(t *testing.T) {
	ctx := context.Background()
	src, db := pgUsers(t, "u", 20_000)
	storeDSN := testdb.Postgres(t)
	cfg := writeConfig(t, "postgres", storeDSN, "", everySecond("users", src, 500))
	st, err := store.Open(ctx, "postgres", storeDSN) // the schema first: the replicas race on the lease, not the migration
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var replicas []*serveProcess
	for range 3 {
		replicas = append(replicas, startServe(t, cfg))
	}
	total := 20_000
	for range 4 {
		eventually(t, fmt.Sprintf("the store has the first %d rows", total), func() bool { return cursorKey(t, st, "users") == total })
		addUsers(t, db, "u", total+1, total+2000)
		total += 2000
	}
	eventually(t, fmt.Sprintf("the store has all %d rows", total), func() bool { return cursorKey(t, st, "users") == total })
	for _, p := range replicas {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	ranOK := 0
	for i, p := range replicas {
		if code := p.wait(t); code != 0 {
			t.Fatalf("replica %d exited %d:\n%s", i, code, p.out)
		}
		if strings.Contains(p.out.String(), `"msg":"sync done"`) {
			ranOK++
		}
	}

	if c := profileCreates(t, "postgres", storeDSN, "users"); c.total != total || c.keys != total {
		t.Fatalf("%d profile_create entries for %d row keys, want %d of each", c.total, c.keys, total)
	}
	runs, err := st.Runs(ctx, "users", 100_000)
	if err != nil {
		t.Fatal(err)
	}
	var ran []store.Run
	skipped := 0
	for _, r := range runs {
		switch r.Status {
		case store.RunAlreadyRunning:
			skipped++
		case store.RunRunning:
			t.Fatalf("a run is still recorded as running: %+v", r)
		default:
			ran = append(ran, r)
		}
	}
	for i, a := range ran {
		for _, b := range ran[i+1:] {
			if a.Started.Before(b.Ended) && b.Started.Before(a.Ended) {
				t.Fatalf("two runs overlap:\n%+v\n%+v", a, b)
			}
		}
	}
	if skipped == 0 {
		t.Fatal("no run was skipped as already running: the replicas never contended for the lease")
	}
	t.Logf("%d runs held the lease, one at a time; %d were skipped as already running; %d of 3 replicas ran the sync",
		len(ran), skipped, ranOK)
}

// serveProcess is `dbsync serve` running as a process of its own.
type serveProcess struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	addr   string
	exited chan struct{}
}

// startServe starts `dbsync serve -c cfg` on a free port and waits until it serves.
func startServe(t *testing.T, cfg string) *serveProcess {
	t.Helper()
	p := &serveProcess{out: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "serve", "-c", cfg, "--listen", "127.0.0.1:0")
	p.cmd.Env = append(os.Environ(), "DBSYNC_TEST_AS_DBSYNC=1")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	eventually(t, "serve listens", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("serve exited:\n%s", p.out)
		default:
		}
		p.addr = p.out.logField("serving", "addr")
		return p.addr != ""
	})
	return p
}

// wait waits for the process to exit and returns its exit code (128+N for signal N).
func (p *serveProcess) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit within 60 s:\n%s", p.out)
	}
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// scrape reads /metrics into a map from series (name{labels}) to value.
func (p *serveProcess) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// logField finds the first JSON log line with this message and returns one field.
func (b *lockedBuffer) logField(msg, field string) string {
	for _, line := range strings.Split(b.String(), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == msg {
			s, _ := entry[field].(string)
			return s
		}
	}
	return ""
}

// eventually polls cond until it holds, or fails the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within a minute: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pgUsers is pgSource with ids and emails that start with prefix, so that several
// sources make different people.
func pgUsers(t *testing.T, prefix string, n int) (dsn string, db *sql.DB) {
	t.Helper()
	dsn = testdb.Postgres(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exec1(t, db, `CREATE TABLE users (id bigint PRIMARY KEY, user_id text, email text, plan text, updated_at timestamptz)`)
	exec1(t, db, `CREATE INDEX users_cursor ON users (updated_at, id)`)
	addUsers(t, db, prefix, 1, n)
	return dsn, db
}

// addUsers adds rows from..to; row i's updated_at is 2026-01-01 plus i/1000 seconds,
// so later rows come after the cursor and runs of 1000 rows tie on it.
func addUsers(t *testing.T, db *sql.DB, prefix string, from, to int) {
	t.Helper()
	exec1(t, db, `INSERT INTO users SELECT i, $1 || i, $1 || i || '@x.io', (ARRAY['free','pro','team'])[1 + i % 3],
		'2026-01-01'::timestamptz + (i / 1000) * interval '1 second' FROM generate_series($2::int, $3::int) i`, prefix, from, to)
}

func exec1(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func everySecond(name, dsn string, batch int) string {
	return usersSync(name, dsn, batch) + "\n    schedule: \"@every 1s\""
}

func okRuns(t *testing.T, st *store.Store, sync string) int {
	t.Helper()
	runs, err := st.Runs(context.Background(), sync, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range runs {
		if r.Status == store.RunOK {
			n++
		}
	}
	return n
}

func cursor(t *testing.T, st *store.Store, sync string) *value.Cursor {
	t.Helper()
	wm, err := st.Watermark(context.Background(), sync)
	if err != nil {
		t.Fatal(err)
	}
	c, err := state.DecodeCursor(wm.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cursorKey is the key (the source's id) of a sync's cursor; 0 before the first batch.
func cursorKey(t *testing.T, st *store.Store, sync string) int {
	t.Helper()
	c := cursor(t, st, sync)
	if c == nil {
		return 0
	}
	return int(c.Key.(int64))
}

// peopleNumbers lists the numbers in the ids of the people whose id starts with
// prefix, in order.
func peopleNumbers(t *testing.T, storePath, prefix string) []int {
	t.Helper()
	st := st2(t, storePath)
	var out []int
	err := st.EachPerson(context.Background(), func(p identity.Person) error {
		if rest, ok := strings.CutPrefix(p.ID, prefix); ok {
			n, err := strconv.Atoi(rest)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func last(ids []int) int {
	if len(ids) == 0 {
		return 0
	}
	return ids[len(ids)-1]
}

func rejectedRows(t *testing.T, st *store.Store, sync, reason string) int {
	t.Helper()
	n := 0
	err := st.EachRejected(context.Background(), sync, 0, func(r store.Rejection) error {
		if r.Reason == reason {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func failedChanges(t *testing.T, st *store.Store, sync, reason string) int {
	t.Helper()
	n := 0
	err := st.EachChange(context.Background(), func(c record.Change) error {
		if c.Sync == sync && c.Kind == "failed_attribute_change" && c.Reason == reason {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type creates struct{ total, keys int }

// profileCreates counts a sync's profile_create entries, and the row keys they are for.
func profileCreates(t *testing.T, driver, dsn, sync string) creates {
	t.Helper()
	st, err := store.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := map[string]bool{}
	var c creates
	err = st.EachChange(context.Background(), func(ch record.Change) error {
		if ch.Sync == sync && ch.Kind == "profile_create" {
			c.total++
			keys[ch.RowKey] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.keys = len(keys)
	return c
}
