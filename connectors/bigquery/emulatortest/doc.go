// Package emulatortest holds the tests of connectors/bigquery that run against
// github.com/goccy/bigquery-emulator, and the end-to-end test of `dbsync run` on a
// BigQuery source. It is a Go module of its own so that building, vetting and testing
// the main module never compiles the emulator's SQL engine (minutes and gigabytes):
// scripts/test runs `go test ./...` here after the main module's tests.
package emulatortest
