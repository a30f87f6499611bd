package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/connectors"
)

// Parts of a valid sync, one YAML line each.
const (
	src = `source: {type: postgres, dsn: "postgres://db/app"}`
	tbl = `table: users`
	wm  = `watermark: {column: created_at, key: order_id}`
	ids = `identifiers: {id: user_id}`
)

// doc is a config of head (whole lines, may be empty) and then one sync named users
// whose lines follow, each indented under it. With an empty head, `syncs:` is line 1,
// the sync (its name) line 2, and lines[i] is on line 3+i.
func doc(head string, lines ...string) string {
	var b strings.Builder
	b.WriteString(head)
	b.WriteString("syncs:\n  - name: users\n")
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// problems is err's list of problems, one string each; nil for no error.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, not *Errors: %v", err, err)
	}
	out := make([]string, len(errs.List))
	for i, fe := range errs.List {
		out[i] = fe.Error()
	}
	if got := strings.Join(out, "\n"); got != err.Error() {
		t.Errorf("Error() = %q, want the problems one a line: %q", err.Error(), got)
	}
	return out
}

func check(t *testing.T, yaml string, want ...string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(yaml), "test.yaml")
	got := problems(t, err)
	if !slices.Equal(got, want) {
		t.Fatalf("problems in\n%s\ngot:\n  %s\nwant:\n  %s", yaml, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if err == nil && cfg == nil {
		t.Fatal("no config and no error")
	}
	if err != nil && cfg != nil {
		t.Fatal("a config with an error")
	}
	return cfg
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", MaxAttributeName)
	tests := []struct {
		name string
		yaml string
		want []string // nil: valid
	}{
		{"minimal", doc("", src, tbl, ids), nil},

		// store
		{"store driver unknown", "store: {driver: mysql}\n" + doc("", src, tbl, ids),
			[]string{"store.driver (line 1): must be sqlite or postgres"}},
		{"store postgres without dsn", "store:\n  driver: postgres\n" + doc("", src, tbl, ids),
			[]string{"store.dsn (line 1): required when store.driver is postgres"}},
		{"store postgres with dsn", "store: {driver: postgres, dsn: \"postgres://store/db\"}\n" + doc("", src, tbl, ids), nil},
		{"store sqlite file", "store: {driver: sqlite, dsn: /var/lib/dbsync/state.db}\n" + doc("", src, tbl, ids), nil},

		// workspace
		{"workspace identifiers empty", "workspace: {identifiers: []}\n" + doc("", src, tbl, ids),
			[]string{"workspace.identifiers (line 1): must list id, email or both"}},
		{"workspace identifiers unknown and twice", "workspace:\n  identifiers: [id, phone, id]\n" + doc("", src, tbl, ids),
			[]string{
				"workspace.identifiers[1] (line 2): must be id or email",
				"workspace.identifiers[2] (line 2): listed twice",
			}},
		{"workspace email only", "workspace: {identifiers: [email], merge_duplicates: true}\n" + doc("", src, tbl, ids), nil},
		{"workspace id only, sync maps only email", "workspace: {identifiers: [id]}\n" + doc("", src, tbl, "identifiers: {email: email}"),
			[]string{"syncs[0].identifiers (line 6): map id or cio_id to a column: email does not identify people when workspace.identifiers is [id]"}},
		{"workspace id only, sync maps id", "workspace: {identifiers: [id], allow_email_update_by_id: true}\n" + doc("", src, tbl, "identifiers: {id: user_id, email: email}"), nil},

		// names
		{"name missing", "syncs:\n  - " + src + "\n    " + tbl + "\n    " + ids + "\n",
			[]string{"syncs[0].name (line 2): required"}},
		{"name with a space", "syncs:\n  - name: app users\n    " + src + "\n    " + tbl + "\n    " + ids + "\n",
			[]string{"syncs[0].name (line 2): may only hold letters, digits, _, - and ."}},
		{"name with every allowed character", "syncs:\n  - name: App_users-v2.eu\n    " + src + "\n    " + tbl + "\n    " + ids + "\n", nil},
		{"name twice", doc("", src, tbl, ids) + "  - name: users\n    " + src + "\n    " + tbl + "\n    " + ids + "\n",
			[]string{"syncs[1].name (line 6): duplicate name: syncs[0] on line 2 has it too"}},

		// schedule
		{"schedule prose", doc("", src, tbl, ids, "schedule: every hour"),
			[]string{"syncs[0].schedule (line 6): must be a cron expression of 5 fields (minute hour day month weekday) or a descriptor like @hourly or @every 15m"}},
		{"schedule 3 fields", doc("", src, tbl, ids, `schedule: "* * *"`),
			[]string{"syncs[0].schedule (line 6): must be a cron expression of 5 fields (minute hour day month weekday) or a descriptor like @hourly or @every 15m"}},
		{"schedule zone only", doc("", src, tbl, ids, `schedule: "TZ=UTC"`),
			[]string{"syncs[0].schedule (line 6): must be a cron expression of 5 fields (minute hour day month weekday) or a descriptor like @hourly or @every 15m"}},
		{"schedule 5 fields", doc("", src, tbl, ids, `schedule: "*/15 * * * *"`), nil},
		{"schedule every", doc("", src, tbl, ids, "schedule: '@every 15m'"), nil},
		{"schedule hourly", doc("", src, tbl, ids, `schedule: "@hourly"`), nil},
		{"schedule with zone", doc("", src, tbl, ids, `schedule: "CRON_TZ=Europe/Berlin 0 6 * * 1-5"`), nil},
		{"schedule every negative", doc("", src, tbl, ids, `schedule: "@every -5m"`),
			[]string{"syncs[0].schedule (line 6): @every needs an interval of at least 1s"}},
		{"schedule every zero", doc("", src, tbl, ids, `schedule: "@every 0s"`),
			[]string{"syncs[0].schedule (line 6): @every needs an interval of at least 1s"}},
		{"schedule every 500ms", doc("", src, tbl, ids, `schedule: "@every 500ms"`),
			[]string{"syncs[0].schedule (line 6): @every needs an interval of at least 1s"}},
		{"schedule every second", doc("", src, tbl, ids, `schedule: "@every 1s"`), nil},
		{"schedule February 30", doc("", src, tbl, ids, `schedule: "0 0 30 2 *"`),
			[]string{"syncs[0].schedule (line 6): never fires: no date matches it in the next 5 years"}},
		{"schedule April 31 zoned", doc("", src, tbl, ids, `schedule: "CRON_TZ=Europe/Berlin 0 0 31 4 *"`),
			[]string{"syncs[0].schedule (line 6): never fires: no date matches it in the next 5 years"}},
		{"schedule February 29", doc("", src, tbl, ids, `schedule: "0 0 29 2 *"`), nil},

		// source
		{"source type missing", doc("", `source: {dsn: "postgres://db/app"}`, tbl, ids),
			[]string{"syncs[0].source.type (line 3): required"}},
		{"source absent", doc("", tbl, ids),
			[]string{"syncs[0].source.type (line 2): required"}},
		{"source type unknown", doc("", `source: {type: oracle, dsn: "x"}`, tbl, ids),
			[]string{"syncs[0].source.type (line 3): must be one of postgres, mysql, sqlite, bigquery"}},
		{"postgres without dsn", doc("", "source:", "  type: postgres", tbl, ids),
			[]string{"syncs[0].source.dsn (line 3): required for a postgres source"}},
		{"mysql without dsn", doc("", "source: {type: mysql}", tbl, ids),
			[]string{"syncs[0].source.dsn (line 3): required for a mysql source"}},
		{"sqlite without dsn", doc("", "source: {type: sqlite}", tbl, ids),
			[]string{"syncs[0].source.dsn (line 3): required for a sqlite source"}},
		{"mysql", doc("", `source: {type: mysql, dsn: "u:p@tcp(db:3306)/shop"}`, tbl, ids), nil},
		{"sqlite", doc("", "source: {type: sqlite, dsn: app.db}", tbl, ids), nil},
		{"postgres with bigquery options", doc("", "source:", "  type: postgres", "  dsn: postgres://db/app",
			"  project: p", "  dataset: d", "  location: EU", "  credentials_file: /k.json", "  endpoint: http://x", "  anonymous: true", tbl, ids),
			[]string{
				"syncs[0].source.project (line 6): only used by bigquery sources",
				"syncs[0].source.dataset (line 7): only used by bigquery sources",
				"syncs[0].source.location (line 8): only used by bigquery sources",
				"syncs[0].source.credentials_file (line 9): only used by bigquery sources",
				"syncs[0].source.endpoint (line 10): only used by bigquery sources",
				"syncs[0].source.anonymous (line 11): only used by bigquery sources",
			}},
		{"postgres with anonymous false", doc("", `source: {type: postgres, dsn: "x", anonymous: false}`, tbl, ids), nil},
		{"bigquery without project and dataset", doc("", "source: {type: bigquery}", tbl, ids),
			[]string{
				"syncs[0].source.project (line 3): required for a bigquery source",
				"syncs[0].source.dataset (line 3): required for a bigquery source",
			}},
		{"bigquery with dsn", doc("", "source: {type: bigquery, project: p, dataset: d, dsn: x}", tbl, ids),
			[]string{"syncs[0].source.dsn (line 3): not used by bigquery sources (set project, dataset and credentials_file)"}},
		{"bigquery anonymous with credentials", doc("", "source:", "  type: bigquery", "  project: p", "  dataset: d",
			"  credentials_file: /k.json", "  anonymous: true", tbl, ids),
			[]string{"syncs[0].source.anonymous (line 8): cannot be used together with credentials_file"}},
		{"bigquery emulator", doc("", `source: {type: bigquery, project: p, dataset: d, location: EU, endpoint: "http://localhost:9050", anonymous: true}`, tbl, ids), nil},
		{"bigquery credentials", doc("", "source: {type: bigquery, project: p, dataset: d, credentials_file: /k.json}", tbl, ids), nil},
		{"timezone unknown", doc("", `source: {type: postgres, dsn: "x", timezone: Mars/Olympus}`, tbl, ids),
			[]string{"syncs[0].source.timezone (line 3): unknown time zone (use an IANA name like UTC or Europe/Berlin)"}},
		{"timezone", doc("", `source: {type: mysql, dsn: "x", timezone: Europe/Berlin}`, tbl, ids), nil},

		// table and query
		{"neither table nor query", doc("", src, ids),
			[]string{"syncs[0] (line 2): needs a table or a query"}},
		{"table and query", doc("", src, tbl, "query: SELECT id FROM users", ids),
			[]string{"syncs[0].query (line 5): cannot be used together with table"}},
		{"query blank", doc("", src, `query: "  "`, ids),
			[]string{"syncs[0].query (line 4): must not be empty"}},
		{"query select star", doc("", src, "query: select DISTINCT * from users", ids),
			[]string{"syncs[0].query (line 4): sync users: must be one SELECT that names its columns, not SELECT *"}},
		{"query select t.star", doc("", src, "query: |", "  SELECT u.* FROM users u", ids),
			[]string{"syncs[0].query (line 4): sync users: must be one SELECT that names its columns, not SELECT *"}},
		{"query update", doc("", src, "query: UPDATE users SET plan = 'x' RETURNING user_id", ids),
			[]string{"syncs[0].query (line 4): sync users: must be one SELECT (a source is only read): it starts with UPDATE"}},
		{"query smuggled statements", doc("", src, `query: "SELECT 'x' AS user_id) AS a; COMMIT; DROP TABLE public.victim; SELECT user_id FROM (SELECT 'y' AS user_id"`, ids),
			[]string{"syncs[0].query (line 4): sync users: must be one SELECT (a source is only read): it closes a parenthesis it did not open"}},
		{"query with count star", doc("", src, "query: SELECT user_id, count(*) AS n FROM orders WHERE updated_at > to_timestamp({{last_sync_time}}) GROUP BY user_id", ids), nil},
		{"table with quotes and semicolon", doc("", src, `table: 'public."odd;name"'`, ids), nil},

		// watermark and lookback
		{"watermark column without key", doc("", src, tbl, ids, "watermark: {column: updated_at}"),
			[]string{"syncs[0].watermark.key (line 6): required when watermark.column is set"}},
		{"watermark column without key, block", doc("", src, tbl, ids, "watermark:", "  column: updated_at"),
			[]string{"syncs[0].watermark.key (line 6): required when watermark.column is set"}},
		{"watermark key without column", doc("", src, tbl, ids, "watermark: {key: id}"),
			[]string{"syncs[0].watermark.column (line 6): required when watermark is set"}},
		{"watermark empty", doc("", src, tbl, ids, "watermark: {}"),
			[]string{
				"syncs[0].watermark.column (line 6): required when watermark is set",
				"syncs[0].watermark.key (line 6): required when watermark is set",
			}},
		{"watermark", doc("", src, tbl, ids, "watermark: {column: updated_at, key: id}", "lookback: 1h30m"), nil},
		{"lookback without watermark", doc("", src, tbl, ids, "lookback: 5m"),
			[]string{"syncs[0].lookback (line 6): only used with a watermark"}},
		{"lookback 0s without watermark", doc("", src, tbl, ids, "lookback: 0s"), nil},
		{"lookback negative", doc("", src, tbl, ids, "watermark: {column: updated_at, key: id}", "lookback: -5m"),
			[]string{"syncs[0].lookback (line 7): must not be negative"}},
		{"lookback malformed", doc("", src, tbl, ids, "watermark: {column: updated_at, key: id}", "lookback: 5 minutes"),
			[]string{"syncs[0].lookback (line 7): must be a duration like 5m, 30s or 1h30m"}},
		{"lookback without unit", doc("", src, tbl, ids, "watermark: {column: updated_at, key: id}", "lookback: 30"),
			[]string{"syncs[0].lookback (line 7): must be a duration like 5m, 30s or 1h30m"}},

		// batch_size
		{"batch_size 0", doc("", src, tbl, ids, "batch_size: 0"),
			[]string{"syncs[0].batch_size (line 6): must be between 1 and 1000000"}},
		{"batch_size too big", doc("", src, tbl, ids, "batch_size: 1000001"),
			[]string{"syncs[0].batch_size (line 6): must be between 1 and 1000000"}},
		{"batch_size text", doc("", src, tbl, ids, "batch_size: lots"),
			[]string{"syncs[0].batch_size (line 6): must be an integer"}},
		{"batch_size 1", doc("", src, tbl, ids, "batch_size: 1"), nil},
		{"batch_size max", doc("", src, tbl, ids, "batch_size: 1000000"), nil},

		// batch_bytes
		{"batch_bytes MiB", doc("", src, tbl, ids, "batch_bytes: 8MiB"), nil},
		{"batch_bytes MB with a blank", doc("", src, tbl, ids, "batch_bytes: 16 MB"), nil},
		{"batch_bytes bytes", doc("", src, tbl, ids, "batch_bytes: 1"), nil},
		{"batch_bytes 0", doc("", src, tbl, ids, "batch_bytes: 0"),
			[]string{"syncs[0].batch_bytes (line 6): must be positive"}},
		{"batch_bytes 0MiB", doc("", src, tbl, ids, "batch_bytes: 0MiB"),
			[]string{"syncs[0].batch_bytes (line 6): must be positive"}},
		{"batch_bytes negative", doc("", src, tbl, ids, "batch_bytes: -1"),
			[]string{"syncs[0].batch_bytes (line 6): must be a size like 8MiB, 16MB or 1048576 (bytes)"}},
		{"batch_bytes unknown unit", doc("", src, tbl, ids, "batch_bytes: 8 megs"),
			[]string{"syncs[0].batch_bytes (line 6): must be a size like 8MiB, 16MB or 1048576 (bytes)"}},
		{"batch_bytes fraction", doc("", src, tbl, ids, "batch_bytes: 1.5GiB"),
			[]string{"syncs[0].batch_bytes (line 6): must be a size like 8MiB, 16MB or 1048576 (bytes)"}},
		{"batch_bytes overflow", doc("", src, tbl, ids, "batch_bytes: 9999999999999GiB"),
			[]string{"syncs[0].batch_bytes (line 6): must be a size like 8MiB, 16MB or 1048576 (bytes)"}},
		{"batch_bytes list", doc("", src, tbl, ids, "batch_bytes: [1]"),
			[]string{"syncs[0].batch_bytes (line 6): must be a size like 8MiB, 16MB or 1048576 (bytes)"}},

		// identifiers
		{"identifiers absent", doc("", src, tbl),
			[]string{"syncs[0].identifiers (line 2): map at least one of id, email, cio_id to a column"}},
		{"identifiers empty", doc("", src, tbl, "identifiers: {}"),
			[]string{"syncs[0].identifiers (line 5): map at least one of id, email, cio_id to a column"}},
		{"identifiers cio_id only", doc("", src, tbl, "identifiers: {cio_id: cio}"), nil},
		{"identifiers email only", doc("", src, tbl, "identifiers: {email: email}"), nil},

		// attributes and exclude
		{"attribute name empty", doc("", src, tbl, ids, `attributes: {"": plan}`),
			[]string{`syncs[0].attributes[""] (line 6): attribute name must not be empty`}},
		{"attribute name too long", doc("", src, tbl, ids, "attributes:", "  "+long+"a: plan"),
			[]string{"syncs[0].attributes." + long + "a (line 7): attribute name is longer than 150 bytes"}},
		{"attribute named email", doc("", src, tbl, ids, "attributes:", "  plan: plan_name", "  email: work_email"),
			[]string{"syncs[0].attributes.email (line 8): is an identifier, not an attribute: map it under identifiers"}},
		{"attribute named id and cio_id", doc("", src, tbl, ids, "attributes: {id: a, cio_id: b}"),
			[]string{
				"syncs[0].attributes.cio_id (line 6): is an identifier, not an attribute: map it under identifiers",
				"syncs[0].attributes.id (line 6): is an identifier, not an attribute: map it under identifiers",
			}},
		{"attribute column empty", doc("", src, tbl, ids, "attributes:", `  plan: ""`, "  tier:"),
			[]string{
				"syncs[0].attributes.plan (line 7): column required",
				"syncs[0].attributes.tier (line 8): column required",
			}},
		{"attributes", doc("", src, tbl, ids, "attributes:", "  "+long+": plan", `  "Plan name": plan_name`), nil},
		{"exclude empty string", doc("", src, tbl, ids, `exclude: [updated_at, ""]`),
			[]string{"syncs[0].exclude[1] (line 6): must not be empty"}},
		{"exclude", doc("", src, tbl, ids, "exclude: [updated_at, password_hash]"), nil},

		// nulls
		{"nulls unknown", doc("", src, tbl, ids, "nulls: drop"),
			[]string{"syncs[0].nulls (line 6): must be ignore or unset"}},
		{"nulls unset", doc("", src, tbl, ids, "nulls: unset"), nil},
		{"nulls ignore", doc("", src, tbl, ids, "nulls: ignore"), nil},

		// kinds (SPEC §8)
		{"kind people", doc("", src, tbl, ids, "kind: people"), nil},
		{"objects", doc("", src, tbl, "kind: objects", "object_type: account", "object_id: account_id", "exclude: [updated_at]"), nil},
		{"relationships", doc("", src, tbl, "kind: relationships", "object_type: account", "object_id: account_id", ids,
			"attributes: {role: role}", "remove: removed"), nil},
		{"relationships by cio_id, no attributes", doc("", src, tbl, "kind: relationships", "object_type: account",
			"object_id: account_id", "identifiers: {cio_id: cio}"), nil},
		{"kind misspelt", doc("", src, tbl, ids, "kind: object", "object_type: account"),
			[]string{`syncs[0].kind (line 6): must be people, objects, relationships or events; did you mean "objects"?`}},
		{"kind unknown", doc("", src, tbl, ids, "kind: users"),
			[]string{"syncs[0].kind (line 6): must be people, objects, relationships or events"}},
		{"kind not a string", doc("", src, tbl, "kind: [objects]", "object_type: account", "object_id: account_id"),
			[]string{"syncs[0].kind (line 5): must be a string"}},
		{"objects without object_type and object_id", doc("", src, tbl, "kind: objects"),
			[]string{
				"syncs[0].object_type (line 2): required for kind objects",
				"syncs[0].object_id (line 2): required for kind objects: the column holding the object's id",
			}},
		{"relationships without object_type, object_id and identifiers", doc("", src, tbl, "kind: relationships"),
			[]string{
				"syncs[0].object_type (line 2): required for kind relationships",
				"syncs[0].object_id (line 2): required for kind relationships: the column holding the object's id",
				"syncs[0].identifiers (line 2): map at least one of id, email, cio_id to a column",
			}},
		{"relationships by email when email does not identify", "workspace: {identifiers: [id]}\n" + doc("", src, tbl,
			"kind: relationships", "object_type: account", "object_id: account_id", "identifiers: {email: email}"),
			[]string{"syncs[0].identifiers (line 9): map id or cio_id to a column: email does not identify people when workspace.identifiers is [id]"}},
		{"object_type empty", doc("", src, tbl, "kind: objects", `object_type: ""`, "object_id: account_id"),
			[]string{"syncs[0].object_type (line 6): required for kind objects"}},
		{"object_type blank", doc("", src, tbl, "kind: objects", `object_type: "  "`, "object_id: account_id"),
			[]string{"syncs[0].object_type (line 6): must not be blank"}},
		{"object_type 100 bytes", doc("", src, tbl, "kind: objects", "object_type: "+strings.Repeat("é", 50), "object_id: account_id"), nil},
		{"object_type 101 bytes", doc("", src, tbl, "kind: objects", "object_type: a"+strings.Repeat("é", 50), "object_id: account_id"),
			[]string{"syncs[0].object_type (line 6): is longer than 100 bytes"}},
		{"object_type with a tab", doc("", src, tbl, "kind: objects", `object_type: "acc\tount"`, "object_id: account_id"),
			[]string{"syncs[0].object_type (line 6): must not hold control characters"}},
		{"object_type with a NUL", doc("", src, tbl, "kind: objects", `object_type: "acc\0ount"`, "object_id: account_id"),
			[]string{"syncs[0].object_type (line 6): must not hold control characters"}},
		{"objects with identifiers", doc("", src, tbl, "kind: objects", "object_type: account", "object_id: account_id", ids),
			[]string{"syncs[0].identifiers (line 8): not used by kind objects: an object is found by object_id"}},
		{"people with object fields", doc("", src, tbl, ids, "object_type: account", "object_id: account_id", "remove: removed"),
			[]string{
				"syncs[0].object_type (line 6): only used by kinds objects and relationships",
				"syncs[0].object_id (line 7): only used by kinds objects and relationships",
				"syncs[0].remove (line 8): only used by kind relationships",
			}},
		{"objects with remove", doc("", src, tbl, "kind: objects", "object_type: account", "object_id: account_id", "remove: removed"),
			[]string{"syncs[0].remove (line 8): only used by kind relationships"}},
		{"relationships removed by the object_id column", doc("", src, tbl, "kind: relationships", "object_type: account",
			"object_id: account_id", ids, "remove: account_id"),
			[]string{"syncs[0].remove (line 9): cannot be the object_id column"}},
		{"relationships exclude without attributes", doc("", src, tbl, "kind: relationships", "object_type: account",
			"object_id: account_id", ids, "exclude: [updated_at]"),
			[]string{"syncs[0].exclude (line 9): not used: a relationship has no attributes unless attributes: maps them"}},
		{"relationships exclude with attributes", doc("", src, tbl, "kind: relationships", "object_type: account",
			"object_id: account_id", ids, "attributes: {role: role, since: created_at}", "exclude: [created_at]"), nil},
		{"objects attribute named id and object_id", doc("", src, tbl, "kind: objects", "object_type: account",
			"object_id: account_id", "attributes: {id: legacy_id, object_id: x, email: billing_email, cio_id: owner}"),
			[]string{
				"syncs[0].attributes.id (line 8): would look like the object's id, not an attribute: the id is object_id; name the attribute otherwise",
				"syncs[0].attributes.object_id (line 8): would look like the object's id, not an attribute: the id is object_id; name the attribute otherwise",
			}},
		{"relationships attribute named email", doc("", src, tbl, "kind: relationships", "object_type: account",
			"object_id: account_id", ids, "attributes: {email: email}"),
			[]string{"syncs[0].attributes.email (line 9): is an identifier, not an attribute: map it under identifiers"}},
		{"objects attribute from the object_id column", doc("", src, tbl, "kind: objects", "object_type: account",
			"object_id: account_id", "attributes: {name: name, account: account_id}"),
			[]string{"syncs[0].attributes.account (line 8): is the object_id column, which is never an attribute"}},
		{"relationships attribute from the remove column", doc("", src, tbl, "kind: relationships", "object_type: account",
			"object_id: account_id", ids, "remove: removed", "attributes: {gone: removed}"),
			[]string{"syncs[0].attributes.gone (line 10): is the remove column, which is never an attribute"}},
		{"people delete and suppress", doc("", src, tbl, ids, "delete: deleted_at", "suppress: suppressed"), nil},
		{"objects delete", doc("", src, tbl, "kind: objects", "object_type: account", "object_id: account_id", "delete: archived_at"), nil},
		{"suppress on objects", doc("", src, tbl, "kind: objects", "object_type: account", "object_id: account_id", "suppress: gone"),
			[]string{"syncs[0].suppress (line 8): only used by kind people"}},
		{"delete on relationships and events", doc("", src, tbl, "kind: relationships", "object_type: account",
			"object_id: account_id", ids, "delete: gone"),
			[]string{"syncs[0].delete (line 9): only used by kinds people and objects"}},
		{"objects deleted by the object_id column", doc("", src, tbl, "kind: objects", "object_type: account",
			"object_id: account_id", "delete: account_id"),
			[]string{"syncs[0].delete (line 8): cannot be the object_id column"}},
		{"suppress is the delete column", doc("", src, tbl, ids, "delete: gone", "suppress: gone"),
			[]string{"syncs[0].suppress (line 7): cannot be the delete column: a row either deletes or suppresses"}},
		{"delete is an identifier column", doc("", src, tbl, ids, "delete: user_id"),
			[]string{"syncs[0].delete (line 6): cannot be an identifier column"}},
		{"attribute from the delete column", doc("", src, tbl, ids, "delete: deleted_at", "attributes: {gone: deleted_at}"),
			[]string{"syncs[0].attributes.gone (line 7): is the delete column, which is never an attribute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.yaml, tt.want...)
		})
	}
}

// TestEventValidate is SPEC §9's fields of an events sync, each problem naming its field.
func TestEventValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // nil: valid
	}{
		{"kind events without event", doc("", src, tbl, ids, "kind: events", wm),
			[]string{"syncs[0].event (line 2): required for kind events: {name: NAME} or {name_column: COLUMN}"}},

		{"events", doc("", src, tbl, ids, "kind: events", wm, "event: {name: purchase}", "exclude: [user_id]"), nil},
		{"events named by a column", doc("", src, tbl, ids, "kind: events", wm, "event: {name_column: event_name}"), nil},
		{"events without a watermark", doc("", src, tbl, ids, "kind: events",
			"event: {name: purchase, id_column: order_id, timestamp_column: created_at}"), nil},
		{"events without a watermark or columns", doc("", src, tbl, ids, "kind: events", "event: {name: purchase}"),
			[]string{
				"syncs[0].event.id_column (line 7): required without a watermark (its default is watermark.key)",
				"syncs[0].event.timestamp_column (line 7): required without a watermark (its default is watermark.column)",
			}},
		{"events with name and name_column", doc("", src, tbl, ids, "kind: events", wm, "event: {name: purchase, name_column: kind}"),
			[]string{"syncs[0].event.name_column (line 8): cannot be used together with event.name"}},
		{"events with neither name", doc("", src, tbl, ids, "kind: events", wm, "event: {id_column: order_id}"),
			[]string{"syncs[0].event (line 8): needs name (every row's event name) or name_column (the column holding it)"}},
		{"events name blank", doc("", src, tbl, ids, "kind: events", wm, `event: {name: "  "}`),
			[]string{"syncs[0].event.name (line 8): must not be blank"}},
		{"events name 100 bytes", doc("", src, tbl, ids, "kind: events", wm, "event: {name: "+strings.Repeat("é", 50)+"}"), nil},
		{"events name 101 bytes", doc("", src, tbl, ids, "kind: events", wm, "event: {name: a"+strings.Repeat("é", 50)+"}"),
			[]string{"syncs[0].event.name (line 8): is longer than 100 bytes"}},
		{"events name with a newline", doc("", src, tbl, ids, "kind: events", wm, `event: {name: "a\nb"}`),
			[]string{"syncs[0].event.name (line 8): must not hold control characters"}},
		{"events without identifiers", doc("", src, tbl, "kind: events", wm, "event: {name: purchase}"),
			[]string{"syncs[0].identifiers (line 2): map at least one of id, email, cio_id to a column"}},
		{"events timestamp is the id column", doc("", src, tbl, ids, "kind: events", wm, "event: {name: purchase, timestamp_column: order_id}"),
			[]string{"syncs[0].event.timestamp_column (line 8): cannot be the event's id column"}},
		{"events name column is the timestamp column", doc("", src, tbl, ids, "kind: events", wm, "event: {name_column: created_at}"),
			[]string{"syncs[0].event.name_column (line 8): cannot be the event's timestamp column"}},
		{"events nulls unset", doc("", src, tbl, ids, "kind: events", wm, "event: {name: purchase}", "nulls: unset"),
			[]string{"syncs[0].nulls (line 9): not used by kind events: an event is stored once and never updated, so a NULL is left out of its data"}},
		{"events data from the id column", doc("", src, tbl, ids, "kind: events", wm, "event: {name: purchase}",
			"attributes: {total: total, order: order_id, at: created_at}"),
			[]string{
				"syncs[0].attributes.at (line 9): is the event's timestamp column, which is never event data",
				"syncs[0].attributes.order (line 9): is the event's id column, which is never event data",
			}},
		{"events data from the name column", doc("", src, tbl, ids, "kind: events", wm, "event: {name_column: kind}",
			"attributes: {kind: kind}"),
			[]string{"syncs[0].attributes.kind (line 9): is the event's name column, which is never event data"}},
		{"events with object fields", doc("", src, tbl, ids, "kind: events", wm, "event: {name: purchase}", "object_id: account_id"),
			[]string{"syncs[0].object_id (line 9): only used by kinds objects and relationships"}},
		{"people with event", doc("", src, tbl, ids, "event: {name: purchase}"),
			[]string{"syncs[0].event (line 6): only used by kind events"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.yaml, tt.want...)
		})
	}
}

