package main

import (
	"context"
	"time"

	"github.com/dbsync/dbsync/store"
)

// rejectedCmd: dbsync rejected -c FILE [--sync NAME] [--since DURATION]
func rejectedCmd(ctx context.Context, e *env, args []string) error {
	fs, path := e.flags("rejected", "-c FILE [--sync NAME] [--since DURATION]")
	name := fs.String("sync", "", "only this sync's rows")
	since := fs.Duration("since", 0, "only rows last seen this long ago or later (e.g. 24h)")
	asJSON := fs.Bool("json", false, "one JSON object a line, even on a terminal")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	st, err := readStore(ctx, cfg)
	if err != nil || st == nil {
		return err
	}
	defer st.Close()
	type rejectedOut struct {
		Time     int64  `json:"time"`
		LastSeen int64  `json:"last_seen"`
		Sync     string `json:"sync"`
		Key      string `json:"key"`
		Reason   string `json:"reason"`
	}
	var from int64
	if *since > 0 {
		from = time.Now().Add(-*since).Unix()
	}
	out := newRowWriter(e, *asJSON, "TIME", "LAST_SEEN", "SYNC", "KEY", "REASON")
	err = st.EachRejected(ctx, *name, from, func(r store.Rejection) error {
		reason := r.Reason
		if r.Detail != "" {
			reason += ": " + r.Detail
		}
		return out.write(rejectedOut{r.Time, r.LastSeen, r.Sync, r.Key, reason},
			unixTime(r.Time), unixTime(r.LastSeen), r.Sync, r.Key, reason)
	})
	if err != nil {
		return err
	}
	return out.flush()
}
