//go:build !cpuprofile

package main

// startProfile does nothing: only the benchmark's build (-tags cpuprofile, see
// profile_on.go) profiles.
func startProfile() func() { return func() {} }
