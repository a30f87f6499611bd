package main

import (
	"bufio"
	"debug/elf"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := dbsync(t, args...)
		if code != 0 || out != "dbsync dev\n" {
			t.Fatalf("dbsync %s: exit %d, %q %q", args[0], code, out, errOut)
		}
	}
	if code, _, _ := dbsync(t, "version", "extra"); code != exitUsage {
		t.Fatalf("dbsync version extra: exit %d, want 2", code)
	}
}

// TestDockerBuild builds the binary the way the Dockerfile does (no Docker engine
// here): its go build line, read from the Dockerfile so the two cannot drift apart.
// The binary must be static and print the version it was built with.
func TestDockerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("a full -trimpath build")
	}
	df := readDockerfile(t, "../../Dockerfile")

	// The image: multi-stage, distroless static as a non-root user, no HEALTHCHECK,
	// the entry point is the binary the build stage wrote.
	if len(df.from) < 2 {
		t.Errorf("not multi-stage: FROM %v", df.from)
	}
	if final := df.from[len(df.from)-1]; !strings.Contains(final, "distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("final stage FROM %s, want distroless static, nonroot", final)
	}
	if df.user == "" || strings.HasPrefix(df.user, "root") || strings.HasPrefix(df.user, "0") {
		t.Errorf("USER %q, want a non-root user", df.user)
	}
	if df.healthcheck {
		t.Error("the Dockerfile has a HEALTHCHECK; Kubernetes probes /healthz and /readyz instead")
	}

	// Cross-compiled for the target platform, with the OCI labels.
	if raw := df.rawBuildEnv; raw["GOOS"] != "${TARGETOS}" || raw["GOARCH"] != "${TARGETARCH}" {
		t.Errorf("the build does not cross-compile for TARGETOS/TARGETARCH: %v", raw)
	}
	if df.args["TARGETOS"] == "" || df.args["TARGETARCH"] == "" {
		t.Errorf("ARG TARGETOS and TARGETARCH need defaults for builders without BuildKit: %v", df.args)
	}
	for _, k := range []string{"title", "description", "version", "revision", "created", "source"} {
		if df.labels["org.opencontainers.image."+k] == "" {
			t.Errorf("no LABEL org.opencontainers.image.%s", k)
		}
	}

	b := df.build
	if b.env["CGO_ENABLED"] != "0" || !b.has("-trimpath") || !regexp.MustCompile(`^-s -w .*-X main\.version=\$\{VERSION\}`).MatchString(b.flag("-ldflags")) {
		t.Fatalf("the build is not static and trimmed with the version set: %q %v", b.args, b.env)
	}
	if installed := df.copied[b.flag("-o")]; installed == "" || df.entrypoint != `["`+installed+`"]` {
		t.Errorf("ENTRYPOINT %s does not run the binary built at %s (copied to %q)", df.entrypoint, b.flag("-o"), installed)
	}

	const v = "1.2.3-test"
	bin := filepath.Join(t.TempDir(), "dbsync")
	args := make([]string, len(b.args))
	for i, a := range b.args {
		args[i] = strings.ReplaceAll(a, "${VERSION}", v)
		if i > 0 && b.args[i-1] == "-o" {
			args[i] = bin
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	cmd.Env = os.Environ()
	for k, val := range b.env {
		cmd.Env = append(cmd.Env, k+"="+val)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || len(libs) > 0 {
			t.Fatalf("the binary is dynamically linked (%v)", libs)
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -s did not apply")
	}

	for _, flag := range []string{"--version", "version"} {
		out, err := exec.Command(bin, flag).CombinedOutput()
		if err != nil || string(out) != "dbsync "+v+"\n" {
			t.Fatalf("dbsync %s: %v %q", flag, err, out)
		}
	}
}

// dockerfile is what the test reads from the Dockerfile.
type dockerfile struct {
	from        []string // each stage's image
	user        string
	healthcheck bool
	entrypoint  string
	copied      map[string]string // COPY --from=STAGE: source -> destination
	args        map[string]string // ARG name -> default
	labels      map[string]string // LABEL key -> value
	build       goBuild
	rawBuildEnv map[string]string // build.env as written, before ARGs are expanded
}

// goBuild is the RUN line's go build: its environment and arguments after "go".
type goBuild struct {
	env  map[string]string
	args []string
}

func (b goBuild) has(arg string) bool {
	for _, a := range b.args {
		if a == arg {
			return true
		}
	}
	return false
}

// flag is the value after a flag, "" when it is not given.
func (b goBuild) flag(name string) string {
	for i, a := range b.args[:len(b.args)-1] {
		if a == name {
			return b.args[i+1]
		}
	}
	return ""
}

func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df := dockerfile{copied: map[string]string{}, args: map[string]string{}, labels: map[string]string{}}
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	var line string
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(text, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(text, `\`); ok {
			line += cont + " "
			continue
		}
		line += text
		instr, rest, _ := strings.Cut(line, " ")
		line = ""
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			for _, w := range strings.Fields(rest) { // the image is the first word that is no --flag
				if !strings.HasPrefix(w, "--") {
					df.from = append(df.from, w)
					break
				}
			}
		case "ARG":
			for _, kv := range shellWords(t, rest) {
				k, v, _ := strings.Cut(kv, "=")
				df.args[k] = v
			}
		case "LABEL":
			for _, kv := range shellWords(t, rest) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					df.labels[k] = v
				}
			}
		case "USER":
			df.user = rest
		case "HEALTHCHECK":
			df.healthcheck = true
		case "ENTRYPOINT":
			df.entrypoint = rest
		case "COPY":
			if words := strings.Fields(rest); len(words) == 3 && strings.HasPrefix(words[0], "--from=") {
				df.copied[words[1]] = words[2]
			}
		case "ENV":
			for _, kv := range shellWords(t, rest) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					env[k] = v
				}
			}
		case "RUN":
			if !strings.Contains(rest, "go build") {
				continue
			}
			words := shellWords(t, rest)
			for i, w := range words {
				if w == "go" && i+1 < len(words) && words[i+1] == "build" {
					df.build = goBuild{env: map[string]string{}, args: words[i+1:]}
					for k, v := range env {
						df.build.env[k] = v
					}
					for _, kv := range words[:i] {
						if strings.HasPrefix(kv, "--") { // RUN's own flags (--mount=...)
							continue
						}
						if k, v, ok := strings.Cut(kv, "="); ok {
							df.build.env[k] = v
						}
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if df.build.args == nil {
		t.Fatal("the Dockerfile has no RUN ... go build line")
	}
	df.rawBuildEnv = maps.Clone(df.build.env)
	// The build's environment as BuildKit gives it: TARGETOS/TARGETARCH are the target
	// platform (here, this machine's), other ARGs their defaults. ${VERSION} in the
	// arguments is left for the caller.
	for k, v := range df.build.env {
		df.build.env[k] = os.Expand(v, func(name string) string {
			switch name {
			case "TARGETOS":
				return runtime.GOOS
			case "TARGETARCH":
				return runtime.GOARCH
			}
			return df.args[name]
		})
	}
	return df
}

// shellWords splits a shell command line into words: blanks separate them, double or
// single quotes group them; ${VAR} is left as written.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case r == '&' || r == ';' || r == '|':
			t.Fatalf("the go build line must be a command of its own: %s", s)
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quotes: %s", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}
