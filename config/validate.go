package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/internal/suggest"
)

// FieldError is one problem in a config file. Its message never holds the field's
// value (a value may be a secret or come from the environment); the line points at it.
type FieldError struct {
	Path string // the field, "syncs[2].watermark.key"; empty for the file as a whole
	Line int    // 1-based; 0 when unknown
	Msg  string
}

func (e FieldError) Error() string {
	switch {
	case e.Path != "" && e.Line > 0:
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	case e.Path != "":
		return e.Path + ": " + e.Msg
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	default:
		return e.Msg
	}
}

// Errors is every problem found in a config file. Parse and Validate return it as
// *Errors; a command maps it to exit code 2.
type Errors struct {
	List []FieldError
}

// Error prints one problem a line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, fe := range e.List {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each FieldError.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i, fe := range e.List {
		errs[i] = fe
	}
	return errs
}

// Source types.
const (
	SourcePostgres = "postgres"
	SourceMySQL    = "mysql"
	SourceSQLite   = "sqlite"
	SourceBigQuery = "bigquery"
)

// SourceTypes lists the source types a config may name, each of which a connector
// package registers (a test holds the two lists equal).
func SourceTypes() []string {
	return []string{SourcePostgres, SourceMySQL, SourceSQLite, SourceBigQuery}
}

// MaxAttributeName is the longest attribute name the store takes, in bytes (SPEC §2).
const MaxAttributeName = 150

// MaxBatchSize is the largest batch_size.
const MaxBatchSize = 1_000_000

var syncName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate checks a config as Parse leaves it (defaults applied) and returns an
// *Errors with every problem, or nil. A config that was not parsed from a file has
// no lines to report.
func (c *Config) Validate() error {
	return c.validate(nil)
}

// validate is Validate, knowing which values Parse could not read (they were reported
// and left zero): a problem at such a path, or below it, or one that a zero there
// would cause, is not reported again. An unset ${VAR} in a dsn is not also "dsn:
// required".
func (c *Config) validate(unread []string) error {
	v := &validator{lines: c.lines, unread: unread}
	c.validateStore(v)
	c.validateWorkspace(v)
	if len(c.Syncs) == 0 && v.readable("syncs") {
		v.add("syncs", "at least one sync is required")
	}
	firstName := map[string]int{} // name -> index of the first sync with it
	for i := range c.Syncs {
		c.validateSync(v, i, firstName)
	}
	if len(v.errs) == 0 {
		return nil
	}
	return &Errors{List: v.errs}
}

type validator struct {
	lines  map[string]int
	unread []string
	errs   []FieldError
}

// add reports a problem at path, on the line of path or, when path is not in the file
// (a missing key), of the nearest field above it that is.
func (v *validator) add(path, msg string) {
	for _, u := range v.unread {
		if u == "" || path == u || under(path, u) {
			return
		}
	}
	v.errs = append(v.errs, FieldError{Path: path, Line: v.line(path), Msg: msg})
}

// readable says whether every value at or below path could be read.
func (v *validator) readable(path string) bool {
	for _, u := range v.unread {
		if u == path || under(u, path) {
			return false
		}
	}
	return true
}

// under says whether path is below parent: parent.x or parent[i].
func under(path, parent string) bool {
	return strings.HasPrefix(path, parent+".") || strings.HasPrefix(path, parent+"[")
}

func (v *validator) line(path string) int {
	for p := path; p != ""; {
		if l, ok := v.lines[p]; ok {
			return l
		}
		p = p[:max(strings.LastIndexByte(p, '.'), strings.LastIndexByte(p, '['), 0)]
	}
	return 0
}

func (c *Config) validateStore(v *validator) {
	switch c.Store.Driver {
	case "sqlite":
	case "postgres":
		if c.Store.DSN == "" {
			v.add("store.dsn", "required when store.driver is postgres")
		}
	default:
		v.add("store.driver", "must be sqlite or postgres")
	}
}

