// Package kubernetes_test checks the manifests in this folder: each overlay is
// rendered with kustomize's own library (krusty, what `kubectl apply -k` runs), and
// every rendered object is decoded into its Kubernetes API type strictly (a misspelt
// field fails), then checked against dbsync itself: the config they mount loads, the
// probes hit serve's endpoints on its port, and every ${VAR} of the config comes from
// the Secret (secret.example.yaml, which no kustomization applies).
package kubernetes_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/serve"
)

// configKey is the ConfigMap key that holds dbsync.yaml.
const configKey = "dbsync.yaml"

// The overlays, one per mode, and the example Secret.
const (
	cronJobOverlay    = "overlays/cronjob"
	deploymentOverlay = "overlays/deployment"
	secretExample     = "secret.example.yaml"
)

type manifests struct {
	kinds          []string // what the overlay renders, "apiVersion Kind" each
	configMap      *corev1.ConfigMap
	serviceAccount *corev1.ServiceAccount
	secret         *corev1.Secret
	cronJob        *batchv1.CronJob
	deployment     *appsv1.Deployment
	service        *corev1.Service
	pdb            *policyv1.PodDisruptionBudget
}

// render builds an overlay as `kubectl apply -k` would, decodes what it renders, and
// adds the example Secret (applied separately) for the checks of the environment.
func render(t *testing.T, overlay string) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), overlay)
	if err != nil {
		t.Fatalf("kustomize %s: %v", overlay, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatalf("kustomize %s: %v", overlay, err)
	}
	var m manifests
	decode(t, overlay, out, &m)
	if m.secret != nil {
		t.Fatalf("%s applies a Secret: the example must not overwrite the real one", overlay)
	}
	rendered := m.kinds
	b, err := os.ReadFile(secretExample)
	if err != nil {
		t.Fatal(err)
	}
	decode(t, secretExample, b, &m)
	if m.secret == nil {
		t.Fatalf("%s holds no Secret", secretExample)
	}
	m.kinds = rendered
	if m.configMap == nil {
		t.Fatalf("%s renders no ConfigMap", overlay)
	}
	return m
}

// decode reads every YAML document of b into its API type, strictly.
func decode(t *testing.T, from string, b []byte, m *manifests) {
	t.Helper()
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		where := fmt.Sprintf("%s, document %d", from, i+1)
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		var obj any
		kind := meta.APIVersion + " " + meta.Kind
		m.kinds = append(m.kinds, kind)
		switch kind {
		case "v1 ConfigMap":
			m.configMap = &corev1.ConfigMap{}
			obj = m.configMap
		case "v1 ServiceAccount":
			m.serviceAccount = &corev1.ServiceAccount{}
			obj = m.serviceAccount
		case "v1 Secret":
			m.secret = &corev1.Secret{}
			obj = m.secret
		case "batch/v1 CronJob":
			m.cronJob = &batchv1.CronJob{}
			obj = m.cronJob
		case "apps/v1 Deployment":
			m.deployment = &appsv1.Deployment{}
			obj = m.deployment
		case "v1 Service":
			m.service = &corev1.Service{}
			obj = m.service
		case "policy/v1 PodDisruptionBudget":
			m.pdb = &policyv1.PodDisruptionBudget{}
			obj = m.pdb
		default:
			t.Fatalf("%s: unexpected %s", where, kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
}

// TestOverlays: each overlay applies one mode and what it needs, no example Secret.
func TestOverlays(t *testing.T) {
	for overlay, want := range map[string][]string{
		cronJobOverlay:    {"v1 ConfigMap", "v1 ServiceAccount", "batch/v1 CronJob"},
		deploymentOverlay: {"v1 ConfigMap", "v1 ServiceAccount", "apps/v1 Deployment", "v1 Service", "policy/v1 PodDisruptionBudget"},
	} {
		got := render(t, overlay).kinds
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s renders %v, want %v", overlay, got, want)
		}
	}
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestStrictParsing: the check itself catches a misspelt field.
func TestStrictParsing(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(cronJobOverlay, "cronjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	typo := bytes.Replace(b, []byte("concurrencyPolicy:"), []byte("concurrencyPolcy:"), 1)
	if err := yaml.UnmarshalStrict(typo, &batchv1.CronJob{}); err == nil || !strings.Contains(err.Error(), "concurrencyPolcy") {
		t.Fatalf("a misspelt field was not refused: %v", err)
	}
}

// TestConfig: the mounted config loads and validates with the Secret's values, and
// serve takes every sync (each has a schedule).
func TestConfig(t *testing.T) {
	m := render(t, deploymentOverlay)
	text, ok := m.configMap.Data[configKey]
	if !ok {
		t.Fatalf("the ConfigMap has no %s", configKey)
	}
	for k, v := range m.secret.StringData {
		t.Setenv(k, v)
	}
	path := filepath.Join(t.TempDir(), configKey)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the ConfigMap's config: %v", err)
	}
	if cfg.Store.Driver != "postgres" {
		t.Errorf("store driver %s: pods share the store, which must be PostgreSQL", cfg.Store.Driver)
	}
	if err := serve.CheckSchedules(cfg.Syncs); err != nil {
		t.Error(err)
	}
}

func TestCronJob(t *testing.T) {
	m := render(t, cronJobOverlay)
	cj := m.cronJob
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if _, err := cron.ParseStandard(cj.Spec.Schedule); err != nil {
		t.Errorf("schedule: %v", err)
	}
	job := cj.Spec.JobTemplate.Spec
	if job.BackoffLimit == nil {
		t.Error("the job has no backoffLimit")
	}
	if job.ActiveDeadlineSeconds == nil || *job.ActiveDeadlineSeconds <= 0 {
		t.Error("the job has no activeDeadlineSeconds: a hung run would hold off every later one (concurrencyPolicy Forbid)")
	}
	pod := job.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("restartPolicy %q", pod.RestartPolicy)
	}
	c := checkPod(t, m, pod)
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Errorf("args %q, want dbsync run", c.Args)
	}
}

