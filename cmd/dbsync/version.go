package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3" (see the
// Dockerfile). Left at "dev", the module version from the build info is used (go
// install github.com/dbsync/dbsync/cmd/dbsync@v1.2.3 stamps it).
var version = "dev"

// versionCmd: dbsync version, or dbsync --version
func versionCmd(_ context.Context, e *env, args []string) error {
	fs, _ := e.flags("version", "")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "dbsync", buildVersion(version, debug.ReadBuildInfo))
	return nil
}

// buildVersion is the stamped version, else the module's version from the build
// info, else "dev".
func buildVersion(stamped string, info func() (*debug.BuildInfo, bool)) string {
	if stamped != "dev" && stamped != "" {
		return stamped
	}
	if bi, ok := info(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
