package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The wall time of a run on this machine moves by a fifth from one minute to the
// next (docs/benchmarks.md), more than most changes; the CPU a run costs moves far
// less. Each timed step also reports its CPU seconds: its own client processes (dbsync,
// or the limit's psql pair, or the bench itself for an in-process limit) and the
// database servers on the machine, which serve both its source and its store.

// It reports the PostgreSQL write-ahead log the step wrote, too: what a store's
// writes cost the server in bytes, the same from run to run (a SQLite store writes
// none of it; its sources' reads write next to none).

// meter is where the CPU counters and the WAL stood when a timed step began.
type meter struct {
	servers, self float64
	wal           string // pg_current_wal_lsn()
}

func (b *bench) startMeter() meter {
	m := meter{servers: serverCPU(), self: selfCPU()}
	b.pg.QueryRow(`SELECT pg_current_wal_lsn()::text`).Scan(&m.wal)
	return m
}

// stopMeter sets b.cpu to the CPU seconds used since m by the servers, the bench
// itself and the given client processes, which have ended, and b.walMiB to the WAL
// written since.
func (b *bench) stopMeter(m meter, clients ...*os.ProcessState) {
	s := serverCPU() - m.servers + selfCPU() - m.self
	for _, c := range clients {
		if c != nil {
			s += (c.UserTime() + c.SystemTime()).Seconds()
		}
	}
	b.cpu = s
	b.walMiB = 0
	if m.wal != "" {
		b.pg.QueryRow(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) / 1048576`, m.wal).Scan(&b.walMiB)
	}
}

// serverCPU is the CPU seconds PostgreSQL and MariaDB have used: each server process's
// own and that of its children that have ended (a PostgreSQL backend, which ends with
// its connection, is counted by the postmaster then).
func serverCPU() float64 {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		open, end := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || end < open {
			continue
		}
		switch string(b[open+1 : end]) {
		case "postgres", "mariadbd", "mysqld":
		default:
			continue
		}
		// After the name: state, ppid, … utime is the 14th field of the line, then
		// stime, cutime, cstime.
		f := strings.Fields(string(b[end+1:]))
		if len(f) < 15 {
			continue
		}
		for _, v := range f[11:15] {
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks += n
		}
	}
	return float64(ticks) / 100 // USER_HZ, 100 on Linux
}

// selfCPU is the bench process's own CPU seconds.
func selfCPU() float64 {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)/1e6
}
