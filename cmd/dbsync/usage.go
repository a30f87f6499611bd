package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/dbsync/dbsync/internal/suggest"
)

// examples is each command's example, printed by -h / --help.
var examples = map[string]string{
	"run":         "dbsync run -c dbsync.yaml --sync app_users",
	"serve":       "dbsync serve -c dbsync.yaml --listen :8080",
	"validate":    "dbsync validate -c dbsync.yaml --connect",
	"preview":     "dbsync preview -c dbsync.yaml --sync app_users --limit 10",
	"state":       "dbsync state show -c dbsync.yaml",
	"state show":  "dbsync state show -c dbsync.yaml --json",
	"state reset": "dbsync state reset -c dbsync.yaml --sync app_users",
	"people":      "dbsync people get -c dbsync.yaml ada@example.com",
	"people get":  "dbsync people get -c dbsync.yaml ada@example.com",
	"people log":  "dbsync people log -c dbsync.yaml cio_42 --json",
	"rejected":    "dbsync rejected -c dbsync.yaml --sync app_users --since 24h",
	"runs":        "dbsync runs -c dbsync.yaml --sync app_users --limit 5",
	"export":      "dbsync export -c dbsync.yaml --out ./export --format parquet,csv",
	"version":     "dbsync version",

	// objects and relationships (SPEC §8)
	"objects":              "dbsync objects get -c dbsync.yaml account acme-42",
	"objects get":          "dbsync objects get -c dbsync.yaml account acme-42",
	"people relationships": "dbsync people relationships -c dbsync.yaml ada@example.com",

	// events (SPEC §9)
	"people events": "dbsync people events -c dbsync.yaml ada@example.com --limit 20",

	// deletes and suppression (SPEC §10)
	"people delete":     "dbsync people delete -c dbsync.yaml ada@example.com",
	"people suppress":   "dbsync people suppress -c dbsync.yaml ada@example.com",
	"people unsuppress": "dbsync people unsuppress -c dbsync.yaml ada@example.com",
}

// didYouMean returns `; did you mean "x"?` for the valid name nearest to got, when
// one is within an edit distance of 2 (a transposition counts as one edit).
func didYouMean(got string, valid []string) string {
	if best := suggest.Nearest(got, valid); best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return ""
}

// printUsage writes a command's usage line, example and flags.
func printUsage(w io.Writer, fs *flag.FlagSet, name, usage string) {
	fmt.Fprintf(w, "usage: dbsync %s %s\n", name, usage)
	if ex := examples[name]; ex != "" {
		fmt.Fprintf(w, "\nexample:\n  %s\n", ex)
	}
	fmt.Fprintln(w, "\nflags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// subcommands dispatches a command with subcommands (state, people, objects): -h prints the
// command's usage on stdout, an unknown subcommand is a usage error with a
// suggestion.
func (e *env) subcommand(name string, subs []string, args []string) (string, error) {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: dbsync %s %s -c FILE ...\n", name, strings.Join(subs, "|"))
		if ex := examples[name]; ex != "" {
			fmt.Fprintf(w, "\nexample:\n  %s\n", ex)
		}
		fmt.Fprintf(w, "\nRun dbsync %s SUBCOMMAND -h for its flags.\n", name)
	}
	if len(args) == 0 {
		usage(e.stderr)
		return "", usageError("%s needs a subcommand: %s", name, strings.Join(subs, ", "))
	}
	if isHelp(args[0]) {
		usage(e.stdout)
		return "", &exitError{code: exitOK}
	}
	for _, s := range subs {
		if s == args[0] {
			return s, nil
		}
	}
	return "", usageError("unknown %s subcommand %q%s", name, args[0], didYouMean(args[0], subs))
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// flagError turns a flag package error into a usage error naming the flag, with a
// suggestion when it is near a defined one.
func flagError(fs *flag.FlagSet, err error) error {
	const undefined = "flag provided but not defined: "
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, undefined); ok {
		got := strings.TrimLeft(rest, "-")
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		sort.Strings(names)
		s := ""
		if n := suggest.Nearest(got, names); n != "" {
			s = fmt.Sprintf("; did you mean %q?", dashes(n))
		}
		return usageError("%s: unknown flag %s%s", fs.Name(), rest, s)
	}
	return usageError("%s: %s", fs.Name(), msg)
}

func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
