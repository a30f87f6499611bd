// Package bigquery reads a sync's rows from Google BigQuery through
// cloud.google.com/go/bigquery; importing it registers the source type "bigquery".
//
// BigQuery bills by the bytes a query scans, so a Read runs one query job for all
// its batches: the rows after the cursor in (column, key) order, whose result
// pages of BatchSize rows are fetched only as Next asks for them, so memory holds
// one page whatever the table size. A Read with a watermark also runs one COUNT
// query for the rows a NULL watermark column or key leaves out. To bind the
// cursor as parameters of the columns' own types (@cursor_value, @cursor_key),
// a Read first learns the result's schema: from the table's metadata for a
// `table:` sync, from a dry run (free) for a `query:` sync.
//
// A `table:` sync reads table, dataset.table or project.dataset.table (the
// dataset and project default to Spec's), every part quoted with backticks. A
// `query:` sync reads SELECT * FROM (query), each {{last_sync_time}} being the
// INT64 parameter @last_sync_time. Jobs run in Spec.Location with the id
// dbsync_<sync>_<random>; errors name the sync and the job.
//
// A watermark column or key is INT64, STRING, DATE, DATETIME or TIMESTAMP. A
// TIMESTAMP cursor is bound as the instant (microseconds), a DATETIME one as
// its wall clock in Spec.Timezone, a DATE one as its date.
//
// Values:
//
//	INT64                 int64
//	FLOAT64               float64; NaN and ±Inf pass through (mapping rejects them)
//	NUMERIC, BIGNUMERIC   value.Decimal, exact: the shortest form ("12.5", "3",
//	                      "-0.000000001"), padded with zeros to the column's scale when
//	                      the result schema declares one (NUMERIC(20,2): "12.50")
//	BOOL                  bool
//	STRING                string
//	BYTES                 []byte
//	DATE                  time.Time, midnight UTC
//	DATETIME              time.Time, the wall clock read in Spec.Timezone (UTC when nil)
//	TIMESTAMP             time.Time, the instant in UTC, microseconds
//	TIME                  string ("15:04:05.123456", fraction only when non-zero)
//	JSON                  value.JSON
//	STRUCT                value.JSON, an object keyed by field name (an unnamed
//	                      field is _field_N, N counting from 1)
//	ARRAY                 value.JSON, an array (BigQuery returns a NULL array as [])
//	GEOGRAPHY             string, WKT, as BigQuery writes it
//	INTERVAL              string, canonical ("1-2 3 4:5:6.5")
//	RANGE                 string ("[2024-01-01, UNBOUNDED)")
//
// Inside a STRUCT or an ARRAY, values are JSON: INT64, NUMERIC and BIGNUMERIC are
// numbers with every digit; FLOAT64 a number, or the string "NaN", "Infinity" or
// "-Infinity"; BYTES base64 text; TIMESTAMP and DATETIME (read in Spec.Timezone)
// RFC 3339 text in UTC with microseconds ("2024-01-02T03:04:05.123456Z"); DATE
// "2006-01-02"; TIME, GEOGRAPHY, INTERVAL and RANGE the text above; JSON the
// document itself.
package bigquery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/dbsync/dbsync/connectors"
)

func init() {
	connectors.Register("bigquery", Open)
}

// defaultBatchSize is the batch size of a Request that gives none.
const defaultBatchSize = 5000

// Open makes a client for spec.Project. It authenticates with
// spec.CredentialsFile, else Application Default Credentials, or not at all
// with spec.Anonymous; spec.Endpoint replaces Google's (an emulator).
func Open(ctx context.Context, spec connectors.Spec) (connectors.Source, error) {
	s := &source{spec: spec, loc: spec.Timezone}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if spec.Project == "" {
		return nil, s.errorf("project is not set")
	}
	opts, err := clientOptions(spec)
	if err != nil {
		return nil, s.errorf("%w", err)
	}
	// The client keeps the context for refreshing tokens: it must outlive Open's.
	if s.client, err = bigquery.NewClient(context.WithoutCancel(ctx), spec.Project, opts...); err != nil {
		return nil, s.errorf("connect to project %s: %w", spec.Project, err)
	}
	s.client.Location = spec.Location
	return s, nil
}

func clientOptions(spec connectors.Spec) ([]option.ClientOption, error) {
	var opts []option.ClientOption
	if spec.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(spec.Endpoint))
	}
	switch {
	case spec.Anonymous:
		opts = append(opts, option.WithoutAuthentication())
	case spec.CredentialsFile != "":
		// The file is the operator's own, like ADC's: any type Google's
		// libraries know is accepted, as ADC would.
		data, err := os.ReadFile(spec.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("credentials file: %w", err)
		}
		var f struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &f); err != nil || f.Type == "" {
			return nil, fmt.Errorf("credentials file %s: not a Google credentials JSON file (no \"type\")", spec.CredentialsFile)
		}
		opts = append(opts, option.WithAuthCredentialsJSON(option.CredentialsType(f.Type), data))
	}
	return opts, nil
}

