// Package bqtest runs github.com/goccy/bigquery-emulator in the test process, for
// the tests of connectors/bigquery and the end-to-end tests of dbsync. Import it
// from _test.go files only: it links the whole emulator.
//
//	emu := bqtest.New(t)             // an emulator that stops when t ends (about 40 ms)
//	db := emu.Dataset(t)             // a dataset of its own
//	db.CreateTable(t, "users", cols) // conformance.DB: create, insert, update
//	spec := db.Spec()                // type bigquery, project, dataset, endpoint, anonymous
//
// An Emulator sits in front of the emulator's HTTP handler. It logs the query
// jobs and result pages it is asked for (Jobs), and makes up for where emulator
// v0.8.1 differs from BigQuery or cannot keep up:
//
//   - a dry run's statistics.query.schema is empty: it runs the query once more
//     for real and fills the schema in;
//   - a DATETIME query parameter is bound as a TIMESTAMP, which no DATETIME
//     column compares with: it sends it as a STRING, which GoogleSQL coerces;
//   - every query's result rows are also copied into a table of their own,
//     which slows every later query: it deletes that table (the rows are
//     served from the job);
//   - the SQL analyzer's memory (2 GB at most) is freed only by finalizers, so
//     a busy emulator dies of it: it runs the garbage collector every 5 jobs.
//
// Harness gives each conformance test an emulator of its own; DB's Insert uses
// DML, since the emulator's streaming inserts store BYTES as base64 text and
// round INT64 beyond 2^53.
package bqtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/goccy/bigquery-emulator/server"
	"github.com/goccy/bigquery-emulator/types"
	"google.golang.org/api/option"
)

// Emulator is a BigQuery emulator serving on a local port.
type Emulator struct {
	URL     string // the endpoint: connectors.Spec.Endpoint
	Project string

	srv  *server.Server
	ts   *server.TestServer
	next http.Handler // the emulator's own handler

	mu       sync.Mutex
	jobs     []Job
	datasets int
}

// Job is a query job the emulator was asked to run.
type Job struct {
	ID     string
	Query  string
	DryRun bool
	Params []Param
	Pages  []int // the page size (maxResults; 0 when not given) of each fetch of its result rows
}

// Param is a query parameter as the client sent it.
type Param struct {
	Name, Type, Value string
}

// Start starts an emulator with an empty project.
func Start(project string) (*Emulator, error) {
	srv, err := server.New(server.TempStorage)
	if err != nil {
		return nil, fmt.Errorf("bqtest: start the emulator: %w", err)
	}
	if err := srv.Load(server.StructSource(types.NewProject(project))); err != nil {
		srv.Close()
		return nil, fmt.Errorf("bqtest: create project %s: %w", project, err)
	}
	e := &Emulator{Project: project, srv: srv, next: srv.Handler}
	srv.Handler = http.HandlerFunc(e.serve)
	e.ts = srv.TestServer()
	e.URL = e.ts.URL
	return e, nil
}

