package export_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	_ "github.com/dbsync/dbsync/connectors/sqlite"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

const ts = "2006-01-02 15:04:05.000000"

// syncBundle is a SQLite source table of users, a store and a sync engine with
// merge_duplicates and allow_email_update_by_id on.
type syncBundle struct {
	src    *sql.DB
	st     *store.Store
	engine *engine.Engine
	sync   config.Sync
}

func newSyncBundle(t *testing.T, backend testdb.Store) *syncBundle {
	t.Helper()
	ctx := context.Background()
	b := &syncBundle{}
	srcDSN := testdb.SQLite(t)
	var err error
	if b.src, err = sql.Open("sqlite", srcDSN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.src.Close() })
	b.exec(t, `CREATE TABLE users (row_id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, plan TEXT, score REAL, updated_at DATETIME)`)
	if b.st, err = store.Open(ctx, backend.Driver, backend.DSN(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.st.Close() })
	log := logrus.New()
	log.SetOutput(io.Discard)
	settings := identity.Settings{IDIdentifies: true, EmailIdentifies: true, MergeDuplicates: true, AllowEmailUpdateByID: true}
	b.engine = &engine.Engine{Store: b.st, Settings: settings, Log: log}
	b.sync = config.Sync{
		Name:        "users",
		Source:      config.Source{Type: "sqlite", DSN: srcDSN},
		Table:       "users",
		Watermark:   &config.Watermark{Column: "updated_at", Key: "row_id"},
		BatchSize:   3,
		Identifiers: config.Identifiers{ID: "user_id", Email: "email"},
		Exclude:     []string{"row_id", "updated_at"},
		Nulls:       config.NullsIgnore,
	}
	return b
}

func (b *syncBundle) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := b.src.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (b *syncBundle) run(t *testing.T) {
	t.Helper()
	if res := b.engine.Run(context.Background(), b.sync, engine.Options{}); res.Err != nil {
		t.Fatalf("sync: %v", res.Err)
	}
}

func (b *syncBundle) cioID(t *testing.T, identifier string) string {
	t.Helper()
	p, err := b.st.FindPerson(context.Background(), b.engine.Settings, identifier)
	if err != nil {
		t.Fatalf("find %s: %v", identifier, err)
	}
	return p.CioID
}

