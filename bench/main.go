// Command bench measures dbsync against the physical limit on the same machine, in
// the same run: a users table of N rows is generated in PostgreSQL and MariaDB, and
// accounts, account_members and orders tables of N rows each in PostgreSQL; each scenario
// runs several times; the median is reported.
//
//	go run ./bench                      # N = 1,000,000, 3 repetitions
//	go run ./bench -rows 200000 -reps 1 # quicker
//	go run ./bench -scenarios objects,relationships -rss5x=false
//	go run ./bench -scenarios events -rss5x=false
//	go run ./bench -scenarios query,wide -reps 1
//
// Scenarios:
//
//	limit     COPY (SELECT …) TO STDOUT from the source piped into COPY … FROM STDIN
//	          of a table shaped like the store's people table (same keys and indexes,
//	          attributes as JSON): what a hand-written copy takes
//	backfill  dbsync run into an empty PostgreSQL store, and into a SQLite store,
//	          from PostgreSQL and from MariaDB
//	sqlite    a plain batched insert of the same rows into an equally indexed SQLite
//	          table, the SQLite store's limit
//	1%        an incremental run after 1% of the rows changed
//	half      an update-heavy run: everyone exists, half have a changed attribute
//	rss       peak RSS of a backfill at N and at 5×N (for events too)
//	objects   limit: COPY of the accounts into a table shaped like the store's objects
//	          table; backfill: an objects sync of them into the PostgreSQL store
//	relationships
//	          limit: COPY of the account_members into a table shaped like the store's
//	          relationships table; backfill: a relationships sync of them into the
//	          PostgreSQL store, which holds the N people and the accounts by then (each
//	          row finds its person by id, and its object)
//	query     (issue 18) a query: sync whose query is a GROUP BY over qorders (two orders
//	          a user), at 100k and 200k users and batch_size 100 and 1000, beside a
//	          table: sync of the same rows (the query's result as a table): the query is
//	          read once a run, so its time follows the rows, and the batch size costs
//	          what the store's commits cost. -query-rows, -query-batches
//	wide      (issue 18) 60k rows of 50 text columns of 200 bytes, a table: sync at
//	          batch_size 5000 and 50000: peak RSS, which batch_bytes bounds.
//	          -wide-batches, -wide-bytes
//	events    an orders table of N rows, half of them for users who do not exist.
//	          limit: COPY of the orders into a table shaped like the store's events
//	          table; backfill: an events sync of them into a PostgreSQL store and into
//	          a SQLite store, each holding the N people (backfilled untimed), beside a
//	          batched insert into an equally indexed SQLite table; 1%: an events run
//	          after 1% new orders
//
// -scenarios picks among people (every scenario above objects), objects,
// relationships and events (the default), query and wide; peak RSS is reported for
// each dbsync run.
//
// Each timed step reports its wall time, its CPU seconds (those of its own processes
// and of the database servers) and the PostgreSQL WAL it wrote (meter.go): on a machine
// whose speed moves from minute to minute, these are the steadier comparison.
//
// -cpuprofile DIR builds dbsync with -tags cpuprofile and writes a CPU profile of each
// repetition's timed dbsync run to DIR (SCENARIO-repN.pprof; go tool pprof DIR/…).
// Each repetition's time is printed as it ends.
//
// It needs PostgreSQL (127.0.0.1:5432, user postgres, trust) with psql on the PATH
// and MariaDB (127.0.0.1:3306, root), as scripts/test sets up.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"
)

const (
	pgAdmin  = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	myServer = "root@tcp(127.0.0.1:3306)/"
)

// The bench's own databases, named by -db (dbsync_bench): two benchmarks running at
// once on one server would otherwise drop each other's store.
var (
	benchDB = "dbsync_bench"
	pgBench string
	myBench string
)

type result struct {
	name    string
	rows    int
	seconds float64
	rssMiB  float64
	cpu     float64 // CPU seconds: the run's own processes and the database servers'
	walMiB  float64 // PostgreSQL WAL written
	limit   string  // the scenario this one is compared with
}

