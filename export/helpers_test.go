package export_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/store"
)

// attrKey is an attribute row's key: internal_customer_id and attribute_name.
type attrKey struct{ id, name string }

// dump is one export's files as read back: people by internal_customer_id, and
// attribute values by key (nil: a removed attribute).
type dump struct {
	m      *export.Manifest
	people map[string]export.PersonRow
	attrs  map[attrKey]*string
}

// run exports and fails the test on an error.
func run(t testing.TB, st *store.Store, dir string, full bool, formats ...string) *export.Result {
	t.Helper()
	res, err := export.Run(context.Background(), st, export.Options{Dir: dir, Formats: formats, Full: full})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return res
}

// manifests reads every manifest in dir, in export order.
func manifests(t testing.TB, dir string) []*export.Manifest {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "manifest-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	var out []*export.Manifest
	for _, p := range paths {
		m, err := export.ReadManifest(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// checkChain checks that the manifests are exports 1..n whose change log ranges chain
// with no gap and no overlap.
func checkChain(t testing.TB, ms []*export.Manifest) {
	t.Helper()
	var through int64
	for i, m := range ms {
		if m.Export != int64(i+1) || m.PreviousExport != int64(i) {
			t.Fatalf("manifest %d is export %d (previous %d)", i+1, m.Export, m.PreviousExport)
		}
		if m.ChangeLog.AfterSeq != through || m.ChangeLog.ThroughSeq < m.ChangeLog.AfterSeq {
			t.Fatalf("export %d covers the change log (%d, %d], the previous one ended at %d",
				m.Export, m.ChangeLog.AfterSeq, m.ChangeLog.ThroughSeq, through)
		}
		through = m.ChangeLog.ThroughSeq
	}
}

// file names the manifest's file of a table in a format.
func file(t testing.TB, dir string, m *export.Manifest, table, format string) string {
	t.Helper()
	for _, f := range m.Files {
		if f.Table == table && f.Format == format {
			return filepath.Join(dir, f.Name)
		}
	}
	t.Fatalf("export %d has no %s file in %s", m.Export, table, format)
	return ""
}

// read reads an export's files of one format.
func read(t testing.TB, dir string, m *export.Manifest, format string) dump {
	t.Helper()
	d := dump{m: m, people: map[string]export.PersonRow{}, attrs: map[attrKey]*string{}}
	var people []export.PersonRow
	var attrs []export.AttributeRow
	switch format {
	case "parquet":
		people, attrs = readParquet(t, file(t, dir, m, "people", format), file(t, dir, m, "attributes", format))
	case "csv":
		people, attrs = readCSV(t, file(t, dir, m, "people", format), file(t, dir, m, "attributes", format))
	case "ndjson":
		people, attrs = readNDJSON[export.PersonRow](t, file(t, dir, m, "people", format)),
			readNDJSON[export.AttributeRow](t, file(t, dir, m, "attributes", format))
	}
	for _, p := range people {
		if _, dup := d.people[p.InternalCustomerID]; dup {
			t.Fatalf("export %d holds %s twice", m.Export, p.InternalCustomerID)
		}
		d.people[p.InternalCustomerID] = p
	}
	for _, a := range attrs {
		k := attrKey{a.InternalCustomerID, a.AttributeName}
		if _, dup := d.attrs[k]; dup {
			t.Fatalf("export %d holds attribute %v twice", m.Export, k)
		}
		if _, ok := d.people[a.InternalCustomerID]; !ok {
			t.Fatalf("export %d has attribute %v of a person it does not hold", m.Export, k)
		}
		d.attrs[k] = a.AttributeValue
	}
	if int64(len(people)) != m.People || int64(len(attrs)) != m.Attributes {
		t.Fatalf("export %d: %d people and %d attribute rows, the manifest says %d and %d",
			m.Export, len(people), len(attrs), m.People, m.Attributes)
	}
	return d
}

// Parquet rows as a generic reader sees them, by column name: types of this test's
// own, not the writer's.
type pqPerson struct {
	ID         string  `parquet:"internal_customer_id"`
	External   *string `parquet:"external_customer_id,optional"`
	Email      *string `parquet:"email,optional"`
	Deleted    bool    `parquet:"deleted"`
	Suppressed bool    `parquet:"suppressed"`
	CreatedAt  int64   `parquet:"created_at"`
	UpdatedAt  int64   `parquet:"updated_at"`
	MergedInto *string `parquet:"merged_into,optional"`
}

type pqAttribute struct {
	ID        string  `parquet:"internal_customer_id"`
	Name      string  `parquet:"attribute_name"`
	Value     *string `parquet:"attribute_value,optional"`
	UpdatedAt int64   `parquet:"updated_at"`
}

func readParquet(t testing.TB, peoplePath, attrsPath string) ([]export.PersonRow, []export.AttributeRow) {
	t.Helper()
	ps, err := parquet.ReadFile[pqPerson](peoplePath)
	if err != nil {
		t.Fatalf("read %s: %v", peoplePath, err)
	}
	as, err := parquet.ReadFile[pqAttribute](attrsPath)
	if err != nil {
		t.Fatalf("read %s: %v", attrsPath, err)
	}
	people := make([]export.PersonRow, len(ps))
	for i, p := range ps {
		people[i] = export.PersonRow{InternalCustomerID: p.ID, ExternalCustomerID: p.External, Email: p.Email,
			Deleted: p.Deleted, Suppressed: p.Suppressed, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, MergedInto: p.MergedInto}
	}
	attrs := make([]export.AttributeRow, len(as))
	for i, a := range as {
		attrs[i] = export.AttributeRow{InternalCustomerID: a.ID, AttributeName: a.Name, AttributeValue: a.Value, UpdatedAt: a.UpdatedAt}
	}
	return people, attrs
}

func readCSV(t testing.TB, peoplePath, attrsPath string) ([]export.PersonRow, []export.AttributeRow) {
	t.Helper()
	null := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var people []export.PersonRow
	for _, r := range readRecords(t, peoplePath) {
		people = append(people, export.PersonRow{InternalCustomerID: r[0], ExternalCustomerID: null(r[1]), Email: null(r[2]),
			Deleted: r[3] == "true", Suppressed: r[4] == "true", CreatedAt: num(r[5]), UpdatedAt: num(r[6]), MergedInto: null(r[7])})
	}
	var attrs []export.AttributeRow
	for _, r := range readRecords(t, attrsPath) {
		attrs = append(attrs, export.AttributeRow{InternalCustomerID: r[0], AttributeName: r[1], AttributeValue: null(r[2]), UpdatedAt: num(r[3])})
	}
	return people, attrs
}

func readRecords(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return records[1:] // the header
}

func readNDJSON[T any](t testing.TB, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	dec := json.NewDecoder(f)
	for {
		var v T
		if err := dec.Decode(&v); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		out = append(out, v)
	}
}

// storeView is the store as an export of everyone would show it: people by
// internal_customer_id and every current attribute.
func storeView(t testing.TB, st *store.Store) (map[string]export.PersonRow, map[attrKey]*string) {
	t.Helper()
	people := map[string]export.PersonRow{}
	attrs := map[attrKey]*string{}
	err := st.EachPerson(context.Background(), func(p identity.Person) error {
		people[p.CioID] = personRow(p)
		for name, v := range p.Attributes {
			s := string(v)
			attrs[attrKey{p.CioID, name}] = &s
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return people, attrs
}

func personRow(p identity.Person) export.PersonRow {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return export.PersonRow{InternalCustomerID: p.CioID, ExternalCustomerID: opt(p.ID), Email: opt(p.Email),
		Deleted: p.Deleted, Suppressed: p.Suppressed, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, MergedInto: opt(p.MergedInto)}
}

// replay loads exports in order the way a warehouse would: people and attributes
// upserted by key, a NULL attribute_value deletes, a full export replaces everything,
// and a retired id (merged_into set) has no attributes of its own.
func replay(dumps []dump) (map[string]export.PersonRow, map[attrKey]*string) {
	people := map[string]export.PersonRow{}
	attrs := map[attrKey]*string{}
	for _, d := range dumps {
		if d.m.Full {
			clear(people)
			clear(attrs)
		}
		for id, p := range d.people {
			people[id] = p
		}
		for k, v := range d.attrs {
			if v == nil {
				delete(attrs, k)
			} else {
				attrs[k] = v
			}
		}
	}
	for k := range attrs {
		if people[k.id].MergedInto != nil {
			delete(attrs, k)
		}
	}
	return people, attrs
}

// describe prints people and attributes sorted, for comparisons and messages.
func describe(people map[string]export.PersonRow, attrs map[attrKey]*string) string {
	var lines []string
	for _, p := range people {
		lines = append(lines, fmt.Sprintf("person %s id=%s email=%s deleted=%v suppressed=%v created=%d updated=%d merged_into=%s",
			p.InternalCustomerID, show(p.ExternalCustomerID), show(p.Email), p.Deleted, p.Suppressed, p.CreatedAt, p.UpdatedAt, show(p.MergedInto)))
	}
	for k, v := range attrs {
		lines = append(lines, fmt.Sprintf("attribute %s %s = %s", k.id, k.name, show(v)))
	}
	sort.Strings(lines)
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

func show(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}

func parquetOpen(path string) (*parquet.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// The test's files are small; the *os.File stays open until the test binary exits.
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return parquet.OpenFile(f, info.Size())
}

// psqlCopy loads a CSV file into a table of the DSN's schema with psql and
// COPY ... FROM STDIN, PostgreSQL's own CSV reader.
func psqlCopy(t testing.TB, dsn, table, path string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	schema := q.Get("search_path")
	q.Del("search_path")
	q.Set("options", "-csearch_path="+schema)
	u.RawQuery = q.Encode()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command("psql", u.String(), "-v", "ON_ERROR_STOP=1", "-c", "COPY "+table+" FROM STDIN WITH (FORMAT csv, HEADER true)")
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql COPY %s: %v\n%s", table, err, out)
	}
}
