// Package config loads dbsync's YAML file (SPEC §7): ${VAR} expansion from the
// environment, strict decoding (an unknown key is an error), defaults, and validation
// that reports every problem at once, each naming its field and line.
package config

import (
	"errors"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dbsync/dbsync/connectors"
	"github.com/dbsync/dbsync/identity"
)

// Defaults.
const (
	DefaultStoreDriver = "sqlite"
	DefaultStoreDSN    = "dbsync.db"
	DefaultBatchSize   = 5000
	// DefaultConnectTimeout bounds connecting to a source (source.connect_timeout).
	DefaultConnectTimeout = Duration(30 * time.Second)
	// DefaultReadTimeout bounds a read that returns no rows (source.read_timeout).
	DefaultReadTimeout = Duration(10 * time.Minute)
	NullsIgnore        = "ignore"
	NullsUnset         = "unset"
)

// Config is a loaded, validated config file.
type Config struct {
	Store     Store     `yaml:"store"`
	Workspace Workspace `yaml:"workspace"`
	Syncs     []Sync    `yaml:"syncs"`

	Path string `yaml:"-"` // the file it was loaded from

	lines map[string]int `yaml:"-"` // field path -> line, for messages; nil when not parsed
}

// Store is where the identity store lives.
type Store struct {
	Driver string `yaml:"driver"` // sqlite (default) | postgres
	DSN    string `yaml:"dsn"`    // a file for sqlite (default dbsync.db, relative to the working directory), a URL for postgres
}

// Workspace holds the identity settings.
type Workspace struct {
	Identifiers          []string `yaml:"identifiers"` // [id, email] (default) | [id] | [email]
	AllowEmailUpdateByID bool     `yaml:"allow_email_update_by_id"`
	MergeDuplicates      bool     `yaml:"merge_duplicates"`
}

// Settings are the workspace settings as the identity rules take them.
func (w Workspace) Settings() identity.Settings {
	s := identity.Settings{
		AllowEmailUpdateByID: w.AllowEmailUpdateByID,
		MergeDuplicates:      w.MergeDuplicates,
	}
	for _, id := range w.Identifiers {
		switch id {
		case "id":
			s.IDIdentifies = true
		case "email":
			s.EmailIdentifies = true
		}
	}
	return s
}

// Kind is what each row of a sync is (SPEC §8, §9): a person, an object, a relationship
// between a person and an object, or an event that happened to a person. The zero Kind, of a Sync built in code, is people:
// Parse writes KindPeople when the file leaves kind out.
type Kind string

// Kinds.
const (
	KindPeople        Kind = "people"
	KindObjects       Kind = "objects"
	KindRelationships Kind = "relationships"
	KindEvents        Kind = "events"
)

// String is the kind's name, "people" for the zero Kind: the name logs, metrics and
// runs show.
func (k Kind) String() string {
	if k == "" {
		return string(KindPeople)
	}
	return string(k)
}

// MaxObjectType is the longest object_type, in bytes (SPEC §8).
const MaxObjectType = 100

// Sync is one entry of `syncs:`.
type Sync struct {
	Name        string            `yaml:"name"`
	Kind        Kind              `yaml:"kind"`     // people (default) | objects | relationships | events
	Schedule    string            `yaml:"schedule"` // cron, 5 fields or @every 15m; used by serve
	Source      Source            `yaml:"source"`
	Table       string            `yaml:"table"` // exactly one of table and query
	Query       string            `yaml:"query"`
	Watermark   *Watermark        `yaml:"watermark"` // nil: every run reads every row
	Lookback    Duration          `yaml:"lookback"`
	BatchSize   int               `yaml:"batch_size"`  // default 5000
	BatchBytes  ByteSize          `yaml:"batch_bytes"` // default DefaultBatchBytes: a batch ends at batch_size rows or this much row data
	Identifiers Identifiers       `yaml:"identifiers"`
	Attributes  map[string]string `yaml:"attributes"` // attribute name -> column; nil: every other column under its own name
	Exclude     []string          `yaml:"exclude"`
	Nulls       string            `yaml:"nulls"`   // ignore (default) | unset
	Timeout     Duration          `yaml:"timeout"` // 0: none; else the run stops reading when it passes (SPEC §3)

	// Objects and relationships (SPEC §8).
	ObjectType string `yaml:"object_type"` // the objects' type ("account"); required for both kinds
	ObjectID   string `yaml:"object_id"`   // the column holding the object's id; required for both kinds
	Remove     string `yaml:"remove"`      // relationships: a column whose true value removes the relationship; optional

	// Deletes and suppression (SPEC §10), optional: a column whose true value (or
	// non-NULL time) deletes what the row finds (people and objects), or suppresses
	// the person it finds (people).
	Delete   string `yaml:"delete"`
	Suppress string `yaml:"suppress"`

	// Events (SPEC §9): required for kind events, used by no other.
	Event *Event `yaml:"event"`

	Line int `yaml:"-"` // the line of the sync in the file, for messages
}

// Event says what makes a row of an events sync an event (SPEC §9): its name, fixed
// (Name) or from a column (NameColumn), exactly one of them; and the columns of its id
// and timestamp, which default to the watermark's key and column.
type Event struct {
	Name            string `yaml:"name"`
	NameColumn      string `yaml:"name_column"`
	IDColumn        string `yaml:"id_column"`
	TimestampColumn string `yaml:"timestamp_column"`
}

