package emulatortest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/dbsync/dbsync/connectors"
	_ "github.com/dbsync/dbsync/connectors/bigquery"
	"github.com/dbsync/dbsync/connectors/bigquery/emulatortest/bqtest"
	"github.com/dbsync/dbsync/connectors/conformance"
	"github.com/dbsync/dbsync/value"
)

// Every test starts an emulator of its own (bqtest.Harness says why).

func TestConformance(t *testing.T) {
	conformance.Run(t, bqtest.Harness{})
}

var t0 = time.Date(2024, 3, 5, 10, 20, 30, 123456000, time.UTC)

// events makes a table of n rows: id 1..n, updated_at t0 plus (id-1)/10
// seconds, so ten rows share each time.
func events(t *testing.T, db *bqtest.DB, n int) connectors.Spec {
	t.Helper()
	cols := []conformance.ColumnDef{{Name: "id", Kind: conformance.BigInt}, {Name: "updated_at", Kind: conformance.TimestampTZ}}
	db.CreateTable(t, "events", cols)
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(n - i), t0.Add(time.Duration((n-i-1)/10) * time.Second)}
	}
	db.Insert(t, "events", cols, rows)
	spec := db.Spec()
	spec.Sync, spec.Table = "app_events", "events"
	spec.Watermark = connectors.Watermark{Column: "updated_at", Key: "id"}
	return spec
}

func open(t *testing.T, spec connectors.Spec) connectors.Source {
	t.Helper()
	src, err := connectors.Open(context.Background(), spec)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// read does one Read and takes up to max batches (all when max < 0).
func read(t *testing.T, src connectors.Source, req connectors.Request, max int) ([]value.Column, [][]any, error) {
	t.Helper()
	ctx := context.Background()
	st, err := src.Read(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	var rows [][]any
	for n := 0; n != max; n++ {
		batch, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st.Columns(), rows, err
		}
		rows = append(rows, batch.Rows...)
	}
	return st.Columns(), rows, nil
}

func ids(rows [][]any) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r[0].(int64)
	}
	return out
}

