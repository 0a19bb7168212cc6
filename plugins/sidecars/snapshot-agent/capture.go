package main

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// tree is a container's filesystem to capture: its root directory as seen from here
// (/proc/<pid>/root) and the paths inside it that are left out (mount points).
type tree struct {
	root     string
	excluded map[string]bool
}

func newTree(root string, excluded []string) *tree {
	t := &tree{root: root, excluded: map[string]bool{}}
	for _, p := range excluded {
		t.excluded[path.Clean("/"+p)] = true
	}
	return t
}

// walk calls fn for every entry of the tree in a stable order (lexical, parents first), with
// its path inside the container ("/etc/passwd"). A directory that is a mount point is passed
// (as an empty directory, so the path still exists in the image) but not entered; any other
// mount point (a file bound in by the runtime, e.g. /etc/hosts) is skipped.
func (t *tree) walk(fn func(inner string, info fs.FileInfo) error) error {
	// The trailing slash makes WalkDir follow the root itself: /proc/<pid>/root is a symlink.
	return filepath.WalkDir(t.root+string(filepath.Separator), func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return fail("unreadable", exitTarget, "reading %s: %v", t.inner(full), err)
		}
		inner := t.inner(full)
		if inner == "/" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while we walk
			}
			return fail("unreadable", exitTarget, "stat %s: %v", inner, err)
		}
		if t.excluded[inner] {
			if d.IsDir() {
				if err := fn(inner, mountPointDir{info}); err != nil {
					return err
				}
				return filepath.SkipDir
			}
			return nil
		}
		return fn(inner, info)
	})
}

func (t *tree) inner(full string) string {
	rel, err := filepath.Rel(filepath.Clean(t.root), filepath.Clean(full))
	if err != nil || rel == "." {
		return "/"
	}
	return "/" + filepath.ToSlash(rel)
}

// mountPointDir presents a mount point as a plain root-owned 0755 directory: what is mounted
// there (proc, a volume) is not part of the image, and neither are its owner or mode.
type mountPointDir struct{ fs.FileInfo }

func (mountPointDir) Mode() fs.FileMode { return fs.ModeDir | 0o755 }
func (mountPointDir) Sys() any          { return nil }

// usage is the size of what a capture would write: regular files' bytes (hard links counted
// once) and the number of entries.
type usage struct {
	bytes   int64
	entries int64
}

func (t *tree) measure() (usage, error) {
	var u usage
	seen := map[[2]uint64]bool{}
	err := t.walk(func(inner string, info fs.FileInfo) error {
		u.entries++
		if !info.Mode().IsRegular() {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if seen[key] {
				return nil
			}
			seen[key] = true
		}
		u.bytes += info.Size()
		return nil
	})
	return u, err
}

// writeTar writes the tree as a tar stream: directories, regular files, symlinks, hard links
// and FIFOs with their mode, owner and modification time. Sockets and device nodes are left
// out (a snapshot cannot recreate them; /dev is the runtime's anyway). progress is called
// with the number of file bytes written so far.
func (t *tree) writeTar(w io.Writer, progress func(int64)) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	var written int64
	buf := make([]byte, 1<<20)
	err := t.walk(func(inner string, info fs.FileInfo) error {
		mode := info.Mode()
		if mode&(fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice) != 0 {
			return nil
		}
		name := strings.TrimPrefix(inner, "/")
		full := filepath.Join(t.root, filepath.FromSlash(name))
		var target string
		if mode&fs.ModeSymlink != 0 {
			var err error
			if target, err = os.Readlink(full); err != nil {
				return fail("unreadable", exitTarget, "readlink %s: %v", inner, err)
			}
		}
		hdr, err := tar.FileInfoHeader(info, target)
		if err != nil {
			return fail("internal", exitInternal, "%s: %v", inner, err)
		}
		hdr.Name = name
		if info.IsDir() {
			hdr.Name += "/"
		}
		// Numeric owners only: the names of this sidecar's /etc/passwd mean nothing there.
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX
		hdr.AccessTime, hdr.ChangeTime = hdr.ModTime, hdr.ModTime
		hdr.ModTime = hdr.ModTime.Truncate(1e9)
		hdr.AccessTime, hdr.ChangeTime = hdr.ModTime, hdr.ModTime
		if st, ok := info.Sys().(*syscall.Stat_t); ok && mode.IsRegular() && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				hdr.Size = 0
				return tw.WriteHeader(hdr)
			}
			links[key] = name
		}
		if !mode.IsRegular() {
			return tw.WriteHeader(hdr)
		}
		f, err := os.Open(full)
		if err != nil {
			return fail("unreadable", exitTarget,
				"%s cannot be read as the container's user (%v); the snapshot would miss it", inner, err)
		}
		defer f.Close()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		// Exactly the size in the header: a file that grows while we read is cut, one that
		// shrinks is an error (the tar would be corrupt otherwise).
		n, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
		written += n
		progress(written)
		if err != nil {
			return err
		}
		if n != hdr.Size {
			return fail("changed", exitTarget, "%s shrank while it was read (%d of %d bytes)", inner, n, hdr.Size)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