func main() {
	rows := flag.Int("rows", 1_000_000, "rows in each source table (users, accounts, account_members, orders)")
	reps := flag.Int("reps", 3, "repetitions of each scenario (the median is reported)")
	big := flag.Bool("rss5x", true, "also measure peak RSS of a people (and an events) backfill at 5×rows")
	flag.StringVar(&benchDB, "db", benchDB, "the bench's database in PostgreSQL and MariaDB (created when missing)")
	flag.StringVar(&profileDir, "cpuprofile", "", "write a CPU profile of each repetition's dbsync run into this directory")
	only := flag.String("scenarios", "people,objects,relationships,events", "which scenarios to run, comma-separated")
	flag.Func("query-rows", "the query scenario's sizes in rows, comma-separated (default 100000,200000)", intsFlag(&queryRows))
	flag.Func("query-batches", "the query scenario's batch sizes, comma-separated (default 100,1000)", intsFlag(&queryBatches))
	flag.StringVar(&wideBytes, "wide-bytes", "", "the wide scenario's batch_bytes (default: dbsync's)")
	flag.Func("wide-batches", "the wide scenario's batch sizes, comma-separated (default 5000,50000)", intsFlag(&wideBatches))
	flag.Parse()
	if !regexp.MustCompile(`^[a-z_][a-z0-9_]*$`).MatchString(benchDB) {
		fmt.Fprintf(os.Stderr, "bench: -db %q: want lower-case letters, digits and _\n", benchDB)
		os.Exit(2)
	}
	pgBench = "postgres://postgres@127.0.0.1:5432/" + benchDB + "?sslmode=disable"
	myBench = "root@tcp(127.0.0.1:3306)/" + benchDB
	var pick []string
	for _, sc := range strings.Split(*only, ",") {
		sc = strings.TrimSpace(sc)
		if !slices.Contains(scenarios, sc) {
			fmt.Fprintf(os.Stderr, "bench: -scenarios: unknown %q (one of %s)\n", sc, strings.Join(scenarios, ", "))
			os.Exit(2)
		}
		pick = append(pick, sc)
	}
	if err := run(context.Background(), *rows, *reps, *big, pick); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// scenarios are what -scenarios picks from.
var scenarios = []string{"people", "objects", "relationships", "events", "query", "wide"}

func run(ctx context.Context, n, reps int, big bool, pick []string) error {
	people := slices.Contains(pick, "people")
	kinds := slices.Contains(pick, "objects") || slices.Contains(pick, "relationships")
	dir, err := os.MkdirTemp("", "dbsync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "dbsync")
	build := []string{"build", "-o", bin}
	if profileDir != "" {
		if err := os.MkdirAll(profileDir, 0o755); err != nil {
			return err
		}
		build = append(build, "-tags", "cpuprofile")
	}
	if out, err := exec.Command("go", append(build, "./cmd/dbsync")...).CombinedOutput(); err != nil {
		return fmt.Errorf("build dbsync: %v\n%s", err, out)
	}
	b := &bench{dir: dir, bin: bin}
	if err := b.setup(ctx); err != nil {
		return err
	}
	defer b.close()
	// The users are there for every scenario but query and wide (which make their
	// own tables): relationships find them as people.
	if people || kinds || slices.Contains(pick, "events") {
		if people {
			fmt.Printf("generating %d rows in PostgreSQL and MariaDB...\n", n)
		} else {
			fmt.Printf("generating %d users in PostgreSQL...\n", n)
		}
		if err := b.generate(ctx, n, people); err != nil {
			return err
		}
	}
	if kinds {
		fmt.Printf("generating %d accounts and %d account members in PostgreSQL...\n", n, n)
		if err := b.generateAccounts(ctx, n); err != nil {
			return err
		}
	}

	if slices.Contains(pick, "events") {
		fmt.Printf("generating %d orders in PostgreSQL...\n", n)
		if err := b.generateOrders(ctx, n, n); err != nil {
			return err
		}
	}

	var results []result
	add := func(r result, err error) error {
		if err != nil {
			return err
		}
		results = append(results, r)
		fmt.Printf("  %-44s %8.2f s\n", r.name, r.seconds)
		return nil
	}
	median := func(name, limit string, f func() (float64, float64, error)) error {
		var secs, rss, cpu, wal []float64
		for i := 0; i < reps; i++ {
			b.profile = fmt.Sprintf("%s-rep%d.pprof", profileSlug(name), i+1)
			b.cpu, b.walMiB = 0, 0
			s, r, err := f()
			b.profile = ""
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Printf("    rep %d: %.2f s, %.2f CPU s, %.0f MiB WAL, peak %.0f MiB\n", i+1, s, b.cpu, b.walMiB, r)
			secs, rss, cpu, wal = append(secs, s), append(rss, r), append(cpu, b.cpu), append(wal, b.walMiB)
		}
		return add(result{name: name, rows: n, seconds: med(secs), rssMiB: maxOf(rss), cpu: med(cpu), walMiB: med(wal), limit: limit}, nil)
	}

	var steps []func() error
	peopleSteps := []func() error{
		func() error { return median("limit: COPY source | COPY people", "", b.copyLimit) },
		func() error {
			return median("backfill postgres -> postgres store", "limit: COPY source | COPY people", func() (float64, float64, error) {
				return b.backfill(ctx, "postgres", "postgres")
			})
		},
		func() error {
			return median("backfill mariadb -> postgres store", "limit: COPY source | COPY people", func() (float64, float64, error) {
				return b.backfill(ctx, "mysql", "postgres")
			})
		},
		func() error {
			return median("sqlite limit: batched insert", "", func() (float64, float64, error) { return b.sqliteLimit(ctx, n) })
		},
		func() error {
			return median("backfill postgres -> sqlite store", "sqlite limit: batched insert", func() (float64, float64, error) {
				return b.backfill(ctx, "postgres", "sqlite")
			})
		},
		func() error {
			return median("incremental, 1% changed (postgres store)", "backfill postgres -> postgres store", func() (float64, float64, error) {
				return b.incremental(ctx, n, 0.01, "plan")
			})
		},
		func() error {
			return median("update-heavy, half changed (postgres store)", "limit: COPY source | COPY people", func() (float64, float64, error) {
				return b.incremental(ctx, n, 0.5, "seats")
			})
		},
	}
	if people {
		steps = append(steps, peopleSteps...)
	}
	if kinds {
		// The people first, untimed, so that the relationships find their persons.
		steps = append(steps, func() error { return b.kindsStore(ctx) })
	}
	if slices.Contains(pick, "objects") {
		steps = append(steps,
			func() error { return median(objectsLimit, "", b.copyObjectsLimit) },
			func() error {
				return median("objects backfill (postgres store)", objectsLimit, func() (float64, float64, error) {
					return b.kindBackfill(ctx, "accounts", n)
				})
			})
	}
	if slices.Contains(pick, "relationships") {
		steps = append(steps,
			func() error { return median(relationshipsLimit, "", b.copyRelationshipsLimit) },
			func() error {
				return median("relationships backfill (postgres store)", relationshipsLimit, func() (float64, float64, error) {
					return b.kindBackfill(ctx, "memberships", n)
				})
			})
	}
	if slices.Contains(pick, "events") {
		// The SQLite steps come before the 1% run, which adds orders to the source and
		// continues the PostgreSQL backfill's store.
		steps = append(steps,
			func() error { return median(eventsLimit, "", b.copyEventsLimit) },
			func() error {
				return median(eventsBackfillPG, eventsLimit, func() (float64, float64, error) {
					return b.eventsBackfill(ctx, "postgres", n, n)
				})
			},
			func() error {
				return median(eventsSQLiteLimit, "", func() (float64, float64, error) { return b.sqliteEventsLimit(ctx, n) })
			},
			func() error {
				return median("events backfill (sqlite store)", eventsSQLiteLimit, func() (float64, float64, error) {
					return b.eventsBackfill(ctx, "sqlite", n, n)
				})
			},
			func() error {
				err := median("events incremental, 1% new (postgres store)", eventsBackfillPG, func() (float64, float64, error) {
					return b.eventsIncremental(ctx, n)
				})
				if err == nil {
					results[len(results)-1].rows = max(n/100, 1)
				}
				return err
			})
	}
	if slices.Contains(pick, "query") {
		for _, users := range queryRows {
			steps = append(steps, func() error {
				fmt.Printf("generating %d orders of %d users in PostgreSQL for the query scenario...\n", 2*users, users)
				return b.generateQueryOrders(ctx, users)
			})
			for _, batch := range queryBatches {
				for _, table := range []bool{false, true} {
					name := fmt.Sprintf("query sync (GROUP BY), batch_size %d", batch)
					if table {
						name = fmt.Sprintf("  table sync of its result, batch_size %d", batch)
					}
					steps = append(steps, func() error {
						err := median(name, "", func() (float64, float64, error) {
							return b.queryBackfill(ctx, users, batch, table)
						})
						if err == nil {
							results[len(results)-1].rows = users
						}
						return err
					})
				}
			}
		}
	}
	if slices.Contains(pick, "wide") {
		steps = append(steps, func() error {
			fmt.Printf("generating %d rows of %d text columns in PostgreSQL for the wide scenario...\n", wideRows, wideColumns)
			return b.generateWide(ctx)
		})
		for _, batch := range wideBatches {
			steps = append(steps, func() error {
				name := fmt.Sprintf("wide rows (50 x 200 B), batch_size %d", batch)
				if wideBytes != "" {
					name += ", batch_bytes " + wideBytes
				}
				err := median(name, "", func() (float64, float64, error) {
					return b.wideBackfill(ctx, batch)
				})
				if err == nil {
					results[len(results)-1].rows = wideRows
				}
				return err
			})
		}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	// Before the people's 5x run, which makes 5N users.
	if big && slices.Contains(pick, "events") {
		fmt.Printf("generating %d orders for the 5x memory run...\n", 5*n)
		if err := b.generateOrders(ctx, n, 5*n); err != nil {
			return err
		}
		err := median(fmt.Sprintf("events backfill (postgres store), %dx", 5), "", func() (float64, float64, error) {
			return b.eventsBackfill(ctx, "postgres", n, 5*n)
		})
		if err != nil {
			return err
		}
		results[len(results)-1].rows = 5 * n
	}
	if big && people {
		fmt.Printf("generating %d rows for the 5x memory run...\n", 5*n)
		if err := b.generate(ctx, 5*n, false); err != nil {
			return err
		}
		err := median(fmt.Sprintf("backfill postgres -> postgres store, %dx", 5), "", func() (float64, float64, error) {
			return b.backfill(ctx, "postgres", "postgres")
		})
		if err != nil {
			return err
		}
		results[len(results)-1].rows = 5 * n
	}
	report(results)
	return nil
}

func report(results []result) {
	byName := map[string]result{}
	for _, r := range results {
		byName[r.name] = r
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Println()
	fmt.Fprintln(w, "scenario\trows\tseconds\trows/s\tvs\tCPU s\tCPU vs\tWAL MiB\tpeak MiB\t")
	for _, r := range results {
		ratio, cpuRatio := "", ""
		if l, ok := byName[r.limit]; ok && l.seconds > 0 {
			ratio = fmt.Sprintf("%.2fx %s", r.seconds/l.seconds, strings.SplitN(l.name, ":", 2)[0])
			if l.cpu > 0 {
				cpuRatio = fmt.Sprintf("%.2fx", r.cpu/l.cpu)
			}
		}
		rss := ""
		if r.rssMiB > 0 {
			rss = fmt.Sprintf("%.0f", r.rssMiB)
		}
		fmt.Fprintf(w, "%s\t%d\t%.2f\t%.0f\t%s\t%.1f\t%s\t%.0f\t%s\t\n", r.name, r.rows, r.seconds, float64(r.rows)/r.seconds, ratio, r.cpu, cpuRatio, r.walMiB, rss)
	}
	w.Flush()
}

func med(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

type bench struct {
	dir, bin string
	pg, my   *sql.DB
	profile  string  // the file name of the repetition's CPU profile, when -cpuprofile is set
	cpu      float64 // the CPU seconds of the last timed step (meter.go)
	walMiB   float64 // the PostgreSQL WAL it wrote
}

// profileDir is -cpuprofile: where the CPU profiles go ("": none).
var profileDir string

// profileSlug makes a scenario's name a file name.
func profileSlug(name string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' {
			return r
		}
		return '-'
	}, name), "-")
}

func (b *bench) close() {
	b.pg.Close()
	b.my.Close()
}

func (b *bench) setup(ctx context.Context) error {
	admin, err := sql.Open("postgres", pgAdmin)
	if err != nil {
		return err
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, benchDB).Scan(&exists); err != nil {
		return fmt.Errorf("PostgreSQL at 127.0.0.1:5432 (run scripts/test once to set it up): %w", err)
	}
	if !exists {
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+benchDB); err != nil {
			return err
		}
	}
	if b.pg, err = sql.Open("postgres", pgBench); err != nil {
		return err
	}
	my, err := sql.Open("mysql", myServer)
	if err != nil {
		return err
	}
	defer my.Close()
	if _, err := my.ExecContext(ctx, `CREATE DATABASE IF NOT EXISTS `+benchDB); err != nil {
		return fmt.Errorf("MariaDB at 127.0.0.1:3306: %w", err)
	}
	b.my, err = sql.Open("mysql", myBench)
	return err
}

