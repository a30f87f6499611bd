package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/internal/testdb"
)

// runProcess runs `dbsync args...` as a real process, stdout and stderr apart (pipes,
// not a terminal), and returns its exit code.
func runProcess(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "DBSYNC_TEST_AS_DBSYNC=1"), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// TestConventionsAsAProcess: SPEC §5's conventions hold for the real process, as a
// platform team's scripts and pods see it.
func TestConventionsAsAProcess(t *testing.T) {
	srcDSN, _ := pgSource(t, 12)
	cfg := writeConfig(t, "sqlite", testdb.SQLite(t), "", usersSync("users", srcDSN, 5))

	code, out, errOut := runProcess(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "usage: dbsync") || errOut != "" {
		t.Errorf("--help: exit %d, stdout %q, stderr %q; want the usage on stdout, exit 0", code, out, errOut)
	}
	code, out, errOut = runProcess(t, nil, "run", "--help")
	if code != 0 || !strings.Contains(out, "example") {
		t.Errorf("run --help: exit %d, stdout %q; want usage with an example, exit 0", code, out)
	}
	code, _, errOut = runProcess(t, nil, "rnu", "-c", cfg)
	if code != 2 || !strings.Contains(errOut, `did you mean "run"?`) {
		t.Errorf("rnu: exit %d, stderr %q; want exit 2 and a suggestion", code, errOut)
	}
	code, _, errOut = runProcess(t, nil, "run", "-c", cfg, "--dryrun")
	if code != 2 || !strings.Contains(errOut, `did you mean "--dry-run"?`) {
		t.Errorf("run --dryrun: exit %d, stderr %q; want exit 2 and a suggestion", code, errOut)
	}
	code, _, errOut = runProcess(t, nil, "run", "-c", cfg, "users")
	if code != 2 || !strings.Contains(errOut, `"users"`) {
		t.Errorf("run users: exit %d, stderr %q; want exit 2 naming the stray argument", code, errOut)
	}

	// Piped, with the config from DBSYNC_CONFIG: JSON lines on stdout, JSON logs on stderr.
	code, out, errOut = runProcess(t, []string{"DBSYNC_CONFIG=" + cfg}, "run")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var got runResult
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &got) != nil || got.Sync != "users" || got.Status != "ok" || got.Created != 12 {
		t.Fatalf("run piped printed %q; want one JSON line for sync users, 12 created", out)
	}
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if !json.Valid([]byte(l)) {
			t.Fatalf("a log line off a terminal is not JSON: %q", l)
		}
	}
	if !strings.Contains(errOut, `"msg":"sync started"`) {
		t.Errorf("no \"sync started\" log line:\n%s", errOut)
	}
}