func (c *Config) validateWorkspace(v *validator) {
	ids := c.Workspace.Identifiers
	if len(ids) == 0 && v.readable("workspace.identifiers") {
		v.add("workspace.identifiers", "must list id, email or both")
	}
	for i, id := range ids {
		p := fmt.Sprintf("workspace.identifiers[%d]", i)
		switch {
		case id != "id" && id != "email":
			v.add(p, "must be id or email")
		case slices.Index(ids, id) < i:
			v.add(p, "listed twice")
		}
	}
}

func (c *Config) validateSync(v *validator, i int, firstName map[string]int) {
	s := c.Syncs[i]
	p := fmt.Sprintf("syncs[%d]", i)

	switch first, dup := firstName[s.Name]; {
	case s.Name == "":
		v.add(p+".name", "required")
	case !syncName.MatchString(s.Name):
		v.add(p+".name", "may only hold letters, digits, _, - and .")
	case dup:
		fp := fmt.Sprintf("syncs[%d]", first)
		v.add(p+".name", fmt.Sprintf("duplicate name: %s on line %d has it too", fp, v.line(fp+".name")))
	default:
		firstName[s.Name] = i
	}

	// The rules that depend on the kind are checked only for a kind that was read and
	// is built: for a misspelt one, "required for kind people" would mislead.
	kindKnown := v.readable(p + ".kind")
	switch s.Kind {
	case "", KindPeople, KindObjects, KindRelationships, KindEvents:
	default:
		msg := "must be people, objects, relationships or events"
		if near := suggest.Nearest(string(s.Kind), kindNames); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		v.add(p+".kind", msg)
		kindKnown = false
	}
	if kindKnown {
		validateKindFields(v, p, s)
	}

	if s.Schedule != "" {
		if msg := scheduleProblem(s.Schedule); msg != "" {
			v.add(p+".schedule", msg)
		}
	}

	validateSource(v, p+".source", s.Source)

	switch {
	case s.Table == "" && s.Query == "":
		if v.readable(p+".table") && v.readable(p+".query") {
			v.add(p, "needs a table or a query")
		}
	case s.Table != "" && s.Query != "":
		v.add(p+".query", "cannot be used together with table")
	case s.Query != "" && strings.TrimSpace(s.Query) == "":
		v.add(p+".query", "must not be empty")
	case s.Query != "":
		// The sync is named only when its name is valid: an invalid one may hold
		// anything, an expanded secret included, and the path already says which.
		who := ""
		if syncName.MatchString(s.Name) {
			who = "sync " + s.Name + ": "
		}
		if problem := notOneSelect(s.Query); problem != "" {
			v.add(p+".query", who+"must be one SELECT (a source is only read): "+problem)
		} else if selectsStar(s.Query) {
			v.add(p+".query", who+"must be one SELECT that names its columns, not SELECT *")
		}
	}

	if wm := s.Watermark; wm != nil {
		if wm.Column == "" {
			v.add(p+".watermark.column", "required when watermark is set")
		}
		switch {
		case wm.Key == "" && wm.Column != "":
			v.add(p+".watermark.key", "required when watermark.column is set")
		case wm.Key == "":
			v.add(p+".watermark.key", "required when watermark is set")
		}
	}
	if s.Lookback > 0 && s.Watermark == nil && v.readable(p+".watermark") {
		v.add(p+".lookback", "only used with a watermark")
	}

	// timeout is optional, but one that is written must be positive: "0s" would
	// stop every run before it read a row.
	if _, set := v.lines[p+".timeout"]; set && s.Timeout <= 0 && v.readable(p+".timeout") {
		v.add(p+".timeout", "must be positive (leave it out for no timeout)")
	}
	for _, d := range []struct {
		key string
		val Duration
	}{{"connect_timeout", s.Source.ConnectTimeout}, {"read_timeout", s.Source.ReadTimeout}} {
		if d.val <= 0 && v.readable(p+".source."+d.key) {
			v.add(p+".source."+d.key, "must be positive")
		}
	}

	if s.BatchSize < 1 || s.BatchSize > MaxBatchSize {
		v.add(p+".batch_size", fmt.Sprintf("must be between 1 and %d", MaxBatchSize))
	}
	if s.BatchBytes <= 0 && v.readable(p+".batch_bytes") {
		v.add(p+".batch_bytes", "must be positive")
	}

	ids := s.Identifiers
	switch {
	case !v.readable(p+".identifiers") || !kindKnown:
	case s.Kind == KindObjects:
		if ids != (Identifiers{}) {
			v.add(p+".identifiers", "not used by kind objects: an object is found by object_id")
		}
	case ids.ID == "" && ids.Email == "" && ids.CioID == "":
		v.add(p+".identifiers", "map at least one of id, email, cio_id to a column")
	case ids.ID == "" && ids.CioID == "" && len(c.Workspace.Identifiers) > 0 &&
		!slices.Contains(c.Workspace.Identifiers, "email"):
		// Only email is mapped, and email does not identify: every row would be
		// rejected with no_identifier.
		v.add(p+".identifiers", "map id or cio_id to a column: email does not identify people when workspace.identifiers is [id]")
	}

	names := make([]string, 0, len(s.Attributes))
	for name := range s.Attributes {
		names = append(names, name)
	}
	slices.Sort(names)
	reserved := s.ReservedAttributeNames()
	for _, name := range names {
		ap := keyPath(p+".attributes", name)
		col := s.Attributes[name]
		switch {
		case name == "":
			v.add(ap, "attribute name must not be empty")
		case len(name) > MaxAttributeName:
			v.add(ap, fmt.Sprintf("attribute name is longer than %d bytes", MaxAttributeName))
		case !kindKnown:
		case slices.Contains(reserved, name) && s.Kind == KindObjects:
			v.add(ap, "would look like the object's id, not an attribute: the id is object_id; name the attribute otherwise")
		case slices.Contains(reserved, name):
			v.add(ap, "is an identifier, not an attribute: map it under identifiers")
		}
		switch {
		case col == "":
			v.add(ap, "column required")
		case !kindKnown:
		case col == s.ObjectID:
			v.add(ap, "is the object_id column, which is never an attribute")
		case col == s.Remove:
			v.add(ap, "is the remove column, which is never an attribute")
		case col == s.Delete:
			v.add(ap, "is the delete column, which is never an attribute")
		case col == s.Suppress:
			v.add(ap, "is the suppress column, which is never an attribute")
		case col == s.EventNameColumn():
			v.add(ap, "is the event's name column, which is never event data")
		case col == s.EventIDColumn():
			v.add(ap, "is the event's id column, which is never event data")
		case col == s.EventTimestampColumn():
			v.add(ap, "is the event's timestamp column, which is never event data")
		}
	}

	for j, col := range s.Exclude {
		if col == "" {
			v.add(fmt.Sprintf("%s.exclude[%d]", p, j), "must not be empty")
		}
	}

	if s.Nulls != NullsIgnore && s.Nulls != NullsUnset {
		v.add(p+".nulls", "must be ignore or unset")
	}
}

