// Package export writes the warehouse export (SPEC §6): for each export a file of each
// kind (people, attributes, objects, object_attributes, relationships), in Parquet,
// CSV or NDJSON, holding what changed since the previous export (or everything), and
// then a manifest. Files are written under temporary names and renamed into place, the
// manifest last, so a loader that reads manifests never sees a partial export. The
// store keeps the export cursor; see store/export.go and store/export_objects.go for
// how it is claimed, read and moved.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/state"
	"github.com/dbsync/dbsync/store"
)

// Formats are the file formats an export can write.
var Formats = []string{"parquet", "csv", "ndjson"}

// DefaultFormat is written when no format is asked for: typed, compressed columns that
// every warehouse loads.
const DefaultFormat = "parquet"

// ParseFormats reads a --format value: one or more formats separated by commas.
func ParseFormats(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch {
		case f == "":
			continue
		case !slices.Contains(Formats, f):
			return nil, fmt.Errorf("unknown format %q (want %s)", f, strings.Join(Formats, ", "))
		case !slices.Contains(out, f):
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return []string{DefaultFormat}, nil
	}
	return out, nil
}

// Options say where and how to export.
type Options struct {
	Dir     string             // where the files go: a directory (created if missing) or a URL, as OpenOut reads it
	Out     *Out               // where the files go, if not Dir; the caller closes it
	Formats []string           // DefaultFormat when empty
	Full    bool               // every person, object and relationship with all attributes, not only what changed
	Holder  string             // names this process in the export lease; state.Holder() when empty
	Log     logrus.FieldLogger // nil: no logs
	Now     func() time.Time   // nil: time.Now

	// afterStep, in tests, runs after each step (claim, write, rename, publish); an
	// error stops the export there, as if its process had died.
	afterStep func(step string) error
}

// Result is what an export wrote.
type Result struct {
	Manifest *Manifest
	Path     string // the manifest's
	// Recovered is an earlier export whose process died after publishing its manifest
	// and before the store recorded it; this run recorded it (0: none).
	Recovered int64
}

// Run writes one export: the unfinished one, if an exporter died before publishing
// it, or else the next. Only one export runs at a time, under the store's export
// lease (state.ErrAlreadyRunning).
func Run(ctx context.Context, st *store.Store, opt Options) (*Result, error) {
	formats := opt.Formats
	if len(formats) == 0 {
		formats = []string{DefaultFormat}
	}
	if _, err := ParseFormats(strings.Join(formats, ",")); err != nil {
		return nil, err
	}
	out := opt.Out
	if out == nil {
		var err error
		if out, err = OpenOut(ctx, opt.Dir); err != nil {
			return nil, err
		}
		defer out.Close()
	}
	if err := out.prepare(); err != nil {
		return nil, err
	}
	x := &exporter{st: st, out: out, formats: formats, opt: opt, log: opt.Log, now: opt.Now}
	if x.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		x.log = l
	}
	if x.now == nil {
		x.now = time.Now
	}
	holder := opt.Holder
	if holder == "" {
		holder = state.Holder()
	}
	var err error
	x.lease, err = state.Acquire(ctx, st, state.ExportLease, holder, x.log)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer x.lease.Release(ctx)
	return x.run(ctx)
}

type exporter struct {
	st      *store.Store
	out     *Out
	formats []string
	opt     Options
	log     logrus.FieldLogger
	now     func() time.Time
	lease   *state.Lease
}

// Export N, step by step, and what a crash after each step leaves:
//
//	recover   an unfinished export with its manifest in place is recorded done from it
//	claim     export N is recorded running; its people, objects and
//	          relationships are claimed                             -> redone as N
//	write     files written and flushed under temporary names       -> redone as N
//	rename    files renamed into place, no manifest names them      -> redone as N
//	publish   manifest renamed into place                           -> recorded from the manifest
//	finish    cursor moved, N recorded done
func (x *exporter) run(ctx context.Context) (*Result, error) {
	start := x.now()
	res := &Result{}
	var err error
	if res.Recovered, err = x.recover(ctx); err != nil {
		return nil, err
	}
	ex, err := x.st.StartExport(ctx, x.opt.Full, strings.Join(x.formats, ","), func(seq int64) (string, error) {
		return x.manifestPath(ctx, seq)
	})
	if err != nil {
		return nil, err
	}
	x.out.removeUnpublished(ctx, "", ex.Seq)
	log := x.log.WithField("export", ex.Seq)
	log.WithField("full", ex.Full).Debug("export started")
	if err := x.step("claim"); err != nil {
		return nil, err
	}
	if res.Manifest, err = x.write(ctx, ex); err != nil {
		return nil, fmt.Errorf("export %d: %w", ex.Seq, err)
	}
	res.Path = ex.Manifest
	if err := x.step("publish"); err != nil {
		return nil, err
	}
	// The manifest stands: record it even if a signal came meanwhile.
	if err := x.st.FinishExport(context.WithoutCancel(ctx), ex); err != nil {
		return nil, err
	}
	m := res.Manifest
	log.WithFields(logrus.Fields{
		"people": m.People, "attributes": m.Attributes, "objects": m.Objects,
		"object_attributes": m.ObjectAttributes, "relationships": m.Relationships, "full": ex.Full,
		"manifest": ex.Manifest, "seconds": x.now().Sub(start).Seconds(),
	}).Info("export done")
	return res, nil
}

func (x *exporter) step(name string) error {
	if x.opt.afterStep == nil {
		return nil
	}
	return x.opt.afterStep(name)
}

