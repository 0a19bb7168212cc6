package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"
)

func TestLoadKeychainReadsAuthAndMissingFileIsAnonymous(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("user:p:ss"))
	if err := os.WriteFile(file, []byte(`{"auths":{"https://reg.example/v1/":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	kc, err := loadKeychain(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := kc.(staticKeychain)["reg.example"]
	if cfg.Username != "user" || cfg.Password != "p:ss" {
		t.Fatalf("got %+v", cfg)
	}
	if _, err := loadKeychain(filepath.Join(dir, "absent")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("not json secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = loadKeychain(file)
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("secret")) {
		t.Fatalf("want an error that does not quote the file, got %v", err)
	}
}

func TestSecondLockIsRefused(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock(dir); err == nil || err.(*failure).code != exitBusy {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	again, err := lock(dir)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
}

func TestFindTargetByCgroupLowestPid(t *testing.T) {
	proc := t.TempDir()
	write := func(pid int, cgroup, status string) {
		d := filepath.Join(proc, strconv.Itoa(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(d, "cgroup"), []byte(cgroup), 0o644)
		_ = os.WriteFile(filepath.Join(d, "status"), []byte(status), 0o644)
	}
	status := "Name:\tsh\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t65534 \n" +
		"CapPrm:\t0000000000000000\nCapBnd:\t00000000a80405fb\n"
	write(1, "1:cpu:/kubepods/pod1/pause\n", status)
	write(12, "1:cpu:/kubepods/pod1/abc123\n", status)
	write(7, "1:cpu:/kubepods/pod1/abc123\n", status)
	write(9, "1:cpu:/kubepods/pod1/other\n", status)
	got, err := findTarget(proc, "abc123")
	if err != nil {
		t.Fatal(err)
	}
	if got.pid != 7 || got.uid != 65534 || got.gid != 65534 || !reflect.DeepEqual(got.groups, []int{65534}) ||
		got.capPrm != 0 || got.capBnd != 0xa80405fb {
		t.Fatalf("got %+v", got)
	}
	if _, err := findTarget(proc, "missing"); err == nil || err.(*failure).code != exitTarget {
		t.Fatalf("missing container: %v", err)
	}
}

func TestEndpointTransportKeepsTheRegistryName(t *testing.T) {
	var seen []string
	inner := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.Host+" "+r.Host)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(nil))}, nil
	})
	tr := &endpointTransport{endpoints: map[string]string{"127.0.0.1:5000": "10.245.0.1:4000"}, inner: inner}
	for _, url := range []string{"http://127.0.0.1:5000/v2/", "https://reg.example/v2/"} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"10.245.0.1:4000 127.0.0.1:5000", "reg.example reg.example"}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("got %q, want %q", seen, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// --- The capture, against a real chrooted process -------------------------------------------

// TestMain lets the test binary play two more parts: the capture child ("capture", as the agent
// re-executes itself) and "sleeper", the user's container: a process in its own mount
// namespace, with binds mounted into its tree, chrooted there, optionally as another user.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "capture" {
		_ = setNonDumpable()
		os.Exit(runCapture(os.Args[2:]))
	}
	if os.Getenv("CM_TEST_HELPER") == "sleeper" {
		os.Exit(sleeper())
	}
	os.Exit(m.Run())
}

func sleeper() int {
	root := os.Getenv("CM_TEST_ROOT")
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fmt.Println("mount private:", err)
		return 1
	}
	for _, bind := range strings.Fields(os.Getenv("CM_TEST_BINDS")) {
		src, dst, _ := strings.Cut(bind, ":")
		if err := syscall.Mount(src, filepath.Join(root, dst), "", syscall.MS_BIND, ""); err != nil {
			fmt.Println("bind:", err)
			return 1
		}
	}
	if err := syscall.Chroot(root); err != nil {
		fmt.Println("chroot:", err)
		return 1
	}
	_ = os.Chdir("/")
	if uid := os.Getenv("CM_TEST_UID"); uid != "" {
		id, _ := strconv.Atoi(uid)
		if err := syscall.Setgroups([]int{id}); err != nil {
			fmt.Println("setgroups:", err)
			return 1
		}
		if err := syscall.Setresgid(id, id, id); err != nil {
			fmt.Println("setresgid:", err)
			return 1
		}
		if err := syscall.Setresuid(id, id, id); err != nil {
			fmt.Println("setresuid:", err)
			return 1
		}
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test closes our stdin
	return 0
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chroot, mount namespaces, other users' ids), as the suite runs")
	}
}

// startSleeper runs the "user's container" chrooted in root; binds are "src:dst" mounts made in
// its own mount namespace (dst inside root). It returns the process as a target.
func startSleeper(t *testing.T, root string, uid int, binds ...string) *target {
	t.Helper()
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), "CM_TEST_HELPER=sleeper", "CM_TEST_ROOT="+root,
		"CM_TEST_BINDS="+strings.Join(binds, " "))
	if uid >= 0 {
		cmd.Env = append(cmd.Env, "CM_TEST_UID="+strconv.Itoa(uid))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("sleeper: %q %v", line, err)
	}
	tgt := &target{pid: cmd.Process.Pid}
	must(t, tgt.readStatus("/proc"))
	return tgt
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path string, data string, mode os.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(data), mode))
	must(t, os.Chmod(path, mode))
}

type tarEntry struct {
	hdr  *tar.Header
	data string
}

func readTar(t *testing.T, data []byte) map[string]tarEntry {
	t.Helper()
	out := map[string]tarEntry{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		must(t, err)
		body, err := io.ReadAll(tr)
		must(t, err)
		out[hdr.Name] = tarEntry{hdr, string(body)}
	}
}

// The user's tree: a file, a hard link, a relative symlink, a FIFO, a socket, a file and a
// directory the "runtime" binds in (whose contents must not appear), all world-readable so a
// non-root user can save it.
func userTree(t *testing.T) (root, outside string) {
	root = filepath.Join(t.TempDir(), "troot")
	outside = t.TempDir()
	write(t, filepath.Join(root, "www", "index.html"), "hello", 0o644)
	must(t, os.Link(filepath.Join(root, "www", "index.html"), filepath.Join(root, "www", "copy.html")))
	must(t, os.Symlink("www/index.html", filepath.Join(root, "link")))
	must(t, syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	must(t, os.MkdirAll(filepath.Join(root, "proc"), 0o755))
	write(t, filepath.Join(root, "etc", "hosts"), "the image's own", 0o644)
	write(t, filepath.Join(outside, "procfs", "1", "secret"), "MOUNTED-DIR-CONTENT", 0o644)
	write(t, filepath.Join(outside, "hosts"), "MOUNTED-FILE-CONTENT", 0o644)
	return root, outside
}

func TestCaptureChildOfAChrootedNonRootProcess(t *testing.T) {
	needRoot(t)
	root, outside := userTree(t)
	tgt := startSleeper(t, root, 65534,
		filepath.Join(outside, "procfs")+":/proc", filepath.Join(outside, "hosts")+":/etc/hosts")
	if tgt.uid != 65534 {
		t.Fatalf("sleeper runs as %d", tgt.uid)
	}
	f, err := openRoot("/proc", tgt)
	must(t, err)
	child, err := startCapture("/proc/self/exe", f, tgt, 0)
	f.Close()
	must(t, err)
	data, err := io.ReadAll(&captureStream{child: child})
	must(t, err)
	must(t, child.wait())
	entries := readTar(t, data)
	for _, name := range []string{"www/", "www/index.html", "www/copy.html", "link", "fifo", "proc/", "etc/"} {
		if _, ok := entries[name]; !ok {
			t.Errorf("%s missing from %v", name, names(entries))
		}
	}
	if _, ok := entries["etc/hosts"]; ok {
		t.Error("a file bound in (a mount point) must be left out")
	}
	if bytes.Contains(data, []byte("MOUNTED-")) {
		t.Error("the contents of a mount point were captured")
	}
	if e := entries["link"]; e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "www/index.html" {
		t.Errorf("symlink: %+v", e.hdr)
	}
	if e := entries["proc/"]; e.hdr.Mode != 0o755 || e.hdr.Uid != 0 {
		t.Errorf("mount point: %+v", e.hdr)
	}
	if e := entries["fifo"]; e.hdr.Typeflag != tar.TypeFifo {
		t.Errorf("fifo: %+v", e.hdr)
	}
	// copy.html comes first (lexical order) with the bytes; index.html links to it.
	if e := entries["www/index.html"]; e.hdr.Typeflag != tar.TypeLink || e.hdr.Linkname != "www/copy.html" {
		t.Errorf("hard link: %+v", e.hdr)
	}
	if entries["www/copy.html"].data != "hello" {
		t.Errorf("content: %q", entries["www/copy.html"].data)
	}
	if child.result.Entries != int64(len(entries)) {
		t.Errorf("child counted %d entries, the tar has %d", child.result.Entries, len(entries))
	}
}

func TestCaptureChildFailsOnAFileItsUserCannotRead(t *testing.T) {
	needRoot(t)
	root, _ := userTree(t)
	write(t, filepath.Join(root, "private"), "root only", 0o600)
	tgt := startSleeper(t, root, 65534)
	f, err := openRoot("/proc", tgt)
	must(t, err)
	child, err := startCapture("/proc/self/exe", f, tgt, 0)
	f.Close()
	must(t, err)
	_, err = io.ReadAll(&captureStream{child: child})
	var fl *failure
	if !errors.As(err, &fl) || fl.code != exitTarget || !strings.Contains(fl.Error(), "/private cannot be read as the container's user") {
		t.Fatalf("got %v", err)
	}
}

// The attack of review finding 2. The sidecar's secret is laid out as the kubelet writes a
// Secret volume, in this process's own root (outside the user's tree); the user swaps a name
// of its tree for an absolute symlink to it at the worst moments. The capture here runs in
// this process, without the chroot of the capture child, so the walk by descriptor alone must
// hold: it may fail with "changed" or record the link as a link, and never holds the secret.
func secretDir(t *testing.T) string {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "..2026_12_01", "config.json"), `{"auths":{"r":{"auth":"TOP-SECRET-MARKER"}}}`, 0o400)
	must(t, os.Symlink("..2026_12_01", filepath.Join(dir, "..data")))
	must(t, os.Symlink("..data/config.json", filepath.Join(dir, "config.json")))
	return dir
}

func swapTree(t *testing.T) string {
	root := filepath.Join(t.TempDir(), "troot")
	write(t, filepath.Join(root, "a"), "first", 0o644)
	write(t, filepath.Join(root, "x", "..data", "..0big"), strings.Repeat("b", 1<<20), 0o644)
	write(t, filepath.Join(root, "x", "..data", "config.json"), "the user's own", 0o644)
	return root
}

func TestSymlinkSwapNeverReadsOutside(t *testing.T) {
	needRoot(t)
	cases := map[string]struct {
		at      string // the entry after whose stat the swap happens
		outcome string // "link", "changed" or "own"
	}{
		"after the root was listed":       {"/a", "link"},
		"between stat and open of x":      {"/x", "changed"},
		"inside x, as the inotify attack": {"/x/..data/..0big", "own"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			root := swapTree(t)
			secret := secretDir(t)
			tgt := startSleeper(t, root, -1)
			f, err := openRoot("/proc", tgt)
			must(t, err)
			defer f.Close()
			swapped := false
			hook := func(inner string) {
				if inner == tc.at && !swapped {
					swapped = true
					must(t, os.Rename(filepath.Join(root, "x"), filepath.Join(root, "x.old")))
					must(t, os.Symlink(secret, filepath.Join(root, "x")))
				}
			}
			var out bytes.Buffer
			_, err = captureTree(int(f.Fd()), &out, 0, hook)
			if !swapped {
				t.Fatal("the swap never ran")
			}
			if bytes.Contains(out.Bytes(), []byte("TOP-SECRET-MARKER")) {
				t.Fatal("the capture holds the sidecar's secret")
			}
			switch tc.outcome {
			case "changed":
				var fl *failure
				if !errors.As(err, &fl) || fl.code != exitTarget || !strings.Contains(fl.Error(), "/x changed while saving") {
					t.Fatalf("want a changed-while-saving failure, got %v", err)
				}
			case "link":
				must(t, err)
				e := readTar(t, out.Bytes())["x"]
				if e.hdr == nil || e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != secret {
					t.Fatalf("x must be recorded as the link it is: %+v", e.hdr)
				}
			case "own":
				must(t, err)
				if got := readTar(t, out.Bytes())["x/..data/config.json"].data; got != "the user's own" {
					t.Fatalf("x/..data/config.json holds %q", got)
				}
			}
		})
	}
}

func TestFIFOSwappedInDoesNotBlock(t *testing.T) {
	needRoot(t)
	root := swapTree(t)
	tgt := startSleeper(t, root, -1)
	f, err := openRoot("/proc", tgt)
	must(t, err)
	defer f.Close()
	hook := func(inner string) {
		if inner == "/a" {
			must(t, os.Remove(filepath.Join(root, "a")))
			must(t, syscall.Mkfifo(filepath.Join(root, "a"), 0o644))
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := captureTree(int(f.Fd()), io.Discard, 0, hook)
		done <- err
	}()
	select {
	case err := <-done:
		var fl *failure
		if !errors.As(err, &fl) || !strings.Contains(fl.Error(), "/a changed while saving") {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the capture blocked on a FIFO")
	}
}

func TestSizeLimitStopsTheWalkThatWrites(t *testing.T) {
	needRoot(t)
	root := swapTree(t) // about 1 MiB of file data
	tgt := startSleeper(t, root, -1)
	f, err := openRoot("/proc", tgt)
	must(t, err)
	defer f.Close()
	var out bytes.Buffer
	_, err = captureTree(int(f.Fd()), &out, 64<<10, nil)
	var fl *failure
	if !errors.As(err, &fl) || fl.code != exitTooLarge || !strings.Contains(fl.Error(), "over the snapshot size limit of 65536 bytes") {
		t.Fatalf("got %v", err)
	}
	if out.Len() > 64<<10 {
		t.Fatalf("%d bytes written past the limit", out.Len())
	}
	// Two sparse files as large as this filesystem allows (4 EiB on XFS): refused at once,
	// without reading them, and no sum of sizes overflows into a pass.
	sparse := filepath.Join(t.TempDir(), "sparse")
	must(t, os.MkdirAll(sparse+"-root", 0o755))
	for _, n := range []string{"s1", "s2"} {
		g, err := os.Create(filepath.Join(sparse+"-root", n))
		must(t, err)
		size := int64(1) << 62
		for ; size > 1<<32 && g.Truncate(size) != nil; size >>= 1 {
		}
		g.Close()
		if size <= 1<<32 {
			t.Fatal("no large sparse file possible here")
		}
	}
	d, err := os.Open(sparse + "-root")
	must(t, err)
	defer d.Close()
	_, err = captureTree(int(d.Fd()), io.Discard, 1<<30, nil)
	if !errors.As(err, &fl) || fl.code != exitTooLarge {
		t.Fatalf("sparse files: %v", err)
	}
}

func TestLimitWriterStopsAtTheLimit(t *testing.T) {
	var out bytes.Buffer
	w := &limitWriter{w: &out, limit: 1000}
	if _, err := w.Write(make([]byte, 600)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 401)); !errors.Is(err, errTooLarge) {
		t.Fatalf("past the limit: %v", err)
	}
	if _, err := w.Write(make([]byte, 400)); err != nil {
		t.Fatalf("up to the limit: %v", err)
	}
	if out.Len() != 1000 || w.n != 1000 {
		t.Fatalf("wrote %d, counted %d", out.Len(), w.n)
	}
	unlimited := &limitWriter{w: io.Discard}
	unlimited.n = 1<<63 - 10
	if unlimited.remaining() <= 0 {
		t.Fatal("no limit must never run out")
	}
}

func TestLockFileIsNeverFollowed(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	must(t, os.Symlink(victim, filepath.Join(dir, ".save.lock")))
	if _, err := lock(dir); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("a symlinked lock file: %v", err)
	}
	if _, err := os.Lstat(victim); !os.IsNotExist(err) {
		t.Fatalf("the link's target was created: %v", err)
	}
	fifoDir := t.TempDir()
	must(t, syscall.Mkfifo(filepath.Join(fifoDir, ".save.lock"), 0o600))
	done := make(chan error, 1)
	go func() { _, err := lock(fifoDir); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a plain file") {
			t.Fatalf("a FIFO lock file: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lock blocked on a FIFO")
	}
	linked := t.TempDir()
	write(t, filepath.Join(linked, "other"), "", 0o600)
	must(t, os.Link(filepath.Join(linked, "other"), filepath.Join(linked, ".save.lock")))
	if _, err := lock(linked); err == nil {
		t.Fatal("a hard-linked lock file must be refused")
	}
}

func TestCapPrmMustBeAStrictSubset(t *testing.T) {
	const defaults = 0xa80425fb              // containerd's default set
	const user = defaults &^ (1<<13 | 1<<27) // less NET_RAW and MKNOD
	proc := t.TempDir()
	status := func(prm, bnd uint64) {
		d := filepath.Join(proc, "5")
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.WriteFile(filepath.Join(d, "status"), []byte(fmt.Sprintf(
			"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\n",
			prm, prm, bnd)), 0o644))
	}
	for _, tc := range []struct {
		prm, bnd uint64
		ok       bool
	}{
		{user, user, true},          // root user container with the drops
		{0, user, true},             // non-root user container
		{defaults, defaults, false}, // the drops are gone: as strong as the sidecar
		{0, defaults, false},        // non-root now, but its container could hold all we hold
		{user | 1<<21, user, false}, // CAP_SYS_ADMIN, which the sidecar lacks
	} {
		status(tc.prm, tc.bnd)
		tgt := &target{pid: 5}
		must(t, tgt.readStatus(proc))
		if tgt.capPrm != tc.prm || tgt.capBnd != tc.bnd {
			t.Fatalf("parsed %x/%x", tgt.capPrm, tgt.capBnd)
		}
		err := checkWeaker(tgt, defaults)
		if (err == nil) != tc.ok {
			t.Errorf("CapPrm %x CapBnd %x: %v", tc.prm, tc.bnd, err)
		}
		if err != nil && (err.(*failure).code != exitTarget || !strings.Contains(err.Error(), "refusing to load the registry credentials")) {
			t.Errorf("message: %v", err)
		}
	}
	own, err := ownCapabilities("/proc")
	must(t, err)
	if os.Geteuid() == 0 && own == 0 {
		t.Error("root with no permitted capabilities?")
	}
}

func names(m map[string]tarEntry) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A registry on plain HTTP (loopback: go-containerregistry picks http by itself) that wants a
// password: the credentials are never sent unless the registry is named insecure.
func TestCredentialsNeverGoOverPlainHTTPUnlessNamedInsecure(t *testing.T) {
	var sawAuth atomic.Int32
	handler := quietRegistry()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			sawAuth.Add(1)
		}
		if user, pass, ok := r.BasicAuth(); !ok || user != "u" || pass != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	keys := staticKeychain{host: authn.AuthConfig{Username: "u", Password: "pw"}}
	push := func(insecure map[string]bool) error {
		ref, err := name.NewTag(host+"/a/b:t", nameOptions(host+"/a/b:t", insecure)...)
		must(t, err)
		return remote.Write(ref, empty.Image, remote.WithAuthFromKeychain(keys),
			remote.WithTransport(newTransport(nil, insecure)))
	}
	err := push(map[string]bool{})
	f := registryFailure("pushing", err)
	if f.code != exitTarget || !strings.Contains(f.Error(), "refusing to send registry credentials over plain HTTP to "+host) {
		t.Fatalf("got %v", err)
	}
	if n := sawAuth.Load(); n != 0 {
		t.Fatalf("the registry saw %d requests with credentials", n)
	}
	if err := push(map[string]bool{host: true}); err != nil {
		t.Fatalf("named insecure: %v", err)
	}
	if sawAuth.Load() == 0 {
		t.Fatal("named insecure, the credentials should have been sent")
	}
}

// A capture that fails midway fails the push with its own verdict (not a short layer).
func TestAFailedCaptureFailsThePushWithItsReason(t *testing.T) {
	srv := httptest.NewServer(quietRegistry())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, err := name.NewTag(host + "/a/b:t")
	must(t, err)
	r := io.MultiReader(strings.NewReader(strings.Repeat("x", 4096)), failingReader{})
	img, err := mutate.AppendLayers(empty.Image, stream.NewLayer(io.NopCloser(r)))
	must(t, err)
	err = remote.Write(ref, img, remote.WithTransport(newTransport(nil, nil)))
	f := registryFailure("pushing", err)
	if f.code != exitTooLarge || f.kind != "size_limit" {
		t.Fatalf("got %v (%s)", err, f.kind)
	}
	if _, err := remote.Head(ref); err == nil {
		t.Fatal("a manifest was pushed")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) {
	return 0, fail("size_limit", exitTooLarge, "over the snapshot size limit of 1 bytes")
}

func quietRegistry() http.Handler {
	return registry.New(registry.Logger(log.New(io.Discard, "", 0)))
}