// kindNames are the kinds a sync may have, for did-you-mean.
var kindNames = []string{string(KindPeople), string(KindObjects), string(KindRelationships), string(KindEvents)}

// validateKindFields checks the fields of SPEC §8 against a sync's (known) kind:
// object_type and object_id for objects and relationships only, remove for
// relationships only; and those of §10: delete for people and objects, suppress for
// people.
func validateKindFields(v *validator, p string, s Sync) {
	kind := s.Kind.String()
	if s.Kind == KindObjects || s.Kind == KindRelationships {
		switch t := s.ObjectType; {
		case t == "":
			v.add(p+".object_type", "required for kind "+kind)
		case strings.TrimSpace(t) == "":
			v.add(p+".object_type", "must not be blank")
		case len(t) > MaxObjectType:
			v.add(p+".object_type", fmt.Sprintf("is longer than %d bytes", MaxObjectType))
		case !utf8.ValidString(t) || strings.ContainsFunc(t, unicode.IsControl):
			v.add(p+".object_type", "must not hold control characters")
		}
		if s.ObjectID == "" {
			v.add(p+".object_id", "required for kind "+kind+": the column holding the object's id")
		}
	} else {
		if s.ObjectType != "" {
			v.add(p+".object_type", "only used by kinds objects and relationships")
		}
		if s.ObjectID != "" {
			v.add(p+".object_id", "only used by kinds objects and relationships")
		}
	}
	switch {
	case s.Remove == "":
	case s.Kind != KindRelationships:
		v.add(p+".remove", "only used by kind relationships")
	case s.Remove == s.ObjectID:
		v.add(p+".remove", "cannot be the object_id column")
	}
	switch {
	case s.Delete == "":
	case s.Kind != KindPeople && s.Kind != KindObjects:
		v.add(p+".delete", "only used by kinds people and objects")
	case s.Delete == s.ObjectID:
		v.add(p+".delete", "cannot be the object_id column")
	}
	switch {
	case s.Suppress == "":
	case s.Kind != KindPeople:
		v.add(p+".suppress", "only used by kind people")
	case s.Suppress == s.Delete:
		v.add(p+".suppress", "cannot be the delete column: a row either deletes or suppresses")
	}
	for _, flag := range []struct{ field, col string }{{"delete", s.Delete}, {"suppress", s.Suppress}} {
		if flag.col == "" {
			continue
		}
		for _, ident := range []string{s.Identifiers.ID, s.Identifiers.Email, s.Identifiers.CioID} {
			if flag.col == ident {
				v.add(p+"."+flag.field, "cannot be an identifier column")
			}
		}
	}
	if s.Kind == KindRelationships && s.Attributes == nil && len(s.Exclude) > 0 {
		v.add(p+".exclude", "not used: a relationship has no attributes unless attributes: maps them")
	}
	validateEvent(v, p, s)
}