func TestManyProblemsReportedTogether(t *testing.T) {
	yaml := `store:
  driver: postgres
syncs:
  - name: ok
    source: {type: postgres, dsn: "postgres://db/app"}
    table: users
    identifiers: {id: user_id}
  - name: bad one
    source: {type: bigquery, project: p}
    query: SELECT * FROM t
    watermark: {column: updated_at}
    batch_size: 0
  - name: ok
    source: {type: mysql}
    tabel: users
    nulls: maybe
`
	check(t, yaml,
		"store.dsn (line 1): required when store.driver is postgres",
		"syncs[1].name (line 8): may only hold letters, digits, _, - and .",
		"syncs[1].identifiers (line 8): map at least one of id, email, cio_id to a column",
		"syncs[1].source.dataset (line 9): required for a bigquery source",
		"syncs[1].query (line 10): must be one SELECT that names its columns, not SELECT *",
		"syncs[1].watermark.key (line 11): required when watermark.column is set",
		"syncs[1].batch_size (line 12): must be between 1 and 1000000",
		"syncs[2].name (line 13): duplicate name: syncs[0] on line 4 has it too",
		"syncs[2] (line 13): needs a table or a query",
		"syncs[2].identifiers (line 13): map at least one of id, email, cio_id to a column",
		"syncs[2].source.dsn (line 14): required for a mysql source",
		"syncs[2].tabel (line 15): unknown key; did you mean \"table\"?",
		"syncs[2].nulls (line 16): must be ignore or unset",
	)
}

