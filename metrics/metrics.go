// Package metrics exports what syncs did in the Prometheus format (SPEC §5), on a
// registry of its own: counters and the run-duration histogram are fed from each
// run's engine.Result, and the cursor lag is read from the store at scrape time, so it
// stays current during a long run and whichever replica ran the sync.
//
// dbsync_cursor_lag_seconds is now minus the time in the sync's committed cursor: the
// watermark of the newest row applied. It measures how old the newest synced row is,
// not how far behind the source the sync is: a source with no new rows has a lag that
// grows by a second every second while every run succeeds. To tell "no new rows" from
// "behind", read it with dbsync_last_run_caught_up (1: the last run read the source to
// its end, so nothing newer was there) and dbsync_last_run_timestamp_seconds (that run
// is recent): a high lag is a problem only when the last run did not catch up, or when
// no run ended lately. deploy/prometheus/alerts.yaml follows that rule.
//
// What a row did is counted under its sync's kind: dbsync_people_*_total (SPEC §5) for
// people syncs, dbsync_objects_*_total, dbsync_relationships_*_total and
// dbsync_events_*_total for the others (an event is stored, or was stored already: it is
// never updated), so no series calls an object a person. Deletes (SPEC §10) are
// dbsync_people_deleted_total, dbsync_people_suppressed_total and
// dbsync_objects_deleted_total; rows skipped as not_found or suppressed are
// dbsync_rows_rejected_total{reason}. dbsync_sync_info{sync,kind} is 1 for every
// configured sync, for dashboards that group or filter syncs by kind.
package metrics

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

// Run outcomes counted by dbsync_runs_total{status}.
const (
	StatusOK             = "ok"
	StatusFailed         = "failed"
	StatusAlreadyRunning = "skipped_already_running" // another process holds the sync's lease
	StatusStillRunning   = "skipped_still_running"   // this process's previous run is still going
	StatusPanicked       = "panicked"
)

// attributeReasons are the reasons any kind's row is rejected for by its attributes
// (identity's checks, mapping's invalid_value) and the engine's duplicate_key.
var attributeReasons = []string{
	identity.ReasonAttributeNameTooLong,
	identity.ReasonValueTooLong,
	identity.ReasonTooManyAttributes,
	identity.ReasonInvalidValue,
	identity.ReasonInvalidAttributeName,
	identity.ReasonDuplicateAttribute,
	engine.ReasonDuplicateKey,
}

// objectIDReasons are the reasons an objects or relationships row is rejected for by
// its object_id (SPEC §8); an invalid one is invalid_value.
var objectIDReasons = []string{objects.ReasonNoObjectID, objects.ReasonObjectIDTooLong}

// personReasons are the reasons a row of any kind that finds a person is rejected for
// by its identifiers, and those it is skipped for (cio_id_not_found; suppressed: it
// carries a suppressed id or email, SPEC §10).
var personReasons = []string{
	identity.ReasonNoIdentifier,
	identity.ReasonInvalidEmail,
	identity.ReasonIDTooLong,
	identity.ReasonCioIDNotFound, // skipped
	identity.ReasonSuppressed,    // skipped
}

// notFound is the reason a deleting (or suppressing) row that finds nothing is
// skipped for: people and objects syncs (SPEC §10).
var notFound = []string{identity.ReasonNotFound}

// RejectedReasons are, by kind, the reasons of dbsync_rows_rejected_total: rejected
// and skipped rows. Each sync has a series at 0 for each of its kind's reasons from
// the start, so rate() and alerts see the first rejection instead of a series that
// appears.
var RejectedReasons = map[config.Kind][]string{
	config.KindPeople:        slices.Concat(personReasons, notFound, attributeReasons),
	config.KindObjects:       slices.Concat(objectIDReasons, notFound, attributeReasons),
	config.KindRelationships: slices.Concat(personReasons, objectIDReasons, attributeReasons),
	config.KindEvents: slices.Concat(personReasons, []string{events.ReasonInvalidEventName, events.ReasonEventTooLarge,
		events.ReasonNoEventID, events.ReasonEventIDTooLong, events.ReasonNoTimestamp,
		identity.ReasonInvalidValue, engine.ReasonDuplicateKey}),
}

// FailedChangeReasons are the reasons of dbsync_failed_attribute_changes_total, which
// has series for people syncs only: an objects row has no identifiers to refuse a
// change of, and a relationships row never changes its person (SPEC §8).
var FailedChangeReasons = []string{
	identity.ReasonInvalidEmail,
	identity.ReasonIDChangeNotAllowed,
	identity.ReasonEmailChangeNotAllowed,
	identity.ReasonIDTaken,
	identity.ReasonEmailTaken,
}