// The first export holds everyone; after a merge, an email change, a refused id
// change, an attribute change and a removal, the second holds only the people who
// changed and only their changed attributes; a third, with nothing changed, nothing.
func TestExportAfterSyncs(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := newSyncBundle(t, backend)
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			for _, u := range []struct {
				row         int
				id, email   any
				plan, score any
			}{
				{1, "u1", "u1@x.io", "free", 1.5},
				{2, "u2", "u2@x.io", "pro", 2},
				{3, "u3", nil, nil, 3},                 // A: no email, no plan
				{4, "u4", "u4@x.io", "team", 4},        // will change email
				{5, "u5", "u5@x.io", "free", 5},        // will change plan
				{6, "u6", "u6@x.io", "free", 6},        // will lose score
				{100, nil, "lead3@x.io", "trial", nil}, // B: a lead, merged into A later
			} {
				b.exec(t, `INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)`, u.row, u.id, u.email, u.plan, u.score, t0.Format(ts))
			}
			b.run(t)
			dir := t.TempDir()
			first := run(t, b.st, dir, false, "parquet", "csv", "ndjson")
			d1 := read(t, dir, first.Manifest, "parquet")
			people, attrs := storeView(t, b.st)
			if got, want := describe(d1.people, d1.attrs), describe(people, attrs); got != want || len(d1.people) != 7 {
				t.Fatalf("the first export is not everyone:\n%s\nwant\n%s", got, want)
			}

			lead := b.cioID(t, "lead3@x.io")
			t1 := t0.Add(time.Hour).Format(ts)
			b.exec(t, `UPDATE users SET user_id = 'u2-new', updated_at = ? WHERE row_id = 2`, t1) // id change: refused
			b.exec(t, `UPDATE users SET email = 'lead3@x.io', plan = 'team', updated_at = ? WHERE row_id = 3`, t1)
			b.exec(t, `UPDATE users SET email = 'u4-new@x.io', updated_at = ? WHERE row_id = 4`, t1)
			b.exec(t, `UPDATE users SET plan = 'pro', updated_at = ? WHERE row_id = 5`, t1)
			b.exec(t, `UPDATE users SET score = NULL, updated_at = ? WHERE row_id = 6`, t1)
			b.sync.Nulls = config.NullsUnset
			b.run(t)
			u3 := b.cioID(t, "u3")
			if p, _ := b.st.FindPerson(context.Background(), b.engine.Settings, "cio_"+lead); p == nil || p.CioID != u3 {
				t.Fatalf("the lead was not merged into u3")
			}
			var refused bool
			b.st.EachChange(context.Background(), func(c record.Change) error {
				refused = refused || c.Reason == identity.ReasonIDChangeNotAllowed
				return nil
			}, b.cioID(t, "u2"))
			if !refused {
				t.Fatal("the id change was not refused")
			}

			second := run(t, b.st, dir, false, "parquet", "csv", "ndjson")
			people, attrs = storeView(t, b.st)
			u4, u5, u6 := b.cioID(t, "u4"), b.cioID(t, "u5"), b.cioID(t, "u6")
			wantPeople := map[string]export.PersonRow{}
			for _, id := range []string{u3, lead, u4, u5, u6} {
				wantPeople[id] = people[id]
			}
			// A merge makes all of the survivor's attributes changed; the retired id has none.
			wantAttrs := map[attrKey]*string{
				{u3, "plan"}:  attrs[attrKey{u3, "plan"}],
				{u3, "score"}: attrs[attrKey{u3, "score"}],
				{u5, "plan"}:  attrs[attrKey{u5, "plan"}],
				{u6, "score"}: nil, // removed
			}
			want := describe(wantPeople, wantAttrs)
			for _, format := range []string{"parquet", "csv", "ndjson"} {
				d := read(t, dir, second.Manifest, format)
				if got := describe(d.people, d.attrs); got != want {
					t.Errorf("the second export in %s:\n%s\nwant\n%s", format, got, want)
				}
			}
			if p := people[lead]; show(p.MergedInto) != u3 || p.Email != nil {
				t.Errorf("the retired lead is %s", describe(map[string]export.PersonRow{lead: p}, nil))
			}
			if p := people[u4]; show(p.Email) != "u4-new@x.io" || show(attrs[attrKey{u3, "plan"}]) != `"team"` {
				t.Errorf("the email change or the merge did not land: %s", describe(people, attrs))
			}

			third := run(t, b.st, dir, false, "parquet")
			if m := third.Manifest; m.People != 0 || m.Attributes != 0 {
				t.Errorf("an export with nothing changed holds %d people and %d attributes", m.People, m.Attributes)
			}
			// A full export holds everyone and every attribute, and leaves the cursor
			// where it was: the next export is empty again.
			full := run(t, b.st, dir, true, "ndjson")
			if d := read(t, dir, full.Manifest, "ndjson"); describe(d.people, d.attrs) != describe(people, attrs) || !full.Manifest.Full {
				t.Errorf("the full export:\n%s\nwant\n%s", describe(d.people, d.attrs), describe(people, attrs))
			}
			if m := run(t, b.st, dir, false, "ndjson").Manifest; m.People != 0 {
				t.Errorf("the export after a full one holds %d people", m.People)
			}

			ms := manifests(t, dir)
			checkChain(t, ms)
			var dumps []dump
			for _, m := range ms {
				dumps = append(dumps, read(t, dir, m, m.Files[0].Format))
			}
			if got, want := describe(replay(dumps)), describe(people, attrs); got != want {
				t.Errorf("the exports loaded in order:\n%s\nwant the store:\n%s", got, want)
			}
		})
	}
}

