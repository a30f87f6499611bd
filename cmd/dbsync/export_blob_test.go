package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/parquet-go/parquet-go"
	"gocloud.dev/blob"

	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/internal/testdb"
)

const fakeSecret = "s3cr3t-d0-not-print"

// fakeS3 is an in-memory S3-compatible server on 127.0.0.1 with the bucket "exports".
// It records the keys whose upload completed, in order; failKey makes uploads of keys
// containing it fail.
type fakeS3 struct {
	url      string // http://127.0.0.1:port
	mu       sync.Mutex
	done     []string
	failKeys string
}

func startFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("exports"); err != nil {
		t.Fatal(err)
	}
	f := &fakeS3{}
	h := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		fail := f.failKeys != "" && strings.Contains(r.URL.Path, f.failKeys)
		f.mu.Unlock()
		if fail && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
			http.Error(w, "injected failure", http.StatusServiceUnavailable)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		h.ServeHTTP(rec, r)
		// A PUT without uploadId, or the POST that completes a multipart upload.
		q := r.URL.Query()
		if rec.code == 200 && ((r.Method == http.MethodPut && !q.Has("uploadId")) || (r.Method == http.MethodPost && q.Has("uploadId"))) {
			f.mu.Lock()
			f.done = append(f.done, strings.TrimPrefix(r.URL.Path, "/exports/"))
			f.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", fakeSecret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	return f
}

func (f *fakeS3) query() string {
	return "?endpoint=" + url.QueryEscape(f.url) + "&use_path_style=true"
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

// readBucket reads every object under prefix of the bucket at bucketURL.
func readBucket(t *testing.T, bucketURL, prefix string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := map[string][]byte{}
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			break
		}
		data, err := b.ReadAll(ctx, obj.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(obj.Key, prefix)] = data
	}
	return out
}

// sameAsDirectoryExport checks the objects of export 1 against export 1 of a copy of
// the store (cfg, taken before) to a directory: the same data files, byte for byte, and a manifest naming them.
func sameAsDirectoryExport(t *testing.T, objects map[string][]byte, cfg, formats string) {
	t.Helper()
	dir := t.TempDir()
	if code, out, errOut := dbsync(t, "export", "-c", cfg, "--out", dir, "--format", formats); code != 0 {
		t.Fatalf("directory export: exit %d, %s %s", code, out, errOut)
	}
	entries, _ := os.ReadDir(dir)
	var want, got []string
	for _, e := range entries {
		want = append(want, e.Name())
	}
	for name := range objects {
		got = append(got, name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("objects %v, want %v", got, want)
	}
	var m export.Manifest
	if err := json.Unmarshal(objects["manifest-00000001.json"], &m); err != nil {
		t.Fatal(err)
	}
	if m.Export != 1 || m.People != 3 || m.Objects != 1 || m.Relationships != 1 || len(m.Files) != 5*len(strings.Split(formats, ",")) {
		t.Fatalf("manifest %+v", m)
	}
	for _, f := range m.Files {
		local, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f.Name, ".parquet") {
			// Parquet's bytes may differ between two writes of the same rows: compare rows.
			if !sameParquet(t, f, objects[f.Name], local) || int64(len(objects[f.Name])) != f.Bytes {
				t.Errorf("%s: rows differ from the directory export's, or size from the manifest's", f.Name)
			}
			continue
		}
		if !bytes.Equal(objects[f.Name], local) || int64(len(local)) != f.Bytes {
			t.Errorf("%s: %d bytes in the bucket, %d in the directory export, manifest says %d", f.Name, len(objects[f.Name]), len(local), f.Bytes)
		}
	}
}

// twinConfig copies the SQLite store at path and returns a config for the copy.
func twinConfig(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	twin := filepath.Join(t.TempDir(), "twin.db")
	if err := os.WriteFile(twin, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, "sqlite", twin, "", "")
}

