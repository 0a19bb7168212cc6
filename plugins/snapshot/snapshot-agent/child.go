package main

// The capture child. "save" (the parent) holds the registry credentials and talks to the
// registry; it never reads the user's files and is never chrooted (Go would then read the
// tenant's resolv.conf, hosts and CA certificates). It re-executes this binary as
// "snapshot-agent capture", handing it only the target's root directory (fd 3) and the target's
// ids: the child chroots into that root while it still has CAP_SYS_CHROOT, takes the target's
// uid, gid, groups and capabilities, walks the tree by descriptor and streams the tar to its
// parent over a pipe (its stdout). Its last stderr line is a JSON result or error. A fresh
// execve shares no memory with the parent, and only the fds named here are inherited, so the
// child has nothing of the credentials, which the parent loads only after the child started.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const childRootFD = 3 // ExtraFiles[0]

type captureResult struct {
	Entries int64  `json:"entries"`
	Error   string `json:"error,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Code    int    `json:"code,omitempty"`
}

// runCapture is "snapshot-agent capture": the child's whole life.
func runCapture(args []string) int {
	res := captureResult{}
	entries, err := captureMain(args)
	res.Entries = entries
	code := exitOK
	if err != nil {
		f, ok := err.(*failure)
		if !ok {
			f = &failure{kind: "internal", code: exitInternal, err: err}
		}
		res.Error, res.Kind, res.Code, code = f.err.Error(), f.kind, f.code, f.code
	}
	out, _ := json.Marshal(res)
	fmt.Fprintln(os.Stderr, string(out))
	return code
}

func captureMain(args []string) (int64, error) {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	uid := fs.Int("uid", -1, "the target's uid")
	gid := fs.Int("gid", -1, "the target's gid")
	groups := fs.String("groups", "", "the target's supplementary groups, comma separated")
	caps := fs.String("caps", "", "the target's permitted capabilities (hex, as in /proc/<pid>/status)")
	limit := fs.Int64("size-limit", 0, "stop once the tar stream would pass this many bytes (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return 0, fail("usage", exitUsage, "capture: %v", err)
	}
	if *uid < 0 || *gid < 0 {
		return 0, fail("usage", exitUsage, "capture: --uid and --gid are required")
	}
	tgt := &target{uid: *uid, gid: *gid}
	for _, g := range strings.Split(*groups, ",") {
		if g == "" {
			continue
		}
		id, err := strconv.Atoi(g)
		if err != nil {
			return 0, fail("usage", exitUsage, "capture: bad group %q", g)
		}
		tgt.groups = append(tgt.groups, id)
	}
	permitted, err := strconv.ParseUint(*caps, 16, 64)
	if err != nil {
		return 0, fail("usage", exitUsage, "capture: bad --caps %q", *caps)
	}
	// The root: fchdir + chroot, so that even a bug in the walk resolves an absolute path in
	// the user's tree, never in this sidecar's (which holds the credentials' mount).
	if err := unix.Fchdir(childRootFD); err != nil {
		return 0, fail("target", exitTarget, "entering the container's root: %v", err)
	}
	if err := unix.Chroot("."); err != nil {
		return 0, fail("target", exitTarget, "chroot into the container's root: %v (the sidecar needs CAP_SYS_CHROOT)", err)
	}
	if err := becomeTarget(tgt); err != nil {
		return 0, err
	}
	if err := limitCapabilities(permitted); err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	entries, err := captureTree(childRootFD, w, *limit, nil)
	if err != nil {
		return entries, err
	}
	if err := w.Flush(); err != nil {
		return entries, fail("internal", exitInternal, "writing to the agent: %v", err)
	}
	return entries, nil
}

// limitCapabilities keeps, of this process's capabilities, only those the target has too: the
// child is then no stronger than the process whose files it reads. (A non-root target's ids
// already cleared them all.) capset applies to one thread, so it runs on every thread.
func limitCapabilities(target uint64) error {
	hdr := struct {
		version uint32
		pid     int32
	}{version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]struct{ effective, permitted, inheritable uint32 }
	if _, _, errno := syscall.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return fail("internal", exitInternal, "capget: %v", errno)
	}
	for i := range data {
		keep := uint32(target >> (32 * i))
		data[i].permitted &= keep
		data[i].effective &= keep
		data[i].inheritable = 0
	}
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return fail("internal", exitInternal, "capset: %v", errno)
	}
	return nil
}

// captureChild is the running child as its parent sees it.
type captureChild struct {
	cmd     *exec.Cmd
	out     io.ReadCloser
	stderr  bytes.Buffer
	errDone chan struct{}
	once    sync.Once
	result  captureResult
	waitErr error
}

// startCapture starts "snapshot-agent capture" on the target's root fd. self is the agent's
// binary (/proc/self/exe in production).
func startCapture(self string, root *os.File, tgt *target, sizeLimit int64) (*captureChild, error) {
	groups := make([]string, len(tgt.groups))
	for i, g := range tgt.groups {
		groups[i] = strconv.Itoa(g)
	}
	cmd := exec.Command(self, "capture",
		"--uid="+strconv.Itoa(tgt.uid), "--gid="+strconv.Itoa(tgt.gid),
		"--groups="+strings.Join(groups, ","), fmt.Sprintf("--caps=%x", tgt.capPrm),
		"--size-limit="+strconv.FormatInt(sizeLimit, 10))
	cmd.ExtraFiles = []*os.File{root}
	cmd.Env = []string{} // nothing of the parent's environment
	cmd.Dir = "/"
	c := &captureChild{cmd: cmd, errDone: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fail("internal", exitInternal, "capture pipe: %v", err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, fail("internal", exitInternal, "capture pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fail("internal", exitInternal, "starting the capture: %v", err)
	}
	c.out = out
	go func() {
		defer close(c.errDone)
		// Bounded: the child's last words are one short line.
		_, _ = io.Copy(&c.stderr, io.LimitReader(errPipe, 64<<10))
		_, _ = io.Copy(io.Discard, errPipe)
	}()
	return c, nil
}

// wait reaps the child once and returns its outcome: nil, or its failure.
func (c *captureChild) wait() error {
	c.once.Do(func() {
		<-c.errDone
		c.waitErr = c.cmd.Wait()
		lines := strings.Split(strings.TrimSpace(c.stderr.String()), "\n")
		_ = json.Unmarshal([]byte(lines[len(lines)-1]), &c.result)
	})
	if c.result.Error != "" {
		code := c.result.Code
		if code == exitOK {
			code = exitInternal
		}
		return &failure{kind: c.result.Kind, code: code, err: errors.New(c.result.Error)}
	}
	if c.waitErr != nil {
		return fail("internal", exitInternal, "the capture process failed: %v", c.waitErr)
	}
	return nil
}

// kill stops the child (the push failed or the parent gives up) and reaps it.
func (c *captureChild) kill() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
	}
	_ = c.out.Close()
	_ = c.wait()
}

// captureStream is the tar stream as the parent reads it: at most limit bytes (a second guard, should
// the child be subverted), and at the end the child's own verdict, so that a failed capture
// fails the upload instead of ending it as a short but valid-looking layer.
type captureStream struct {
	child  *captureChild
	n      int64
	limit  int64
	onRead func(int64)
}

func (s *captureStream) Read(p []byte) (int, error) {
	n, err := s.child.out.Read(p)
	s.n += int64(n)
	if s.limit > 0 && s.n > s.limit {
		s.child.kill()
		return 0, fail("size_limit", exitTooLarge,
			"the container's filesystem is over the snapshot size limit of %d bytes", s.limit)
	}
	if n > 0 && s.onRead != nil {
		s.onRead(s.n)
	}
	if errors.Is(err, io.EOF) {
		if werr := s.child.wait(); werr != nil {
			return n, werr
		}
	}
	return n, err
}
