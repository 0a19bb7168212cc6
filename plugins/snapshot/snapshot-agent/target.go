package main

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// target is the user container's main process, as seen through /proc.
type target struct {
	pid    int
	uid    int
	gid    int
	groups []int
	capPrm uint64 // permitted capabilities
	capBnd uint64 // bounding set: what any process of its container could ever hold
}

// findTarget returns the lowest-numbered process whose cgroup path names containerID (the
// runtime's container id from the pod status, without its "containerd://" prefix): the
// container's first process, i.e. its entrypoint.
func findTarget(procDir, containerID string) (*target, error) {
	if containerID == "" || strings.ContainsAny(containerID, "/\n") {
		return nil, fail("usage", exitUsage, "invalid container id %q", containerID)
	}
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fail("internal", exitInternal, "reading %s: %v", procDir, err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(procDir, e.Name(), "cgroup"))
		if err != nil {
			continue // the process ended meanwhile
		}
		if strings.Contains(string(data), containerID) {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return nil, fail("target", exitTarget,
			"no process of container %s is visible: is it running, and does the pod share its "+
				"process namespace (shareProcessNamespace: true)?", containerID)
	}
	sort.Ints(pids)
	t := &target{pid: pids[0]}
	if err := t.readStatus(procDir); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *target) readStatus(procDir string) error {
	f, err := os.Open(filepath.Join(procDir, strconv.Itoa(t.pid), "status"))
	if err != nil {
		return fail("target", exitTarget, "process %d: %v", t.pid, err)
	}
	defer f.Close()
	seen := 0
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		switch key {
		case "Uid", "Gid":
			// real, effective, saved, filesystem: a process whose ids differ (mid setuid) is
			// not one we can impersonate exactly.
			if len(fields) != 4 || fields[0] != fields[1] || fields[1] != fields[2] {
				return fail("target", exitTarget, "process %d has mixed %s ids %v", t.pid, key, fields)
			}
			id, err := strconv.Atoi(fields[0])
			if err != nil {
				return fail("target", exitTarget, "process %d: bad %s %q", t.pid, key, fields[0])
			}
			if key == "Uid" {
				t.uid = id
			} else {
				t.gid = id
			}
			seen++
		case "CapPrm", "CapBnd":
			if len(fields) != 1 {
				return fail("target", exitTarget, "process %d: bad %s", t.pid, key)
			}
			v, err := strconv.ParseUint(fields[0], 16, 64)
			if err != nil {
				return fail("target", exitTarget, "process %d: bad %s %q", t.pid, key, fields[0])
			}
			if key == "CapPrm" {
				t.capPrm = v
			} else {
				t.capBnd = v
			}
			seen++
		case "Groups":
			for _, g := range fields {
				id, err := strconv.Atoi(g)
				if err == nil {
					t.groups = append(t.groups, id)
				}
			}
		}
	}
	if seen != 4 {
		return fail("target", exitTarget, "process %d: no Uid, Gid, CapPrm or CapBnd in its status", t.pid)
	}
	return nil
}

// becomeTarget takes the target's uid, gid and groups for every thread of this process (Go's
// syscall package applies them to all threads).
func becomeTarget(t *target) error {
	if err := syscall.Setgroups(t.groups); err != nil {
		return fail("target", exitTarget, "setgroups(%v): %v (the sidecar needs CAP_SETGID)", t.groups, err)
	}
	if err := syscall.Setresgid(t.gid, t.gid, t.gid); err != nil {
		return fail("target", exitTarget, "setresgid(%d): %v (the sidecar needs CAP_SETGID)", t.gid, err)
	}
	if err := syscall.Setresuid(t.uid, t.uid, t.uid); err != nil {
		return fail("target", exitTarget, "setresuid(%d): %v (the sidecar needs CAP_SETUID)", t.uid, err)
	}
	return nil
}

// ownCapabilities reads this process's permitted set.
func ownCapabilities(procDir string) (uint64, error) {
	self := &target{pid: os.Getpid()}
	if err := self.readStatus(procDir); err != nil {
		return 0, err
	}
	return self.capPrm, nil
}

// strictSubset: every capability of a is in b, and b has at least one more.
func strictSubset(a, b uint64) bool {
	return a&^b == 0 && a != b
}

// checkWeaker refuses a target that is not strictly weaker than this agent. The kernel lets a
// process with the same ids open another's /proc/<pid>/* only when its permitted capabilities
// include all of the other's (cap_ptrace_access_check); the user's container drops NET_RAW and
// MKNOD so that it never passes that check against this sidecar, whose credentials are then out
// of its reach even in the moment before the agent makes itself non-dumpable. Should the
// manifests regress, the agent refuses to load the credentials at all. The bounding set is
// checked as well as the permitted one: it is what any process of the user's container can hold,
// a non-root entrypoint included.
func checkWeaker(t *target, own uint64) error {
	for _, c := range []struct {
		name string
		set  uint64
	}{{"permitted", t.capPrm}, {"bounding", t.capBnd}} {
		if !strictSubset(c.set, own) {
			return fail("target", exitTarget,
				"refusing to load the registry credentials: the %s capabilities of the user's "+
					"container (process %d, %016x) are not a strict subset of the snapshot "+
					"sidecar's (%016x), so it could read the sidecar's files; the user's "+
					"container must drop at least NET_RAW and MKNOD", c.name, t.pid, c.set, own)
		}
	}
	return nil
}

// openRoot opens the target's root directory (/proc/<pid>/root) once, as a descriptor the
// whole capture works from. The kernel checks ptrace access with the opener's filesystem ids,
// so the opening thread takes the target's fsuid and fsgid (a root agent would otherwise need
// CAP_SYS_PTRACE for a non-root target). That thread is locked and never unlocked: the runtime
// then ends it with the goroutine, and no other goroutine ever runs with those ids.
func openRoot(procDir string, t *target) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, see above
		_ = unix.Setfsgid(t.gid)
		_ = unix.Setfsuid(t.uid)
		if prev, _ := unix.SetfsuidRetUid(t.uid); prev != t.uid {
			done <- opened{err: fail("target", exitTarget, "setfsuid(%d) did not take (the sidecar needs CAP_SETUID)", t.uid)}
			return
		}
		path := filepath.Join(procDir, strconv.Itoa(t.pid), "root")
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- opened{err: fail("target", exitTarget,
				"the filesystem of process %d (uid %d) is not readable from here: %v", t.pid, t.uid, err)}
			return
		}
		done <- opened{f: os.NewFile(uintptr(fd), path)}
	}()
	r := <-done
	return r.f, r.err
}

// stillTarget checks, after the root was opened, that the pid still belongs to the container
// (it cannot have been reused by a process of another container in between).
func stillTarget(procDir string, t *target, containerID string) error {
	data, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(t.pid), "cgroup"))
	if err != nil || !strings.Contains(string(data), containerID) {
		return fail("target", exitTarget, "process %d of container %s ended while the save started", t.pid, containerID)
	}
	return nil
}
