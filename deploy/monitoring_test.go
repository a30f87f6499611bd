// Package deploy_test checks the monitoring that ships beside the manifests: the
// Prometheus alert rules (prometheus/alerts.yaml) parse and validate as Prometheus
// loads them, and every query of the rules and of the Grafana dashboard
// (grafana/dbsync.json) parses as PromQL and names only metrics dbsync exports.
package deploy_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/metrics"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
	"github.com/dbsync/dbsync/value"
)

const (
	alertsFile    = "prometheus/alerts.yaml"
	dashboardFile = "grafana/dbsync.json"
)

// fixedLag is a store with one sync at a time cursor, so the lag metric is exported.
type fixedLag struct{ cursor string }

func (f fixedLag) Watermarks(context.Context) ([]store.Watermark, error) {
	return []store.Watermark{{Sync: "users", Cursor: f.cursor}}, nil
}

// exported is every metric name a dbsync serve's /metrics can show, histogram and
// summary series included.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	cur, err := state.EncodeCursor(&value.Cursor{Value: time.Now().Add(-time.Minute), Key: int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := logtest.NewNullLogger()
	m := metrics.New("dev", []metrics.Sync{{Name: "users"}, {Name: "accounts", Kind: config.KindObjects},
		{Name: "memberships", Kind: config.KindRelationships}}, fixedLag{cur}, log)
	now := time.Now()
	m.Observe(&engine.Result{Sync: "users", Status: store.RunOK, Started: now, Ended: now})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	for _, want := range []string{"dbsync_cursor_lag_seconds", "dbsync_run_duration_seconds_bucket", "dbsync_last_run_caught_up"} {
		if !names[want] {
			t.Fatalf("the metrics registry does not export %s: %v", want, names)
		}
	}
	return names
}

// metricNames parses a PromQL expression and lists the metric names it selects.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	// Grafana's interval variables are no PromQL; any duration stands in for them.
	expr = regexp.MustCompile(`\$__(rate_)?interval|\$__range`).ReplaceAllString(expr, "5m")
	e, err := parser.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	return names
}

// TestAlertRules: the rules load as Prometheus loads them (rulefmt validates each
// expression and template), cover what an operator must hear of, and use only
// metrics dbsync exports. With promtool installed, promtool agrees.
func TestAlertRules(t *testing.T) {
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", alertsFile, errs)
	}
	have := exported(t)
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			for _, n := range metricNames(t, r.Alert, r.Expr) {
				if !have[n] {
					t.Errorf("alert %s uses %s, which dbsync does not export", r.Alert, n)
				}
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no summary", r.Alert)
			}
		}
	}
	for _, want := range []string{"DbsyncSyncFailing", "DbsyncNoRecentSuccess", "DbsyncRowsRejected", "DbsyncBehind"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in %v", want, alerts)
		}
	}

	if path, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(path, "check", "rules", alertsFile).CombinedOutput(); err != nil {
			t.Fatalf("promtool check rules: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool is not installed: checked with rulefmt only")
	}
}

// TestAlertRulesRefuseNonsense: the parse above can fail.
func TestAlertRulesRefuseNonsense(t *testing.T) {
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "> 3 * 15 * 60", "> > 3", 1)
	if _, errs := rulefmt.Parse([]byte(bad), false, model.UTF8Validation); len(errs) == 0 {
		t.Fatal("a broken expression was not refused")
	}
}

// dashboard is what the test reads of the Grafana dashboard.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboard: the dashboard's queries parse and name only metrics dbsync exports,
// and it shows what tells a quiet source from a sync that is behind, and each kind's rows.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: no uid, title or panels", dashboardFile)
	}
	have := exported(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, n := range metricNames(t, "panel "+p.Title, tg.Expr) {
				used[n] = true
			}
		}
	}
	// Template variables: label_values(METRIC, label).
	for _, v := range d.Templating.List {
		q, _ := json.Marshal(v.Query)
		for _, m := range regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`).FindAllStringSubmatch(string(q), -1) {
			used[m[1]] = true
		}
	}
	var unknown []string
	for n := range used {
		if !have[n] {
			unknown = append(unknown, n)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("the dashboard uses metrics dbsync does not export: %v", unknown)
	}
	for _, want := range []string{"dbsync_cursor_lag_seconds", "dbsync_last_run_caught_up", "dbsync_last_run_rows_read",
		"dbsync_last_success_timestamp_seconds", "dbsync_rows_rejected_total", "dbsync_runs_total",
		"dbsync_sync_info", "dbsync_objects_created_total", "dbsync_relationships_created_total",
		"dbsync_people_deleted_total", "dbsync_people_suppressed_total", "dbsync_objects_deleted_total"} {
		if !used[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}