// validateEvent checks event: (SPEC §9) against a sync's known kind: required for
// kind events, with exactly one of name and name_column, and an id and a timestamp
// column, given or taken from the watermark.
func validateEvent(v *validator, p string, s Sync) {
	e := s.Event
	if s.Kind != KindEvents {
		if e != nil {
			v.add(p+".event", "only used by kind events")
		}
		return
	}
	if e == nil {
		if v.readable(p + ".event") {
			v.add(p+".event", "required for kind events: {name: NAME} or {name_column: COLUMN}")
		}
		return
	}
	ep := p + ".event"
	switch n := e.Name; {
	case n == "" && e.NameColumn == "":
		if v.readable(ep+".name") && v.readable(ep+".name_column") {
			v.add(ep, "needs name (every row's event name) or name_column (the column holding it)")
		}
	case n != "" && e.NameColumn != "":
		v.add(ep+".name_column", "cannot be used together with event.name")
	case n == "":
	case strings.TrimSpace(n) == "":
		v.add(ep+".name", "must not be blank")
	case len(n) > events.MaxNameBytes:
		v.add(ep+".name", fmt.Sprintf("is longer than %d bytes", events.MaxNameBytes))
	case !utf8.ValidString(n) || strings.ContainsFunc(n, unicode.IsControl):
		v.add(ep+".name", "must not hold control characters")
	}
	if s.Watermark == nil && v.readable(p+".watermark") {
		if e.IDColumn == "" {
			v.add(ep+".id_column", "required without a watermark (its default is watermark.key)")
		}
		if e.TimestampColumn == "" {
			v.add(ep+".timestamp_column", "required without a watermark (its default is watermark.column)")
		}
	}
	switch id, ts, name := s.EventIDColumn(), s.EventTimestampColumn(), e.NameColumn; {
	case id != "" && id == ts:
		v.add(ep+".timestamp_column", "cannot be the event's id column")
	case name != "" && name == id:
		v.add(ep+".name_column", "cannot be the event's id column")
	case name != "" && name == ts:
		v.add(ep+".name_column", "cannot be the event's timestamp column")
	}
	if s.Nulls == NullsUnset {
		v.add(p+".nulls", "not used by kind events: an event is stored once and never updated, so a NULL is left out of its data")
	}
}

