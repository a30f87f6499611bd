package state

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Holder names this process in leases: host/pid/random, then, where /proc tells
// (Linux), the process's identity on this machine: boot id, pid namespace and start
// time ("host/42/1a2b3c4d/<boot id>.<pid ns>.<start ticks>"). The identity lets a
// later process on the same host see that the holder is gone (Gone).
func Holder() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	h := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	if id := processIdentity(os.Getpid()); id != "" {
		h += "/" + id
	}
	return h
}

// Gone reports whether holder is a process on this host that has exited: same host
// name, same boot and pid namespace (so its pid means the same process here), and no
// live process with its pid and start time (a pid reused by another process has
// another start time; a zombie has exited). A holder on another host, or from a
// process that could not tell its identity, is never Gone: its lease runs out instead.
func Gone(holder string) bool {
	parts := strings.Split(holder, "/")
	if len(parts) != 4 {
		return false
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(parts[1])
	if parts[0] != host || err != nil || pid <= 0 {
		return false
	}
	boot, ns, start, ok := splitIdentity(parts[3])
	myBoot, myNS, _, myOK := splitIdentity(processIdentity(os.Getpid()))
	if !ok || !myOK || boot != myBoot || ns != myNS {
		return false
	}
	st, err := procStat(pid)
	if os.IsNotExist(err) {
		return true
	}
	if err != nil {
		return false // cannot tell: wait for the lease to run out
	}
	return st.state == "Z" || st.start != start
}

func splitIdentity(id string) (boot, ns, start string, ok bool) {
	f := strings.Split(id, ".")
	if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
		return "", "", "", false
	}
	return f[0], f[1], f[2], true
}

// processIdentity is "<boot id>.<pid namespace>.<start ticks>" of a process, or ""
// where /proc does not tell.
func processIdentity(pid int) string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	boot := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	link, err := os.Readlink("/proc/self/ns/pid") // "pid:[4026531836]"
	if err != nil {
		return ""
	}
	ns := strings.TrimSuffix(strings.TrimPrefix(link, "pid:["), "]")
	st, err := procStat(pid)
	if err != nil || boot == "" || ns == "" || strings.ContainsAny(boot+ns, "./") {
		return ""
	}
	return boot + "." + ns + "." + st.start
}

type stat struct {
	state string // R, S, D, Z, ...
	start string // clock ticks after boot
}

// procStat reads a process's state and start time from /proc/PID/stat.
func procStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return stat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return stat{state: f[0], start: f[19]}, nil // fields 3 and 22 of proc(5)
}