// New starts an emulator that stops when t ends.
func New(t testing.TB) *Emulator {
	t.Helper()
	e, err := Start("dbsync-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// Close stops the emulator and removes its files.
func (e *Emulator) Close() {
	e.ts.Close()
	e.srv.Stop(context.Background())
}

// Client is a client of the emulator's project, closed when t ends.
func (e *Emulator) Client(t testing.TB) *bigquery.Client {
	t.Helper()
	c, err := bigquery.NewClient(context.Background(), e.Project, option.WithEndpoint(e.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("bqtest: client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Jobs are the query jobs so far whose SQL names the dataset (as `dataset`),
// oldest first.
func (e *Emulator) Jobs(dataset string) []Job {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Job
	for _, j := range e.jobs {
		if strings.Contains(j.Query, "`"+dataset+"`") {
			j.Pages = slices.Clone(j.Pages)
			out = append(out, j)
		}
	}
	return out
}

var jobsSinceGC atomic.Int64

var (
	jobsPath    = regexp.MustCompile(`^(?:/bigquery/v2)?/projects/([^/]+)/jobs$`)
	resultsPath = regexp.MustCompile(`^(?:/bigquery/v2)?/projects/[^/]+/queries/([^/]+)$`)
)

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && jobsPath.MatchString(r.URL.Path) {
		e.insertJob(w, r)
		return
	}
	if m := resultsPath.FindStringSubmatch(r.URL.Path); r.Method == http.MethodGet && m != nil {
		if size := r.URL.Query().Get("maxResults"); size != "0" {
			var n int
			fmt.Sscan(size, &n)
			e.mu.Lock()
			for i := range e.jobs {
				if e.jobs[i].ID == m[1] {
					e.jobs[i].Pages = append(e.jobs[i].Pages, n)
				}
			}
			e.mu.Unlock()
		}
	}
	e.next.ServeHTTP(w, r)
}

// job is the part of a jobs.insert body bqtest reads and changes.
type job struct {
	JobReference struct {
		JobID string `json:"jobId"`
	} `json:"jobReference"`
	Configuration struct {
		DryRun bool `json:"dryRun"`
		Query  *struct {
			Query  string `json:"query"`
			Params []struct {
				Name string `json:"name"`
				Type struct {
					Type string `json:"type"`
				} `json:"parameterType"`
				Value struct {
					Value string `json:"value"`
				} `json:"parameterValue"`
			} `json:"queryParameters"`
		} `json:"query"`
	} `json:"configuration"`
}

// insertJob logs a query job, sends DATETIME parameters as STRING, and gives a
// dry run the result schema BigQuery would.
func (e *Emulator) insertJob(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var j job
	var raw map[string]any
	if json.Unmarshal(body, &j) != nil || json.Unmarshal(body, &raw) != nil || j.Configuration.Query == nil {
		e.forward(w, r, body)
		return
	}
	q := j.Configuration.Query
	logged := Job{ID: j.JobReference.JobID, Query: q.Query, DryRun: j.Configuration.DryRun}
	for _, p := range q.Params {
		logged.Params = append(logged.Params, Param{Name: p.Name, Type: p.Type.Type, Value: p.Value.Value})
	}
	e.mu.Lock()
	e.jobs = append(e.jobs, logged)
	e.mu.Unlock()
	if jobsSinceGC.Add(1)%5 == 0 {
		runtime.GC() // see the package comment
	}

	query := raw["configuration"].(map[string]any)["query"].(map[string]any)
	if params, ok := query["queryParameters"].([]any); ok {
		for _, p := range params {
			if t, ok := p.(map[string]any)["parameterType"].(map[string]any); ok && t["type"] == "DATETIME" {
				t["type"] = "STRING"
			}
		}
	}
	body, _ = json.Marshal(raw)
	if !j.Configuration.DryRun {
		res := httptest.NewRecorder()
		e.forward(res, r, body)
		e.dropResultTable(r, res)
		copyResponse(w, res)
		return
	}
	schema := e.schema(r, raw)
	res := httptest.NewRecorder()
	e.forward(res, r, body)
	var answer map[string]any
	if res.Code != http.StatusOK || schema == nil || json.Unmarshal(res.Body.Bytes(), &answer) != nil {
		copyResponse(w, res)
		return
	}
	if stats, ok := answer["statistics"].(map[string]any); ok {
		if qs, ok := stats["query"].(map[string]any); ok {
			qs["schema"] = schema
		}
	}
	out, _ := json.Marshal(answer)
	res.Body = bytes.NewBuffer(out)
	copyResponse(w, res)
}

// dropResultTable deletes the dataset the emulator made for a query's result
// rows: it serves the rows from the job, and every table it keeps makes each
// later query slower.
func (e *Emulator) dropResultTable(r *http.Request, res *httptest.ResponseRecorder) {
	var answer struct {
		Configuration struct {
			Query struct {
				DestinationTable struct {
					ProjectID string `json:"projectId"`
					DatasetID string `json:"datasetId"`
				} `json:"destinationTable"`
			} `json:"query"`
		} `json:"configuration"`
		JobReference struct {
			JobID string `json:"jobId"`
		} `json:"jobReference"`
	}
	if res.Code != http.StatusOK || json.Unmarshal(res.Body.Bytes(), &answer) != nil {
		return
	}
	dest := answer.Configuration.Query.DestinationTable
	if dest.DatasetID == "" || dest.DatasetID != answer.JobReference.JobID {
		return
	}
	del := httptest.NewRequestWithContext(r.Context(), http.MethodDelete, "/projects/"+dest.ProjectID+"/datasets/"+dest.DatasetID+"?deleteContents=true", nil)
	e.next.ServeHTTP(httptest.NewRecorder(), del)
}

// schema runs a dry run's query for real and returns its result schema, or nil.
func (e *Emulator) schema(r *http.Request, raw map[string]any) any {
	run := map[string]any{}
	for k, v := range raw {
		run[k] = v
	}
	cfg := map[string]any{}
	for k, v := range raw["configuration"].(map[string]any) {
		cfg[k] = v
	}
	delete(cfg, "dryRun")
	run["configuration"] = cfg
	ref, _ := raw["jobReference"].(map[string]any)
	id, _ := ref["jobId"].(string)
	id += "_schema"
	run["jobReference"] = map[string]any{"projectId": ref["projectId"], "jobId": id}
	body, _ := json.Marshal(run)
	res := httptest.NewRecorder()
	e.forward(res, r, body)
	if res.Code != http.StatusOK {
		return nil
	}
	e.dropResultTable(r, res)
	project := jobsPath.FindStringSubmatch(r.URL.Path)[1]
	get := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/projects/"+project+"/queries/"+id+"?maxResults=0", nil)
	res = httptest.NewRecorder()
	e.next.ServeHTTP(res, get)
	var answer struct {
		Schema any `json:"schema"`
	}
	if res.Code != http.StatusOK || json.Unmarshal(res.Body.Bytes(), &answer) != nil {
		return nil
	}
	return answer.Schema
}

// forward hands r, with body, to the emulator.
func (e *Emulator) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	e.next.ServeHTTP(w, r2)
}

func copyResponse(w http.ResponseWriter, res *httptest.ResponseRecorder) {
	for k, v := range res.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(res.Code)
	w.Write(res.Body.Bytes())
}