// manifestPath is where export seq's manifest goes. A manifest already there belongs
// to an export the store does not know of (another store's, or one reset): it is
// never overwritten, since a loader may have read it.
func (x *exporter) manifestPath(ctx context.Context, seq int64) (string, error) {
	path := x.out.path(manifestName(seq))
	there, err := x.out.exists(ctx, manifestName(seq))
	switch {
	case err != nil:
		return "", err
	case there:
		return "", fmt.Errorf("%s is already there: is %s another store's export directory?", path, x.out)
	}
	return path, nil
}

// recover records an export done whose process died after its manifest was in place
// and before the store recorded it: the manifest may have been loaded, so it stands,
// and its cursor moves as it says. An unfinished export without a manifest is left
// to StartExport, which redoes it under the same number.
func (x *exporter) recover(ctx context.Context) (int64, error) {
	ex, err := x.st.UnfinishedExport(ctx)
	if err != nil || ex == nil {
		return 0, err
	}
	m, err := x.out.readManifest(ctx, ex.Manifest)
	if errors.Is(err, fs.ErrNotExist) {
		x.log.WithField("export", ex.Seq).Info("an earlier export did not finish: doing it again")
		dir := ""
		if !strings.Contains(ex.Manifest, "://") {
			dir = filepath.Dir(ex.Manifest)
		}
		x.out.removeUnpublished(ctx, dir, ex.Seq)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if m.Export != ex.Seq {
		return 0, fmt.Errorf("%s is export %d's manifest, the store's unfinished export is %d", ex.Manifest, m.Export, ex.Seq)
	}
	ex.ThroughLogSeq, ex.People, ex.Attributes = m.ChangeLog.ThroughSeq, m.People, m.Attributes
	if err := x.st.FinishExport(context.WithoutCancel(ctx), ex); err != nil {
		return 0, err
	}
	x.log.WithField("export", ex.Seq).Info("recorded an earlier export whose manifest was written before its process stopped")
	return ex.Seq, nil
}

// write streams the export's people, attributes, objects, object attributes and
// relationships into files, renames them into place and writes the manifest last.
func (x *exporter) write(ctx context.Context, ex *store.Export) (*Manifest, error) {
	var tables []closer
	// The temporary files, if they were not renamed.
	defer func() {
		for _, t := range tables {
			t.remove()
		}
	}()
	people, err := addTable[PersonRow](ctx, x, &tables, "people", ex.Seq, personHeader)
	if err != nil {
		return nil, err
	}
	attrs, err := addTable[AttributeRow](ctx, x, &tables, "attributes", ex.Seq, attributeHeader)
	if err != nil {
		return nil, err
	}
	objs, err := addTable[ObjectRow](ctx, x, &tables, "objects", ex.Seq, objectHeader)
	if err != nil {
		return nil, err
	}
	objAttrs, err := addTable[ObjectAttributeRow](ctx, x, &tables, "object_attributes", ex.Seq, objectAttributeHeader)
	if err != nil {
		return nil, err
	}
	rels, err := addTable[RelationshipRow](ctx, x, &tables, "relationships", ex.Seq, relationshipHeader)
	if err != nil {
		return nil, err
	}

	through, err := x.st.ReadExport(ctx, ex, func(p *identity.Person, as []store.ExportAttribute) error {
		if err := people.write(personRow(p)); err != nil {
			return err
		}
		for _, a := range as {
			if err := attrs.write(attributeRow(p, a)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Objects and relationships are read each in a snapshot of their own, after the
	// people's: what a write changed after its kind's snapshot is pending again and goes
	// in the next export, as for people.
	err = x.st.ReadObjectsExport(ctx, ex, func(o *objects.Object, as []store.ExportAttribute) error {
		if err := objs.write(objectRow(o)); err != nil {
			return err
		}
		for _, a := range as {
			if err := objAttrs.write(objectAttributeRow(o, a)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = x.st.ReadRelationshipsExport(ctx, ex, func(r *objects.Relationship) error {
		row, err := relationshipRow(r)
		if err != nil {
			return err
		}
		return rels.write(row)
	})
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		if err := t.close(); err != nil {
			return nil, err
		}
	}
	ex.ThroughLogSeq, ex.People, ex.Attributes = through, people.rows, attrs.rows
	if err := x.step("write"); err != nil {
		return nil, err
	}

	// Another exporter took the lease over (this one stalled for 30 s): it redoes the export.
	if err := x.lease.Renew(ctx); err != nil {
		return nil, err
	}
	for _, t := range tables {
		if err := t.publish(); err != nil {
			return nil, err
		}
	}
	if err := x.out.sync(); err != nil {
		return nil, err
	}
	if err := x.step("rename"); err != nil {
		return nil, err
	}

	m := &Manifest{
		Export:           ex.Seq,
		PreviousExport:   ex.Seq - 1,
		Full:             ex.Full,
		CreatedAt:        x.now().Unix(),
		ChangeLog:        LogRange{AfterSeq: ex.AfterLogSeq, ThroughSeq: ex.ThroughLogSeq},
		People:           people.rows,
		Attributes:       attrs.rows,
		Objects:          objs.rows,
		ObjectAttributes: objAttrs.rows,
		Relationships:    rels.rows,
	}
	for _, t := range tables {
		m.Files = append(m.Files, t.manifestFiles()...)
	}
	if err := writeManifest(ctx, x.out, m); err != nil {
		return nil, err
	}
	return m, nil
}

// closer is a table of an export whatever its rows' type, for the steps every table takes.
type closer interface {
	close() error
	publish() error
	remove()
	manifestFiles() []File
}

// addTable creates a table's files in every format and adds it to tables.
func addTable[T record](ctx context.Context, x *exporter, tables *[]closer, name string, seq int64, header []string) (*table[T], error) {
	t, err := newTable[T](ctx, x.out, name, seq, x.formats, header)
	if err != nil {
		return nil, err
	}
	*tables = append(*tables, t)
	return t, nil
}
