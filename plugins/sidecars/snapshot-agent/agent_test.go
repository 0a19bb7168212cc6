package main

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

func TestMountPointsSkipsRootAndUnescapes(t *testing.T) {
	info := "22 1 0:40 / / rw - overlay overlay rw\n" +
		"23 22 0:41 / /proc rw - proc proc rw\n" +
		"24 22 8:1 /x /etc/hosts rw - ext4 /dev/sda1 rw\n" +
		"25 22 8:1 /v /data\\040dir rw - ext4 /dev/sda1 rw\n"
	got, err := mountPoints(info)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/proc", "/etc/hosts", "/data dir"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// A tree with a file, a hard link, a symlink, an excluded file mount and an excluded directory
// mount holding data that must not appear.
func makeTree(t *testing.T) string {
	root := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "www"), 0o755))
	must(os.WriteFile(filepath.Join(root, "www", "index.html"), []byte("hello"), 0o644))
	must(os.Link(filepath.Join(root, "www", "index.html"), filepath.Join(root, "www", "copy.html")))
	must(os.Symlink("www/index.html", filepath.Join(root, "link")))
	must(os.MkdirAll(filepath.Join(root, "proc", "1"), 0o700))
	must(os.WriteFile(filepath.Join(root, "proc", "1", "secret"), []byte("no"), 0o600))
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc", "hosts"), []byte("bound in"), 0o644))
	return root
}

func readTar(t *testing.T, data []byte) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = hdr
	}
}

func TestWriteTarExcludesMountsAndKeepsLinks(t *testing.T) {
	// Through a symlink, as /proc/<pid>/root is one.
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Symlink(makeTree(t), root); err != nil {
		t.Fatal(err)
	}
	tr := newTree(root, []string{"/proc", "/etc/hosts"})
	var buf bytes.Buffer
	var last int64
	if err := tr.writeTar(&buf, func(n int64) { last = n }); err != nil {
		t.Fatal(err)
	}
	entries := readTar(t, buf.Bytes())
	for _, name := range []string{"www/", "www/index.html", "link", "proc/", "etc/"} {
		if entries[name] == nil {
			t.Errorf("%s missing from %v", name, keys(entries))
		}
	}
	for _, name := range []string{"proc/1/", "proc/1/secret", "etc/hosts"} {
		if entries[name] != nil {
			t.Errorf("%s must be excluded", name)
		}
	}
	if entries["link"].Linkname != "www/index.html" {
		t.Errorf("symlink target %q", entries["link"].Linkname)
	}
	if entries["proc/"].Mode&0o777 != 0o755 {
		t.Errorf("mount point mode %o", entries["proc/"].Mode)
	}
	// copy.html is written after index.html (lexical order) as a hard link to it.
	if h := entries["www/index.html"]; h.Typeflag != tar.TypeLink || h.Linkname != "www/copy.html" {
		t.Errorf("hard link: %+v", h)
	}
	if last != 5 {
		t.Errorf("progress reported %d bytes, want 5 (hard link counted once)", last)
	}
	u, err := tr.measure()
	if err != nil {
		t.Fatal(err)
	}
	if u.bytes != 5 {
		t.Errorf("measure: %d bytes, want 5", u.bytes)
	}
}

func TestIsLocalhost(t *testing.T) {
	for reg, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true, "localhost": true,
		"registry.example.com": false, "10.245.0.1:5000": false, "127.0.0.1.example.com": false,
	} {
		if got := isLocalhost(reg); got != want {
			t.Errorf("isLocalhost(%q) = %v", reg, got)
		}
	}
}

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
	status := "Name:\tsh\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t65534 \n"
	write(1, "1:cpu:/kubepods/pod1/pause\n", status)
	write(12, "1:cpu:/kubepods/pod1/abc123\n", status)
	write(7, "1:cpu:/kubepods/pod1/abc123\n", status)
	write(9, "1:cpu:/kubepods/pod1/other\n", status)
	got, err := findTarget(proc, "abc123")
	if err != nil {
		t.Fatal(err)
	}
	if got.pid != 7 || got.uid != 65534 || got.gid != 65534 || !reflect.DeepEqual(got.groups, []int{65534}) {
		t.Fatalf("got %+v", got)
	}
	if _, err := findTarget(proc, "missing"); err == nil || err.(*failure).code != exitTarget {
		t.Fatalf("missing container: %v", err)
	}
}

func keys(m map[string]*tar.Header) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	return out
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