// generate makes the source users table: 10 columns, an index on (updated_at, user_id),
// in PostgreSQL and, with mariadb, in MariaDB too.
func (b *bench) generate(ctx context.Context, n int, mariadb bool) error {
	pg := []string{
		`DROP TABLE IF EXISTS users`,
		`CREATE TABLE users (user_id bigint PRIMARY KEY, email text NOT NULL, first_name text, last_name text,
			plan text, country text, seats int, beta boolean, created_at timestamptz, updated_at timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO users SELECT i, 'user' || i || '@example.com', 'First' || (i %% 1000), 'Last' || (i %% 997),
			(ARRAY['free','pro','team','enterprise'])[1 + i %% 4], (ARRAY['NZ','DE','US','BR','JP'])[1 + i %% 5], i %% 50, i %% 2 = 0,
			'2020-01-01'::timestamptz + i * interval '1 second', '2026-01-01'::timestamptz + i * interval '1 millisecond'
			FROM generate_series(1, %d) i`, n),
		`CREATE INDEX users_cursor ON users (updated_at, user_id)`,
		`ANALYZE users`,
	}
	for _, q := range pg {
		if _, err := b.pg.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("postgres source: %w", err)
		}
	}
	if !mariadb {
		return nil
	}
	my := []string{
		`DROP TABLE IF EXISTS users`,
		`CREATE TABLE users (user_id bigint PRIMARY KEY, email varchar(255) NOT NULL, first_name varchar(64), last_name varchar(64),
			plan varchar(32), country varchar(8), seats int, beta boolean, created_at datetime(6), updated_at datetime(6) NOT NULL,
			INDEX users_cursor (updated_at, user_id))`,
		fmt.Sprintf(`INSERT INTO users SELECT seq, CONCAT('user', seq, '@example.com'), CONCAT('First', seq %% 1000), CONCAT('Last', seq %% 997),
			ELT(1 + seq %% 4, 'free', 'pro', 'team', 'enterprise'), ELT(1 + seq %% 5, 'NZ', 'DE', 'US', 'BR', 'JP'), seq %% 50, seq %% 2 = 0,
			TIMESTAMPADD(SECOND, seq, '2020-01-01'), TIMESTAMPADD(MICROSECOND, seq * 1000, '2026-01-01')
			FROM seq_1_to_%d`, n),
	}
	for _, q := range my {
		if _, err := b.my.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mariadb source: %w", err)
		}
	}
	return nil
}

