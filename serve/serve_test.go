package serve

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/metrics"
	"github.com/dbsync/dbsync/store"
)

type testBundle struct {
	store *store.Store
	log   *logrus.Logger
	hook  *logtest.Hook
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", testdb.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log, hook := logtest.NewNullLogger()
	return &testBundle{store: st, log: log, hook: hook}
}

func (b *testBundle) server(t *testing.T, syncs ...config.Sync) *Server {
	t.Helper()
	srv, err := New(Config{Syncs: syncs, Engine: &engine.Engine{Store: b.store, Log: b.log},
		Listen: "127.0.0.1:0", Version: "test", Log: b.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	return srv
}

// count counts the log lines of a sync with this message.
func (b *testBundle) count(sync, msg string) int {
	n := 0
	for _, e := range b.hook.AllEntries() {
		if e.Message == msg && e.Data["sync"] == sync {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds, or fails the test after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func every(name, schedule string) config.Sync {
	return config.Sync{Name: name, Schedule: schedule}
}

func TestEverySyncNeedsASchedule(t *testing.T) {
	b := setup(t)
	_, err := New(Config{Syncs: []config.Sync{every("a", "@every 1m"), every("b", ""), every("c", " ")},
		Engine: &engine.Engine{Store: b.store, Log: b.log}, Log: b.log})
	if !errors.Is(err, ErrNoSchedule) || !strings.Contains(err.Error(), "sync b, c:") {
		t.Fatalf("want ErrNoSchedule naming b and c, got %v", err)
	}
}

// TestScheduler: each sync runs on its schedule; a run still going at its next time
// is skipped and logged, never run twice; a panicking sync does not stop the others
// and is scheduled again; Stop waits for the running sync to return.
func TestScheduler(t *testing.T) {
	b := setup(t)
	srv := b.server(t, every("ok", "@every 1s"), every("slow", "@every 1s"), every("boom", "@every 1s"))
	var okRuns, slowRuns, slowRunning, boomRuns atomic.Int64
	var slowReturned atomic.Bool
	srv.run = func(ctx context.Context, s config.Sync) *engine.Result {
		res := &engine.Result{Sync: s.Name, Status: store.RunOK, Started: time.Now(), Counts: store.Counts{RowsRead: 1}}
		switch s.Name {
		case "ok":
			okRuns.Add(1)
		case "slow":
			slowRuns.Add(1)
			if slowRunning.Add(1) > 1 {
				t.Error("two runs of slow at once")
			}
			<-ctx.Done() // until Stop
			slowRunning.Add(-1)
			slowReturned.Store(true)
			res.Status, res.Err = store.RunFailed, engine.ErrInterrupted
		case "boom":
			boomRuns.Add(1)
			panic("boom")
		}
		res.Ended = time.Now()
		return res
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ok runs 3 times, boom panics twice, slow is skipped twice", func() bool {
		return okRuns.Load() >= 3 && boomRuns.Load() >= 2 && b.count("slow", "skipped: the previous run is still going") >= 2
	})
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slowReturned.Load() {
		t.Fatal("Stop returned before the running sync did")
	}
	if n := slowRuns.Load(); n != 1 {
		t.Fatalf("slow ran %d times, want once: its next times were skipped while it ran", n)
	}
	if n := b.count("boom", "sync panicked; the other syncs go on"); n != int(boomRuns.Load()) {
		t.Fatalf("%d panics logged, %d runs", n, boomRuns.Load())
	}
	for _, c := range []struct {
		sync, status string
		want         int64
	}{
		{"ok", metrics.StatusOK, okRuns.Load()},
		{"boom", metrics.StatusPanicked, boomRuns.Load()},
		{"slow", metrics.StatusFailed, 1},
		{"slow", metrics.StatusStillRunning, int64(b.count("slow", "skipped: the previous run is still going"))},
	} {
		if got := runsTotal(t, srv, c.sync, c.status); got != float64(c.want) {
			t.Errorf("dbsync_runs_total{sync=%q,status=%q} = %v, want %d", c.sync, c.status, got, c.want)
		}
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// A scheduled time that fires while stopping starts no run.
	after := okRuns.Load()
	srv.jobs[0].Run()
	if okRuns.Load() != after {
		t.Fatal("a sync ran after Stop")
	}
}

func runsTotal(t *testing.T, srv *Server, sync, status string) float64 {
	t.Helper()
	body := scrape(t, srv.Handler())
	prefix := `dbsync_runs_total{status="` + status + `",sync="` + sync + `"} `
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

func TestHealthAndReadiness(t *testing.T) {
	b := setup(t)
	srv := b.server(t, every("users", "@every 1h"))
	h := srv.Handler()
	if code := get(t, h, ReadyPath); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz before Start: %d", code)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err == nil {
		t.Fatal("a second Start did not fail")
	}
	// Over the listener, as Kubernetes probes it.
	for _, path := range []string{LivePath, HealthPath, ReadyPath, MetricsPath} {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if path == MetricsPath && !strings.Contains(string(body), `dbsync_rows_read_total{sync="users"} 0`) {
			t.Fatalf("metrics lack the sync's counters before its first run:\n%s", body)
		}
	}
	b.store.Close() // the store no longer answers
	if code := get(t, h, HealthPath); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz with the store closed: %d", code)
	}
	// Readiness takes the replica out of service; liveness does not restart it.
	if code := get(t, h, ReadyPath); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the store closed: %d", code)
	}
	if code := get(t, h, LivePath); code != http.StatusOK {
		t.Fatalf("livez with the store closed: %d, want 200", code)
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := get(t, h, ReadyPath); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz after Stop: %d", code)
	}
}

func TestStopBeforeStart(t *testing.T) {
	b := setup(t)
	srv := b.server(t, every("users", "@every 1h"))
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop did not fail")
	}
}

func get(t *testing.T, h http.Handler, path string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, MetricsPath, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}