func sameParquet(t *testing.T, f export.File, a, b []byte) bool {
	t.Helper()
	switch f.Table {
	case "people":
		return sameRows[export.PersonRow](a, b, f.Rows)
	case "attributes":
		return sameRows[export.AttributeRow](a, b, f.Rows)
	case "objects":
		return sameRows[export.ObjectRow](a, b, f.Rows)
	case "object_attributes":
		return sameRows[export.ObjectAttributeRow](a, b, f.Rows)
	case "relationships":
		return sameRows[export.RelationshipRow](a, b, f.Rows)
	}
	t.Fatalf("%s: a table the test does not know", f.Name)
	return false
}

// sameRows: two Parquet files hold the same rows, as many as the manifest says (at least one).
func sameRows[T any](a, b []byte, rows int64) bool {
	ra, err1 := parquet.Read[T](bytes.NewReader(a), int64(len(a)))
	rb, err2 := parquet.Read[T](bytes.NewReader(b), int64(len(b)))
	return err1 == nil && err2 == nil && rows > 0 && int64(len(ra)) == rows && reflect.DeepEqual(ra, rb)
}

func noSecrets(t *testing.T, outputs ...string) {
	t.Helper()
	for _, s := range outputs {
		if strings.Contains(s, fakeSecret) || strings.Contains(s, "endpoint=") || strings.Contains(s, "X-Amz-") {
			t.Errorf("output holds a secret or the URL's query: %s", s)
		}
	}
}

// TestExportToS3: --out s3://bucket/prefix?endpoint=…&use_path_style=true writes every
// file to an S3-compatible store, the manifest last, the same bytes as a directory export.
func TestExportToS3(t *testing.T) {
	s3 := startFakeS3(t)
	storePath := testdb.SQLite(t)
	fillPeople(t, storePath, 0, 3, "free")
	fillObjects(t, storePath)
	cfg := writeConfig(t, "sqlite", storePath, "", "")
	twin := twinConfig(t, storePath)
	out := "s3://exports/warehouse/daily" + s3.query()
	code, stdout, stderr := dbsync(t, "export", "-c", cfg, "--out", out, "--format", "parquet,csv,ndjson")
	if code != 0 {
		t.Fatalf("export: exit %d, %s %s", code, stdout, stderr)
	}
	noSecrets(t, stdout, stderr)
	if !strings.Contains(stdout, `"manifest":"s3://exports/warehouse/daily/manifest-00000001.json"`) {
		t.Errorf("printed %s", stdout)
	}
	s3.mu.Lock()
	done := slices.Clone(s3.done)
	s3.mu.Unlock()
	if len(done) != 16 || done[len(done)-1] != "warehouse/daily/manifest-00000001.json" {
		t.Errorf("uploads completed in order %v: want 15 files, then the manifest", done)
	}
	sameAsDirectoryExport(t, readBucket(t, "s3://exports"+s3.query(), "warehouse/daily/"), twin, "parquet,csv,ndjson")
}

// TestExportToGCS: --out gs://bucket/prefix, with STORAGE_EMULATOR_HOST naming an emulator.
func TestExportToGCS(t *testing.T) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Writer: nil})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "wh"})
	u, _ := url.Parse(srv.URL())
	t.Setenv("STORAGE_EMULATOR_HOST", u.Host)

	storePath := testdb.SQLite(t)
	fillPeople(t, storePath, 0, 3, "free")
	fillObjects(t, storePath)
	cfg := writeConfig(t, "sqlite", storePath, "", "")
	twin := twinConfig(t, storePath)
	code, stdout, stderr := dbsync(t, "export", "-c", cfg, "--out", "gs://wh/exports", "--format", "csv,parquet")
	if code != 0 || !strings.Contains(stdout, `"manifest":"gs://wh/exports/manifest-00000001.json"`) {
		t.Fatalf("export: exit %d, %s %s", code, stdout, stderr)
	}
	objs, _, err := srv.ListObjects("wh", "exports/", "", false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, o := range objs {
		obj, err := srv.GetObject("wh", o.Name)
		if err != nil {
			t.Fatal(err)
		}
		got[strings.TrimPrefix(o.Name, "exports/")] = obj.Content
	}
	sameAsDirectoryExport(t, got, twin, "csv,parquet")
}