type source struct {
	spec   connectors.Spec
	loc    *time.Location // of DATETIME values
	client *bigquery.Client
}

func (s *source) Close() error { return s.client.Close() }

// errorf is fmt.Errorf with the sync named in front.
func (s *source) errorf(format string, args ...any) error {
	return fmt.Errorf("sync %s: bigquery: "+format, append([]any{s.spec.Sync}, args...)...)
}

// Read implements connectors.Source.
func (s *source) Read(ctx context.Context, req connectors.Request) (connectors.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("read: %w", err)
	}
	batch := req.BatchSize
	switch {
	case batch == 0:
		batch = defaultBatchSize
	case batch < 0:
		return nil, s.errorf("batch size %d: must be positive", batch)
	}
	p, err := s.plan(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.BatchBytes < 0 {
		return nil, s.errorf("batch bytes %d: must not be negative", req.BatchBytes)
	}
	st := &stream{src: s, batch: batch, bytes: req.BatchBytes}
	if p.count != nil {
		if st.nulls, err = s.count(ctx, p.count); err != nil {
			return nil, err
		}
	}
	if err := st.start(ctx, p); err != nil {
		return nil, err
	}
	return st, nil
}

// Check implements connectors.Checker: it dry-runs the queries a first run
// would run and says how many bytes they would scan.
func (s *source) Check(ctx context.Context) (string, error) {
	p, err := s.plan(ctx, connectors.Request{})
	if err != nil {
		return "", err
	}
	var total int64
	for _, q := range []*bigquery.Query{p.count, p.read} {
		if q == nil {
			continue
		}
		stats, err := s.dryRun(ctx, q)
		if err != nil {
			return "", err
		}
		total += stats.TotalBytesProcessed
	}
	return fmt.Sprintf("a full read would scan %s (%d bytes; dry run)", formatBytes(total), total), nil
}

// dryRun runs q as a dry run: BigQuery checks it and reports what it would
// scan and return, without running it or billing.
func (s *source) dryRun(ctx context.Context, q *bigquery.Query) (*bigquery.QueryStatistics, error) {
	q.DryRun = true
	job, err := q.Run(ctx)
	if err != nil {
		return nil, s.jobError(q.JobID, "dry run", err)
	}
	st := job.LastStatus()
	if err := st.Err(); err != nil {
		return nil, s.jobError(q.JobID, "dry run", err)
	}
	qs, ok := st.Statistics.Details.(*bigquery.QueryStatistics)
	if !ok {
		return nil, s.jobError(q.JobID, "dry run", errors.New("no query statistics in the answer"))
	}
	return qs, nil
}

// count runs a COUNT query and returns its one value.
func (s *source) count(ctx context.Context, q *bigquery.Query) (int64, error) {
	const what = "count rows with a NULL watermark column or key"
	it, err := s.run(ctx, q, what)
	if err != nil {
		return 0, err
	}
	var row []bigquery.Value
	if err := it.Next(&row); err != nil {
		return 0, s.jobError(q.JobID, what, err)
	}
	n, ok := row[0].(int64)
	if !ok {
		return 0, s.jobError(q.JobID, what, fmt.Errorf("the count is a %T", row[0]))
	}
	return n, nil
}

// run starts a query job and waits for its result.
func (s *source) run(ctx context.Context, q *bigquery.Query, what string) (*bigquery.RowIterator, error) {
	job, err := q.Run(ctx)
	if err != nil {
		return nil, s.jobError(q.JobID, what, err)
	}
	it, err := job.Read(ctx)
	if err != nil {
		return nil, s.jobError(q.JobID, what, err)
	}
	return it, nil
}

// jobError names the sync, the job and what it was for in an error from Google.
func (s *source) jobError(jobID, what string, err error) error {
	return s.errorf("job %s: %s: %w", jobID, what, err)
}

// query makes a query job with a fresh id that says which sync ran it.
func (s *source) query(sql string, params []bigquery.QueryParameter) *bigquery.Query {
	q := s.client.Query(sql)
	q.Parameters = params
	q.JobID = jobID(s.spec.Sync)
	return q
}

// jobID is dbsync_<sync>_<16 hex digits>, the sync's name reduced to what a
// job id allows (letters, digits, _ and -).
func jobID(sync string) string {
	name := strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, sync)
	if len(name) > 100 {
		name = name[:100]
	}
	b := make([]byte, 8)
	rand.Read(b)
	return "dbsync_" + name + "_" + hex.EncodeToString(b)
}

// formatBytes writes n in decimal units, as BigQuery's console does.
func formatBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
