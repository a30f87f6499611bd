// Command dbsync keeps an identity store of people in step with customers' databases.
// See the README and SPEC §5 for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/config"
	_ "github.com/dbsync/dbsync/connectors/bigquery"
	_ "github.com/dbsync/dbsync/connectors/mysql"
	_ "github.com/dbsync/dbsync/connectors/postgres"
	_ "github.com/dbsync/dbsync/connectors/sqlite"
	"github.com/dbsync/dbsync/store"
)

// Exit codes (SPEC §5).
const (
	exitOK       = 0
	exitFailed   = 1 // a sync failed
	exitUsage    = 2 // a bad config or bad usage
	exitNotFound = 3 // no one matches
)

// exitError carries an exit code to main; the message, if any, is printed to stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// env is what a command runs with, so tests can run commands in process.
type env struct {
	stdout, stderr io.Writer
	terminal       bool   // stdout is a terminal: tables rather than JSON lines
	errTerminal    bool   // stderr is a terminal: live progress, text logs
	logLevel       string // --log-level; empty: $DBSYNC_LOG_LEVEL, then info
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

var commands = []command{
	{"run", "run each sync (or the named ones) once and exit", runCmd},
	{"serve", "run each sync on its schedule until SIGTERM; /healthz, /readyz, /metrics", serveCmd},
	{"validate", "check the config (and with --connect, each source and the store)", validateCmd},
	{"preview", "show what a run would do to each row, writing nothing", previewCmd},
	{"state", "show the cursors and last runs, or reset a sync", stateCmd},
	{"people", "look a person up, show their change log, relationships or events, or delete or suppress them", peopleCmd},
	{"objects", "look an object up (an account, a company, ...)", objectsCmd},
	{"rejected", "show rejected and skipped rows", rejectedCmd},
	{"runs", "show the run history", runsCmd},
	{"export", "write the warehouse export: what changed since the last one (--full: everything)", exportCmd},
	{"version", "print the version (also --version)", versionCmd},
}

func main() {
	e := &env{
		stdout:      os.Stdout,
		stderr:      os.Stderr,
		terminal:    isatty.IsTerminal(os.Stdout.Fd()),
		errTerminal: isatty.IsTerminal(os.Stderr.Fd()),
	}
	ctx, stop := e.notifySignals(context.Background())
	code := e.main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// notifySignals returns a context that the first SIGTERM or SIGINT cancels: runs start
// no new batch, the batch being written commits, and the command returns (serve exits
// 0). A second signal exits at once with 128+signal: the database rolls back the
// transaction of the batch being written, and the next run goes on from the cursor.
func (e *env) notifySignals(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	stopped, stop := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	log := e.logger()
	go func() {
		select {
		case sig := <-sigs:
			log.WithField("signal", sig.String()).Warn("stopping after the current batch; a second signal stops at once")
			cancel()
		case <-stopped.Done():
			return
		}
		select {
		case sig := <-sigs:
			log.WithField("signal", sig.String()).Warn("stopping at once: the batch being written is rolled back")
			code := 1
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			os.Exit(code)
		case <-stopped.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		stop()
		cancel()
	}
}

// main runs a command line and returns its exit code; errors are mapped to exit
// codes here and only here.
func (e *env) main(ctx context.Context, args []string) int {
	err := e.dispatch(ctx, args)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(e.stderr, "dbsync:", ee.err)
		}
		return ee.code
	}
	var cerr *config.Errors
	if errors.As(err, &cerr) {
		fmt.Fprintf(e.stderr, "dbsync: the config has %d problem(s):\n%v\n", len(cerr.List), cerr)
		return exitUsage
	}
	if errors.Is(err, store.ErrBadDSN) || errors.Is(err, store.ErrWorkspaceChanged) {
		fmt.Fprintln(e.stderr, "dbsync:", err)
		return exitUsage // the config is wrong, not the store unreachable
	}
	fmt.Fprintln(e.stderr, "dbsync:", err)
	return exitFailed
}

func (e *env) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		e.usage(e.stderr)
		return &exitError{code: exitUsage}
	}
	if isHelp(args[0]) {
		if len(args) > 1 && args[0] == "help" {
			return e.dispatch(ctx, []string{args[1], "--help"})
		}
		e.usage(e.stdout)
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		return versionCmd(ctx, e, args[1:])
	}
	var names []string
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
		names = append(names, c.name)
	}
	if strings.HasPrefix(args[0], "-") {
		return usageError("unknown flag %s before the command; usage: dbsync COMMAND -c FILE [flags] (dbsync --help lists the commands)", args[0])
	}
	return usageError("unknown command %q%s (dbsync --help lists the commands)", args[0], didYouMean(args[0], names))
}

func (e *env) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dbsync COMMAND -c FILE [flags]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nexample:\n  dbsync run -c dbsync.yaml")
	fmt.Fprintln(w, "\n-c defaults to $DBSYNC_CONFIG, then ./dbsync.yaml. Every command takes --log-level")
	fmt.Fprintln(w, "debug|info|warn|error (or DBSYNC_LOG_LEVEL). Run dbsync COMMAND -h for a command's flags.")
}

