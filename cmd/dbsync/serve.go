package main

import (
	"context"

	_ "time/tzdata" // CRON_TZ= zones work in a base image without tzdata

	"github.com/dbsync/dbsync/serve"
)

// serveCmd: dbsync serve -c FILE [--listen ADDR]
//
// It runs until the first SIGTERM or SIGINT cancels ctx: then it starts no more runs,
// lets each running sync commit its current batch, and exits 0.
func serveCmd(ctx context.Context, e *env, args []string) error {
	fs, path := e.flags("serve", "-c FILE [--listen ADDR]")
	listen := fs.String("listen", serve.DefaultListen, "address for /healthz, /readyz and /metrics")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := e.load(fs, *path)
	if err != nil {
		return err
	}
	if err := serve.CheckSchedules(cfg.Syncs); err != nil {
		return usageError("%s: %w", cfg.Path, err) // before the store is opened: a bad config writes nothing
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	eng := e.engine(cfg, st)
	eng.Progress.Live = false // syncs run side by side: progress goes to the log
	srv, err := serve.New(serve.Config{
		Syncs:   cfg.Syncs,
		Engine:  eng,
		Listen:  *listen,
		Version: version,
		Log:     eng.Log,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return srv.Stop(context.WithoutCancel(ctx))
}
