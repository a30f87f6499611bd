package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dbsync/dbsync/internal/suggest"
)

// Load reads the config file at path and parses it with Parse. A file that cannot be
// read is a wrapped *fs.PathError; anything wrong with its contents is an *Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// LoadStoreOnly is Load for commands that touch only the store: a ${VAR} outside
// store: that cannot be expanded (an unset source secret) is no error; its field is
// left empty.
func LoadStoreOnly(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(data, path, true)
}

// Parse reads a config file's contents: strict YAML (an unknown key is an error),
// ${VAR} expansion from the environment in values, defaults, then Validate. path is
// only recorded in Config.Path. On failure the error is an *Errors listing every
// problem found; no message contains a value, so secrets never reach one.
func Parse(data []byte, path string) (*Config, error) {
	return parse(data, path, false)
}

func parse(data []byte, path string, storeOnly bool) (*Config, error) {
	root, err := parseYAML(data)
	if err != nil {
		return nil, &Errors{List: []FieldError{{Msg: err.Error()}}}
	}

	w := &walker{
		lines:  map[string]int{},
		seen:   map[*yaml.Node]bool{},
		lookup: os.LookupEnv,
		active: map[*yaml.Node]bool{},
		merged: map[mergeKey]bool{},

		storeOnly: storeOnly,
	}
	cfg := &Config{Path: path, lines: w.lines}
	if root != nil && w.walk(root, reflect.TypeFor[Config](), "") {
		// The walk left out or nulled every value the decoder could not take, so
		// this does not fail; if it does, yaml's message may quote a value, so it
		// is not passed on.
		if err := decode(root, cfg); err != nil {
			msg := "cannot decode the file"
			if strings.Contains(err.Error(), "excessive aliasing") {
				msg += ": too many aliases"
			}
			w.errs = append(w.errs, FieldError{Line: root.Line, Msg: msg})
			return nil, w.result()
		}
	}
	for i := range cfg.Syncs {
		cfg.Syncs[i].Line = w.lines[fmt.Sprintf("syncs[%d]", i)]
	}
	cfg.setDefaults()
	if verr, ok := cfg.validate(w.unread).(*Errors); ok {
		w.errs = append(w.errs, verr.List...)
	}
	if len(w.errs) > 0 {
		return nil, w.result()
	}
	return cfg, nil
}

// parseYAML parses one YAML document into its root node; nil for an empty file.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	// yaml.v3 is not known to panic on any input, but a config is untrusted input
	// and a crash is a worse answer than an error.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, errors.New("yaml: cannot parse the file")
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("yaml: the file must hold one document (found a second ---)")
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

// decode fills cfg from the (expanded) tree.
func decode(root *yaml.Node, cfg *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("yaml: cannot decode the file")
		}
	}()
	return root.Decode(cfg)
}

func (c *Config) setDefaults() {
	if c.Store.Driver == "" {
		c.Store.Driver = DefaultStoreDriver
	}
	if c.Store.Driver == DefaultStoreDriver && c.Store.DSN == "" {
		c.Store.DSN = DefaultStoreDSN
	}
	if c.Workspace.Identifiers == nil {
		c.Workspace.Identifiers = []string{"id", "email"}
	}
	for i := range c.Syncs {
		s := &c.Syncs[i]
		if s.Kind == "" {
			s.Kind = KindPeople
		}
		if _, set := c.lines[fmt.Sprintf("syncs[%d].batch_size", i)]; !set && s.BatchSize == 0 {
			s.BatchSize = DefaultBatchSize
		}
		if _, set := c.lines[fmt.Sprintf("syncs[%d].batch_bytes", i)]; !set && s.BatchBytes == 0 {
			s.BatchBytes = DefaultBatchBytes
		}
		if s.Nulls == "" {
			s.Nulls = NullsIgnore
		}
		if s.Source.Timezone == "" {
			s.Source.Timezone = "UTC"
		}
		if _, set := c.lines[fmt.Sprintf("syncs[%d].source.connect_timeout", i)]; !set && s.Source.ConnectTimeout == 0 {
			s.Source.ConnectTimeout = DefaultConnectTimeout
		}
		if _, set := c.lines[fmt.Sprintf("syncs[%d].source.read_timeout", i)]; !set && s.Source.ReadTimeout == 0 {
			s.Source.ReadTimeout = DefaultReadTimeout
		}
	}
}

// walker goes over the YAML tree along the shape of Config before it is decoded. It
// reports unknown and duplicate keys and values of the wrong kind, each with its
// field path and line, and takes them out of the tree so the decoder sees only what
// it can take; expands ${VAR} in scalar values; and records each field's line.
type walker struct {
	errs   []FieldError
	unread []string            // paths of values that could not be read (left zero)
	lines  map[string]int      // field path -> line of its key (or list item)
	seen   map[*yaml.Node]bool // scalars already expanded (an alias points at a node twice)
	lookup func(string) (string, bool)

	active map[*yaml.Node]bool // mappings and lists being walked: an alias back to one is a cycle
	merged map[mergeKey]bool   // merged mappings already walked at a path

	storeOnly bool // only store: must expand; elsewhere a value that cannot is left zero
}