// TestExportFilesLoad: the CSV files load into typed PostgreSQL tables with COPY
// (psql), the Parquet files read back with a generic reader with typed, optional
// columns, and the NDJSON decodes; all three give the store's rows, values with
// commas, quotes, newlines, non-ASCII text and nested JSON included.
func TestExportFilesLoad(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, backend.Driver, backend.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			settings := identity.DefaultSettings()
			settings.MergeDuplicates = true
			apply(t, st, settings, []*record.Record{
				{Key: "1", ID: "a,b", Email: "Quote\"d@x.io", Attrs: attrs(`note`, `"line one\nline \"two\", three"`, `nested`, `{"a":[1,2,{"b":null}],"c":"ü"}`)},
				{Key: "2", ID: "zürich", Attrs: attrs(`n`, `12.50`, `flag`, `false`, `empty`, `""`)},
				{Key: "3", Email: "lead@x.io", Attrs: attrs(`from_lead`, `"x"`)},
				{Key: "4", ID: "zürich", Email: "lead@x.io"}, // merges the lead
			})
			dir := t.TempDir()
			res := run(t, st, dir, false, "parquet", "csv", "ndjson")
			people, attrs := storeView(t, st)
			want := describe(people, attrs)
			if len(people) != 3 {
				t.Fatalf("store: %s", want)
			}
			for _, format := range []string{"parquet", "ndjson"} {
				if d := read(t, dir, res.Manifest, format); describe(d.people, d.attrs) != want {
					t.Errorf("%s:\n%s\nwant\n%s", format, describe(d.people, d.attrs), want)
				}
			}
			if got := copyCSV(t, dir, res.Manifest); got != want {
				t.Errorf("CSV loaded with COPY:\n%s\nwant\n%s", got, want)
			}
			checkParquetSchema(t, file(t, dir, res.Manifest, "people", "parquet"), map[string]string{
				"internal_customer_id": "BYTE_ARRAY STRING required", "external_customer_id": "BYTE_ARRAY STRING optional",
				"email": "BYTE_ARRAY STRING optional", "deleted": "BOOLEAN required", "suppressed": "BOOLEAN required",
				"created_at": "INT64 required", "updated_at": "INT64 required", "merged_into": "BYTE_ARRAY STRING optional",
			})
			checkParquetSchema(t, file(t, dir, res.Manifest, "attributes", "parquet"), map[string]string{
				"internal_customer_id": "BYTE_ARRAY STRING required", "attribute_name": "BYTE_ARRAY STRING required",
				"attribute_value": "BYTE_ARRAY STRING optional", "updated_at": "INT64 required",
			})
		})
	}
}

func attrs(nameValues ...string) []record.Attr {
	var out []record.Attr
	for i := 0; i < len(nameValues); i += 2 {
		out = append(out, record.Attr{Name: nameValues[i], Value: []byte(nameValues[i+1])})
	}
	return out
}