func validateSource(v *validator, p string, src Source) {
	switch src.Type {
	case "":
		v.add(p+".type", "required")
	case SourcePostgres, SourceMySQL, SourceSQLite:
		if src.DSN == "" {
			v.add(p+".dsn", "required for a "+src.Type+" source")
		}
		for _, f := range []struct {
			key string
			set bool
		}{
			{"project", src.Project != ""},
			{"dataset", src.Dataset != ""},
			{"location", src.Location != ""},
			{"credentials_file", src.CredentialsFile != ""},
			{"endpoint", src.Endpoint != ""},
			{"anonymous", src.Anonymous},
		} {
			if f.set {
				v.add(p+"."+f.key, "only used by bigquery sources")
			}
		}
	case SourceBigQuery:
		if src.Project == "" {
			v.add(p+".project", "required for a bigquery source")
		}
		if src.Dataset == "" {
			v.add(p+".dataset", "required for a bigquery source")
		}
		if src.DSN != "" {
			v.add(p+".dsn", "not used by bigquery sources (set project, dataset and credentials_file)")
		}
		if src.Anonymous && src.CredentialsFile != "" {
			v.add(p+".anonymous", "cannot be used together with credentials_file")
		}
	default:
		v.add(p+".type", "must be one of "+strings.Join(SourceTypes(), ", "))
	}
	if _, err := time.LoadLocation(src.Timezone); err != nil {
		v.add(p+".timezone", "unknown time zone (use an IANA name like UTC or Europe/Berlin)")
	}
}

// MinEvery is the shortest @every interval a schedule may have.
const MinEvery = time.Second

// scheduleProblem says what is wrong with a schedule, or "" when serve's scheduler
// takes it and it fires: at least once in the next 5 years (cron's own horizon; a
// "0 0 30 2 *" never does) and, for @every, at most once a second (cron would turn
// "@every 0s" or "@every -5m" into every second).
func scheduleProblem(spec string) string {
	const notCron = "must be a cron expression of 5 fields (minute hour day month weekday) or a descriptor like @hourly or @every 15m"
	// cron v3.0.1 slices out of range (a panic) on "TZ=..." with nothing after it.
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return notCron
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return notCron
	}
	body := spec
	if strings.HasPrefix(body, "TZ=") || strings.HasPrefix(body, "CRON_TZ=") {
		_, body, _ = strings.Cut(body, " ")
	}
	if every, ok := strings.CutPrefix(strings.TrimSpace(body), "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(every)); err != nil || d < MinEvery {
			return "@every needs an interval of at least " + MinEvery.String()
		}
	}
	if sched.Next(time.Now()).IsZero() {
		return "never fires: no date matches it in the next 5 years"
	}
	return ""
}

// selectsStar says whether a query selects * (or t.*) at its top level: in the select
// list of a SELECT outside parentheses (so count(*), subqueries and CTE bodies are
// fine). It skips string literals, quoted identifiers and comments.
func selectsStar(q string) bool {
	inList := false   // in the select list of a top-level SELECT
	itemStart := true // the next token starts a select-list item
	prev := ""        // the previous top-level token, upper-cased
	distinctOn := false
	depth := 0
	for _, tok := range sqlTokens(q) {
		switch tok {
		case "(":
			if depth == 0 {
				distinctOn = itemStart && prev == "ON"
			}
			depth++
			continue
		case ")":
			if depth > 0 {
				depth--
			}
			if depth == 0 {
				itemStart = itemStart && distinctOn
				prev = ")"
			}
			continue
		}
		if depth > 0 {
			continue
		}
		word := strings.ToUpper(tok)
		switch {
		case word == "SELECT":
			inList, itemStart = true, true
		case stopList[word]:
			inList, itemStart = false, false
		case !inList:
		case tok == "*" && (itemStart || prev == "."):
			return true
		case tok == ",":
			itemStart = true
		case itemStart && isSelectModifier(word, prev):
			// still before the first item
		default:
			itemStart = false
		}
		prev = word
	}
	return false
}