// peopleDDL is a table shaped like the store's people table.
const peopleDDL = `CREATE TABLE %s (internal_id text PRIMARY KEY, external_id text, email text, id_key text UNIQUE,
	email_key text UNIQUE, attributes text NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT NULL,
	merged_into text, deleted boolean NOT NULL DEFAULT false, suppressed boolean NOT NULL DEFAULT false)`

// copyLimit pipes COPY TO STDOUT into COPY FROM STDIN through two psql processes.
func (b *bench) copyLimit() (float64, float64, error) {
	out := `COPY (SELECT lpad(to_hex(user_id), 32, '0'), user_id::text, email, user_id::text, lower(email),
		json_build_object('first_name', first_name, 'last_name', last_name, 'plan', plan, 'country', country,
			'seats', seats, 'beta', beta, 'created_at', extract(epoch from created_at)::bigint)::text,
		extract(epoch from now())::bigint, extract(epoch from now())::bigint, NULL, false, false
		FROM users ORDER BY updated_at, user_id) TO STDOUT`
	return b.copyInto("limit_people", []string{fmt.Sprintf(peopleDDL, "limit_people")}, out)
}

// copyInto creates table by ddl and times out, a COPY … TO STDOUT, piped into it.
func (b *bench) copyInto(table string, ddl []string, out string) (float64, float64, error) {
	ctx := context.Background()
	for _, q := range append([]string{`DROP TABLE IF EXISTS ` + table}, ddl...) {
		if _, err := b.pg.ExecContext(ctx, q); err != nil {
			return 0, 0, err
		}
	}
	in := `COPY ` + table + ` FROM STDIN`
	m := b.startMeter()
	start := time.Now()
	from := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", pgBench, "-c", out)
	to := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", pgBench, "-c", in)
	r, w, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	from.Stdout, to.Stdin = w, r
	var errFrom, errTo strings.Builder
	from.Stderr, to.Stderr = &errFrom, &errTo
	if err := to.Start(); err != nil {
		return 0, 0, err
	}
	err = from.Start()
	w.Close() // the children hold their own ends
	r.Close()
	if err != nil {
		return 0, 0, err
	}
	if err := from.Wait(); err != nil {
		return 0, 0, fmt.Errorf("COPY TO: %v %s", err, errFrom.String())
	}
	if err := to.Wait(); err != nil {
		return 0, 0, fmt.Errorf("COPY FROM: %v %s", err, errTo.String())
	}
	secs := time.Since(start).Seconds()
	b.stopMeter(m, from.ProcessState, to.ProcessState)
	var n int
	if err := b.pg.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n == 0 {
		return 0, 0, fmt.Errorf("the limit copied %d rows: %v", n, err)
	}
	return secs, 0, nil
}

// sqliteLimit inserts the same rows, shaped as people, into an equally indexed SQLite
// table in batches of 5000 with multi-row INSERTs: the SQLite store's limit.
func (b *bench) sqliteLimit(ctx context.Context, n int) (float64, float64, error) {
	path := filepath.Join(b.dir, "limit.db")
	os.Remove(path)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, fmt.Sprintf(peopleDDL, "people")); err != nil {
		return 0, 0, err
	}
	rows, err := b.pg.QueryContext(ctx, `SELECT lpad(to_hex(user_id), 32, '0'), user_id::text, email, lower(email),
		json_build_object('first_name', first_name, 'last_name', last_name, 'plan', plan, 'country', country,
			'seats', seats, 'beta', beta, 'created_at', extract(epoch from created_at)::bigint)::text FROM users ORDER BY updated_at, user_id`)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	type row struct{ id, ext, email, key, attrs string }
	all := make([]row, 0, n)
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.ext, &r.email, &r.key, &r.attrs); err != nil {
			return 0, 0, err
		}
		all = append(all, r)
	}
	m := b.startMeter()
	start := time.Now()
	const batch, per = 5000, 500
	tuple := "(?, ?, ?, ?, ?, ?, 0, 0)"
	stmt := "INSERT INTO people (internal_id, external_id, email, id_key, email_key, attributes, created_at, updated_at) VALUES " +
		strings.TrimSuffix(strings.Repeat(tuple+", ", per), ", ")
	for i := 0; i < len(all); i += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, err
		}
		for j := i; j < min(i+batch, len(all)); j += per {
			chunk := all[j:min(j+per, len(all))]
			args := make([]any, 0, 6*per)
			for _, r := range chunk {
				args = append(args, r.id, r.ext, r.email, r.ext, r.key, r.attrs)
			}
			q := stmt
			if len(chunk) < per {
				q = "INSERT INTO people (internal_id, external_id, email, id_key, email_key, attributes, created_at, updated_at) VALUES " +
					strings.TrimSuffix(strings.Repeat(tuple+", ", len(chunk)), ", ")
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				tx.Rollback()
				return 0, 0, err
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, err
		}
	}
	secs := time.Since(start).Seconds()
	b.stopMeter(m)
	return secs, 0, nil
}

