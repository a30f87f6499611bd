package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// A key that is not valid text (a SQLite TEXT can hold any bytes) is recorded with
// its bad bytes replaced by U+FFFD, on both stores, whether mapping or the identity
// rules rejected the row: the run goes on, and each row names its reason.
func TestInvalidKeyIsRecordedAsText(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			path := testdb.SQLite(t)
			src, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			mustExec(t, src, `CREATE TABLE users (id TEXT PRIMARY KEY, user_id TEXT, bio TEXT, updated_at TEXT)`)
			mustExec(t, src, `INSERT INTO users VALUES
				(CAST(x'6bff31' AS TEXT), 'u1', CAST(x'61ff62' AS TEXT), '2026-01-01 00:00:01'),
				(CAST(x'6b0032' AS TEXT), NULL, 'ok', '2026-01-01 00:00:02'),
				('k3', 'u3', 'fine', '2026-01-01 00:00:03')`)
			st, eng, s, _ := faultSetup(t, backend.Driver, backend.DSN(t), "sqlite", path, 10)
			res := eng.Run(context.Background(), s, engine.Options{})
			if res.Err != nil || res.Created != 1 || res.Rejected != 2 {
				t.Fatalf("run: %v, created %d, rejected %d", res.Err, res.Created, res.Rejected)
			}
			var got []string
			err = st.EachRejected(context.Background(), "users", 0, func(r store.Rejection) error {
				got = append(got, r.Key+" "+r.Reason)
				return nil
			})
			want := "k\uFFFD1 invalid_value|k\\02 no_identifier"
			if err != nil || strings.Join(got, "|") != want {
				t.Fatalf("rejected = %q, %v; want %q", got, err, want)
			}
		})
	}
}

// Rows re-read by lookback that did not change write nothing (SPEC §3): over three
// runs, the rejected rows and refused changes stay one entry each, and `rejected`
// shows when each row was first and last seen. The run's counts still say what it
// read: a re-read rejected row is rejected again, a re-read row whose change was
// refused is unchanged and its change is not tried again (docs/decisions.md).
func TestLookbackRecordsRejectedAndRefusedOnce(t *testing.T) {
	for _, backend := range testdb.Stores() {
		for _, batch := range []int{1, 10} {
			t.Run(fmt.Sprintf("%s/batch%d", backend.Driver, batch), func(t *testing.T) {
				t.Parallel()
				b := setup(t, backend)
				b.sync.Lookback = config.Duration(time.Hour)
				b.sync.BatchSize = batch
				clock := t0.Add(24 * time.Hour)
				b.engine.Now = func() time.Time { return clock }
				b.insert(t, 1, 3)
				b.exec(t, `UPDATE users SET user_id = NULL, email = NULL WHERE row_id = 2`)                        // no identifier
				b.exec(t, `INSERT INTO users (row_id, user_id, email, updated_at) VALUES (3, 'u3', 'u3@x.io', ?)`, // NUL in score
					t0.Add(3*time.Second).Format(ts))
				b.exec(t, `UPDATE users SET score = ? WHERE row_id = 3`, "x\x00y")
				b.exec(t, `INSERT INTO users (row_id, user_id, email, updated_at) VALUES (4, 'u4', 'not an email', ?)`,
					t0.Add(4*time.Second).Format(ts))
				b.exec(t, `INSERT INTO users (row_id, user_id, email, updated_at) VALUES (5, 'u1', 'other@x.io', ?)`,
					t0.Add(5*time.Second).Format(ts))
				var logged int
				for run := 1; run <= 3; run++ {
					res := b.run(t, engine.Options{})
					failed := int64(2)
					if run > 1 {
						failed = 0
					}
					if res.RowsRead != 5 || res.Rejected != 2 || res.FailedChanges != failed {
						t.Fatalf("run %d: %s, %d failed changes", run, counts(res), res.FailedChanges)
					}
					var rejected []string
					b.st.EachRejected(context.Background(), "users", 0, func(r store.Rejection) error {
						rejected = append(rejected, fmt.Sprintf("%s %s first %d last %d", r.Key, r.Reason,
							r.Time-t0.Unix(), r.LastSeen-t0.Unix()))
						return nil
					})
					last := clock.Unix() - t0.Unix()
					want := fmt.Sprintf("2 no_identifier first 86400 last %d|3 invalid_value first 86400 last %d", last, last)
					if got := strings.Join(rejected, "|"); got != want {
						t.Fatalf("run %d: rejected = %s, want %s", run, got, want)
					}
					var refused []string
					n := 0
					b.st.EachChange(context.Background(), func(c record.Change) error {
						n++
						if c.Kind == record.FailedAttributeChange {
							refused = append(refused, c.RowKey+" "+c.Attribute+" "+c.Reason)
						}
						return nil
					})
					if got := strings.Join(refused, "|"); got != "4 email invalid_email|5 email email_change_not_allowed" {
						t.Fatalf("run %d: refused changes = %s", run, got)
					}
					if run == 1 {
						logged = n
					} else if n != logged {
						t.Fatalf("run %d: %d change log entries, %d after the first run", run, n, logged)
					}
					clock = clock.Add(time.Hour)
				}
			})
		}
	}
}

// A sync without a watermark reads every row on every run; a row's key is then its
// id (or email), and a row without one is recorded under the empty key: its entries
// stay one per reason, and the change log does not grow.
func TestFullTableSyncRecordsOnce(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend)
			b.sync.Watermark = nil
			b.insert(t, 1, 4)
			b.exec(t, `UPDATE users SET user_id = NULL, email = NULL WHERE row_id = 2`)
			b.exec(t, `UPDATE users SET email = 'not an email' WHERE row_id = 3`)
			var logged int
			for run := 1; run <= 3; run++ {
				res := b.run(t, engine.Options{})
				if res.RowsRead != 3 || res.Rejected != 1 || res.FailedChanges != 1 {
					t.Fatalf("run %d: %s, %d failed changes", run, counts(res), res.FailedChanges)
				}
				var rejected []string
				b.st.EachRejected(context.Background(), "users", 0, func(r store.Rejection) error {
					rejected = append(rejected, fmt.Sprintf("%q %s", r.Key, r.Reason))
					return nil
				})
				if got := strings.Join(rejected, "|"); got != `"" no_identifier` {
					t.Fatalf("run %d: rejected = %s", run, got)
				}
				var refused []string
				n := 0
				b.st.EachChange(context.Background(), func(c record.Change) error {
					n++
					if c.Kind == record.FailedAttributeChange {
						refused = append(refused, c.RowKey+" "+c.Reason)
					}
					return nil
				})
				if got := strings.Join(refused, "|"); got != "u3 invalid_email" {
					t.Fatalf("run %d: refused changes = %s", run, got)
				}
				if run == 1 {
					logged = n
				} else if n != logged {
					t.Fatalf("run %d: %d change log entries, %d after the first run", run, n, logged)
				}
			}
		})
	}
}