func span(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// reads are the jobs that read rows (not dry runs, not the harness's DML).
func reads(emu *bqtest.Emulator, dataset string) []bqtest.Job {
	var out []bqtest.Job
	for _, j := range emu.Jobs(dataset) {
		if !j.DryRun && strings.HasPrefix(j.Query, "SELECT") {
			out = append(out, j)
		}
	}
	return out
}

// TestOneQueryPerRead reads 250 rows in batches of 10: one COUNT job and one
// read job, whose result comes in 25 pages of 10 rows.
func TestOneQueryPerRead(t *testing.T) {
	emu := bqtest.New(t)
	db := emu.Dataset(t)
	src := open(t, events(t, db, 250))
	_, rows, err := read(t, src, connectors.Request{BatchSize: 10}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rows); !reflect.DeepEqual(got, span(1, 250)) {
		t.Fatalf("ids %v", got)
	}
	jobs := reads(emu, db.Name)
	if len(jobs) != 2 || !strings.HasPrefix(jobs[0].Query, "SELECT COUNT(*)") {
		t.Fatalf("jobs %+v, want a COUNT and a read", jobs)
	}
	if pages := jobs[1].Pages; len(pages) != 25 || slices.Max(pages) != 10 {
		t.Errorf("result pages of %v rows, want 25 of 10", pages)
	}
}

// TestResume stops a read after three batches, as a run killed there would,
// and reads on after the last cursor a batch gave: exactly the other rows.
func TestResume(t *testing.T) {
	emu := bqtest.New(t)
	db := emu.Dataset(t)
	spec := events(t, db, 95)
	src := open(t, spec)
	cols, first, err := read(t, src, connectors.Request{BatchSize: 10}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(first); !reflect.DeepEqual(got, span(1, 30)) {
		t.Fatalf("first run: ids %v", got)
	}
	last := first[len(first)-1]
	if cols[1].Name != "updated_at" {
		t.Fatalf("columns %v", cols)
	}
	after := &value.Cursor{Value: last[1], Key: last[0]}
	_, rest, err := read(t, src, connectors.Request{BatchSize: 10, After: after}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rest); !reflect.DeepEqual(got, span(31, 95)) {
		t.Errorf("after %v: ids %v, want 31 to 95", after, got)
	}
	if n := len(reads(emu, db.Name)); n != 4 {
		t.Errorf("%d jobs, want a COUNT and a read for each run", n)
	}
}

// TestBoundCursor reads after string keys full of quotes: the cursor goes in
// parameters, never into the SQL.
func TestBoundCursor(t *testing.T) {
	emu := bqtest.New(t)
	db := emu.Dataset(t)
	cols := []conformance.ColumnDef{{Name: "code", Kind: conformance.Text}, {Name: "day", Kind: conformance.Date}, {Name: "at", Kind: conformance.Timestamp}}
	db.CreateTable(t, "codes", cols)
	codes := []string{`a`, `it's`, `it's "x"`, `it\'s`, "it`s", `z' OR '1'='1`} // in byte order
	var rows [][]any
	for _, c := range codes {
		rows = append(rows, []any{c, t0, t0})
	}
	db.Insert(t, "codes", cols, rows)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	spec := db.Spec()
	spec.Sync, spec.Table, spec.Timezone = "codes", "codes", ny
	for _, tc := range []struct {
		wm   string
		typ  string
		want string // the parameter's value
	}{
		{"day", "DATE", "2024-03-05"},
		{"at", "DATETIME", "2024-03-05 10:20:30.123456"}, // the wall clock, as inserted
	} {
		spec.Watermark = connectors.Watermark{Column: tc.wm, Key: "code"}
		src := open(t, spec)
		at := t0
		if tc.typ == "DATETIME" {
			at = time.Date(2024, 3, 5, 10, 20, 30, 123456000, ny) // read in spec.Timezone
		}
		_, got, err := read(t, src, connectors.Request{BatchSize: 2, After: &value.Cursor{Value: at, Key: `it's`}}, -1)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range got {
			keys = append(keys, r[0].(string))
		}
		if want := codes[2:]; !reflect.DeepEqual(keys, want) {
			t.Errorf("%s: after it's: %q, want %q", tc.wm, keys, want)
		}
		jobs := reads(emu, db.Name)
		j := jobs[len(jobs)-1]
		if strings.Contains(j.Query, "it's") || !strings.Contains(j.Query, "@cursor_key") {
			t.Errorf("query %s: want the key as @cursor_key", j.Query)
		}
		want := []bqtest.Param{{Name: "cursor_value", Type: tc.typ, Value: tc.want}, {Name: "cursor_key", Type: "STRING", Value: `it's`}}
		if !reflect.DeepEqual(j.Params, want) {
			t.Errorf("%s: parameters %+v, want %+v", tc.wm, j.Params, want)
		}
	}
}

// TestLastSyncTime binds {{last_sync_time}} as an INT64 parameter.
func TestLastSyncTime(t *testing.T) {
	emu := bqtest.New(t)
	db := emu.Dataset(t)
	spec := events(t, db, 20)
	spec.Table = ""
	spec.Query = "SELECT * FROM " + db.TableRef("events") + " WHERE id > {{ last_sync_time }};"
	_, rows, err := read(t, open(t, spec), connectors.Request{BatchSize: 100, LastSyncTime: 15}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rows); !reflect.DeepEqual(got, span(16, 20)) {
		t.Errorf("ids %v", got)
	}
	for _, j := range emu.Jobs(db.Name) {
		if strings.Contains(j.Query, "last_sync_time") && !reflect.DeepEqual(j.Params[:1], []bqtest.Param{{Name: "last_sync_time", Type: "INT64", Value: "15"}}) {
			t.Errorf("job %s: parameters %+v", j.Query, j.Params)
		}
	}
}

// TestHostileTable reads a table whose name would close the quoting and read
// another table: it is a name no table has.
func TestHostileTable(t *testing.T) {
	emu := bqtest.New(t)
	db := emu.Dataset(t)
	events(t, db, 3)
	spec := db.Spec()
	spec.Sync = "evil"
	for _, name := range []string{"x` UNION ALL SELECT * FROM `events", `x\` + "` UNION ALL SELECT * FROM `events"} {
		spec.Table = name
		for _, wm := range []connectors.Watermark{{}, {Column: "updated_at", Key: "id"}} {
			spec.Watermark = wm
			_, rows, err := read(t, open(t, spec), connectors.Request{BatchSize: 10}, -1)
			if err == nil || len(rows) > 0 || !strings.Contains(err.Error(), "sync evil") || !strings.Contains(strings.ToLower(err.Error()), "not found") {
				t.Errorf("table %q, watermark %v: %d rows, error %v; want none and not found", name, wm, len(rows), err)
			}
		}
	}
}

// TestErrors checks errors name the sync and, from a job, the job.
func TestErrors(t *testing.T) {
	emu := bqtest.New(t)
	db := emu.Dataset(t)
	spec := events(t, db, 3)
	spec.Sync = "app_users"
	jobID := regexp.MustCompile(`job (dbsync_app_users_[0-9a-f]{16}): `)

	q := spec
	q.Table, q.Query = "", "SELECT nope FROM "+db.TableRef("events")
	q.Watermark = connectors.Watermark{}
	_, _, err := read(t, open(t, q), connectors.Request{}, -1)
	if err == nil || !strings.HasPrefix(err.Error(), "sync app_users: bigquery: job ") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad query: %v", err)
	}
	m := jobID.FindStringSubmatch(err.Error())
	if m == nil || !slices.ContainsFunc(emu.Jobs(db.Name), func(j bqtest.Job) bool { return j.ID == m[1] }) {
		t.Errorf("error %q does not name a job the emulator ran", err)
	}

	for _, tc := range []struct {
		wm   connectors.Watermark
		want string
	}{
		{connectors.Watermark{Column: "nope", Key: "id"}, `sync app_users: bigquery: watermark.column: column "nope": no such column (the columns are id, updated_at)`},
		{connectors.Watermark{Column: "UPDATED_AT", Key: "nope"}, `watermark.key: column "nope": no such column`},
	} {
		spec.Watermark = tc.wm
		if _, _, err := read(t, open(t, spec), connectors.Request{}, -1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.wm, err, tc.want)
		}
	}
	spec.Watermark = connectors.Watermark{Column: "updated_at", Key: "id"}
	spec.Table = "missing"
	if _, _, err := read(t, open(t, spec), connectors.Request{}, -1); err == nil || !strings.Contains(err.Error(), "sync app_users: bigquery: table `dbsync-test`.`"+db.Name+"`.`missing`: ") {
		t.Errorf("missing table: %v", err)
	}
}

// TestCredentialsNotShown authenticates with a service account whose token
// server is down: the error names the sync and shows no part of the key.
func TestCredentialsNotShown(t *testing.T) {
	emu := bqtest.New(t)
	db := emu.Dataset(t)
	const secret = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7secretsecret"
	key, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "k1d-s3cr3t-0001",
		"private_key":  "-----BEGIN PRIVATE KEY-----\n" + secret + "\n-----END PRIVATE KEY-----\n",
		"client_email": "sync@p.iam.gserviceaccount.com", "token_uri": "http://127.0.0.1:1/token",
	})
	file := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(file, key, 0o600); err != nil {
		t.Fatal(err)
	}
	spec := db.Spec()
	spec.Sync, spec.Anonymous, spec.CredentialsFile = "app_users", false, file
	spec.Query = "SELECT 1 AS x"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src, err := connectors.Open(ctx, spec)
	if err == nil {
		_, err = src.Read(ctx, connectors.Request{})
		src.Close()
	}
	if err == nil {
		t.Fatal("read without a token: no error")
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "sync app_users: bigquery: ") || strings.Contains(msg, secret[:20]) || strings.Contains(msg, "k1d-s3cr3t") {
		t.Errorf("error %q: want the sync named and no secret", msg)
	}

	spec.CredentialsFile = filepath.Join(t.TempDir(), "missing.json")
	if _, err := connectors.Open(ctx, spec); err == nil || !strings.Contains(err.Error(), "sync app_users: bigquery: credentials file") {
		t.Errorf("missing credentials file: %v", err)
	}
}

// TestCheck dry-runs what a run would read and says how many bytes it scans.
func TestCheck(t *testing.T) {
	emu := bqtest.New(t)
	db := emu.Dataset(t)
	spec := events(t, db, 50)
	query := spec
	query.Table, query.Query = "", "SELECT * FROM "+db.TableRef("events")+" WHERE id > {{last_sync_time}}"
	before := len(emu.Jobs(db.Name))
	for _, s := range []connectors.Spec{spec, query} {
		msg, err := open(t, s).(connectors.Checker).Check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`^a full read would scan [0-9.]+ [kMGTP]?B \(([0-9]+) bytes; dry run\)$`).FindStringSubmatch(msg)
		if m == nil || m[1] == "0" {
			t.Errorf("check: %q, want the bytes scanned", msg)
		}
	}
	jobs := emu.Jobs(db.Name)[before:]
	if len(jobs) != 5 { // count and read; describe, count and read
		t.Errorf("%d jobs, want 5 dry runs", len(jobs))
	}
	for _, j := range jobs {
		if !j.DryRun {
			t.Errorf("check ran %s", j.Query)
		}
	}
}

// TestValues reads each BigQuery type.
func TestValues(t *testing.T) {
	emu := bqtest.New(t)
	db := emu.Dataset(t)
	db.CreateTableSchema(t, "v", bigquery.Schema{
		{Name: "id", Type: bigquery.IntegerFieldType},
		{Name: "i", Type: bigquery.IntegerFieldType},
		{Name: "n", Type: bigquery.NumericFieldType},
		{Name: "bn", Type: bigquery.BigNumericFieldType},
		{Name: "f", Type: "FLOAT64"},
		{Name: "inf", Type: "FLOAT64"},
		{Name: "b", Type: bigquery.BooleanFieldType},
		{Name: "s", Type: bigquery.StringFieldType},
		{Name: "bin", Type: bigquery.BytesFieldType},
		{Name: "d", Type: bigquery.DateFieldType},
		{Name: "dt", Type: bigquery.DateTimeFieldType},
		{Name: "ts", Type: bigquery.TimestampFieldType},
		{Name: "tm", Type: bigquery.TimeFieldType},
		{Name: "j", Type: bigquery.JSONFieldType},
		{Name: "g", Type: bigquery.GeographyFieldType},
		{Name: "iv", Type: bigquery.IntervalFieldType},
		{Name: "st", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{
			{Name: "a", Type: bigquery.IntegerFieldType},
			{Name: "n", Type: bigquery.NumericFieldType},
			{Name: "bin", Type: bigquery.BytesFieldType},
			{Name: "d", Type: bigquery.DateFieldType},
			{Name: "dt", Type: bigquery.DateTimeFieldType},
			{Name: "tm", Type: bigquery.TimeFieldType},
			{Name: "j", Type: bigquery.JSONFieldType},
			{Name: "arr", Type: bigquery.IntegerFieldType, Repeated: true},
			{Name: "sub", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{{Name: "x", Type: "FLOAT64"}}},
		}},
		{Name: "arr", Type: bigquery.StringFieldType, Repeated: true},
		{Name: "recs", Type: bigquery.RecordFieldType, Repeated: true, Schema: bigquery.Schema{{Name: "k", Type: bigquery.StringFieldType}}},
	})
	db.Exec(t, `INSERT INTO `+db.TableRef("v")+` VALUES (1, -9223372036854775808,
		NUMERIC '-99999999999999999999999999999.999999999',
		BIGNUMERIC '578960446186580977117854925043439539266.34992332820282019728792003956564819967',
		-0.25, IEEE_DIVIDE(-1, 0), TRUE, 'héllo', b'\x00\xff', DATE '2024-02-29',
		DATETIME '2024-01-15 09:00:00.000001', TIMESTAMP '2024-06-07 08:09:10.654321+02', TIME '13:14:15.1234',
		JSON '{"a": [1, 2.5, null], "b": {"c": "d"}}', ST_GEOGPOINT(1, 2), INTERVAL 3 DAY,
		STRUCT(9007199254740993 AS a, NUMERIC '12.50' AS n, b'\x01' AS bin, DATE '2024-01-02' AS d,
			DATETIME '2024-07-15 09:00:00.5' AS dt, TIME '01:02:03' AS tm, JSON '{"k": [true]}' AS j, [3, 4] AS arr, STRUCT(1.5 AS x) AS sub),
		['a', 'b'], [STRUCT('k1' AS k), STRUCT('k2' AS k)]),
		(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, [], [])`)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	spec := db.Spec()
	spec.Sync, spec.Table, spec.Timezone = "values", "v", ny
	spec.Watermark = connectors.Watermark{Column: "id", Key: "id"}
	cols, rows, err := read(t, open(t, spec), connectors.Request{BatchSize: 10}, -1)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, c := range cols {
		types = append(types, c.Type)
	}
	wantTypes := []string{"INT64", "INT64", "NUMERIC", "BIGNUMERIC", "FLOAT64", "FLOAT64", "BOOL", "STRING", "BYTES", "DATE",
		"DATETIME", "TIMESTAMP", "TIME", "JSON", "GEOGRAPHY", "INTERVAL", "STRUCT", "ARRAY<STRING>", "ARRAY<STRUCT>"}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Errorf("types\n got %v\nwant %v", types, wantTypes)
	}
	want := []any{int64(1), int64(math.MinInt64),
		value.Decimal("-99999999999999999999999999999.999999999"),
		value.Decimal("578960446186580977117854925043439539266.34992332820282019728792003956564819967"),
		-0.25, math.Inf(-1), true, "héllo", []byte{0, 0xff}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 15, 9, 0, 0, 1000, ny), time.Date(2024, 6, 7, 6, 9, 10, 654321000, time.UTC), "13:14:15.1234",
		value.JSON(`{"a": [1, 2.5, null], "b": {"c": "d"}}`), "POINT (1 2)", "0-0 3 0:0:0",
		value.JSON(`{"a": 9007199254740993, "n": 12.5, "bin": "AQ==", "d": "2024-01-02",
			"dt": "2024-07-15T13:00:00.5Z", "tm": "01:02:03", "j": {"k": [true]}, "arr": [3, 4], "sub": {"x": 1.5}}`),
		value.JSON(`["a", "b"]`), value.JSON(`[{"k": "k1"}, {"k": "k2"}]`)}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for i, w := range want {
		if err := same(w, rows[0][i]); err != nil {
			t.Errorf("%s (%s): %v", cols[i].Name, cols[i].Type, err)
		}
	}
	for i, g := range rows[1][1:] {
		var w any // NULL, and an empty array for a NULL ARRAY
		if strings.HasPrefix(cols[i+1].Type, "ARRAY") {
			w = value.JSON(`[]`)
		}
		if err := same(w, g); err != nil {
			t.Errorf("NULL %s: %v", cols[i+1].Name, err)
		}
	}

	// FLOAT64 infinities (the emulator turns NaN into NULL) in a query: sync.
	spec.Table, spec.Watermark = "", connectors.Watermark{}
	spec.Query = "SELECT IEEE_DIVIDE(1, 0) AS pos"
	if _, rows, err = read(t, open(t, spec), connectors.Request{}, -1); err != nil || len(rows) != 1 || rows[0][0] != math.Inf(1) {
		t.Errorf("+Inf: %v, %v", rows, err)
	}
}

// same compares a value read with the one wanted: instants by Equal, JSON by
// document with numbers compared digit for digit.
func same(want, got any) error {
	switch w := want.(type) {
	case time.Time:
		if g, ok := got.(time.Time); ok && g.Equal(w) {
			return nil
		}
	case value.JSON:
		g, ok := got.(value.JSON)
		if ok && reflect.DeepEqual(decodeJSON(g), decodeJSON(w)) {
			return nil
		}
		if ok {
			return fmt.Errorf("got JSON %s, want %s", g, w)
		}
	default:
		if reflect.DeepEqual(want, got) {
			return nil
		}
	}
	return fmt.Errorf("got %#v (%T), want %#v (%T)", got, got, want, want)
}

func decodeJSON(b []byte) any {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err.Error()
	}
	return v
}