func TestDeployment(t *testing.T) {
	m := render(t, deploymentOverlay)
	d := m.deployment
	pod := d.Spec.Template.Spec
	c := checkPod(t, m, pod)
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("args %q, want dbsync serve", c.Args)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds < 30 {
		t.Error("terminationGracePeriodSeconds: want 30 or more, for the current batch to commit")
	}
	if !matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the selector %v does not select the pods %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}

	// serve listens on --listen (or its default); the probes and the metrics port are that.
	listen := serve.DefaultListen
	if i := slices.Index(c.Args, "--listen"); i >= 0 && i+1 < len(c.Args) {
		listen = c.Args[i+1]
	}
	_, portText, _ := strings.Cut(listen, ":")
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatalf("--listen %q: %v", listen, err)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"livenessProbe", c.LivenessProbe, serve.LivePath}, // not the store: an outage must not restart every pod
		{"readinessProbe", c.ReadinessProbe, serve.ReadyPath},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe of %s", p.name, p.path)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || containerPort(c, p.probe.HTTPGet.Port) != port {
			t.Errorf("%s: %s on port %v, want %s on %d", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path, port)
		}
	}

	pdb := m.pdb
	if pdb == nil || pdb.Spec.Selector == nil || !matches(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("no PodDisruptionBudget selects the serve pods %v", d.Spec.Template.Labels)
	} else {
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		// It must keep one replica up and still let a drain evict one.
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			if n := pdb.Spec.MaxUnavailable.IntValue(); pdb.Spec.MaxUnavailable.Type != intstr.Int || n < 1 || n >= int(replicas) {
				t.Errorf("maxUnavailable %s with %d replicas: want from 1 to %d", pdb.Spec.MaxUnavailable.String(), replicas, replicas-1)
			}
		case pdb.Spec.MinAvailable != nil:
			if n := pdb.Spec.MinAvailable.IntValue(); pdb.Spec.MinAvailable.Type != intstr.Int || n < 1 || n >= int(replicas) {
				t.Errorf("minAvailable %s with %d replicas: want from 1 to %d", pdb.Spec.MinAvailable.String(), replicas, replicas-1)
			}
		default:
			t.Error("the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
		}
	}

	svc := m.service
	if !matches(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("the Service selects %v, not the serve pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	if len(svc.Spec.Ports) != 1 || containerPort(c, svc.Spec.Ports[0].TargetPort) != port {
		t.Errorf("the Service's ports %+v do not reach serve's port %d", svc.Spec.Ports, port)
	}
}

