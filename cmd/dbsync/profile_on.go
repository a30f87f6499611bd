//go:build cpuprofile

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole process to $DBSYNC_CPUPROFILE, for
// the benchmark (go run ./bench -cpuprofile DIR). Only a binary built with
// -tags cpuprofile has it: the released one takes no profiling switch.
func startProfile() func() {
	path := os.Getenv("DBSYNC_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbsync: cpu profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "dbsync: cpu profile:", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
