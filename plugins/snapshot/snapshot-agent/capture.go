package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// The walk never resolves a path: every entry is opened from its directory's file descriptor,
// one name at a time, with openat2 refusing symlinks (ELOOP), magic links (/proc/*/root) and
// mount crossings (EXDEV). A name the user swaps for a symlink between the listing and the open
// is therefore either seen as the symlink it now is (and recorded as a link) or refused, never
// followed; and a directory renamed away keeps being read through the descriptor already open,
// inside the user's own tree. RESOLVE_BENEATH also turns a ".." escape into EXDEV, which cannot
// happen with single names from getdents, but costs nothing.
const resolveScoped = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS |
	unix.RESOLVE_NO_XDEV

// O_NONBLOCK: a FIFO (or device) swapped in after the listing must not block the open; the
// fstat that follows rejects it by its type. O_NOCTTY: a terminal never becomes ours.
const openFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY

// capture writes a directory tree, read through descriptors, as a tar stream.
type capture struct {
	tw      *tar.Writer
	out     *limitWriter
	links   map[[2]uint64]string
	buf     []byte
	entries int64
	// beforeOpen, when set (tests only), runs after an entry was listed and stat'ed and before
	// it is opened: the window an attacker races.
	beforeOpen func(inner string)
}

// errTooLarge is returned by limitWriter once its limit would be passed.
var errTooLarge = errors.New("over the size limit")

// limitWriter counts what goes through it and refuses to pass limit bytes (0: no limit). The
// arithmetic never overflows: it compares against what is left, not a sum.
type limitWriter struct {
	w     io.Writer
	n     int64
	limit int64
}

func (l *limitWriter) remaining() int64 {
	if l.limit <= 0 {
		return 1<<63 - 1
	}
	return l.limit - l.n
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.remaining() {
		return 0, errTooLarge
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}

// captureTree writes the tree under the directory rootFD as a tar stream to w, stopping with
// RESOURCE_EXHAUSTED once the stream would pass limit bytes (0: no limit). It returns the
// number of entries written.
func captureTree(rootFD int, w io.Writer, limit int64, hook func(string)) (int64, error) {
	out := &limitWriter{w: w, limit: limit}
	c := &capture{
		tw: tar.NewWriter(out), out: out, links: map[[2]uint64]string{},
		buf: make([]byte, 1<<20), beforeOpen: hook,
	}
	var st unix.Stat_t
	if err := unix.Fstat(rootFD, &st); err != nil {
		return 0, fail("target", exitTarget, "the container's root: %v", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, fail("target", exitTarget, "the container's root is not a directory")
	}
	if err := c.directory(rootFD, ""); err != nil {
		return c.entries, c.tooLarge(err, "/")
	}
	if err := c.tw.Close(); err != nil {
		return c.entries, c.tooLarge(err, "/")
	}
	return c.entries, nil
}

func (c *capture) tooLarge(err error, inner string) error {
	if errors.Is(err, errTooLarge) {
		return fail("size_limit", exitTooLarge,
			"the container's filesystem is over the snapshot size limit of %d bytes (the capture "+
				"stopped at %s)", c.out.limit, inner)
	}
	return err
}

// listDir returns the names in the directory fd (without "." and ".."), sorted, so that the
// image is the same for the same tree.
func listDir(fd int, inner string) ([]string, error) {
	var names []string
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, fail("unreadable", exitTarget, "listing %s: %v", display(inner), err)
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	sort.Strings(names)
	return names, nil
}

func display(inner string) string {
	if inner == "" {
		return "/"
	}
	return "/" + inner
}

func changed(inner, what string) error {
	return fail("changed", exitTarget,
		"%s changed while saving (%s); nothing was pushed, save again once it holds still",
		display(inner), what)
}

// directory writes the entries of the directory fd (whose path in the image is inner, "" for
// the root), recursing into subdirectories through their own fds.
func (c *capture) directory(fd int, inner string) error {
	names, err := listDir(fd, inner)
	if err != nil {
		return err
	}
	for _, name := range names {
		child := name
		if inner != "" {
			child = inner + "/" + name
		}
		if err := c.entry(fd, name, child); err != nil {
			return c.tooLarge(err, display(child))
		}
	}
	return nil
}

func (c *capture) entry(dirFD int, name, inner string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirFD, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // removed while we walk: it is not in the snapshot
		}
		return fail("unreadable", exitTarget, "stat %s: %v", display(inner), err)
	}
	if c.beforeOpen != nil {
		c.beforeOpen(display(inner))
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return c.subdirectory(dirFD, name, inner, &st)
	case unix.S_IFREG:
		return c.regular(dirFD, name, inner, &st)
	case unix.S_IFLNK:
		// A mount on a symlink mounts on what it points to, so a link is never a mount point.
		return c.symlink(dirFD, name, inner, &st)
	case unix.S_IFIFO:
		// Recorded, never opened: reading a FIFO would block on the user's writer. (Its device
		// number is not compared with the directory's: overlayfs may report the lower
		// filesystem's for non-directories, and only metadata is recorded anyway.)
		return c.header(inner, &st, tar.TypeFifo, 0, "")
	default:
		// Sockets and device nodes: a snapshot cannot recreate them (and /dev is the
		// runtime's); they are never opened.
		return nil
	}
}

