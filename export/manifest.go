package export

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Manifest describes one export. It is written last, once every file it names is in
// place, and never rewritten: a loader that reads manifests in export order, and
// ignores files no manifest names, never sees a partial export.
type Manifest struct {
	Export           int64    `json:"export"`          // 1, 2, ... with no gaps
	PreviousExport   int64    `json:"previous_export"` // Export-1; 0 for the first
	Full             bool     `json:"full"`            // everything, not only what changed
	CreatedAt        int64    `json:"created_at"`      // Unix seconds
	ChangeLog        LogRange `json:"change_log"`
	People           int64    `json:"people"`            // rows of the people file
	Attributes       int64    `json:"attributes"`        // rows of the attributes file
	Objects          int64    `json:"objects"`           // rows of the objects file
	ObjectAttributes int64    `json:"object_attributes"` // rows of the object_attributes file
	Relationships    int64    `json:"relationships"`     // rows of the relationships file
	Events           int64    `json:"events"`            // rows of the events file
	Files            []File   `json:"files"`
}

// LogRange is where the export stands in the store's change log. Export N holds every
// change its snapshot saw that no earlier export held; their change_log.seq is at most
// ThroughSeq. AfterSeq is export N-1's ThroughSeq, so the ranges chain with no gap and
// no overlap. (A write that committed late, after export N-1's snapshot, can have a
// seq at or below AfterSeq: it is in export N, as each person's own cursor records.)
// The range counts the rows of change_log: a profile_create, kept on the new person's
// row (store/changelog.go), is not bounded by it; the person is in the first export
// after their creation committed.
type LogRange struct {
	AfterSeq   int64 `json:"after_seq"`
	ThroughSeq int64 `json:"through_seq"`
}

// File is one file of an export, in the manifest's directory.
type File struct {
	Table  string `json:"table"` // people, attributes, objects, object_attributes, relationships or events
	Format string `json:"format"`
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func manifestName(seq int64) string { return fileName("manifest", seq, "json") }

// writeManifest writes the manifest under a temporary name, flushes it to disk and
// renames it into place.
func writeManifest(ctx context.Context, out *Out, m *Manifest) error {
	name := manifestName(m.Export)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	f, err := createFile(ctx, out, name)
	if err != nil {
		return err
	}
	if _, err := f.buf.Write(append(b, '\n')); err != nil {
		f.remove()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.close(); err != nil {
		f.remove()
		return err
	}
	if err := f.publish(); err != nil {
		f.remove()
		return err
	}
	return out.sync()
}

// ReadManifest reads a manifest file.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseManifest(path, b)
}

func parseManifest(path string, b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", filepath.Base(path), err)
	}
	return &m, nil
}