func TestUnknownKeys(t *testing.T) {
	yaml := `store:
  driver: sqlite
  dirver: postgres
syncs:
  - name: users
    source:
      type: postgres
      dsn: "postgres://db/app"
      dsnn: x
    table: users
    tabel: users
    identifiers: {id: user_id, phone: tel}
    watermark: {column: updated_at, key: id, order: desc}
sink: nowhere
`
	check(t, yaml,
		"store.dirver (line 3): unknown key; did you mean \"driver\"?",
		"syncs[0].source.dsnn (line 9): unknown key; did you mean \"dsn\"?",
		"syncs[0].tabel (line 11): unknown key; did you mean \"table\"?",
		"syncs[0].identifiers.phone (line 12): unknown key",
		"syncs[0].watermark.order (line 13): unknown key",
		"sink (line 14): unknown key",
	)
}

func TestShape(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"duplicate key", doc("", src, tbl, ids, "table: people"),
			[]string{"syncs[0].table (line 6): duplicate key (first on line 4)"}},
		{"source is a string", doc("", "source: postgres://admin:pw@db/app", tbl, ids),
			[]string{"syncs[0].source (line 3): must be a mapping"}},
		{"identifiers item is a list", "workspace: {identifiers: [[id]]}\n" + doc("", src, tbl, ids),
			[]string{"workspace.identifiers[0] (line 1): must be a string"}},
		{"a bad sync does not shift the next", "syncs:\n  - users\n  - name: b\n    " + src + "\n    " + ids + "\n",
			[]string{"syncs[0] (line 2): must be a mapping", "syncs[1] (line 3): needs a table or a query"}},
		{"an empty sync does not shift the next", "syncs:\n  -\n  - name: b\n    " + src + "\n    " + ids + "\n",
			[]string{
				"syncs[0].name (line 2): required",
				"syncs[0].source.type (line 2): required",
				"syncs[0] (line 2): needs a table or a query",
				"syncs[0].identifiers (line 2): map at least one of id, email, cio_id to a column",
				"syncs[1] (line 3): needs a table or a query",
			}},
		{"null items in lists", "workspace: {identifiers: [~, id]}\n" + doc("", src, tbl, ids, "exclude: [~, a, [b], c, \"\"]"),
			[]string{
				"workspace.identifiers[0] (line 1): must be id or email",
				"syncs[0].exclude[2] (line 7): must be a string",
				"syncs[0].exclude[0] (line 7): must not be empty",
				"syncs[0].exclude[4] (line 7): must not be empty",
			}},
		{"syncs is a mapping", "syncs: {users: {}}\n",
			[]string{"syncs (line 1): must be a list"}},
		{"sync is a string", "syncs:\n  - users\n",
			[]string{"syncs[0] (line 2): must be a mapping"}},
		{"exclude is a string", doc("", src, tbl, ids, "exclude: updated_at"),
			[]string{"syncs[0].exclude (line 6): must be a list"}},
		{"batch_size is a list", doc("", src, tbl, ids, "batch_size: [1]"),
			[]string{"syncs[0].batch_size (line 6): must be an integer"}},
		{"anonymous is not a bool", doc("", "source: {type: bigquery, project: p, dataset: d, anonymous: maybe}", tbl, ids),
			[]string{"syncs[0].source.anonymous (line 3): must be true or false"}},
		{"table is a mapping", doc("", src, "table: {schema: public}", ids),
			[]string{"syncs[0].table (line 4): must be a string"}},
		{"file is a list", "- a\n- b\n",
			[]string{"line 1: the file must be a mapping with store, workspace and syncs"}},
		{"merge of itself", "syncs:\n  - &a\n    <<: *a\n",
			[]string{"syncs[0] (line 2): contains itself (through an alias)"}},
		{"merge of a string", doc("", "<<: oops", src, tbl, ids),
			[]string{"syncs[0] (line 3): << must merge a mapping or a list of mappings"}},
		{"empty file", "", []string{"syncs: at least one sync is required"}},
		{"only comments", "# nothing yet\n", []string{"syncs: at least one sync is required"}},
		{"no syncs key", "store: {driver: sqlite}\n", []string{"syncs: at least one sync is required"}},
		{"syncs empty", "syncs: []\n", []string{"syncs (line 1): at least one sync is required"}},
		{"syncs null", "syncs:\n", []string{"syncs (line 1): at least one sync is required"}},
		{"two documents", doc("", src, tbl, ids) + "---\n" + doc("", src, tbl, ids),
			[]string{"yaml: the file must hold one document (found a second ---)"}},
		{"yaml syntax", "syncs: [\n", []string{"yaml: line 1: did not find expected node content"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.yaml, tt.want...)
		})
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	t.Setenv("DBSYNC_TEST_DSN", "postgres://u:p@db/app")
	yaml := `syncs:
  - &base
    name: a
    source:
      type: postgres
      dsn: ${DBSYNC_TEST_DSN}
    table: a
    identifiers: {id: id}
  - <<: *base
    name: b
    table: b
`
	cfg := check(t, yaml)
	if len(cfg.Syncs) != 2 {
		t.Fatalf("%d syncs", len(cfg.Syncs))
	}
	b := cfg.Syncs[1]
	if b.Name != "b" || b.Table != "b" || b.Source.DSN != "postgres://u:p@db/app" || b.Identifiers.ID != "id" || b.Line != 9 {
		t.Errorf("merged sync = %+v", b)
	}
	check(t, yaml+"    tpyo: 1\n", "syncs[1].tpyo (line 12): unknown key")
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("DBSYNC_TEST_DSN", "postgres://app:pa$$w0rd@db/app?x=${DBSYNC_TEST_NAME}")
	t.Setenv("DBSYNC_TEST_NAME", "users")
	t.Setenv("DBSYNC_TEST_TABLE", "null")
	t.Setenv("DBSYNC_TEST_BATCH", "250")
	t.Setenv("DBSYNC_TEST_LOOKBACK", "90s")
	t.Setenv("DBSYNC_TEST_EMPTY", "")
	yaml := `syncs:
  - name: ${DBSYNC_TEST_NAME}
    source:
      type: postgres
      dsn: ${DBSYNC_TEST_DSN}
    table: ${DBSYNC_TEST_TABLE}
    identifiers: {id: "${DBSYNC_TEST_NAME}_id${DBSYNC_TEST_EMPTY}"}
    attributes:
      price: $price $DBSYNC_TEST_NAME ${DBSYNC_TEST_NAME
    watermark: {column: updated_at, key: id}
    batch_size: ${DBSYNC_TEST_BATCH}
    lookback: ${DBSYNC_TEST_LOOKBACK}
`
	s := check(t, yaml).Syncs[0]
	for _, c := range []struct{ field, got, want string }{
		{"name", s.Name, "users"},
		{"dsn (expanded once, not again)", s.Source.DSN, "postgres://app:pa$$w0rd@db/app?x=${DBSYNC_TEST_NAME}"},
		{"table (a string, though it reads as null)", s.Table, "null"},
		{"identifiers.id", s.Identifiers.ID, "users_id"},
		{"attribute (only ${NAME} expands)", s.Attributes["price"], "$price $DBSYNC_TEST_NAME ${DBSYNC_TEST_NAME"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if s.BatchSize != 250 {
		t.Errorf("batch_size = %d, want 250", s.BatchSize)
	}
	if time.Duration(s.Lookback) != 90*time.Second {
		t.Errorf("lookback = %v, want 90s", s.Lookback)
	}
}

func TestEnvUnset(t *testing.T) {
	for _, name := range []string{"DBSYNC_TEST_UNSET_DSN", "DBSYNC_TEST_UNSET_USER", "DBSYNC_TEST_UNSET_N"} {
		if _, set := os.LookupEnv(name); set {
			t.Fatalf("%s is set", name)
		}
	}
	t.Setenv("DBSYNC_TEST_HOST", "db.internal")
	check(t, doc("", "source:", "  type: postgres", "  dsn: ${DBSYNC_TEST_UNSET_DSN}", tbl, ids),
		"syncs[0].source.dsn (line 5): environment variable DBSYNC_TEST_UNSET_DSN is not set")
	check(t, doc("", "source:", "  type: postgres",
		"  dsn: postgres://${DBSYNC_TEST_UNSET_USER}:${DBSYNC_TEST_UNSET_DSN}@${DBSYNC_TEST_HOST}/${DBSYNC_TEST_UNSET_USER}",
		tbl, ids, "batch_size: ${DBSYNC_TEST_UNSET_N}"),
		"syncs[0].source.dsn (line 5): environment variable DBSYNC_TEST_UNSET_USER is not set",
		"syncs[0].source.dsn (line 5): environment variable DBSYNC_TEST_UNSET_DSN is not set",
		"syncs[0].batch_size (line 8): environment variable DBSYNC_TEST_UNSET_N is not set")
}

// TestEnvForms: ${VAR:-default} takes the default when VAR is unset or empty,
// ${VAR:?message} fails with the message naming the field, any other ${…} form is
// an error naming the field (SPEC §5).
func TestEnvForms(t *testing.T) {
	t.Setenv("DBSYNC_TEST_EMPTY", "")
	cfg, err := Parse([]byte(doc("", "source:", "  type: postgres", "  dsn: ${DBSYNC_TEST_UNSET_DSN:-postgres://db/app}", tbl, ids,
		"batch_size: ${DBSYNC_TEST_EMPTY:-250}")), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Syncs[0]; s.Source.DSN != "postgres://db/app" || s.BatchSize != 250 {
		t.Errorf("defaults not taken: dsn %q, batch_size %d", s.Source.DSN, s.BatchSize)
	}
	check(t, doc("", "source:", "  type: postgres", "  dsn: ${DBSYNC_TEST_UNSET_DSN:?set it to the app database}", tbl, ids),
		"syncs[0].source.dsn (line 5): environment variable DBSYNC_TEST_UNSET_DSN: set it to the app database")
	check(t, doc("", "source:", "  type: postgres", "  dsn: ${DBSYNC_TEST_EMPTY:?needed}", tbl, ids),
		"syncs[0].source.dsn (line 5): environment variable DBSYNC_TEST_EMPTY: needed")
	check(t, doc("", "source:", "  type: postgres", "  dsn: ${DBSYNC_TEST_UNSET_DSN:=x}", tbl, ids),
		"syncs[0].source.dsn (line 5): "+errEnvForm)
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "x", "B_2": "$y", "E": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want string
		missing  []string
	}{
		{"${A}", "x", nil},
		{"a${A}b${B_2}c", "ax" + "b$yc", nil},
		{"${E}", "", nil},
		{"$A", "$A", nil},
		{"$", "$", nil},
		{"p$$w0rd$", "p$$w0rd$", nil},
		{"$${A}", "$x", nil},
		{"${}", "", []string{errEnvForm}},
		{"${A", "${A", nil},
		{"a${A}${B", "ax${B", nil},
		{"${A-b}", "", []string{errEnvForm}},
		{"${A:=b}", "", []string{errEnvForm}},
		{"${1A}", "", []string{errEnvForm}},
		{"${${A}}", "}", []string{errEnvForm}},
		{"${NO:-dflt}/${E:-e}/${A:-no}", "dflt/e/x", nil},
		{"${NO:-}", "", nil},
		{"${A:?need A}", "x", nil},
		{"${NO:?set NO to the password}", "", []string{"environment variable NO: set NO to the password"}},
		{"${E:?}", "", []string{"environment variable E: is not set or empty"}},
		{"${NO}${A}${NO}${NOPE}", "x", []string{"environment variable NO is not set", "environment variable NOPE is not set"}},
	}
	for _, tt := range tests {
		got, missing := expandEnv(tt.in, lookup)
		if got != tt.want || !slices.Equal(missing, tt.missing) {
			t.Errorf("expandEnv(%q) = %q, %q; want %q, %q", tt.in, got, missing, tt.want, tt.missing)
		}
	}
}

// secret is an environment variable's value no error may show, nor the first 7
// bytes of it (what yaml.v3's own messages quote).
const secret = "hunter2/S3cr3t pass"

func TestSecretsNotInErrors(t *testing.T) {
	t.Setenv("DBSYNC_TEST_SECRET", secret)
	const lit = "literal-Pa55word"
	tests := []struct{ name, yaml string }{
		{"dsn where a mapping goes", doc("", "source: ${DBSYNC_TEST_SECRET}", tbl, ids)},
		{"in a name", "syncs:\n  - name: ${DBSYNC_TEST_SECRET}\n    " + src + "\n    " + tbl + "\n    " + ids + "\n"},
		{"in batch_size", doc("", src, tbl, ids, "batch_size: ${DBSYNC_TEST_SECRET}")},
		{"in lookback", doc("", src, tbl, ids, "watermark: {column: a, key: b}", "lookback: ${DBSYNC_TEST_SECRET}")},
		{"in anonymous", doc("", "source:", "  type: bigquery", "  anonymous: ${DBSYNC_TEST_SECRET}", tbl, ids)},
		{"in schedule", doc("", src, tbl, ids, "schedule: ${DBSYNC_TEST_SECRET}")},
		{"in type", doc("", "source:", "  type: ${DBSYNC_TEST_SECRET}", tbl, ids)},
		{"in timezone", doc("", "source:", "  type: postgres", "  dsn: x", "  timezone: ${DBSYNC_TEST_SECRET}", tbl, ids)},
		{"in store driver", "store:\n  driver: ${DBSYNC_TEST_SECRET}\n" + doc("", src, tbl, ids)},
		{"in workspace identifiers", "workspace:\n  identifiers:\n    - ${DBSYNC_TEST_SECRET}\n" + doc("", src, tbl, ids)},
		{"in nulls", doc("", src, tbl, ids, "nulls: ${DBSYNC_TEST_SECRET}")},
		{"in a query", doc("", src, "query: SELECT * FROM t WHERE p = '${DBSYNC_TEST_SECRET}'", ids)},
		{"in a bigquery dsn", doc("", "source:", "  type: bigquery", "  dsn: ${DBSYNC_TEST_SECRET}", tbl, ids)},
		{"in a postgres dsn, with other errors", doc("", "source:", "  type: postgres", "  dsn: ${DBSYNC_TEST_SECRET}", "  project: x", "tabel: t")},
		{"in a list where a string goes", doc("", src, "table: [${DBSYNC_TEST_SECRET}]", ids)},
		{"literal dsn where a mapping goes", doc("", "source: postgres://admin:"+lit+"@db/app", tbl, ids)},
		{"literal dsn in a list", doc("", "source:", "  type: postgres", "  dsn: [postgres://admin:"+lit+"@db/app]", tbl, ids)},
		{"literal dsn, broken yaml", doc("", "source:", "  type: postgres", `  dsn: "postgres://admin:`+lit+`@db/app`, tbl, ids)},
		{"literal dsn, bad tag", doc("", "source:", "  type: postgres", "  dsn: !!int postgres://admin:"+lit+"@db/app", tbl, ids)},
		{"literal dsn in bigquery", doc("", "source:", "  type: bigquery", "  dsn: postgres://admin:"+lit+"@db/app", tbl, ids)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "test.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range []string{secret, secret[:7], lit, lit[:7]} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error shows %q:\n%v", s, err)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg := check(t, doc("", src, tbl, ids))
	if cfg.Path != "test.yaml" {
		t.Errorf("Path = %q", cfg.Path)
	}
	if cfg.Store != (Store{Driver: "sqlite", DSN: "dbsync.db"}) {
		t.Errorf("store = %+v", cfg.Store)
	}
	if !slices.Equal(cfg.Workspace.Identifiers, []string{"id", "email"}) || cfg.Workspace.AllowEmailUpdateByID || cfg.Workspace.MergeDuplicates {
		t.Errorf("workspace = %+v", cfg.Workspace)
	}
	s := cfg.Syncs[0]
	if s.Kind != KindPeople {
		t.Errorf("kind = %q, want people", s.Kind)
	}
	if s.BatchSize != 5000 || s.Nulls != "ignore" || s.Lookback != 0 || s.Source.Timezone != "UTC" ||
		s.Watermark != nil || s.Attributes != nil || s.Schedule != "" || s.Line != 2 {
		t.Errorf("sync = %+v", s)
	}

	// A postgres store gets no default dsn.
	cfg = check(t, "store: {driver: postgres, dsn: \"postgres://store\"}\n"+doc("", src, tbl, ids))
	if cfg.Store.DSN != "postgres://store" {
		t.Errorf("store dsn = %q", cfg.Store.DSN)
	}
}

func TestSpec(t *testing.T) {
	cfg := check(t, doc("", "source:", "  type: mysql", "  dsn: u:p@tcp(db)/shop", "  timezone: Europe/Berlin",
		"query: SELECT id FROM t WHERE x > {{last_sync_time}}", ids, "watermark: {column: updated_at, key: id}"))
	spec := cfg.Syncs[0].Spec()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	want := connectors.Spec{
		Sync: "users", Type: "mysql", DSN: "u:p@tcp(db)/shop", Timezone: berlin,
		Query:          "SELECT id FROM t WHERE x > {{last_sync_time}}",
		Watermark:      connectors.Watermark{Column: "updated_at", Key: "id"},
		ConnectTimeout: 30 * time.Second, ReadTimeout: 10 * time.Minute, // the defaults
	}
	if spec.Timezone.String() != "Europe/Berlin" {
		t.Errorf("timezone = %v", spec.Timezone)
	}
	spec.Timezone, want.Timezone = nil, nil
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("spec = %+v\nwant %+v", spec, want)
	}

	bq := Sync{Name: "bq", Table: "t", Source: Source{Type: "bigquery", Project: "p", Dataset: "d", Location: "EU",
		CredentialsFile: "/k.json", Endpoint: "http://e", Anonymous: true}}.Spec()
	if bq.Timezone != time.UTC || bq.Watermark != (connectors.Watermark{}) || bq.Project != "p" || bq.Dataset != "d" ||
		bq.Location != "EU" || bq.CredentialsFile != "/k.json" || bq.Endpoint != "http://e" || !bq.Anonymous || bq.Table != "t" {
		t.Errorf("bigquery spec = %+v", bq)
	}
}

func TestErrorsAs(t *testing.T) {
	_, err := Parse([]byte(doc("", src, tbl, ids, "nulls: drop", "batch_size: 0")), "x.yaml")
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.List) != 2 {
		t.Fatalf("errors.As(*Errors): %v", err)
	}
	var fe FieldError
	if !errors.As(err, &fe) || fe.Path != "syncs[0].nulls" || fe.Line != 6 || fe.Msg != "must be ignore or unset" {
		t.Errorf("errors.As(FieldError) = %+v", fe)
	}
	for _, tt := range []struct {
		fe   FieldError
		want string
	}{
		{FieldError{"a.b", 3, "bad"}, "a.b (line 3): bad"},
		{FieldError{"a.b", 0, "bad"}, "a.b: bad"},
		{FieldError{"", 3, "bad"}, "line 3: bad"},
		{FieldError{"", 0, "bad"}, "bad"},
	} {
		if got := tt.fe.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.fe, got, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "dbsync.yaml")
	if err := os.WriteFile(path, []byte(doc("", src, tbl, ids)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil || cfg.Path != path || len(cfg.Syncs) != 1 {
		t.Fatalf("Load = %+v, %v", cfg, err)
	}
}

func setExampleEnv(t *testing.T) {
	t.Setenv("APP_DB_DSN", "postgres://app:secret@localhost:5432/app")
	t.Setenv("SHOP_DB_DSN", "shop:secret@tcp(localhost:3306)/shop?parseTime=true")
	t.Setenv("GOOGLE_CREDENTIALS_FILE", "/etc/dbsync/bq.json")
}

func TestExampleConfig(t *testing.T) {
	setExampleEnv(t)
	cfg, err := Load("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Syncs) != 5 {
		t.Fatalf("%d syncs", len(cfg.Syncs))
	}
	users, orders, accounts, members, purchases := cfg.Syncs[0], cfg.Syncs[1], cfg.Syncs[2], cfg.Syncs[3], cfg.Syncs[4]
	if purchases.Kind != KindEvents || purchases.Event == nil || purchases.Event.Name == "" ||
		purchases.EventIDColumn() != "order_id" || purchases.EventTimestampColumn() != "created_at" {
		t.Errorf("fifth sync is not an events sync with a fixed name and its id and timestamp columns: %+v", purchases)
	}
	if users.Kind != KindPeople || orders.Kind != KindPeople {
		t.Errorf("the first two syncs are not people syncs: %q, %q", users.Kind, orders.Kind)
	}
	if accounts.Kind != KindObjects || accounts.ObjectType == "" || accounts.ObjectID == "" || accounts.Identifiers != (Identifiers{}) {
		t.Errorf("third sync is not an objects sync: %+v", accounts)
	}
	if members.Kind != KindRelationships || members.ObjectType != accounts.ObjectType || members.ObjectID == "" ||
		members.Remove == "" || members.Identifiers == (Identifiers{}) || members.Attributes == nil {
		t.Errorf("fourth sync is not a relationships sync of the accounts, with attributes and remove: %+v", members)
	}
	if users.Source.Type != "postgres" || users.Source.DSN != os.Getenv("APP_DB_DSN") || users.Table == "" ||
		users.Watermark == nil || users.Lookback <= 0 {
		t.Errorf("first sync is not a postgres table sync with a watermark and lookback: %+v", users)
	}
	if orders.Source.Type != "mysql" || !strings.Contains(orders.Query, "{{last_sync_time}}") {
		t.Errorf("second sync is not a mysql query sync using {{last_sync_time}}: %+v", orders)
	}

	// Every option is set in the file (bigquery's in the commented example).
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range allKeys(reflect.TypeFor[Config]()) {
		if !strings.Contains(string(data), key+":") {
			t.Errorf("config.example.yaml does not show %s", key)
		}
	}
}

// allKeys lists the YAML keys of a config, at any depth.
func allKeys(t reflect.Type) []string {
	var keys []string
	for name, ft := range yamlFields(t) {
		keys = append(keys, name)
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			keys = append(keys, allKeys(ft)...)
		}
	}
	return keys
}

// The commented BigQuery example in config.example.yaml is valid once uncommented.
func TestExampleConfigBigQuery(t *testing.T) {
	setExampleEnv(t)
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("syncs:\n")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "  # - ") || strings.HasPrefix(l, "  #   ") {
			b.WriteString("  " + l[4:] + "\n")
		}
	}
	cfg, err := Parse([]byte(b.String()), "bigquery")
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	s := cfg.Syncs[0]
	if s.Source.Type != "bigquery" || s.Source.CredentialsFile != "/etc/dbsync/bq.json" || s.Source.Endpoint == "" || s.Source.Location == "" {
		t.Errorf("bigquery example = %+v", s.Source)
	}
}

