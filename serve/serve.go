// Package serve is the long-running `dbsync serve`: it runs each sync on its cron
// schedule until stopped, and serves /healthz, /readyz and /metrics.
//
// A run still going when its next time comes is skipped (not queued); a panic in one
// sync is recovered and counted, and the other syncs go on. Runs in other processes
// are kept apart by the sync's lease in the store (package state), not here.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/metrics"
	"github.com/dbsync/dbsync/store"
)

// The HTTP endpoints; the Kubernetes manifests' probes use the same.
const (
	DefaultListen = ":8080"
	LivePath      = "/livez" // the process serves HTTP: the liveness probe
	HealthPath    = "/healthz"
	ReadyPath     = "/readyz"
	MetricsPath   = "/metrics"
)

// healthTimeout bounds the store check behind /healthz and /readyz.
const healthTimeout = 2 * time.Second

// ErrNoSchedule means a sync has no schedule, so serve cannot run it.
var ErrNoSchedule = errors.New("no schedule")

// Config is what a Server runs.
type Config struct {
	Syncs   []config.Sync  // each needs a schedule
	Engine  *engine.Engine // runs the syncs; its Store answers /healthz
	Listen  string         // host:port for HTTP; DefaultListen when empty
	Version string         // for dbsync_build_info
	Log     logrus.FieldLogger
}

// Server schedules the syncs and serves HTTP. Start it once; Stop is safe to call
// twice, concurrently, or before Start.
type Server struct {
	log     logrus.FieldLogger
	listen  string
	store   *store.Store
	metrics *metrics.Metrics
	jobs    []*job
	run     func(ctx context.Context, s config.Sync) *engine.Result // Engine.Run; a test may replace it

	mu        gosync.Mutex
	started   bool
	stopped   bool
	ready     atomic.Bool
	cron      *cron.Cron
	http      *http.Server
	addr      net.Addr
	runCtx    context.Context
	runCancel context.CancelFunc
	stopOnce  gosync.Once
	stopErr   error
}

// CheckSchedules says which syncs serve cannot run because they have no schedule,
// naming them all in one error that wraps ErrNoSchedule.
func CheckSchedules(syncs []config.Sync) error {
	if len(syncs) == 0 {
		return errors.New("no syncs to serve")
	}
	var unscheduled []string
	for _, s := range syncs {
		if strings.TrimSpace(s.Schedule) == "" {
			unscheduled = append(unscheduled, s.Name)
		}
	}
	if len(unscheduled) > 0 {
		return fmt.Errorf("%w: sync %s: serve runs each sync on its schedule; add one "+
			"(schedule: \"*/15 * * * *\" or \"@every 15m\"), or run it with dbsync run --sync NAME",
			ErrNoSchedule, strings.Join(unscheduled, ", "))
	}
	return nil
}

// New checks that every sync has a schedule cron takes and prepares the server.
func New(cfg Config) (*Server, error) {
	if err := CheckSchedules(cfg.Syncs); err != nil {
		return nil, err
	}
	srv := &Server{
		log:    cfg.Log,
		listen: cfg.Listen,
		store:  cfg.Engine.Store,
		run: func(ctx context.Context, s config.Sync) *engine.Result {
			return cfg.Engine.Run(ctx, s, engine.Options{})
		},
	}
	if srv.listen == "" {
		srv.listen = DefaultListen
	}
	zones := make(map[string]*time.Location, len(cfg.Syncs))
	for _, s := range cfg.Syncs {
		sched, err := cron.ParseStandard(s.Schedule)
		if err != nil {
			return nil, fmt.Errorf("sync %s: schedule: %w", s.Name, err)
		}
		srv.jobs = append(srv.jobs, &job{srv: srv, sync: s, schedule: sched})
		zones[s.Name] = s.Spec().Timezone
	}
	srv.metrics = metrics.New(cfg.Version, metrics.Syncs(cfg.Syncs), cfg.Engine.Store, cfg.Log)
	srv.metrics.SetTimezones(zones)
	return srv, nil
}