// config writes a dbsync config for a source ("postgres" or "mysql") and a store
// ("postgres": a fresh schema; "sqlite": a fresh file) and returns its path.
func (b *bench) config(ctx context.Context, source, storeDriver string) (string, error) {
	srcDSN := pgBench
	if source == "mysql" {
		srcDSN = myBench
	}
	storeDSN := filepath.Join(b.dir, "store.db")
	os.Remove(storeDSN)
	os.Remove(storeDSN + "-wal")
	os.Remove(storeDSN + "-shm")
	if storeDriver == "postgres" {
		for _, q := range []string{`DROP SCHEMA IF EXISTS store CASCADE`, `CREATE SCHEMA store`} {
			if _, err := b.pg.ExecContext(ctx, q); err != nil {
				return "", err
			}
		}
		storeDSN = pgBench + "&search_path=store"
	}
	cfg := fmt.Sprintf(`store: {driver: %s, dsn: %q}
syncs:
  - name: users
    source: {type: %s, dsn: %q}
    table: users
    watermark: {column: updated_at, key: user_id}
    batch_size: 5000
    identifiers: {id: user_id, email: email}
    exclude: [user_id, email, updated_at]
`, storeDriver, storeDSN, source, srcDSN)
	path := filepath.Join(b.dir, "dbsync.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// dbsync runs the binary and returns its wall time and peak RSS in MiB: the kernel's
// high-water mark (VmHWM), read every 20 ms while it runs.
func (b *bench) dbsync(args ...string) (float64, float64, error) {
	cmd := exec.Command(b.bin, args...)
	cmd.Env = append(os.Environ(), "DBSYNC_LOG_LEVEL=warn")
	if profileDir != "" && b.profile != "" {
		// A scenario's untimed runs come first, so its timed one, the last, keeps the file.
		cmd.Env = append(cmd.Env, "DBSYNC_CPUPROFILE="+filepath.Join(profileDir, b.profile))
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	m := b.startMeter()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peakKB int64
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	for tick := time.NewTicker(20 * time.Millisecond); ; {
		select {
		case err := <-done:
			tick.Stop()
			secs := time.Since(start).Seconds()
			b.stopMeter(m, cmd.ProcessState)
			if err != nil {
				return 0, 0, fmt.Errorf("dbsync %s: %v\n%s", strings.Join(args, " "), err, out.String())
			}
			return secs, float64(peakKB) / 1024, nil
		case <-tick.C:
			if kb := highWaterKB(status); kb > peakKB {
				peakKB = kb
			}
		}
	}
}

// highWaterKB reads VmHWM, a process's peak resident set, from /proc.
func highWaterKB(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb
		}
	}
	return 0
}

func (b *bench) backfill(ctx context.Context, source, storeDriver string) (float64, float64, error) {
	cfg, err := b.config(ctx, source, storeDriver)
	if err != nil {
		return 0, 0, err
	}
	return b.dbsync("run", "-c", cfg)
}

// incremental backfills a PostgreSQL store untimed, changes a fraction of the source
// rows (column col and updated_at), and times the run that follows.
func (b *bench) incremental(ctx context.Context, n int, fraction float64, col string) (float64, float64, error) {
	if _, _, err := b.backfill(ctx, "postgres", "postgres"); err != nil {
		return 0, 0, err
	}
	every := int(1 / fraction)
	set := `plan = 'changed at ' || clock_timestamp()`
	if col == "seats" {
		set = `seats = seats + 1000`
	}
	q := fmt.Sprintf(`UPDATE users SET %s, updated_at = now() WHERE user_id %% %d = 0`, set, every)
	if _, err := b.pg.ExecContext(ctx, q); err != nil {
		return 0, 0, err
	}
	defer b.pg.ExecContext(ctx, `VACUUM ANALYZE users`)
	return b.dbsync("run", "-c", filepath.Join(b.dir, "dbsync.yaml"))
}

// generateAccounts makes the objects' and relationships' source tables in PostgreSQL:
// accounts (one object each) and account_members, each with an index on
// (updated_at, key). Member i is user 1 + (i·7919 mod n), a spread of the people, so
// the relationships' person lookups do not follow the people table's order; accounts
// 1 to n/4 have four members each.
func (b *bench) generateAccounts(ctx context.Context, n int) error {
	qs := []string{
		`DROP TABLE IF EXISTS accounts`,
		`CREATE TABLE accounts (account_id bigint PRIMARY KEY, name text NOT NULL, plan text, seats int,
			country text, mrr numeric(10, 2), active boolean, created_at timestamptz, updated_at timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO accounts SELECT i, 'Account ' || i, (ARRAY['free','pro','team','enterprise'])[1 + i %% 4],
			1 + i %% 200, (ARRAY['NZ','DE','US','BR','JP'])[1 + i %% 5], (i %% 100000) / 100.0, i %% 7 <> 0,
			'2020-01-01'::timestamptz + i * interval '1 second', '2026-01-01'::timestamptz + i * interval '1 millisecond'
			FROM generate_series(1, %d) i`, n),
		`CREATE INDEX accounts_cursor ON accounts (updated_at, account_id)`,
		`ANALYZE accounts`,
		`DROP TABLE IF EXISTS account_members`,
		`CREATE TABLE account_members (membership_id bigint PRIMARY KEY, user_id bigint NOT NULL, account_id bigint NOT NULL,
			role text NOT NULL, updated_at timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO account_members SELECT i, 1 + (i::bigint * 7919) %% %d, 1 + (i - 1) / 4,
			(ARRAY['owner','admin','member','member'])[1 + i %% 4], '2026-01-01'::timestamptz + i * interval '1 millisecond'
			FROM generate_series(1, %d) i`, n, n),
		`CREATE INDEX account_members_cursor ON account_members (updated_at, membership_id)`,
		`ANALYZE account_members`,
	}
	for _, q := range qs {
		if _, err := b.pg.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("accounts source: %w", err)
		}
	}
	return nil
}