type mergeKey struct {
	n    *yaml.Node
	path string
}

var durationType = reflect.TypeFor[Duration]()

var byteSizeType = reflect.TypeFor[ByteSize]()

func (w *walker) add(path string, line int, msg string) {
	w.errs = append(w.errs, FieldError{Path: path, Line: line, Msg: msg})
}

// bad reports a value that cannot be read; walk then returns false.
func (w *walker) bad(path string, n *yaml.Node, msg string) bool {
	w.add(path, w.line(path, n), msg)
	w.unread = append(w.unread, path)
	return false
}

// line is the line recorded for path, else the node's own.
func (w *walker) line(path string, n *yaml.Node) int {
	if l, ok := w.lines[path]; ok {
		return l
	}
	return n.Line
}

func (w *walker) result() *Errors {
	slices.SortStableFunc(w.errs, func(a, b FieldError) int { return a.Line - b.Line })
	return &Errors{List: w.errs}
}

// nullNode stands in for a value that could not be read, so the field stays zero.
func nullNode(n *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

// zeroItem stands in for a list item that is null or could not be read. It is not
// null, as the decoder leaves null items out, which would shift the ones after it
// away from their paths.
func zeroItem(t reflect.Type, n *yaml.Node) *yaml.Node {
	z := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
	switch t.Kind() {
	case reflect.Struct:
		z.Kind, z.Tag = yaml.MappingNode, "!!map"
	case reflect.String:
		z.Tag = "!!str"
	}
	return z
}

func isNull(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// walk checks n as a value of type t at path. It returns false when n cannot be read
// as one; the caller then replaces it with null.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil { // the parser does not let this happen
			return w.bad(path, n, "unknown alias")
		}
		n = n.Alias
	}
	if isNull(n) {
		return true // the zero value (a default, if there is one)
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if w.active[n] {
			return w.bad(path, n, "contains itself (through an alias)")
		}
		w.active[n] = true
		defer delete(w.active, n)
	}
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		fields := yamlFields(t)
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return w.mapping(n, t, path, keys, func(key string) (string, reflect.Type, bool) {
			ft, ok := fields[key]
			return joinPath(path, key), ft, ok
		})
	case t.Kind() == reflect.Map:
		return w.mapping(n, t, path, nil, func(key string) (string, reflect.Type, bool) {
			return keyPath(path, key), t.Elem(), true
		})
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return w.bad(path, n, "must be a list")
		}
		for i, item := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			w.lines[ip] = item.Line
			if !w.walk(item, t.Elem(), ip) || isNull(item) {
				n.Content[i] = zeroItem(t.Elem(), item)
			}
		}
		return true
	default:
		return w.scalar(n, t, path)
	}
}

// mapping walks a mapping whose keys field resolves to a path and a type (false: no
// such key). Merge keys (<<: *anchor) are walked first, so keys written here win, as
// in the decoder. Unknown and duplicate keys and bad merges are taken out; an unknown
// key near one of keys (the valid ones) gets a suggestion.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string, keys []string, field func(key string) (string, reflect.Type, bool)) bool {
	if n.Kind != yaml.MappingNode {
		if path == "" {
			return w.bad(path, n, "the file must be a mapping with store, workspace and syncs")
		}
		return w.bad(path, n, "must be a mapping")
	}
	kept := make([]*yaml.Node, 0, len(n.Content))
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; isMergeKey(k) && w.merge(v, t, path) {
			kept = append(kept, k, v)
		}
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.add(path, k.Line, "keys must be strings")
			continue
		}
		kp, ft, ok := field(k.Value)
		if l, dup := first[k.Value]; dup {
			w.add(kp, k.Line, fmt.Sprintf("duplicate key (first on line %d)", l))
			continue
		}
		first[k.Value] = k.Line
		if !ok {
			msg := "unknown key"
			if near := suggest.Nearest(k.Value, keys); near != "" {
				msg += fmt.Sprintf("; did you mean %q?", near)
			}
			w.add(kp, k.Line, msg)
			continue
		}
		w.lines[kp] = k.Line
		if !w.walk(v, ft, kp) {
			v = nullNode(v)
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
	return true
}

