// Package metrics exports what syncs did in the Prometheus format (SPEC §5), on a
// registry of its own: counters and the run-duration histogram are fed from each
// run's sync.Result, and the cursor lag is read from the store at scrape time, so it
// stays current during a long run and whichever replica ran the sync.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/sync"
)

// Run outcomes counted by dbsync_runs_total{status}.
const (
	StatusOK             = "ok"
	StatusFailed         = "failed"
	StatusAlreadyRunning = "skipped_already_running" // another process holds the sync's lease
	StatusStillRunning   = "skipped_still_running"   // this process's previous run is still going
	StatusPanicked       = "panicked"
)

// lagTimeout bounds the store read behind dbsync_cursor_lag_seconds at scrape time.
const lagTimeout = 2 * time.Second

// Watermarks is where the cursor lag comes from: the store.
type Watermarks interface {
	Watermarks(ctx context.Context) ([]store.Watermark, error)
}

// Metrics holds the collectors of one process.
type Metrics struct {
	reg         *prometheus.Registry
	log         logrus.FieldLogger
	rowsRead    *prometheus.CounterVec
	created     *prometheus.CounterVec
	updated     *prometheus.CounterVec
	unchanged   *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	failed      *prometheus.CounterVec
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	lag         *lagCollector // nil without Watermarks
}

// New registers the collectors for the named syncs. Each sync's counters start at 0,
// so they are there to graph and alert on before its first run. wm is read at every
// scrape for the cursor lag (nil: no lag metric).
func New(version string, syncs []string, wm Watermarks, log logrus.FieldLogger) *Metrics {
	bySync := []string{"sync"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append(bySync, labels...))
	}
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		log:       log,
		rowsRead:  counter("dbsync_rows_read_total", "Rows read from the source and committed."),
		created:   counter("dbsync_people_created_total", "People created."),
		updated:   counter("dbsync_people_updated_total", "People updated."),
		unchanged: counter("dbsync_people_unchanged_total", "Rows that changed nothing."),
		rejected:  counter("dbsync_rows_rejected_total", "Rows rejected or skipped, by reason.", "reason"),
		failed:    counter("dbsync_failed_attribute_changes_total", "Attribute changes refused, by reason.", "reason"),
		runs:      counter("dbsync_runs_total", "Scheduled runs by outcome.", "status"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dbsync_run_duration_seconds",
			Help:    "How long runs that held the lease took, failed ones included.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14400},
		}, bySync),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dbsync_last_success_timestamp_seconds",
			Help: "When the last successful run ended, in Unix seconds.",
		}, bySync),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dbsync_build_info", Help: "The running dbsync's version; always 1.",
	}, []string{"version"})
	build.WithLabelValues(version).Set(1)
	m.reg.MustRegister(m.rowsRead, m.created, m.updated, m.unchanged, m.rejected, m.failed, m.runs,
		m.duration, m.lastSuccess, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if wm != nil {
		m.lag = &lagCollector{wm: wm, syncs: syncs, log: log, now: time.Now}
		m.reg.MustRegister(m.lag)
	}
	for _, s := range syncs {
		for _, c := range []*prometheus.CounterVec{m.rowsRead, m.created, m.updated, m.unchanged} {
			c.WithLabelValues(s)
		}
		for _, st := range []string{StatusOK, StatusFailed} {
			m.runs.WithLabelValues(s, st)
		}
	}
	return m
}

// Registry is the private registry the collectors are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry. A collector that fails (the store does not answer for
// the lag) leaves its series out; the rest are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promLog{m.log},
		Registry:      m.reg,
	})
}

// Observe adds a finished run's counts.
func (m *Metrics) Observe(res *sync.Result) {
	s := res.Sync
	switch res.Status {
	case store.RunAlreadyRunning:
		m.runs.WithLabelValues(s, StatusAlreadyRunning).Inc()
		return
	case store.RunOK:
		m.runs.WithLabelValues(s, StatusOK).Inc()
		m.lastSuccess.WithLabelValues(s).Set(unixSeconds(res.Ended))
	default:
		m.runs.WithLabelValues(s, StatusFailed).Inc()
	}
	m.rowsRead.WithLabelValues(s).Add(float64(res.RowsRead))
	m.created.WithLabelValues(s).Add(float64(res.Created))
	m.updated.WithLabelValues(s).Add(float64(res.Updated))
	m.unchanged.WithLabelValues(s).Add(float64(res.Unchanged))
	for reason, n := range res.RejectedBy {
		m.rejected.WithLabelValues(s, reason).Add(float64(n))
	}
	for reason, n := range res.FailedBy {
		m.failed.WithLabelValues(s, reason).Add(float64(n))
	}
	m.duration.WithLabelValues(s).Observe(res.Ended.Sub(res.Started).Seconds())
}

// CountRun counts a scheduled run that did not finish with a Result: status is
// StatusStillRunning or StatusPanicked.
func (m *Metrics) CountRun(sync, status string) { m.runs.WithLabelValues(sync, status).Inc() }

// SetLastSuccess seeds the last success from the run history when a process starts.
func (m *Metrics) SetLastSuccess(sync string, t time.Time) {
	m.lastSuccess.WithLabelValues(sync).Set(unixSeconds(t))
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// lagCollector reports now minus each sync's cursor time, read from the store at
// scrape time. A sync that never committed a batch, or whose cursor is not a time
// (an integer watermark), has no series.
type lagCollector struct {
	wm    Watermarks
	syncs []string
	zones map[string]*time.Location // each sync's timezone, for wall-clock cursors; absent: UTC
	log   logrus.FieldLogger
	now   func() time.Time
}

// SetTimezones gives each sync's timezone (config source.timezone), in which its
// wall-clock cursors (PostgreSQL timestamp, MySQL DATETIME) are read for the cursor
// lag; a sync not in zones is in UTC. Call it before the registry is scraped.
func (m *Metrics) SetTimezones(zones map[string]*time.Location) {
	if m.lag != nil {
		m.lag.zones = zones
	}
}

var lagDesc = prometheus.NewDesc("dbsync_cursor_lag_seconds",
	"Now minus the time in the sync's cursor: how far behind the source it is.", []string{"sync"}, nil)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	wms, err := c.wm.Watermarks(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(lagDesc, err)
		return
	}
	now := c.now()
	configured := make(map[string]bool, len(c.syncs))
	for _, s := range c.syncs {
		configured[s] = true
	}
	for _, w := range wms {
		if !configured[w.Sync] {
			continue
		}
		cur, err := state.DecodeCursor(w.Cursor)
		if err != nil {
			c.log.WithError(err).WithField("sync", w.Sync).Warn("cursor lag: read the cursor")
			continue
		}
		if cur == nil {
			continue
		}
		lag, ok := sync.Lag(cur, c.zones[w.Sync], now)
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag.Seconds(), w.Sync)
	}
}

// promLog sends promhttp's errors to the process's log.
type promLog struct{ log logrus.FieldLogger }

func (l promLog) Println(v ...any) { l.log.Warn(v...) }
