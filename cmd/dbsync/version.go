package main

import (
	"context"
	"fmt"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3" (see the
// Dockerfile).
var version = "dev"

// versionCmd: dbsync version, or dbsync --version
func versionCmd(_ context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return usageError("version takes no arguments")
	}
	fmt.Fprintln(e.stdout, "dbsync", version)
	return nil
}