// notOneSelect says what keeps a query from being one SELECT (or WITH ... SELECT),
// or "" when nothing does: another statement first (TABLE x, UPDATE, VALUES), a
// second statement after a semicolon, a parenthesis closed that the query did not
// open (which would end the subquery a source wraps it in), or a word that writes
// anywhere in it (a WITH ... UPDATE, SELECT ... INTO, FOR UPDATE).
func notOneSelect(q string) string {
	toks := sqlTokens(q)
	for len(toks) > 0 && toks[len(toks)-1] == ";" {
		toks = toks[:len(toks)-1]
	}
	first := ""
	for _, tok := range toks {
		if tok != "(" {
			first = strings.ToUpper(tok)
			break
		}
	}
	switch {
	case first == "":
		return "it holds no statement"
	case first != "SELECT" && first != "WITH":
		return fmt.Sprintf("it starts with %s", first)
	}
	depth := 0
	for _, tok := range toks {
		switch tok {
		case "(":
			depth++
		case ")":
			if depth == 0 {
				return "it closes a parenthesis it did not open"
			}
			depth--
		case ";":
			return "it holds more than one statement"
		}
		if word := strings.ToUpper(tok); writes[word] {
			return fmt.Sprintf("it holds %s", word)
		}
	}
	return ""
}

// Words that write or end a transaction, which no read holds.
var writes = map[string]bool{
	"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "UPSERT": true, "TRUNCATE": true,
	"DROP": true, "CREATE": true, "ALTER": true, "GRANT": true, "REVOKE": true, "COPY": true, "CALL": true,
	"COMMIT": true, "ROLLBACK": true, "SAVEPOINT": true, "INTO": true, "HANDLER": true, "LOAD": true,
}

// Words that end a select list.
var stopList = map[string]bool{
	"FROM": true, "INTO": true, "WHERE": true, "GROUP": true, "HAVING": true, "ORDER": true,
	"LIMIT": true, "WINDOW": true, "QUALIFY": true, "UNION": true, "INTERSECT": true, "EXCEPT": true,
}

// isSelectModifier says whether word, after prev, still comes before the first item of
// a select list: DISTINCT, DISTINCT ON (...), MySQL's SQL_NO_CACHE and the like,
// BigQuery's AS STRUCT and AS VALUE.
func isSelectModifier(word, prev string) bool {
	switch word {
	case "DISTINCT", "ALL", "DISTINCTROW", "HIGH_PRIORITY", "STRAIGHT_JOIN", "SQL_SMALL_RESULT",
		"SQL_BIG_RESULT", "SQL_BUFFER_RESULT", "SQL_NO_CACHE", "SQL_CACHE", "SQL_CALC_FOUND_ROWS":
		return true
	case "ON":
		return prev == "DISTINCT"
	case "AS":
		return prev == "SELECT" || prev == "DISTINCT" || prev == "ALL"
	case "STRUCT", "VALUE":
		return prev == "AS"
	}
	return false
}

// sqlTokens splits SQL into words, numbers and single punctuation characters, leaving
// out whitespace, comments (-- and /* */), string literals ('...') and quoted
// identifiers ("..." and `...`), each of which becomes one placeholder token.
func sqlTokens(q string) []string {
	var toks []string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(q[i:], "--"):
			if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(q)
			}
		case strings.HasPrefix(q[i:], "/*"):
			if j := strings.Index(q[i+2:], "*/"); j >= 0 {
				i += 2 + j + 2
			} else {
				i = len(q)
			}
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(q, i)
			if c == '\'' {
				toks = append(toks, "'…'")
			} else {
				toks = append(toks, `"…"`)
			}
		case isWordByte(c):
			j := i + 1
			for j < len(q) && (isWordByte(q[j]) || c >= '0' && c <= '9' && q[j] == '.') {
				j++
			}
			toks = append(toks, q[i:j])
			i = j
		default:
			toks = append(toks, q[i:i+1])
			i++
		}
	}
	return toks
}

// skipQuoted returns the index just after the quoted text starting at q[i]. A doubled
// quote stands for itself; in '...' a backslash escapes the next byte (MySQL).
func skipQuoted(q string, i int) int {
	quote := q[i]
	for j := i + 1; j < len(q); j++ {
		switch {
		case q[j] == '\\' && quote == '\'':
			j++
		case q[j] == quote:
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(q)
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
