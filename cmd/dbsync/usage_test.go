package main

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestHelp: -h / --help prints the command's usage, with an example, on stdout and
// exits 0, for dbsync itself and every command and subcommand (SPEC §5).
func TestHelp(t *testing.T) {
	lines := [][]string{{}, {"help"}, {"help", "run"}}
	for _, c := range commands {
		lines = append(lines, []string{c.name})
	}
	lines = append(lines, []string{"state", "show"}, []string{"state", "reset"}, []string{"people", "get"}, []string{"people", "log"},
		[]string{"people", "relationships"}, []string{"people", "events"}, []string{"objects", "get"})
	for _, line := range lines {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, line...), h)
			if line != nil && len(line) > 0 && line[0] == "help" {
				args = line
			}
			code, out, errOut := dbsync(t, args...)
			if code != exitOK || !strings.Contains(out, "usage: dbsync") || !strings.Contains(out, "example:\n  dbsync ") {
				t.Errorf("dbsync %s: exit %d, stdout %q, stderr %q; want usage with an example on stdout, exit 0", strings.Join(args, " "), code, out, errOut)
			}
		}
	}
}

// TestUsageErrors: an unknown command, subcommand or flag and a stray argument are
// usage errors (exit 2) naming it, with a suggestion when a valid name is near.
func TestUsageErrors(t *testing.T) {
	cfg := writeConfig(t, "sqlite", filepath.Join(t.TempDir(), "store.db"), "", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rn"}, `unknown command "rn"; did you mean "run"?`},
		{[]string{"urn", "-c", cfg}, `did you mean "run"?`},
		{[]string{"exprot"}, `did you mean "export"?`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (`},
		{[]string{"state", "shwo"}, `unknown state subcommand "shwo"; did you mean "show"?`},
		{[]string{"people", "gte", "x"}, `did you mean "get"?`},
		{[]string{"run", "-c", cfg, "--snyc", "a"}, `unknown flag -snyc; did you mean "--sync"?`},
		{[]string{"runs", "-c", cfg, "--limt", "3"}, `did you mean "--limit"?`},
		{[]string{"run", "-c", cfg, "--frobnicate"}, `unknown flag -frobnicate`},
		{[]string{"run", "-c", cfg, "app_users"}, `run takes no arguments, got "app_users" (name a sync with --sync NAME)`},
		{[]string{"runs", "app_users", "-c", cfg}, `runs takes no arguments, got "app_users"`},
		{[]string{"state", "show", "-c", cfg, "extra"}, `takes no arguments, got "extra"`},
		{[]string{"people", "get", "-c", cfg, "a", "b"}, `got also "b"`},
		{[]string{"people", "relationship", "-c", cfg, "a"}, `unknown people subcommand "relationship"; did you mean "relationships"?`},
		{[]string{"objects", "gte", "-c", cfg, "account", "a"}, `unknown objects subcommand "gte"; did you mean "get"?`},
		{[]string{"objcets", "get"}, `did you mean "objects"?`},
		{[]string{"objects", "get", "-c", cfg, "account"}, `objects get takes an object type and an object id: TYPE ID`},
		{[]string{"objects", "get", "-c", cfg, "account", "a", "b"}, `got also "b"`},
		{[]string{"objects", "get", "-c", cfg, "--jsno", "account", "a"}, `did you mean "--json"?`},
		{[]string{"people", "relationships", "-c", cfg, "a", "b"}, `got also "b"`},
		{[]string{"people", "evnets", "-c", cfg, "a"}, `unknown people subcommand "evnets"; did you mean "events"?`},
		{[]string{"people", "events", "-c", cfg, "a", "b"}, `got also "b"`},
		{[]string{"people", "events", "-c", cfg, "a", "--limt", "3"}, `did you mean "--limit"?`},
		{[]string{"people", "events", "-c", cfg, "a", "--limit", "0"}, `invalid value "0" for flag -limit`},
		{[]string{"people", "events", "-c", cfg, "a", "--limit", "ten"}, `invalid value "ten" for flag -limit`},
		{[]string{"people", "get", "-c", cfg, "a", "--limit", "3"}, `people get: unknown flag -limit`},
		{[]string{"run", "-c", cfg, "--log-level", "loud"}, `log level "loud"`},
	} {
		code, out, errOut := dbsync(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("dbsync %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
		if out != "" {
			t.Errorf("dbsync %s: a usage error printed on stdout: %q", strings.Join(tc.args, " "), out)
		}
	}
	// No suggestion when nothing is near.
	if _, _, errOut := dbsync(t, "frobnicate"); strings.Contains(errOut, "did you mean") {
		t.Errorf("a suggestion for a name near nothing: %q", errOut)
	}
}

// TestFlagsAfterArguments: flags may come before or after arguments.
func TestFlagsAfterArguments(t *testing.T) {
	cfg := writeConfig(t, "sqlite", filepath.Join(t.TempDir(), "store.db"), "", "")
	for _, args := range [][]string{
		{"people", "get", "-c", cfg, "nobody"},
		{"people", "get", "nobody", "-c", cfg},
	} {
		if code, _, errOut := dbsync(t, args...); code != exitNotFound {
			t.Errorf("dbsync %s: exit %d (%s), want 3", strings.Join(args, " "), code, errOut)
		}
	}
}

// TestBuildVersion: without -ldflags the module version from the build info.
func TestBuildVersion(t *testing.T) {
	info := func(v string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: v}}, true }
	}
	for _, tc := range []struct{ stamped, module, want string }{
		{"1.2.3", "v9.9.9", "1.2.3"},
		{"dev", "v1.4.0", "v1.4.0"},
		{"dev", "(devel)", "dev"},
		{"dev", "", "dev"},
	} {
		if got := buildVersion(tc.stamped, info(tc.module)); got != tc.want {
			t.Errorf("buildVersion(%q) with module %q = %q, want %q", tc.stamped, tc.module, got, tc.want)
		}
	}
	if got := buildVersion("dev", func() (*debug.BuildInfo, bool) { return nil, false }); got != "dev" {
		t.Errorf("no build info: %q", got)
	}
}

// dbsyncTerm runs a command line in process as if stdout were a terminal.
func dbsyncTerm(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, terminal: true}
	code = e.main(context.Background(), args)
	return code, out.String(), errOut.String()
}

// TestConfigDefault: without -c, $DBSYNC_CONFIG, then ./dbsync.yaml; neither is a
// usage error saying so.
func TestConfigDefault(t *testing.T) {
	cfg := writeConfig(t, "sqlite", filepath.Join(t.TempDir(), "store.db"), "", "")
	t.Setenv("DBSYNC_CONFIG", "")
	t.Chdir(t.TempDir())
	if code, _, errOut := dbsync(t, "runs"); code != exitUsage || !strings.Contains(errOut, "give -c FILE, set DBSYNC_CONFIG, or write ./dbsync.yaml") {
		t.Errorf("no config anywhere: exit %d, %s", code, errOut)
	}
	t.Chdir(filepath.Dir(cfg)) // it is named dbsync.yaml
	if code, _, errOut := dbsync(t, "runs"); code != exitOK {
		t.Errorf("./dbsync.yaml: exit %d, %s", code, errOut)
	}
	t.Setenv("DBSYNC_CONFIG", filepath.Join(t.TempDir(), "missing.yaml"))
	if code, _, errOut := dbsync(t, "runs"); code != exitUsage || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("DBSYNC_CONFIG wins over ./dbsync.yaml: exit %d, %s", code, errOut)
	}
}