// checkPod checks what the CronJob's and the Deployment's pods share and returns the
// dbsync container: the config is the ConfigMap's, at the path -c names; every ${VAR}
// of it comes from the Secret; resources are set; it runs as non-root.
func checkPod(t *testing.T, m manifests, pod corev1.PodSpec) corev1.Container {
	t.Helper()
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image == "" {
		t.Error("no image")
	}
	// No API token in the pod: dbsync never calls the Kubernetes API.
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod does not set automountServiceAccountToken: false")
	}
	if sa := m.serviceAccount; sa == nil || pod.ServiceAccountName != sa.Name ||
		sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("the pod's service account %q is not the overlay's, with automountServiceAccountToken: false", pod.ServiceAccountName)
	}

	i := slices.Index(c.Args, "-c")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("args %q: no -c FILE", c.Args)
	}
	if got := mountedConfig(m, pod, c); got != c.Args[i+1] {
		t.Errorf("-c %s, but the ConfigMap's %s is mounted at %q", c.Args[i+1], configKey, got)
	}

	for _, name := range configVars(m.configMap.Data[configKey]) {
		if !fromSecret(m.secret, c, name) {
			t.Errorf("${%s} in the config does not come from the Secret %s", name, m.secret.Name)
		}
	}

	for _, r := range []struct {
		list corev1.ResourceList
		name corev1.ResourceName
	}{{c.Resources.Requests, corev1.ResourceCPU}, {c.Resources.Requests, corev1.ResourceMemory}, {c.Resources.Limits, corev1.ResourceMemory}} {
		if q, ok := r.list[r.name]; !ok || q.IsZero() {
			t.Errorf("resources: no %s", r.name)
		}
	}

	nonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot
	if sc := c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		nonRoot = *sc.RunAsNonRoot
	}
	sc := c.SecurityContext
	if !nonRoot || sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("want runAsNonRoot, readOnlyRootFilesystem and no privilege escalation")
	}
	return c
}

// mountedConfig is where the container sees the ConfigMap's config file; "" if nowhere.
func mountedConfig(m manifests, pod corev1.PodSpec, c corev1.Container) string {
	for _, v := range pod.Volumes {
		if v.ConfigMap == nil || v.ConfigMap.Name != m.configMap.Name {
			continue
		}
		file := configKey
		if len(v.ConfigMap.Items) > 0 {
			file = ""
			for _, it := range v.ConfigMap.Items {
				if it.Key == configKey {
					file = it.Path
				}
			}
		}
		for _, vm := range c.VolumeMounts {
			if vm.Name == v.Name && file != "" {
				if vm.SubPath != "" {
					if vm.SubPath == file {
						return vm.MountPath
					}
					continue
				}
				return strings.TrimSuffix(vm.MountPath, "/") + "/" + file
			}
		}
	}
	return ""
}

// configVars lists the ${VAR}s the config expands from the environment.
func configVars(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(text, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// fromSecret says whether the container's environment variable name comes from a
// key the Secret has.
func fromSecret(s *corev1.Secret, c corev1.Container, name string) bool {
	has := func(key string) bool {
		_, a := s.StringData[key]
		_, b := s.Data[key]
		return a || b
	}
	for _, e := range c.Env {
		if e.Name == name {
			ref := e.ValueFrom
			return ref != nil && ref.SecretKeyRef != nil && ref.SecretKeyRef.Name == s.Name && has(ref.SecretKeyRef.Key)
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil && ef.SecretRef.Name == s.Name && has(strings.TrimPrefix(name, ef.Prefix)) &&
			strings.HasPrefix(name, ef.Prefix) {
			return true
		}
	}
	return false
}

// containerPort resolves a probe's or a Service's port (a number or a port name) to
// the container's port number; 0 when it names no port of the container.
func containerPort(c corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

// matches says whether a selector selects pods with these labels.
func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