// EventIDColumn is the column holding an events sync's event ids: event.id_column, or
// the watermark key. "" for another kind, or when neither is set.
func (s Sync) EventIDColumn() string {
	switch {
	case s.Kind != KindEvents || s.Event == nil:
		return ""
	case s.Event.IDColumn != "":
		return s.Event.IDColumn
	case s.Watermark != nil:
		return s.Watermark.Key
	}
	return ""
}

// EventTimestampColumn is the column holding an events sync's timestamps:
// event.timestamp_column, or the watermark column. "" for another kind, or when
// neither is set.
func (s Sync) EventTimestampColumn() string {
	switch {
	case s.Kind != KindEvents || s.Event == nil:
		return ""
	case s.Event.TimestampColumn != "":
		return s.Event.TimestampColumn
	case s.Watermark != nil:
		return s.Watermark.Column
	}
	return ""
}

// EventNameColumn is the column holding an events sync's event names, "" when the
// name is fixed (or for another kind).
func (s Sync) EventNameColumn() string {
	if s.Kind != KindEvents || s.Event == nil {
		return ""
	}
	return s.Event.NameColumn
}

// NonAttributeColumns are the columns of s that are never attributes or event data,
// whatever exclude says (SPEC §8): object_id, remove, delete, suppress, and an
// event's name, id and timestamp columns. Mapping leaves them out of the attributes (or data) it takes
// from every other selected column. For people, objects and relationships the
// watermark columns are not among them: like any other column they are attributes
// unless excluded; an event's id and timestamp default to them, and are not data.
func (s Sync) NonAttributeColumns() []string {
	var cols []string
	for _, c := range []string{s.ObjectID, s.Remove, s.Delete, s.Suppress, s.EventNameColumn(), s.EventIDColumn(), s.EventTimestampColumn()} {
		if c != "" {
			cols = append(cols, c)
		}
	}
	return cols
}

// AttributesFromColumns says whether a sync with no attributes: takes every other
// selected column as an attribute under its own name: people and objects do, and
// events take them as their data; a relationship then has no attributes (SPEC §8).
func (s Sync) AttributesFromColumns() bool {
	return s.Attributes == nil && s.Kind != KindRelationships
}

// ReservedAttributeNames are the names an attribute of this kind may not have, in
// attributes: or as a selected column that would become one (SPEC §2): they would look
// like the row's identifier yet be stored as a plain attribute. For people and
// relationships that is a person's identifiers; for objects, the object's own id (an
// account's email is an ordinary attribute). Mapping refuses a selected column of such
// a name that is neither used (under identifiers, or as object_id) nor excluded.
func (s Sync) ReservedAttributeNames() []string {
	if s.Kind == KindObjects {
		return []string{"id", "object_id"}
	}
	return []string{"id", "email", "cio_id"}
}

// Source is where a sync reads from.
type Source struct {
	Type     string `yaml:"type"` // postgres | mysql | sqlite | bigquery
	DSN      string `yaml:"dsn"`
	Timezone string `yaml:"timezone"` // IANA name; default UTC

	ConnectTimeout Duration `yaml:"connect_timeout"` // bounds connecting, retries included; default 30s
	ReadTimeout    Duration `yaml:"read_timeout"`    // bounds a read that returns no rows; default 10m

	// BigQuery.
	Project         string `yaml:"project"`
	Dataset         string `yaml:"dataset"`
	Location        string `yaml:"location"`
	CredentialsFile string `yaml:"credentials_file"`
	Endpoint        string `yaml:"endpoint"`
	Anonymous       bool   `yaml:"anonymous"`
}

// Watermark names the cursor: rows are read in (Column, Key) order; Key is unique.
type Watermark struct {
	Column string `yaml:"column"`
	Key    string `yaml:"key"`
}

// Identifiers maps identifier names to columns.
type Identifiers struct {
	ID    string `yaml:"id"`
	Email string `yaml:"email"`
	CioID string `yaml:"cio_id"`
}

// Duration is a time.Duration written as "5m", "30s", "1h30m".
type Duration time.Duration

// errDuration is what Duration.UnmarshalYAML says about a value it cannot take. It
// never repeats the value, which may have come from the environment.
var errDuration = errors.New("must be a duration like 5m, 30s or 1h30m")

var errNegativeDuration = errors.New("must not be negative")

// UnmarshalYAML reads a duration like "5m", "30s", "1h30m" or "0s" (time.ParseDuration).
// Negative durations are refused.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errDuration
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return errDuration
	}
	if v < 0 {
		return errNegativeDuration
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration the way UnmarshalYAML reads it.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String is the duration as time.Duration prints it ("5m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// Spec is what a connector needs from a validated sync. An empty timezone is UTC; one
// that does not load (the sync was not validated) is left nil, which connectors read
// as UTC.
func (s Sync) Spec() connectors.Spec {
	spec := connectors.Spec{
		Sync:            s.Name,
		Type:            s.Source.Type,
		DSN:             s.Source.DSN,
		Project:         s.Source.Project,
		Dataset:         s.Source.Dataset,
		Location:        s.Source.Location,
		CredentialsFile: s.Source.CredentialsFile,
		Endpoint:        s.Source.Endpoint,
		Anonymous:       s.Source.Anonymous,
		Table:           s.Table,
		Query:           s.Query,
		ConnectTimeout:  time.Duration(s.Source.ConnectTimeout),
		ReadTimeout:     time.Duration(s.Source.ReadTimeout),
	}
	if loc, err := time.LoadLocation(s.Source.Timezone); err == nil {
		spec.Timezone = loc
	}
	if s.Watermark != nil {
		spec.Watermark = connectors.Watermark{Column: s.Watermark.Column, Key: s.Watermark.Key}
	}
	return spec
}