// apply runs rows through the identity rules into the store, one batch.
func apply(t testing.TB, st *store.Store, settings identity.Settings, rows []*record.Record) {
	t.Helper()
	ctx := context.Background()
	pl := &identity.Planner{Settings: settings}
	err := st.InTx(ctx, func(tx *store.Tx) error {
		b, err := pl.Plan(ctx, tx, "test", rows)
		if err != nil {
			return err
		}
		return tx.Write(ctx, "test", 0, rows, b)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkParquetSchema(t *testing.T, path string, want map[string]string) {
	t.Helper()
	f, err := parquetOpen(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, field := range f.Schema().Fields() {
		desc := field.Type().Kind().String()
		if lt := field.Type().LogicalType(); lt != nil && lt.UTF8 != nil {
			desc += " STRING"
		}
		if field.Optional() {
			desc += " optional"
		} else {
			desc += " required"
		}
		got[field.Name()] = desc
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s columns:\n%v\nwant\n%v", filepath.Base(path), got, want)
	}
}

// copyCSV loads the export's CSV files into typed tables of a fresh PostgreSQL schema
// with psql's COPY … FROM STDIN and reads them back. attribute_value goes into a jsonb
// column too, which PostgreSQL parses.
func copyCSV(t *testing.T, dir string, m *export.Manifest) string {
	t.Helper()
	dsn := testdb.Postgres(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE people (internal_customer_id text PRIMARY KEY, external_customer_id text, email text,
			deleted boolean NOT NULL, suppressed boolean NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT NULL, merged_into text)`,
		`CREATE TABLE attributes (internal_customer_id text NOT NULL, attribute_name text NOT NULL, attribute_value text,
			updated_at bigint NOT NULL, PRIMARY KEY (internal_customer_id, attribute_name))`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"people", "attributes"} {
		psqlCopy(t, dsn, table, file(t, dir, m, table, "csv"))
	}
	var bad int
	if err := db.QueryRow(`SELECT count(*) FROM attributes WHERE attribute_value::jsonb IS NULL AND attribute_value IS NOT NULL`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("attribute values that are not JSON: %d, %v", bad, err)
	}
	people := map[string]export.PersonRow{}
	rows, err := db.Query(`SELECT internal_customer_id, external_customer_id, email, deleted, suppressed, created_at, updated_at, merged_into FROM people`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p export.PersonRow
		if err := rows.Scan(&p.InternalCustomerID, &p.ExternalCustomerID, &p.Email, &p.Deleted, &p.Suppressed, &p.CreatedAt, &p.UpdatedAt, &p.MergedInto); err != nil {
			t.Fatal(err)
		}
		people[p.InternalCustomerID] = p
	}
	rows.Close()
	attrs := map[attrKey]*string{}
	rows, err = db.Query(`SELECT internal_customer_id, attribute_name, attribute_value FROM attributes`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k attrKey
		var v *string
		if err := rows.Scan(&k.id, &k.name, &v); err != nil {
			t.Fatal(err)
		}
		attrs[k] = v
	}
	rows.Close()
	return describe(people, attrs)
}

func TestExportParseFormats(t *testing.T) {
	for in, want := range map[string]string{
		"": "parquet", "csv": "csv", "CSV, ndjson,csv": "csv ndjson", "parquet,csv,ndjson": "parquet csv ndjson",
		"xml": `unknown format "xml" (want parquet, csv, ndjson)`,
	} {
		got, err := export.ParseFormats(in)
		s := strings.Join(got, " ")
		if err != nil {
			s = err.Error()
		}
		if s != want {
			t.Errorf("ParseFormats(%q) = %s, want %s", in, s, want)
		}
	}
}

// A second export while one runs is refused; the files of an unknown export are
// never overwritten.
func TestOneExportAtATime(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", testdb.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ok, err := st.AcquireLease(ctx, state.ExportLease, "someone-else", time.Now(), time.Now().Add(time.Minute))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	dir := t.TempDir()
	if _, err := export.Run(ctx, st, export.Options{Dir: dir}); !errors.Is(err, state.ErrAlreadyRunning) {
		t.Fatalf("export while another runs: %v, want ErrAlreadyRunning", err)
	}
	st.ReleaseLease(ctx, state.ExportLease, "someone-else")
	run(t, st, dir, false)

	other, err := store.Open(ctx, "sqlite", testdb.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = export.Run(ctx, other, export.Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "manifest-00000001.json is already there") {
		t.Fatalf("export of another store into the same directory: %v", err)
	}
	if ms := manifests(t, dir); len(ms) != 1 || ms[0].Export != 1 {
		t.Fatalf("manifests: %v", ms)
	}
}

// A deleted person goes out in the next export with deleted set.
func TestExportCarriesDeletion(t *testing.T) {
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := newSyncBundle(t, backend)
			b.exec(t, `INSERT INTO users VALUES (1, 'u1', 'u1@x.io', 'free', 1, '2026-03-01 12:00:00.000000'),
				(2, 'u2', 'u2@x.io', 'pro', 2, '2026-03-01 12:00:00.000000')`)
			b.run(t)
			dir := t.TempDir()
			run(t, b.st, dir, false, "ndjson")
			gone := b.cioID(t, "u2")
			if err := b.st.DeletePerson(context.Background(), gone); err != nil {
				t.Fatal(err)
			}
			second := read(t, dir, run(t, b.st, dir, false, "ndjson").Manifest, "ndjson")
			if len(second.people) != 1 || !second.people[gone].Deleted {
				t.Fatalf("the export after a deletion holds %v", second.people)
			}
		})
	}
}