// The limits of the objects and relationships backfills.
const (
	objectsLimit       = "limit: COPY accounts | COPY objects"
	relationshipsLimit = "limit: COPY members | COPY relationships"
)

// objectsDDL and relationshipsDDL are tables shaped like the store's objects and
// relationships tables (store/migrations/postgres/0005_objects.sql): the same columns,
// keys and indexes.
var (
	objectsDDL = []string{
		`CREATE TABLE limit_objects (object_type text COLLATE "C" NOT NULL, object_id text COLLATE "C" NOT NULL,
			attributes text NOT NULL DEFAULT '{}', created_at bigint NOT NULL, updated_at bigint NOT NULL,
			deleted boolean NOT NULL DEFAULT false, export_pending boolean NOT NULL DEFAULT true, exported_log_seq bigint,
			PRIMARY KEY (object_type, object_id))`,
		`CREATE INDEX limit_objects_export_pending ON limit_objects (object_type, object_id) WHERE export_pending`,
	}
	relationshipsDDL = []string{
		`CREATE TABLE limit_relationships (internal_id text NOT NULL, object_type text COLLATE "C" NOT NULL,
			object_id text COLLATE "C" NOT NULL, attributes text NOT NULL DEFAULT '{}', created_at bigint NOT NULL,
			updated_at bigint NOT NULL, removed boolean NOT NULL DEFAULT false, export_pending boolean NOT NULL DEFAULT true,
			PRIMARY KEY (internal_id, object_type, object_id))`,
		`CREATE INDEX limit_relationships_export_pending ON limit_relationships (internal_id, object_type, object_id) WHERE export_pending`,
	}
)

// copyObjectsLimit copies the accounts, shaped as objects with their attributes as
// JSON, as a hand-written copy would.
func (b *bench) copyObjectsLimit() (float64, float64, error) {
	out := `COPY (SELECT 'account', account_id::text,
		json_build_object('name', name, 'plan', plan, 'seats', seats, 'country', country, 'mrr', mrr,
			'active', active, 'created_at', extract(epoch from created_at)::bigint)::text,
		extract(epoch from now())::bigint, extract(epoch from now())::bigint, false, true, NULL
		FROM accounts ORDER BY updated_at, account_id) TO STDOUT`
	return b.copyInto("limit_objects", objectsDDL, out)
}

// copyRelationshipsLimit copies the account members, shaped as relationships. The
// person's internal id is made from user_id, as the people limit makes it: a
// hand-written copy that knows it looks no one up.
func (b *bench) copyRelationshipsLimit() (float64, float64, error) {
	out := `COPY (SELECT lpad(to_hex(user_id), 32, '0'), 'account', account_id::text,
		json_build_object('role', role)::text, extract(epoch from now())::bigint, extract(epoch from now())::bigint, false, true
		FROM account_members ORDER BY updated_at, membership_id) TO STDOUT`
	return b.copyInto("limit_relationships", relationshipsDDL, out)
}

// kindsConfig is the config of the objects and relationships scenarios: the users
// sync of the people backfill, the accounts and the memberships, into the PostgreSQL
// store's schema.
const kindsConfig = `store: {driver: postgres, dsn: %[1]q}
syncs:
  - name: users
    source: {type: postgres, dsn: %[2]q}
    table: users
    watermark: {column: updated_at, key: user_id}
    batch_size: 5000
    identifiers: {id: user_id, email: email}
    exclude: [user_id, email, updated_at]
  - name: accounts
    kind: objects
    object_type: account
    source: {type: postgres, dsn: %[2]q}
    table: accounts
    watermark: {column: updated_at, key: account_id}
    batch_size: 5000
    object_id: account_id
    exclude: [updated_at]
  - name: memberships
    kind: relationships
    object_type: account
    source: {type: postgres, dsn: %[2]q}
    table: account_members
    watermark: {column: updated_at, key: membership_id}
    batch_size: 5000
    object_id: account_id
    identifiers: {id: user_id}
    attributes: {role: role}
`

func (b *bench) kindsConfigPath() string { return filepath.Join(b.dir, "kinds.yaml") }