// TestExportUnknownScheme: an --out URL of no known scheme (or a plain path holding
// "://") is a usage error before anything is written; the export cursor does not move.
// It used to write a local folder ./s4:/bucket/x and count the export done.
func TestExportUnknownScheme(t *testing.T) {
	storePath := testdb.SQLite(t)
	fillPeople(t, storePath, 0, 3, "free")
	cfg := writeConfig(t, "sqlite", storePath, "", "")
	cwd := t.TempDir()
	t.Chdir(cwd)
	for _, out := range []string{"s4://bucket/x", "ftp://host/x", "https://example.com/x", "out://x", "a/b://c", "s3://", "s3://bucket/x?no_such_option=1", "file://host/x"} {
		code, stdout, stderr := dbsync(t, "export", "-c", cfg, "--out", out)
		if code != exitUsage {
			t.Errorf("--out %s: exit %d, want 2: %s %s", out, code, stdout, stderr)
		}
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
		t.Fatalf("refused exports wrote %v", entries)
	}
	dir := filepath.Join(cwd, "ok")
	if code, stdout, _ := dbsync(t, "export", "-c", cfg, "--out", "file://"+dir); code != 0 || !strings.Contains(stdout, `"export":1,"full":false,"people":3`) {
		t.Fatalf("the export after the refused ones: exit %d, %s", code, stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest-00000001.json")); err != nil {
		t.Fatal(err)
	}
}

// TestFailedUploadIsRedone: an upload that fails (a bucket that does not exist, or the
// store failing half way, after some files are up) leaves the export not done and no
// manifest; the next export to a working target holds those changes.
func TestFailedUploadIsRedone(t *testing.T) {
	s3 := startFakeS3(t)
	storePath := testdb.SQLite(t)
	fillPeople(t, storePath, 0, 3, "free")
	fillObjects(t, storePath)
	cfg := writeConfig(t, "sqlite", storePath, "", "")

	code, stdout, stderr := dbsync(t, "export", "-c", cfg, "--out", "s3://no-such-bucket/x"+s3.query())
	if code != exitFailed {
		t.Fatalf("export to a missing bucket: exit %d, %s %s", code, stdout, stderr)
	}
	noSecrets(t, stdout, stderr)

	out := "s3://exports/p" + s3.query()
	// Failing early (attributes) or on the last data file (relationships, after the
	// people and the objects are up).
	for _, fail := range []string{"attributes-00000001", "relationships-00000001"} {
		s3.mu.Lock()
		s3.failKeys = fail
		s3.mu.Unlock()
		code, stdout, stderr = dbsync(t, "export", "-c", cfg, "--out", out, "--format", "csv")
		if code != exitFailed {
			t.Fatalf("export with a failing upload of %s: exit %d, %s %s", fail, code, stdout, stderr)
		}
		noSecrets(t, stdout, stderr)
		if objs := readBucket(t, "s3://exports"+s3.query(), "p/"); objs["manifest-00000001.json"] != nil {
			t.Fatalf("a failed export published its manifest: %v", objs)
		}
	}

	s3.mu.Lock()
	s3.failKeys = ""
	s3.mu.Unlock()
	code, stdout, stderr = dbsync(t, "export", "-c", cfg, "--out", out, "--format", "csv")
	if code != 0 || !strings.Contains(stdout, `"people":3`) {
		t.Fatalf("export after the failed ones: exit %d, %s %s", code, stdout, stderr)
	}
	objs := readBucket(t, "s3://exports"+s3.query(), "p/")
	var m export.Manifest
	if err := json.Unmarshal(objs[fmt.Sprintf("manifest-%08d.json", 1)], &m); err != nil || m.People != 3 || m.Attributes != 6 ||
		m.Objects != 1 || m.ObjectAttributes != 2 || m.Relationships != 1 {
		t.Fatalf("manifest %+v (%v); objects %d", m, err, len(objs))
	}
}
