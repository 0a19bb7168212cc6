// Command status-agent runs in Container Maker's status sidecar.
//
// "run" is the sidecar's main process. The sidecar shares the pod's network namespace with the
// user's container, so it can see what the control plane cannot: whether each declared port is
// accepting connections inside the pod, and when those ports last had activity. Every poll
// interval it looks (netlink sock_diag for TCP, /proc/net for UDP and SCTP, /proc/net/snmp{,6}
// for the UDP counters); it reports to the Kubernetes API by patching one Lease: the report as the
// annotation container-maker.io/status-report, the Lease renewed for the report's validity.
// It writes at once at start and when a port's state changes, otherwise once per heartbeat.
//
// Configuration is the environment (see loadConfig); bad configuration exits with status 2.
// SIGTERM or SIGINT stops it with status 0.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const exitUsage = 2

func main() {
	if len(os.Args) != 2 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: status-agent run (configured by CONTAINER_MAKER_* environment variables)")
		os.Exit(exitUsage)
	}
	// Before anything else, and before the token is ever read: the user's container shares the
	// pod's PID namespace, and a non-dumpable process's /proc/<pid>/root, memory and ptrace are
	// closed to other users' processes and to processes without CAP_SYS_PTRACE.
	if err := setNonDumpable(); err != nil {
		fmt.Fprintf(os.Stderr, "status-agent: prctl(PR_SET_DUMPABLE, 0): %v\n", err)
	}
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "status-agent: bad configuration: %v\n", err)
		os.Exit(exitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	run(ctx, cfg)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "status-agent: "+format+"\n", args...)
}

// reportWriter writes one report (the patcher outside tests).
type reportWriter interface {
	write(ctx context.Context, r statusReport, observedAt time.Time) error
}

// agent is the poll loop's state.
type agent struct {
	cfg          *config
	obs          *observer
	writer       reportWriter
	sched        *scheduler
	logf         func(string, ...any)
	prev         *observation
	lastActivity *time.Time
	lastPorts    []portReport // as last seen, to log changes
	lastFailure  string
	failureLog   time.Time
}

func newAgent(cfg *config, obs *observer, writer reportWriter, logf func(string, ...any)) *agent {
	return &agent{
		cfg: cfg, obs: obs, writer: writer, logf: logf,
		sched: &scheduler{poll: cfg.PollInterval, heartbeat: cfg.HeartbeatInterval},
	}
}

func run(ctx context.Context, cfg *config) {
	logf("starting: container %q (%s), ports %v, lease %s/%s, poll %s, heartbeat %s, validity %ds",
		cfg.ContainerName, cfg.ContainerID, cfg.Ports, cfg.Namespace, cfg.Lease,
		cfg.PollInterval, cfg.HeartbeatInterval, cfg.ValiditySeconds)
	if time.Duration(cfg.ValiditySeconds)*time.Second <= cfg.HeartbeatInterval {
		logf("warning: the report validity (%ds) is not longer than the heartbeat (%s): "+
			"the lease will look expired between heartbeats", cfg.ValiditySeconds, cfg.HeartbeatInterval)
	}
	a := newAgent(cfg, newObserver(logf), newPatcher(cfg), logf)
	ticker := time.NewTicker(cfg.PollInterval)
	defer ticker.Stop()
	for {
		a.step(ctx, time.Now())
		select {
		case <-ctx.Done():
			logf("stopping")
			return
		case <-ticker.C:
		}
	}
}

// step is one poll: observe, update activity, and write if due.
func (a *agent) step(ctx context.Context, now time.Time) {
	cur := a.obs.observe(a.cfg.Ports)
	if activitySeen(a.prev, cur, a.cfg.hasProtocol(protoTCP), a.cfg.hasProtocol(protoUDP)) {
		t := now
		a.lastActivity = &t
	}
	a.prev = cur
	report := newReport(a.cfg.Ports, cur, now, a.lastActivity)
	a.logPortChanges(report.Ports)
	key := portsKey(report.Ports)
	if !a.sched.due(now, key) {
		return
	}
	err := a.writer.write(ctx, report, now)
	if ctx.Err() != nil {
		return // stopping: an interrupted write is no failure
	}
	if err != nil {
		wait := a.sched.failed()
		msg := err.Error()
		// The same failure again is logged once a minute at most.
		if msg != a.lastFailure || now.Sub(a.failureLog) >= time.Minute {
			a.logf("report write failed (retry in %d poll(s)): %s", wait, msg)
			a.lastFailure, a.failureLog = msg, now
		}
		return
	}
	switch {
	case !a.sched.written:
		a.logf("first report written: %s", describe(report))
	case a.sched.failures > 0:
		a.logf("report written again after %d failure(s)", a.sched.failures)
	}
	a.lastFailure = ""
	a.sched.succeeded(now, key)
}

func (a *agent) logPortChanges(ports []portReport) {
	state := func(p portReport) string {
		if p.Listening == nil {
			return "unknown"
		}
		if *p.Listening {
			return "listening"
		}
		return "not listening"
	}
	if a.lastPorts != nil {
		for i, p := range ports {
			if before, after := state(a.lastPorts[i]), state(p); before != after {
				a.logf("port %d/%s: %s -> %s", p.Port, p.Protocol, before, after)
			}
		}
	}
	a.lastPorts = ports
}

func describe(r statusReport) string {
	s := ""
	for _, p := range r.Ports {
		state := "unknown"
		if p.Listening != nil {
			state = fmt.Sprint(*p.Listening)
		}
		s += fmt.Sprintf("%d/%s listening=%s ", p.Port, p.Protocol, state)
	}
	return fmt.Sprintf("%sconnections=%d", s, r.Connections)
}

func setNonDumpable() error {
	const prSetDumpable = 4
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