// open opens name in dirFD with the scoped resolution. mount reports EXDEV: a mount point.
func open(dirFD int, name, inner string, flags int) (fd int, mount bool, err error) {
	fd, err = unix.Openat2(dirFD, name, &unix.OpenHow{Flags: uint64(flags), Resolve: resolveScoped})
	switch {
	case err == nil:
		return fd, false, nil
	case errors.Is(err, unix.EXDEV):
		return -1, true, nil
	case errors.Is(err, unix.ELOOP):
		return -1, false, changed(inner, "it became a symbolic link")
	case errors.Is(err, unix.ENOTDIR):
		return -1, false, changed(inner, "it is no longer a directory")
	case errors.Is(err, unix.ENOENT):
		return -1, false, changed(inner, "it was removed")
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return -1, false, fail("unreadable", exitTarget,
			"%s cannot be read as the container's user (%v); the snapshot would miss it",
			display(inner), err)
	case errors.Is(err, unix.ENOSYS):
		return -1, false, fail("internal", exitInternal,
			"openat2 is not available (Linux 5.6 or later is needed to save safely)")
	}
	return -1, false, fail("unreadable", exitTarget, "opening %s: %v", display(inner), err)
}

// same checks that the opened fd is the very object the listing stat'ed, of the same type.
func same(fd int, inner string, listed *unix.Stat_t, got *unix.Stat_t) error {
	if err := unix.Fstat(fd, got); err != nil {
		return fail("unreadable", exitTarget, "fstat %s: %v", display(inner), err)
	}
	if got.Dev != listed.Dev || got.Ino != listed.Ino || got.Mode&unix.S_IFMT != listed.Mode&unix.S_IFMT {
		return changed(inner, "another file took its place")
	}
	return nil
}

func (c *capture) subdirectory(dirFD int, name, inner string, listed *unix.Stat_t) error {
	fd, mount, err := open(dirFD, name, inner, openFlags|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	if mount {
		// A directory mount point (proc, a volume, a Secret) stays as an empty root-owned 0755
		// directory, so the path exists in the image; what is mounted there is not part of it.
		return c.header(inner, &unix.Stat_t{Mode: unix.S_IFDIR | 0o755, Mtim: listed.Mtim}, tar.TypeDir, 0, "")
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := same(fd, inner, listed, &st); err != nil {
		return err
	}
	if err := c.header(inner, &st, tar.TypeDir, 0, ""); err != nil {
		return err
	}
	return c.directory(fd, inner)
}

func (c *capture) regular(dirFD int, name, inner string, listed *unix.Stat_t) error {
	fd, mount, err := open(dirFD, name, inner, openFlags)
	if err != nil {
		return err
	}
	if mount {
		return nil // a file the runtime binds in (/etc/hosts, /etc/resolv.conf, ...)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := same(fd, inner, listed, &st); err != nil {
		return err
	}
	if st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := c.links[key]; ok {
			return c.header(inner, &st, tar.TypeLink, 0, first)
		}
		c.links[key] = inner
	}
	size := st.Size
	// Before the header: a (sparse) file larger than what is left fails at once, without
	// reading it and without any sum that could overflow.
	if size < 0 || size > c.out.remaining() {
		return errTooLarge
	}
	if err := c.header(inner, &st, tar.TypeReg, size, ""); err != nil {
		return err
	}
	// Exactly the size of the fstat: a file that grows while we read is cut there, one that
	// shrinks fails the save (the tar would be corrupt otherwise).
	n, err := io.CopyBuffer(c.tw, io.LimitReader(fdReader(fd), size), c.buf)
	if err != nil {
		return err
	}
	if n != size {
		return changed(inner, fmt.Sprintf("it shrank while it was read, %d of %d bytes", n, size))
	}
	return nil
}

func (c *capture) symlink(dirFD int, name, inner string, listed *unix.Stat_t) error {
	buf := make([]byte, unix.PathMax+1)
	n, err := unix.Readlinkat(dirFD, name, buf)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return changed(inner, "it is no longer a symbolic link")
		}
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fail("unreadable", exitTarget, "readlink %s: %v", display(inner), err)
	}
	if n > unix.PathMax {
		return fail("unreadable", exitTarget, "readlink %s: target too long", display(inner))
	}
	// Only the link's text is recorded: it is never followed here.
	return c.header(inner, listed, tar.TypeSymlink, 0, string(buf[:n]))
}

// header writes one tar header from a stat: numeric owners only (the names of this sidecar's
// /etc/passwd mean nothing in the image), mode bits, whole-second modification time.
func (c *capture) header(inner string, st *unix.Stat_t, kind byte, size int64, link string) error {
	c.entries++
	hdr := &tar.Header{
		Typeflag: kind,
		Name:     inner,
		Linkname: link,
		Size:     size,
		Mode:     int64(st.Mode & 0o7777),
		Uid:      int(st.Uid),
		Gid:      int(st.Gid),
		ModTime:  time.Unix(st.Mtim.Sec, 0),
		Format:   tar.FormatPAX,
	}
	if kind == tar.TypeDir {
		hdr.Name += "/"
	}
	return c.tw.WriteHeader(hdr)
}

// fdReader reads a raw file descriptor (EAGAIN cannot happen on a regular file).
type fdReader int

func (f fdReader) Read(p []byte) (int, error) {
	n, err := unix.Read(int(f), p)
	if err != nil {
		return 0, err
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}