// kindsStore makes a fresh PostgreSQL store holding the N people (a people backfill,
// untimed) and, untimed, the accounts, so that the relationships find both.
func (b *bench) kindsStore(ctx context.Context) error {
	for _, q := range []string{`DROP SCHEMA IF EXISTS store CASCADE`, `CREATE SCHEMA store`} {
		if _, err := b.pg.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	cfg := fmt.Sprintf(kindsConfig, pgBench+"&search_path=store", pgBench)
	if err := os.WriteFile(b.kindsConfigPath(), []byte(cfg), 0o600); err != nil {
		return err
	}
	fmt.Println("  (backfilling the people and the accounts for the objects and relationships scenarios, untimed)")
	_, _, err := b.dbsync("run", "-c", b.kindsConfigPath(), "--sync", "users", "--sync", "accounts")
	return err
}

// kindTables are the store tables a sync of each scenario fills, emptied before each
// of its backfills; the first holds one row per source row.
var kindTables = map[string][]string{
	"accounts":    {"store.objects", "store.object_log"},
	"memberships": {"store.relationships"},
}

// kindBackfill empties what the sync wrote before (its store tables and its cursor)
// and times a run of it alone: a backfill into a store that holds the people, and
// for the memberships the accounts (each objects backfill writes them again).
func (b *bench) kindBackfill(ctx context.Context, sync string, n int) (float64, float64, error) {
	if _, _, err := b.dbsync("state", "reset", "-c", b.kindsConfigPath(), "--sync", sync); err != nil {
		return 0, 0, err
	}
	tables := kindTables[sync]
	if _, err := b.pg.ExecContext(ctx, `TRUNCATE `+strings.Join(tables, ", ")); err != nil {
		return 0, 0, fmt.Errorf("empty the store for %s: %w", sync, err)
	}
	secs, rss, err := b.dbsync("run", "-c", b.kindsConfigPath(), "--sync", sync)
	if err != nil {
		return 0, 0, err
	}
	// A backfill that rejected its rows would be quick and measure nothing.
	var got int
	if err := b.pg.QueryRowContext(ctx, `SELECT count(*) FROM `+tables[0]).Scan(&got); err != nil {
		return 0, 0, fmt.Errorf("count %s: %w", tables[0], err)
	}
	if got != n {
		return 0, 0, fmt.Errorf("sync %s wrote %d rows into %s, want %d", sync, got, tables[0], n)
	}
	return secs, rss, nil
}

// generateOrders makes the events scenario's source table in PostgreSQL: orders, one
// purchase event each, with an index on (created_at, order_id). Odd orders belong to
// user 1 + (i·7919 mod n), a spread of the people; even orders to user n + i, whom no
// one is: half the events create their person, as issue 16's figures ask. n is the
// number of users, orders of orders.
func (b *bench) generateOrders(ctx context.Context, n, orders int) error {
	qs := []string{
		`DROP TABLE IF EXISTS orders`,
		`CREATE TABLE orders (order_id bigint PRIMARY KEY, user_id bigint NOT NULL, created_at timestamptz NOT NULL,
			amount numeric(12, 2) NOT NULL, sku text NOT NULL, quantity int NOT NULL, currency text NOT NULL)`,
		b.ordersInsert(n, 1, orders),
		`CREATE INDEX orders_cursor ON orders (created_at, order_id)`,
		`ANALYZE orders`,
	}
	for _, q := range qs {
		if _, err := b.pg.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("orders source: %w", err)
		}
	}
	return nil
}

// ordersInsert inserts orders from to to for n users; later orders are newer, so the
// incremental run's new ones are past the watermark.
func (b *bench) ordersInsert(n, from, to int) string {
	return fmt.Sprintf(`INSERT INTO orders SELECT i,
			CASE WHEN i %% 2 = 1 THEN 1 + (i::bigint * 7919) %% %[1]d ELSE %[1]d::bigint + i END,
			'2026-01-01'::timestamptz + i * interval '1 millisecond', 1 + (i %% 100000) / 100.0, 'SKU-' || (i %% 5000),
			1 + i %% 5, (ARRAY['USD','EUR','NZD'])[1 + i %% 3]
			FROM generate_series(%[2]d, %[3]d) i`, n, from, to)
}

// The limits of the events backfills.
const (
	eventsLimit       = "limit: COPY orders | COPY events"
	eventsSQLiteLimit = "sqlite events limit: batched insert"
	eventsBackfillPG  = "events backfill (postgres store)"
)

// eventsDDL is a table shaped like the store's events table
// (store/migrations/postgres/0006_events.sql): the same columns, key and indexes.
var eventsDDL = []string{
	`CREATE TABLE limit_events (sync text COLLATE "C" NOT NULL, event_id text COLLATE "C" NOT NULL,
		internal_id text NOT NULL, name text NOT NULL, timestamp bigint NOT NULL, data text NOT NULL DEFAULT '{}',
		export_seq bigint, PRIMARY KEY (sync, event_id))`,
	`CREATE INDEX limit_events_person ON limit_events (internal_id, timestamp, sync, event_id)`,
	`CREATE INDEX limit_events_export ON limit_events (export_seq)`,
}

// eventsSQLiteDDL is eventsDDL as the SQLite migration has it (TEXT compares BINARY).
var eventsSQLiteDDL = []string{
	`CREATE TABLE events (sync TEXT NOT NULL, event_id TEXT NOT NULL, internal_id TEXT NOT NULL, name TEXT NOT NULL,
		timestamp BIGINT NOT NULL, data TEXT NOT NULL DEFAULT '{}', export_seq BIGINT, PRIMARY KEY (sync, event_id))`,
	`CREATE INDEX events_person ON events (internal_id, timestamp, sync, event_id)`,
	`CREATE INDEX events_export ON events (export_seq)`,
}

// eventsData is an order's data as the store's events rows hold it, byte for byte: a
// JSON object of the columns that are not the event's person, id or timestamp, keys
// sorted, no spaces (json_build_object puts some in; none of the values has them).
const eventsData = `replace(replace(json_build_object('amount', amount, 'currency', currency, 'quantity', quantity,
	'sku', sku)::text, '" : ', '":'), ', "', ',"')`

// copyEventsLimit copies the orders, shaped as events, as a hand-written copy would.
// The person's internal id is made from user_id, as the people limit makes it: a copy
// that knows it looks no one up and creates no one.
func (b *bench) copyEventsLimit() (float64, float64, error) {
	out := `COPY (SELECT 'orders', order_id::text, lpad(to_hex(user_id), 32, '0'), 'purchase',
		floor(extract(epoch from created_at))::bigint, ` + eventsData + `, NULL
		FROM orders ORDER BY created_at, order_id) TO STDOUT`
	return b.copyInto("limit_events", eventsDDL, out)
}