// Start listens, then schedules the syncs; /readyz answers 200 from then on. Runs go
// on until Stop, whatever happens to ctx, so that Stop decides how they end.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return errors.New("serve: Start called twice or after Stop")
	}
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.listen, err)
	}
	s.started = true
	s.addr = ln.Addr()
	s.seedLastSuccess(ctx)

	s.runCtx, s.runCancel = context.WithCancel(context.WithoutCancel(ctx))
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.WithError(err).Error("HTTP server stopped")
		}
	}()

	s.cron = cron.New()
	for _, j := range s.jobs {
		s.cron.Schedule(j.schedule, j)
	}
	s.cron.Start()
	for _, j := range s.jobs {
		s.log.WithFields(logrus.Fields{"sync": j.sync.Name, "schedule": j.sync.Schedule,
			"next": j.schedule.Next(time.Now()).UTC().Format(time.RFC3339)}).Info("scheduled")
	}
	s.ready.Store(true)
	s.log.WithField("addr", s.addr.String()).Info("serving")
	return nil
}

// Addr is the address HTTP listens on, once started (the port, when Listen had :0).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == nil {
		return ""
	}
	return s.addr.String()
}

// Stop stops scheduling runs, lets each running sync commit its current batch and
// return, then closes HTTP. It returns ctx's error when ctx ends first (the runs are
// still stopping then). Safe to call twice or before Start.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.ready.Store(false)
	s.log.Info("stopping: no new runs; running syncs stop after their current batch")
	cronDone := s.cron.Stop() // no new runs; done when the running jobs have returned
	s.runCancel()             // running syncs stop after their current batch
	select {
	case <-cronDone.Done():
	case <-ctx.Done():
		return fmt.Errorf("stop: syncs still running: %w", ctx.Err())
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(shutdown); err != nil {
		return fmt.Errorf("stop HTTP: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// Handler serves /livez, /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LivePath, livez)
	mux.HandleFunc("GET "+HealthPath, s.healthz)
	mux.HandleFunc("GET "+ReadyPath, s.readyz)
	mux.Handle("GET "+MetricsPath, s.metrics.Handler())
	return mux
}

// livez is 200 whenever the process answers HTTP. It checks nothing else, so a
// liveness probe on it restarts a hung process but not every replica at once when
// the shared store is briefly down (a restart would not bring the store back).
func livez(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }

// healthz is 200 while the store answers a query within healthTimeout.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !s.storeAnswers(w, r, "healthz") {
		return
	}
	fmt.Fprintln(w, "ok")
}

// readyz is 200 once the syncs are scheduled (the store was migrated when it was
// opened), until Stop, while the store answers: a replica that cannot reach the
// store is taken out of service, not restarted.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	if !s.storeAnswers(w, r, "readyz") {
		return
	}
	fmt.Fprintln(w, "ready")
}

// storeAnswers checks the store within healthTimeout; when it does not answer it
// writes 503 and returns false.
func (s *Server) storeAnswers(w http.ResponseWriter, r *http.Request, probe string) bool {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if _, err := s.store.Watermark(ctx, ""); err != nil {
		s.log.WithError(err).Warn(probe + ": the store does not answer")
		http.Error(w, "the store does not answer", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// seedLastSuccess sets dbsync_last_success_timestamp_seconds from the run history, so
// a restarted process does not report that no run ever succeeded.
func (s *Server) seedLastSuccess(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, j := range s.jobs {
		runs, err := s.store.Runs(ctx, j.sync.Name, 100)
		if err != nil {
			s.log.WithError(err).WithField("sync", j.sync.Name).Warn("read the run history")
			continue
		}
		for _, r := range runs {
			if r.Status == store.RunOK {
				s.metrics.SetLastSuccess(j.sync.Name, r.Ended)
				break
			}
		}
	}
}

// job is one sync on its schedule.
type job struct {
	srv      *Server
	sync     config.Sync
	schedule cron.Schedule
	running  atomic.Bool
}

// Run is called by cron at each scheduled time, in a goroutine of its own.
func (j *job) Run() {
	s, name := j.srv, j.sync.Name
	log := s.log.WithField("sync", name)
	if s.runCtx.Err() != nil {
		return // stopping
	}
	if !j.running.CompareAndSwap(false, true) {
		log.Warn("skipped: the previous run is still going")
		s.metrics.CountRun(name, metrics.StatusStillRunning)
		return
	}
	defer j.running.Store(false)
	defer func() {
		if p := recover(); p != nil {
			log.WithFields(logrus.Fields{"panic": fmt.Sprint(p), "stack": string(debug.Stack())}).
				Error("sync panicked; the other syncs go on")
			s.metrics.CountRun(name, metrics.StatusPanicked)
		}
	}()
	s.metrics.Observe(s.run(s.runCtx, j.sync))
}