func TestSelectsStar(t *testing.T) {
	tests := []struct {
		q    string
		star bool
	}{
		{"SELECT * FROM t", true},
		{"select * from t", true},
		{"select*from t", true},
		{"SELECT\n  *\nFROM t", true},
		{"select DISTINCT * from t", true},
		{"SELECT ALL * FROM t", true},
		{"SELECT t.* FROM t", true},
		{"SELECT public.t.* FROM public.t", true},
		{`SELECT "t".* FROM t`, true},
		{"SELECT `t`.* FROM t", true},
		{"SELECT id, * FROM t", true},
		{"SELECT id,u.* FROM t JOIN u ON u.id = t.id", true},
		{"SELECT DISTINCT ON (id) * FROM t", true},
		{"SELECT SQL_NO_CACHE * FROM t", true},
		{"SELECT AS STRUCT * FROM t", true},
		{"SELECT * EXCEPT (password) FROM t", true},
		{"SELECT id FROM a UNION ALL SELECT * FROM b", true},
		{"/* note */ SELECT * FROM t", true},
		{"SELECT id FROM t", false},
		{"SELECT count(*) FROM t", false},
		{"SELECT COUNT(*) AS n, max(x) FROM t", false},
		{"SELECT id, price * qty AS total FROM t", false},
		{"SELECT 2*3, 1.*4, id FROM t", false},
		{"SELECT (a + b) * c FROM t", false},
		{"SELECT value * 2 FROM t", false},
		{"SELECT '*' AS star, 'it''s *' FROM t", false},
		{`SELECT 'a\' *' FROM t`, false},
		{`SELECT "*", ` + "`*`" + ` FROM t`, false},
		{"SELECT id -- , *\nFROM t", false},
		{"SELECT id /* , * */ FROM t", false},
		{"SELECT id FROM (SELECT * FROM t) s", false},
		{"WITH x AS (SELECT * FROM t) SELECT id FROM x", false},
		{"SELECT id FROM t WHERE id IN (SELECT * FROM u)", false},
		{"SELECT id FROM t WHERE updated_at > to_timestamp({{last_sync_time}}) ORDER BY id", false},
		{"SELECT DISTINCT ON (id) id, name FROM t", false},
		{"SELECT json_agg(t.*) FROM t", false},
		{"SELECT id FROM t LIMIT 10", false},
		{"SELECT 'unterminated *", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := selectsStar(tt.q); got != tt.star {
			t.Errorf("selectsStar(%q) = %v, want %v", tt.q, got, tt.star)
		}
	}
}

// FuzzParse: a config is untrusted input. Parse never panics, fails only with an
// *Errors, and no error shows an environment variable's value.
func FuzzParse(f *testing.F) {
	f.Setenv("DBSYNC_FUZZ_SECRET", secret)
	f.Setenv("APP_DB_DSN", secret)
	f.Setenv("SHOP_DB_DSN", secret)
	if data, err := os.ReadFile("../config.example.yaml"); err == nil {
		f.Add(string(data))
	}
	for _, s := range []string{
		"",
		doc("", src, tbl, ids),
		doc("", "source:", "  type: postgres", "  dsn: ${DBSYNC_FUZZ_SECRET}", tbl, ids, "batch_size: ${DBSYNC_FUZZ_SECRET}"),
		doc("", "source: ${DBSYNC_FUZZ_SECRET}", "query: SELECT * FROM t", "schedule: TZ=${DBSYNC_FUZZ_SECRET}"),
		doc("", "source: {type: bigquery, project: p}", "lookback: ${DBSYNC_FUZZ_SECRET}", "attributes: {a: b}", "exclude: [x]"),
		"store: {driver: ${DBSYNC_FUZZ_SECRET}}\nworkspace: {identifiers: [id]}\nsyncs: [{name: a}]\n",
		"syncs:\n  - &a {name: x}\n  - <<: *a\n    <<: [*a, *a]\n",
		"a: &a [*a]\nsyncs: *a\n",
		"syncs:\n  -\n  - name: b\n    watermark: &w {column: c, key: [k]}\n    lookback: *w\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cfg, err := Parse([]byte(in), "fuzz.yaml")
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error is %T with no problems: %v", err, err)
			}
			if !strings.Contains(in, secret) && strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows the secret: %v", err)
			}
			return
		}
		if len(cfg.Syncs) == 0 {
			t.Fatal("a valid config with no syncs")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		for _, s := range cfg.Syncs {
			_ = s.Spec()
		}
	})
}