// merge walks the value of a << key; false when it is not a mapping or a list of
// mappings, which is reported.
func (w *walker) merge(v *yaml.Node, t reflect.Type, path string) bool {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	for _, item := range items {
		if item.Kind == yaml.AliasNode && item.Alias != nil {
			item = item.Alias
		}
		if item.Kind != yaml.MappingNode {
			w.add(path, item.Line, "<< must merge a mapping or a list of mappings")
			return false
		}
	}
	for _, item := range items {
		if item.Kind == yaml.AliasNode {
			item = item.Alias
		}
		// Each merged mapping once per path: merges of merges are not walked
		// exponentially often.
		if k := (mergeKey{item, path}); !w.merged[k] {
			w.merged[k] = true
			if !w.walk(item, t, path) {
				return false
			}
		}
	}
	return true
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// scalar checks a value for a string, integer, boolean or Duration field, expanding
// ${VAR} first.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) bool {
	msg := "must be a string"
	switch {
	case t == durationType:
		msg = errDuration.Error()
	case t == byteSizeType:
		msg = errByteSize.Error()
	case t.Kind() == reflect.Bool:
		msg = "must be true or false"
	case t.Kind() == reflect.Int:
		msg = "must be an integer"
	}
	if n.Kind != yaml.ScalarNode {
		return w.bad(path, n, msg)
	}
	if !w.seen[n] {
		w.seen[n] = true
		if !w.expand(n, t, path) {
			return false
		}
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		if errors.Is(err, errNegativeDuration) {
			msg = err.Error()
		}
		return w.bad(path, n, msg)
	}
	return true
}

// expand replaces each ${VAR} in a scalar's value with the variable's value. A value
// for a string field stays a string whatever it looks like; for other fields an
// unquoted value is read again as YAML would read it (so `batch_size: ${N}` is an
// integer).
func (w *walker) expand(n *yaml.Node, t reflect.Type, path string) bool {
	if !strings.Contains(n.Value, "${") {
		return true
	}
	v, problems := expandEnv(n.Value, w.lookup)
	if len(problems) > 0 && w.storeOnly && path != "store" && !strings.HasPrefix(path, "store.") {
		w.unread = append(w.unread, path) // not needed by this command: left zero, unchecked
		return false
	}
	if len(problems) > 0 {
		for _, p := range problems {
			w.add(path, w.line(path, n), p)
		}
		w.unread = append(w.unread, path)
		return false
	}
	if v == n.Value {
		return true // no ${NAME} in it, only look-alikes
	}
	n.Value = v
	switch {
	case t.Kind() == reflect.String:
		n.Tag = "!!str"
	case n.Style == 0: // plain: resolve the tag from the new value
		n.Tag = ""
	}
	return true
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// errEnvForm is the problem with a ${…} that is none of the three forms. It does
// not quote the text: it may be part of a password written in the file.
const errEnvForm = "unsupported ${...} form: use ${VAR}, ${VAR:-default} or ${VAR:?message}"

// expandEnv replaces ${NAME} (NAME: letters, digits, _) with lookup(NAME),
// ${NAME:-default} with the default when NAME is unset or empty, and fails
// ${NAME:?message} with the message when NAME is unset or empty. Any other ${…}
// is a problem; a lone $, $NAME or an unclosed ${ is left as it is, since passwords
// may hold a $. Values are not expanded again. problems lists each unset name once
// and each failed form.
func expandEnv(s string, lookup func(string) (string, bool)) (out string, problems []string) {
	var b strings.Builder
	add := func(p string) {
		if !slices.Contains(problems, p) {
			problems = append(problems, p)
		}
	}
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			b.WriteString(s)
			break
		}
		inner := s[i+2 : i+2+j]
		b.WriteString(s[:i])
		s = s[i+2+j+1:]
		name, op, arg := inner, "", ""
		if k := strings.IndexByte(inner, ':'); k >= 0 && k+1 < len(inner) && (inner[k+1] == '-' || inner[k+1] == '?') {
			name, op, arg = inner[:k], inner[k:k+2], inner[k+2:]
		}
		if !envName.MatchString(name) {
			add(errEnvForm)
			continue
		}
		v, ok := lookup(name)
		switch op {
		case "":
			if !ok {
				add(fmt.Sprintf("environment variable %s is not set", name))
			}
		case ":-":
			if v == "" {
				v = arg
			}
		case ":?":
			if v == "" {
				if arg == "" {
					arg = "is not set or empty"
				}
				add(fmt.Sprintf("environment variable %s: %s", name, arg))
			}
		}
		b.WriteString(v)
	}
	return b.String(), problems
}

// yamlFields maps a struct's YAML keys to field types, leaving out yaml:"-" and
// unexported fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// keyPath is the path of a map entry: attributes.plan, or attributes["a b"].
func keyPath(parent, key string) string {
	if plainKey.MatchString(key) {
		return joinPath(parent, key)
	}
	return fmt.Sprintf("%s[%q]", parent, key)
}