// sqliteEventsLimit inserts the orders, shaped as events, into an equally indexed
// SQLite table as sqliteLimit does the people: read first, untimed, then batches of
// 5000 with 500-row INSERTs.
func (b *bench) sqliteEventsLimit(ctx context.Context, n int) (float64, float64, error) {
	path := filepath.Join(b.dir, "limit-events.db")
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	for _, q := range eventsSQLiteDDL {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return 0, 0, err
		}
	}
	rows, err := b.pg.QueryContext(ctx, `SELECT order_id::text, lpad(to_hex(user_id), 32, '0'),
		floor(extract(epoch from created_at))::bigint, `+eventsData+` FROM orders ORDER BY created_at, order_id`)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	type row struct {
		id, cio, data string
		ts            int64
	}
	all := make([]row, 0, n)
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.cio, &r.ts, &r.data); err != nil {
			return 0, 0, err
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	m := b.startMeter()
	start := time.Now()
	const batch, per = 5000, 500
	insert := func(k int) string {
		return "INSERT INTO events (sync, event_id, internal_id, name, timestamp, data) VALUES " +
			strings.TrimSuffix(strings.Repeat("('orders', ?, ?, 'purchase', ?, ?), ", k), ", ")
	}
	full := insert(per)
	for i := 0; i < len(all); i += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, err
		}
		for j := i; j < min(i+batch, len(all)); j += per {
			chunk := all[j:min(j+per, len(all))]
			args := make([]any, 0, 4*per)
			for _, r := range chunk {
				args = append(args, r.id, r.cio, r.ts, r.data)
			}
			q := full
			if len(chunk) < per {
				q = insert(len(chunk))
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				tx.Rollback()
				return 0, 0, err
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, err
		}
	}
	secs := time.Since(start).Seconds()
	b.stopMeter(m)
	return secs, 0, nil
}

// eventsConfig is the config of the events scenario: the users sync of the people
// backfill and the orders as purchase events.
const eventsConfig = `store: {driver: %[1]s, dsn: %[2]q}
syncs:
  - name: users
    source: {type: postgres, dsn: %[3]q}
    table: users
    watermark: {column: updated_at, key: user_id}
    batch_size: 5000
    identifiers: {id: user_id, email: email}
    exclude: [user_id, email, updated_at]
  - name: orders
    kind: events
    source: {type: postgres, dsn: %[3]q}
    table: orders
    watermark: {column: created_at, key: order_id}
    batch_size: 5000
    identifiers: {id: user_id}
    event: {name: purchase}
    exclude: [user_id]
`

func (b *bench) eventsConfigPath(driver string) string {
	return filepath.Join(b.dir, "events-"+driver+".yaml")
}

// eventsStoreDB opens the events scenario's store of driver, to count what it holds.
func (b *bench) eventsStoreDB(driver string) (*sql.DB, string, error) {
	if driver == "postgres" {
		return b.pg, "store.", nil
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.dir, "events.db"))
	return db, "", err
}

// eventsBackfill makes a fresh store of driver ("postgres": the store schema,
// "sqlite": a file) holding the N people, backfilled untimed, and times an events
// sync of the orders into it: every event new, half of them for a person it creates.
// n is the number of users, orders of orders.
func (b *bench) eventsBackfill(ctx context.Context, driver string, n, orders int) (float64, float64, error) {
	dsn := filepath.Join(b.dir, "events.db")
	for _, p := range []string{dsn, dsn + "-wal", dsn + "-shm"} {
		os.Remove(p)
	}
	if driver == "postgres" {
		for _, q := range []string{`DROP SCHEMA IF EXISTS store CASCADE`, `CREATE SCHEMA store`} {
			if _, err := b.pg.ExecContext(ctx, q); err != nil {
				return 0, 0, err
			}
		}
		dsn = pgBench + "&search_path=store"
	}
	cfg := b.eventsConfigPath(driver)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(eventsConfig, driver, dsn, pgBench)), 0o600); err != nil {
		return 0, 0, err
	}
	fmt.Printf("  (backfilling the people into the %s store for the events scenario, untimed)\n", driver)
	if _, _, err := b.dbsync("run", "-c", cfg, "--sync", "users"); err != nil {
		return 0, 0, err
	}
	secs, rss, err := b.dbsync("run", "-c", cfg, "--sync", "orders")
	if err != nil {
		return 0, 0, err
	}
	// A backfill that rejected its rows, or found people it should have created, would
	// measure something else.
	events, people, err := b.eventsCounts(ctx, driver)
	if err != nil {
		return 0, 0, err
	}
	if events != orders || people != n+orders/2 {
		return 0, 0, fmt.Errorf("the events backfill left %d events and %d people, want %d and %d", events, people, orders, n+orders/2)
	}
	return secs, rss, nil
}

// eventsCounts counts the events and the people in the events scenario's store.
func (b *bench) eventsCounts(ctx context.Context, driver string) (events, people int, err error) {
	db, schema, err := b.eventsStoreDB(driver)
	if err != nil {
		return 0, 0, err
	}
	if driver != "postgres" {
		defer db.Close()
	}
	err = db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM `+schema+`events), (SELECT count(*) FROM `+schema+`people)`).
		Scan(&events, &people)
	if err != nil {
		return 0, 0, fmt.Errorf("count the events store: %w", err)
	}
	return events, people, nil
}

// eventsIncremental adds 1% new orders (half for new people, as in the backfill) past
// the PostgreSQL store's watermark and times the events run that follows. Each
// repetition adds another 1%.
func (b *bench) eventsIncremental(ctx context.Context, n int) (float64, float64, error) {
	var last int
	if err := b.pg.QueryRowContext(ctx, `SELECT max(order_id) FROM orders`).Scan(&last); err != nil {
		return 0, 0, err
	}
	before, _, err := b.eventsCounts(ctx, "postgres")
	if err != nil {
		return 0, 0, err
	}
	added := max(n/100, 1)
	if _, err := b.pg.ExecContext(ctx, b.ordersInsert(n, last+1, last+added)); err != nil {
		return 0, 0, fmt.Errorf("add orders: %w", err)
	}
	if _, err := b.pg.ExecContext(ctx, `ANALYZE orders`); err != nil {
		return 0, 0, err
	}
	secs, rss, err := b.dbsync("run", "-c", b.eventsConfigPath("postgres"), "--sync", "orders")
	if err != nil {
		return 0, 0, err
	}
	after, _, err := b.eventsCounts(ctx, "postgres")
	if err != nil {
		return 0, 0, err
	}
	if after-before != added {
		return 0, 0, fmt.Errorf("the incremental events run stored %d events, want %d", after-before, added)
	}
	return secs, rss, nil
}
