// Command snapshot-agent runs in Container Maker's snapshot sidecar.
//
// "idle" is the sidecar's main process: it waits for SIGTERM and does nothing else. "save" is run
// by the server through the pods/exec subresource: it finds the user container's main process
// (the pod shares one PID namespace), opens that process's root (/proc/<pid>/root) once, and
// hands it to "capture", this binary re-executed as a child without credentials, which chroots
// there, takes the process's ids and capabilities and streams the tree as a tar, read by file
// descriptor only (child.go, capture.go). "save" gzips that stream into the registry and pushes an
// image that keeps the original image's config. The last line on stdout is one JSON object: the
// result, or the error and its kind; stderr carries progress.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes of "save"; the server maps them to gRPC status codes.
const (
	exitOK          = 0
	exitUsage       = 2
	exitTooLarge    = 3 // RESOURCE_EXHAUSTED
	exitUnavailable = 4 // UNAVAILABLE: the registry could not be reached
	exitTarget      = 5 // FAILED_PRECONDITION: no such process, or it cannot be read
	exitBusy        = 6 // ABORTED: another save of this container is running
	exitDenied      = 7 // PERMISSION_DENIED: the registry refused our credentials
	exitInternal    = 8 // INTERNAL
)

// failure is an error with its kind and exit code.
type failure struct {
	kind string
	code int
	err  error
}

func (f *failure) Error() string { return f.err.Error() }

func fail(kind string, code int, format string, args ...any) *failure {
	return &failure{kind: kind, code: code, err: fmt.Errorf(format, args...)}
}

func main() {
	// First of all: another container of the pod (same PID namespace) must not reach this
	// process's files through /proc/<pid>/*. The kernel's capability-subset check is the first
	// lock (the user's container is weaker than this sidecar); this is the second.
	_ = setNonDumpable()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: snapshot-agent idle | save [flags] | capture [flags]")
		os.Exit(exitUsage)
	}
	switch os.Args[1] {
	case "idle":
		idle()
	case "save":
		os.Exit(runSave(os.Args[2:]))
	case "capture":
		os.Exit(runCapture(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(exitUsage)
	}
}

// idle waits for a stop signal.
func idle() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

func runSave(args []string) int {
	opts, err := parseSaveFlags(args)
	if err != nil {
		return report(fail("usage", exitUsage, "%v", err))
	}
	result, err := save(opts)
	if err != nil {
		return report(err)
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
	return exitOK
}

func report(err error) int {
	f, ok := err.(*failure)
	if !ok {
		f = &failure{kind: "internal", code: exitInternal, err: err}
	}
	out, _ := json.Marshal(map[string]string{"error": f.err.Error(), "kind": f.kind})
	fmt.Println(string(out))
	return f.code
}

func setNonDumpable() error {
	const prSetDumpable = 4
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
