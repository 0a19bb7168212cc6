package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// target is the user container's main process, as seen through /proc.
type target struct {
	pid    int
	uid    int
	gid    int
	groups []int
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
		case "Groups":
			for _, g := range fields {
				id, err := strconv.Atoi(g)
				if err == nil {
					t.groups = append(t.groups, id)
				}
			}
		}
	}
	if seen != 2 {
		return fail("target", exitTarget, "process %d: no Uid/Gid in its status", t.pid)
	}
	return nil
}

// becomeTarget takes the target's uid, gid and groups for every thread of this process. The
// kernel lets a process read another's /proc/<pid>/root without CAP_SYS_PTRACE when both have
// the same ids and the target's capabilities are a subset of the reader's: a non-root target
// has none (and switching from root to its uid clears ours); a root target has the runtime's
// defaults, which the sidecar is given too.
func becomeTarget(t *target) error {
	if os.Geteuid() == t.uid && os.Getegid() == t.gid {
		return nil
	}
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

// mountPoints lists the mount points of the process (paths inside its root), from its
// mountinfo: "/" is the container's own filesystem, every other one (proc, sys, dev, volumes,
// secrets, the files the runtime binds in such as /etc/hosts) is excluded from the snapshot.
func mountPoints(mountinfo string) ([]string, error) {
	var points []string
	for _, line := range strings.Split(mountinfo, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		point := unescapeMount(fields[4])
		if point != "/" {
			points = append(points, point)
		}
	}
	if len(points) == 0 && strings.TrimSpace(mountinfo) == "" {
		return nil, fmt.Errorf("empty mountinfo")
	}
	return points, nil
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space, ...) in mountinfo paths.
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