func TestNotOneSelect(t *testing.T) {
	tests := []struct {
		q, problem string
	}{
		{"SELECT id FROM t", ""},
		{"SELECT id FROM t;", ""},
		{"(SELECT id FROM a) UNION (SELECT id FROM b)", ""},
		{"WITH x AS (SELECT id FROM t) SELECT id FROM x", ""},
		{"SELECT 'a; DROP TABLE t' AS x, \"update\" FROM t -- ; DELETE\n", ""},
		{"SELECT id FROM t WHERE updated_at > to_timestamp({{last_sync_time}})", ""},
		{"UPDATE t SET a = 1 RETURNING id", "it starts with UPDATE"},
		{"TABLE users", "it starts with TABLE"},
		{"VALUES (1)", "it starts with VALUES"},
		{"WITH u AS (UPDATE t SET a = 1 RETURNING id) SELECT id FROM u", "it holds UPDATE"},
		{"WITH x AS (SELECT id FROM t) DELETE FROM t", "it holds DELETE"},
		{"SELECT id INTO new_t FROM t", "it holds INTO"},
		{"SELECT id FROM t FOR UPDATE", "it holds UPDATE"},
		{"SELECT 1 AS x; UPDATE t SET a = 1", "it holds more than one statement"},
		{"SELECT 'x' AS user_id) AS a; COMMIT; DROP TABLE public.victim; SELECT user_id FROM (SELECT 'y' AS user_id", "it closes a parenthesis it did not open"},
		{"SELECT 'x' AS id\n) AS a; COMMIT; -- ", "it closes a parenthesis it did not open"},
	}
	for _, tt := range tests {
		if got := notOneSelect(tt.q); got != tt.problem {
			t.Errorf("notOneSelect(%q) = %q, want %q", tt.q, got, tt.problem)
		}
	}
}