// lagTimeout bounds the store read behind dbsync_cursor_lag_seconds at scrape time.
const lagTimeout = 2 * time.Second

// Watermarks is where the cursor lag comes from: the store.
type Watermarks interface {
	Watermarks(ctx context.Context) ([]store.Watermark, error)
}

// Sync is what the metrics need to know of a configured sync.
type Sync struct {
	Name string
	Kind config.Kind // the zero Kind is people, as in config
}

// Syncs lists the configured syncs' names and kinds.
func Syncs(syncs []config.Sync) []Sync {
	out := make([]Sync, len(syncs))
	for i, s := range syncs {
		out[i] = Sync{Name: s.Name, Kind: s.Kind}
	}
	return out
}

// outcomes are the counters of what a kind's rows did: created, updated, unchanged,
// and deleted and suppressed (SPEC §10). A kind's rows that cannot do one have nil:
// events are never updated, only people and objects deleted, only people suppressed.
type outcomes struct {
	created, updated, unchanged *prometheus.CounterVec
	deleted, suppressed         *prometheus.CounterVec
}

func (o outcomes) all() []*prometheus.CounterVec {
	var out []*prometheus.CounterVec
	for _, c := range []*prometheus.CounterVec{o.created, o.updated, o.unchanged, o.deleted, o.suppressed} {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// Metrics holds the collectors of one process.
type Metrics struct {
	reg         *prometheus.Registry
	log         logrus.FieldLogger
	rowsRead    *prometheus.CounterVec
	byKind      map[config.Kind]outcomes // people, objects, relationships, events
	info        *prometheus.GaugeVec
	rejected    *prometheus.CounterVec
	failed      *prometheus.CounterVec
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	lag         *lagCollector // nil without Watermarks
	lastRun     *prometheus.GaugeVec
	lastRows    *prometheus.GaugeVec
	caughtUp    *prometheus.GaugeVec
}

// New registers the collectors for the configured syncs. Each sync's counters start
// at 0, those of its kind only, so they are there to graph and alert on before its
// first run. wm is read at every scrape for the cursor lag (nil: no lag metric).
func New(version string, syncs []Sync, wm Watermarks, log logrus.FieldLogger) *Metrics {
	bySync := []string{"sync"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append(bySync, labels...))
	}
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		log:      log,
		rowsRead: counter("dbsync_rows_read_total", "Rows read from the source and committed."),
		byKind: map[config.Kind]outcomes{
			config.KindPeople: {
				created:    counter("dbsync_people_created_total", "People created."),
				updated:    counter("dbsync_people_updated_total", "People updated."),
				unchanged:  counter("dbsync_people_unchanged_total", "Rows that changed nothing."),
				deleted:    counter("dbsync_people_deleted_total", "People deleted by a people sync's delete: column."),
				suppressed: counter("dbsync_people_suppressed_total", "People suppressed (and so deleted) by a people sync's suppress: column."),
			},
			config.KindObjects: {
				created:   counter("dbsync_objects_created_total", "Objects created by an objects sync."),
				updated:   counter("dbsync_objects_updated_total", "Objects updated by an objects sync."),
				unchanged: counter("dbsync_objects_unchanged_total", "Rows of an objects sync that changed nothing."),
				deleted:   counter("dbsync_objects_deleted_total", "Objects deleted by an objects sync's delete: column."),
			},
			config.KindRelationships: {
				created:   counter("dbsync_relationships_created_total", "Relationships created by a relationships sync."),
				updated:   counter("dbsync_relationships_updated_total", "Relationships updated or removed by a relationships sync."),
				unchanged: counter("dbsync_relationships_unchanged_total", "Rows of a relationships sync that changed nothing."),
			},
			config.KindEvents: {
				created:   counter("dbsync_events_stored_total", "Events stored by an events sync."),
				unchanged: counter("dbsync_events_unchanged_total", "Rows of an events sync whose event was stored already."),
			},
		},
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dbsync_sync_info", Help: "Each configured sync's kind (people, objects, relationships, events); always 1.",
		}, []string{"sync", "kind"}),
		rejected: counter("dbsync_rows_rejected_total", "Rows rejected or skipped, by reason.", "reason"),
		failed:   counter("dbsync_failed_attribute_changes_total", "Attribute changes refused, by reason.", "reason"),
		runs:     counter("dbsync_runs_total", "Scheduled runs by outcome.", "status"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dbsync_run_duration_seconds",
			Help:    "How long runs that held the lease took, failed ones included.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14400},
		}, bySync),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dbsync_last_success_timestamp_seconds",
			Help: "When the last successful run ended, in Unix seconds.",
		}, bySync),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dbsync_last_run_timestamp_seconds",
			Help: "When the last run that held the lease ended, ok or failed, in Unix seconds.",
		}, bySync),
		lastRows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dbsync_last_run_rows_read",
			Help: "Rows the last run read; 0 after a run on a source with no new rows.",
		}, bySync),
		caughtUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dbsync_last_run_caught_up",
			Help: "1 when the last run read the source to its end (no rows newer than the cursor were left), 0 when it stopped before.",
		}, bySync),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dbsync_build_info", Help: "The running dbsync's version; always 1.",
	}, []string{"version"})
	build.WithLabelValues(version).Set(1)
	m.reg.MustRegister(m.rowsRead, m.info, m.rejected, m.failed, m.runs,
		m.duration, m.lastSuccess, m.lastRun, m.lastRows, m.caughtUp, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, k := range []config.Kind{config.KindPeople, config.KindObjects, config.KindRelationships, config.KindEvents} {
		for _, c := range m.byKind[k].all() {
			m.reg.MustRegister(c)
		}
	}
	names := make([]string, len(syncs))
	for i, sy := range syncs {
		names[i] = sy.Name
	}
	if wm != nil {
		m.lag = &lagCollector{wm: wm, syncs: names, log: log, now: time.Now}
		m.reg.MustRegister(m.lag)
	}
	for _, sy := range syncs {
		s := sy.Name
		m.info.WithLabelValues(s, sy.Kind.String()).Set(1)
		m.rowsRead.WithLabelValues(s)
		for _, c := range m.outcomes(sy.Kind).all() {
			c.WithLabelValues(s)
		}
		for _, st := range []string{StatusOK, StatusFailed, StatusAlreadyRunning, StatusStillRunning, StatusPanicked} {
			m.runs.WithLabelValues(s, st)
		}
		for _, r := range RejectedReasons[kindOf(sy.Kind)] {
			m.rejected.WithLabelValues(s, r)
		}
		if kindOf(sy.Kind) == config.KindPeople {
			for _, r := range FailedChangeReasons {
				m.failed.WithLabelValues(s, r)
			}
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
func (m *Metrics) Observe(res *engine.Result) {
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
	// A run that ends ok has read until the source returned no more rows (the engine
	// stops only on the last batch); a failed or interrupted one stopped before.
	caughtUp := 0.0
	if res.Status == store.RunOK {
		caughtUp = 1
	}
	m.caughtUp.WithLabelValues(s).Set(caughtUp)
	m.lastRun.WithLabelValues(s).Set(unixSeconds(res.Ended))
	m.lastRows.WithLabelValues(s).Set(float64(res.RowsRead))
	m.rowsRead.WithLabelValues(s).Add(float64(res.RowsRead))
	o := m.outcomes(res.Kind)
	o.created.WithLabelValues(s).Add(float64(res.Created))
	if o.updated != nil {
		o.updated.WithLabelValues(s).Add(float64(res.Updated))
	}
	o.unchanged.WithLabelValues(s).Add(float64(res.Unchanged))
	if o.deleted != nil {
		o.deleted.WithLabelValues(s).Add(float64(res.Deleted))
	}
	if o.suppressed != nil {
		o.suppressed.WithLabelValues(s).Add(float64(res.Suppressed))
	}
	for reason, n := range res.RejectedBy {
		m.rejected.WithLabelValues(s, reason).Add(float64(n))
	}
	for reason, n := range res.FailedBy {
		m.failed.WithLabelValues(s, reason).Add(float64(n))
	}
	m.duration.WithLabelValues(s).Observe(res.Ended.Sub(res.Started).Seconds())
}

// outcomes are the counters of a kind's rows.
func (m *Metrics) outcomes(k config.Kind) outcomes { return m.byKind[kindOf(k)] }

// kindOf is the kind a sync's rows are counted as: its own, people for the zero Kind
// (and for a kind config does not run).
func kindOf(k config.Kind) config.Kind {
	switch k {
	case config.KindObjects, config.KindRelationships, config.KindEvents:
		return k
	}
	return config.KindPeople
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
	"Now minus the time in the sync's committed cursor (the newest applied row's watermark); it also grows on a source with no new rows, see dbsync_last_run_caught_up.", []string{"sync"}, nil)

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
		lag, ok := engine.Lag(cur, c.zones[w.Sync], now)
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag.Seconds(), w.Sync)
	}
}

// promLog sends promhttp's errors to the process's log.
type promLog struct{ log logrus.FieldLogger }

func (l promLog) Println(v ...any) { l.log.Warn(v...) }
