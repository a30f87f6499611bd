package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/engine"
	"github.com/dbsync/dbsync/record"
)

// previewCmd: dbsync preview -c FILE --sync NAME [--limit N]
func previewCmd(ctx context.Context, e *env, args []string) error {
	fs, path := e.flags("preview", "-c FILE --sync NAME [--limit N]")
	name := fs.String("sync", "", "the sync to preview (required)")
	limit := fs.Int("limit", 20, "rows to preview")
	asJSON := fs.Bool("json", false, "one JSON object a line, even on a terminal")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *limit <= 0 {
		return usageError("--limit must be at least 1")
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	if *name == "" {
		fs.Usage()
		return usageError("--sync NAME is required")
	}
	syncs, err := pick(cfg, []string{*name})
	if err != nil {
		return err
	}
	st, err := dryStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	// The third column names what the row became: a person, or an object.
	what, target := "PERSON", personOf
	if syncs[0].Kind == config.KindObjects {
		what, target = "OBJECT", func(r *record.Record) string { return r.ObjectID }
	}
	out := newRowWriter(e, *asJSON, "KEY", "RESULT", what, "CHANGES")
	var werr error
	opt := engine.Options{DryRun: true, Limit: *limit, OnBatch: func(recs []*record.Record) {
		for _, r := range recs {
			if werr == nil {
				werr = writePreview(out, r, target(r))
			}
		}
	}}
	res := e.engine(cfg, st).Run(ctx, syncs[0], opt)
	if err := out.flush(); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	if res.Err != nil {
		return &exitError{code: exitFailed, err: res.Err}
	}
	return nil
}

type previewOut struct {
	Key      string      `json:"key"`
	Result   string      `json:"result"`
	CioID    string      `json:"cio_id,omitempty"`
	ObjectID string      `json:"object_id,omitempty"`
	EventID  string      `json:"event_id,omitempty"`
	Event    string      `json:"event,omitempty"` // the event's name
	Reason   string      `json:"reason,omitempty"`
	Detail   string      `json:"detail,omitempty"`
	Reread   bool        `json:"reread,omitempty"` // read again by the lookback, unchanged: not applied again
	Changes  []changeOut `json:"changes,omitempty"`
}

// writePreview shows one source row from its record: its outcome, what it became
// (target), and its own changes.
func writePreview(out *rowWriter, r *record.Record, target string) error {
	v := previewOut{Key: r.Key, Result: r.Result.String(), CioID: r.Person, ObjectID: r.ObjectID, EventID: r.EventID,
		Event: r.EventName, Reason: r.Reason, Detail: r.Detail, Reread: r.Reread}
	var desc []string
	if r.Reread {
		desc = append(desc, "read again by the lookback, unchanged: not applied again")
	}
	if r.Reason != "" {
		desc = append(desc, r.Reason+": "+r.Detail)
	}
	if r.EventID != "" && !r.Refused() { // an events row (SPEC §9): stored now, or already
		if r.Result == record.Created {
			desc = append(desc, fmt.Sprintf("new event %s %q", r.EventID, r.EventName))
		} else {
			desc = append(desc, fmt.Sprintf("event %s stored already", r.EventID))
		}
	}
	for _, c := range r.Changes {
		v.Changes = append(v.Changes, changeOut{c.Time, c.Sync, c.Kind, c.Attribute, c.From, c.To, c.Reason})
		switch c.Kind {
		case record.AttributeChange:
			desc = append(desc, fmt.Sprintf("%s: %s -> %s", c.Attribute, orNone(c.From), orNone(c.To)))
		case record.FailedAttributeChange:
			desc = append(desc, fmt.Sprintf("%s: %s refused (%s)", c.Attribute, c.To, c.Reason))
		case record.ProfileCreate:
			desc = append(desc, "new person "+string(c.To))
		case record.ProfileMerge:
			desc = append(desc, fmt.Sprintf("merges %s into this person", c.From))
		case record.ObjectCreate:
			desc = append(desc, "new object")
		case record.ObjectDelete:
			desc = append(desc, "deletes the object and removes its relationships")
		case record.ProfileDelete:
			desc = append(desc, "deletes this person: erases their identifiers, attributes, relationships and events")
		case record.ProfileSuppress:
			desc = append(desc, "suppresses this person: deletes them and skips later rows with their id or email")
		}
	}
	return out.write(v, r.Key, v.Result, target, strings.Join(desc, "; "))
}

// personOf names the person a row resolved to, as `people get` takes it.
func personOf(r *record.Record) string {
	if r.Person == "" {
		return ""
	}
	return "cio_" + r.Person
}

func orNone(v []byte) string {
	if v == nil {
		return "(none)"
	}
	return string(v)
}