// TestTimeouts: timeout is optional (none by default), the source's connect and
// read timeouts default to 30s and 10m, and each written must be positive.
func TestTimeouts(t *testing.T) {
	cfg := check(t, doc("", src, tbl, ids))
	if s := cfg.Syncs[0]; s.Timeout != 0 || s.Source.ConnectTimeout != DefaultConnectTimeout || s.Source.ReadTimeout != DefaultReadTimeout {
		t.Fatalf("timeouts %v %v %v, want none, 30s, 10m", s.Timeout, s.Source.ConnectTimeout, s.Source.ReadTimeout)
	}
	cfg = check(t, doc("", "source: {type: postgres, dsn: x, connect_timeout: 5s, read_timeout: 1m}", tbl, ids, "timeout: 2h"))
	if s := cfg.Syncs[0]; s.Timeout != Duration(2*time.Hour) || s.Spec().ConnectTimeout != 5*time.Second || s.Spec().ReadTimeout != time.Minute {
		t.Fatalf("timeouts %v %v %v", s.Timeout, s.Source.ConnectTimeout, s.Source.ReadTimeout)
	}
	check(t, doc("", "source: {type: postgres, dsn: x, connect_timeout: 0s, read_timeout: 0s}", tbl, ids, "timeout: 0s"),
		"syncs[0].source.connect_timeout (line 3): must be positive",
		"syncs[0].source.read_timeout (line 3): must be positive",
		"syncs[0].timeout (line 6): must be positive (leave it out for no timeout)")
	check(t, doc("", src, tbl, ids, "timeout: -1m"), "syncs[0].timeout (line 6): must not be negative")
}