// flagSet is a command's flags, with what -h prints.
type flagSet struct {
	*flag.FlagSet
	e     *env
	name  string
	usage string
	args  int    // positional arguments the command takes
	hint  string // added to the error for a stray argument

	storeOnly bool // the command touches only the store (see storeOnly)
}

// storeOnly are the commands that touch only the store: they expand only the
// store's ${VAR}s, so an unset source secret is no error for them (SPEC §5).
// validate without --connect sets flagSet.storeOnly.
var storeOnly = map[string]bool{
	"people get": true, "people log": true, "people relationships": true, "people events": true,
	"people delete": true, "people suppress": true, "people unsuppress": true, "objects get": true, "rejected": true, "runs": true,
	"state show": true, "state reset": true, "export": true,
}

// flags makes a command's flag set, with the -c FILE and --log-level every command
// takes.
func (e *env) flags(name, usage string) (*flagSet, *string) {
	fs := &flagSet{FlagSet: flag.NewFlagSet("dbsync "+name, flag.ContinueOnError), e: e, name: name, usage: usage}
	fs.SetOutput(io.Discard)
	fs.Usage = func() { printUsage(e.stderr, fs.FlagSet, name, usage) }
	cfg := fs.String("c", "", "the config file (default $DBSYNC_CONFIG, then ./dbsync.yaml)")
	fs.Func("log-level", "debug, info, warn or error (default $DBSYNC_LOG_LEVEL, then info)", func(v string) error {
		if _, err := parseLevel(v); err != nil {
			return err
		}
		e.logLevel = v
		return nil
	})
	return fs, cfg
}

// parse parses flags, allowing them before and after positional arguments. -h
// prints the usage on stdout (exit 0); an unknown flag, or more positional arguments
// than the command takes (fs.args), is a usage error.
func parse(fs *flagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(fs.e.stdout, fs.FlagSet, fs.name, fs.usage)
				return nil, &exitError{code: exitOK}
			}
			return nil, flagError(fs.FlagSet, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if len(positional) > fs.args {
		stray := positional[fs.args]
		if fs.args == 0 {
			return nil, usageError("%s takes no arguments, got %q%s", fs.name, stray, fs.hint)
		}
		return nil, usageError("%s takes %d argument(s), got also %q%s", fs.name, fs.args, stray, fs.hint)
	}
	return positional, nil
}

// load reads the config file named by -c, else $DBSYNC_CONFIG, else ./dbsync.yaml.
func (e *env) load(fs *flagSet, path string) (*config.Config, error) {
	if path == "" {
		path = os.Getenv("DBSYNC_CONFIG")
	}
	if path == "" {
		path = "dbsync.yaml"
		if _, err := os.Stat(path); err != nil {
			return nil, usageError("%s: no config: give -c FILE, set DBSYNC_CONFIG, or write ./dbsync.yaml", fs.Name())
		}
	}
	load := config.Load
	if fs.storeOnly || storeOnly[fs.name] {
		load = config.LoadStoreOnly
	}
	cfg, err := load(path)
	if err != nil {
		var cerr *config.Errors
		if errors.As(err, &cerr) {
			return nil, err
		}
		return nil, &exitError{code: exitUsage, err: err}
	}
	return cfg, nil
}

// openStore opens (creating or upgrading) the config's store and checks that it was
// built for the workspace's identifiers.
func openStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		return nil, err
	}
	if err := st.CheckWorkspace(ctx, cfg.Workspace.Settings()); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// dryStore opens the config's store for a dry run (preview, run --dry-run): for
// reading only, creating and writing nothing (an empty store when none exists yet).
func dryStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	st, err := store.OpenDryRun(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		return nil, err
	}
	if err := st.CheckWorkspace(ctx, cfg.Workspace.Settings()); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// readStore opens the config's store for a read command without creating anything;
// nil when it was never written (the command then has nothing to show).
func readStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	st, err := store.OpenExisting(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if errors.Is(err, store.ErrNoStore) {
		return nil, nil
	}
	return st, err
}

// logger logs to stderr: text on a terminal, JSON otherwise. DBSYNC_LOG_LEVEL sets
// the level (info by default; debug shows one line per batch).
func (e *env) logger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(e.stderr)
	if e.errTerminal {
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	} else {
		l.SetFormatter(&logrus.JSONFormatter{})
	}
	level := e.logLevel
	if level == "" {
		level = os.Getenv("DBSYNC_LOG_LEVEL")
	}
	if lvl, err := parseLevel(level); err == nil {
		l.SetLevel(lvl)
	}
	return l
}

// parseLevel reads a --log-level: debug, info, warn or error.
func parseLevel(v string) (logrus.Level, error) {
	switch strings.ToLower(v) {
	case "debug":
		return logrus.DebugLevel, nil
	case "info", "":
		return logrus.InfoLevel, nil
	case "warn", "warning":
		return logrus.WarnLevel, nil
	case "error":
		return logrus.ErrorLevel, nil
	}
	return 0, fmt.Errorf("log level %q: want debug, info, warn or error", v)
}

// multiFlag collects a flag given several times (--sync a --sync b).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