// What mapping takes from a sync's kind: the columns that are never attributes, whether
// the other columns become attributes when attributes: is omitted, and the names an
// attribute may not have.
func TestKindAccessors(t *testing.T) {
	if got := Kind("").String(); got != "people" {
		t.Errorf(`Kind("").String() = %q, want people`, got)
	}
	if got := KindObjects.String(); got != "objects" {
		t.Errorf("KindObjects.String() = %q", got)
	}
	cfg := check(t, doc("", src, tbl, "kind: relationships", "object_type: account", "object_id: account_id", ids,
		"remove: removed", "watermark: {column: updated_at, key: membership_id}"))
	rel := cfg.Syncs[0]
	tests := []struct {
		name     string
		s        Sync
		never    []string
		fromCols bool
		reserved []string
	}{
		{"people", Sync{}, nil, true, []string{"id", "email", "cio_id"}},
		{"people with attributes", Sync{Kind: KindPeople, Attributes: map[string]string{"plan": "plan"}}, nil, false, []string{"id", "email", "cio_id"}},
		{"objects", Sync{Kind: KindObjects, ObjectType: "account", ObjectID: "account_id"}, []string{"account_id"}, true, []string{"id", "object_id"}},
		{"relationships", rel, []string{"account_id", "removed"}, false, []string{"id", "email", "cio_id"}},
		{"events", Sync{Kind: KindEvents, Watermark: &Watermark{Column: "created_at", Key: "order_id"}, Event: &Event{NameColumn: "kind"}},
			[]string{"kind", "order_id", "created_at"}, true, []string{"id", "email", "cio_id"}},
		{"events with columns", Sync{Kind: KindEvents, Watermark: &Watermark{Column: "updated_at", Key: "row_id"},
			Event: &Event{Name: "login", IDColumn: "login_id", TimestampColumn: "at"}},
			[]string{"login_id", "at"}, true, []string{"id", "email", "cio_id"}},
	}
	for _, tt := range tests {
		if got := tt.s.NonAttributeColumns(); !slices.Equal(got, tt.never) {
			t.Errorf("%s: NonAttributeColumns() = %q, want %q", tt.name, got, tt.never)
		}
		if got := tt.s.AttributesFromColumns(); got != tt.fromCols {
			t.Errorf("%s: AttributesFromColumns() = %v, want %v", tt.name, got, tt.fromCols)
		}
		if got := tt.s.ReservedAttributeNames(); !slices.Equal(got, tt.reserved) {
			t.Errorf("%s: ReservedAttributeNames() = %q, want %q", tt.name, got, tt.reserved)
		}
	}
}

func TestBatchBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
	}{
		{"8MiB", 8 << 20}, {"8mib", 8 << 20}, {"16MB", 16_000_000}, {"512 KiB", 512 << 10},
		{"1048576", 1 << 20}, {"100B", 100}, {"2GiB", 2 << 30}, {"1kb", 1000},
	} {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if back, err := ParseByteSize(got.String()); err != nil || back != got {
			t.Errorf("%q: String %q reads back as %d, %v", tc.in, got.String(), back, err)
		}
	}
	cfg, err := Parse([]byte("syncs:\n  - name: a\n    source: {type: sqlite, dsn: a.db}\n    table: t\n    identifiers: {id: id}\n"), "default")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Syncs[0].BatchBytes; got != DefaultBatchBytes {
		t.Errorf("default batch_bytes %v, want %v", got, DefaultBatchBytes)
	}
}
