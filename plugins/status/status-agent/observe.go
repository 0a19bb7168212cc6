package main

// One poll of the pod's network namespace (the I/O), and the activity rule between two polls
// (pure). The sidecar shares the pod's network namespace, so what it sees is what the user's
// container has: its listeners, its accepted connections, the namespace's protocol counters.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// How TCP sockets were read, so that keys are only compared between polls of the same kind.
const (
	modeSockDiag = "sock_diag"
	modeProc     = "proc"
)

// Counter names in observation.Counters.
const (
	counterUDPIn  = "Udp.InDatagrams"
	counterUDP6In = "Udp6InDatagrams"
)

// observation is what one poll saw. A nil map means "could not be read": unknown, not empty.
type observation struct {
	TCPMode      string
	TCPListening map[uint16]bool      // declared TCP ports with a LISTEN socket
	Conns        map[string]tcpSocket // non-LISTEN TCP sockets whose local port is declared
	UDPBound     map[uint16]bool      // declared UDP ports with a bound socket
	UDPQueued    bool                 // such a socket has datagrams waiting (rx_queue > 0)
	SCTPPorts    map[uint16]bool      // local ports of SCTP endpoints; nil: unknown
	Counters     map[string]int64     // netns-wide counters that could be read
}

// listening is a declared port's state: true, false, or nil (unknown).
func (o *observation) listening(p watchedPort) *bool {
	var set map[uint16]bool
	switch p.Protocol {
	case protoTCP:
		set = o.TCPListening
	case protoUDP:
		set = o.UDPBound
	case protoSCTP:
		// SCTP is only known through /proc/net/sctp/eps, which exists once the kernel's sctp
		// module is loaded; without it (the usual case) nobody can be listening on SCTP either,
		// but we cannot tell a missing module from an unreadable file, so: unknown.
		set = o.SCTPPorts
	}
	if set == nil {
		return nil
	}
	v := set[p.Port]
	return &v
}

// connections counts the current connections on declared TCP ports: every non-LISTEN socket
// except those already closed (TIME_WAIT, CLOSE) and half-open requests (NEW_SYN_RECV).
func (o *observation) connections() int {
	const tcpNewSynRecv = 12
	n := 0
	for _, s := range o.Conns {
		if s.State != tcpTimeWait && s.State != tcpClose && s.State != tcpNewSynRecv {
			n++
		}
	}
	return n
}

// activitySeen says whether anything happened on the declared ports between two polls. The
// first poll has no predecessor: the agent's own start is not activity.
//
// TCP: traffic, not mere connections. The kubelet's readiness probe opens and closes a
// connection to the first TCP port every few seconds without sending anything, so neither a new
// connection as such nor Tcp PassiveOpens can count. Activity is a connection (by cookie) whose
// bytes_received or bytes_acked grew by more than one since the previous poll, or a new one that
// already carried more than one byte either way (a FIN takes one sequence number, which the
// kernel counts like a byte). A new TIME_WAIT socket counts too: it is a connection our side
// closed, which a probe's never is (the kubelet closes first), and the kernel keeps no counters
// for it. Sampling once per poll misses a connection that opens, carries data and closes (peer
// first) within one poll interval. Without sock_diag (no counters, /proc/net/tcp) every new
// connection counts, probes included.
//
// UDP: Udp InDatagrams (or Udp6InDatagrams) grew, which is netns-wide (it also counts, say, DNS
// replies to the user's own queries), or a socket on a declared port has unread datagrams.
// finBytes is what a FIN adds to a connection's byte counters.
const finBytes = 1

func activitySeen(prev, cur *observation, hasTCP, hasUDP bool) bool {
	if prev == nil || cur == nil {
		return false
	}
	grew := func(name string) bool {
		before, ok1 := prev.Counters[name]
		after, ok2 := cur.Counters[name]
		return ok1 && ok2 && after > before
	}
	if hasTCP {
		// Keys of different modes cannot be compared (the mode switched: a new baseline).
		if prev.TCPMode == cur.TCPMode && prev.Conns != nil && cur.Conns != nil {
			for key, s := range cur.Conns {
				old, seen := prev.Conns[key]
				switch {
				case !seen && cur.TCPMode == modeProc:
					return true
				case !seen && !s.HasCounters:
					if s.State == tcpTimeWait {
						return true
					}
				case !seen:
					if s.BytesReceived > finBytes || s.BytesAcked > finBytes {
						return true
					}
				case s.HasCounters && old.HasCounters:
					if s.BytesReceived > old.BytesReceived+finBytes ||
						s.BytesAcked > old.BytesAcked+finBytes {
						return true
					}
				}
			}
		}
	}
	if hasUDP {
		if grew(counterUDPIn) || grew(counterUDP6In) || cur.UDPQueued {
			return true
		}
	}
	return false
}

// observer reads the network namespace. procRoot is /proc outside tests; sockDiag dumps TCP
// sockets (dumpTCPSockets outside tests).
type observer struct {
	procRoot string
	sockDiag func() ([]tcpSocket, error)
	logf     func(format string, args ...any)
	warned   map[string]bool // problems already logged once
}

func newObserver(logf func(string, ...any)) *observer {
	return &observer{procRoot: "/proc", sockDiag: dumpTCPSockets, logf: logf, warned: map[string]bool{}}
}

// once logs a problem the first time it happens only (polls repeat every second).
func (ob *observer) once(key, format string, args ...any) {
	if !ob.warned[key] {
		ob.warned[key] = true
		ob.logf(format, args...)
	}
}

func (ob *observer) read(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(ob.procRoot, name))
	return string(b), err
}

// procNet reads and parses /proc/net/<name> for both address families.
func (ob *observer) procNet(name string) ([]procNetSocket, error) {
	var all []procNetSocket
	for _, file := range []string{"net/" + name, "net/" + name + "6"} {
		text, err := ob.read(file)
		if errors.Is(err, fs.ErrNotExist) && file != "net/"+name {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, err
		}
		lines, err := parseProcNet(text)
		if err != nil {
			return nil, fmt.Errorf("/proc/%s: %w", file, err)
		}
		all = append(all, lines...)
	}
	return all, nil
}

// observe makes one poll for the declared ports.
func (ob *observer) observe(ports []watchedPort) *observation {
	o := &observation{Counters: map[string]int64{}}
	tcpPorts, udpPorts := map[uint16]bool{}, map[uint16]bool{}
	hasSCTP := false
	for _, p := range ports {
		switch p.Protocol {
		case protoTCP:
			tcpPorts[p.Port] = true
		case protoUDP:
			udpPorts[p.Port] = true
		case protoSCTP:
			hasSCTP = true
		}
	}

	if len(tcpPorts) > 0 {
		sockets, err := ob.sockDiag()
		o.TCPMode = modeSockDiag
		if err != nil {
			ob.once("sock_diag", "sock_diag failed (%v): reading /proc/net/tcp{,6} instead, "+
				"without byte counters (will keep trying sock_diag)", err)
			var lines []procNetSocket
			lines, err = ob.procNet("tcp")
			sockets, o.TCPMode = tcpSocketsFromProc(lines), modeProc
		}
		if err != nil {
			ob.once("tcp", "cannot read TCP sockets (%v): TCP ports reported as unknown", err)
		} else {
			o.TCPListening, o.Conns = map[uint16]bool{}, map[string]tcpSocket{}
			for _, s := range sockets {
				if !tcpPorts[s.LocalPort] {
					continue
				}
				if s.State == tcpListen {
					o.TCPListening[s.LocalPort] = true
				} else {
					o.Conns[s.Key] = s
				}
			}
		}
	}

	if len(udpPorts) > 0 {
		lines, err := ob.procNet("udp")
		if err != nil {
			ob.once("udp", "cannot read /proc/net/udp{,6} (%v): UDP ports reported as unknown", err)
		} else {
			o.UDPBound = map[uint16]bool{}
			for _, l := range lines {
				if udpPorts[l.LocalPort] {
					o.UDPBound[l.LocalPort] = true
					if l.RxQueue > 0 {
						o.UDPQueued = true
					}
				}
			}
		}
	}

	if hasSCTP {
		text, err := ob.read("net/sctp/eps")
		if err == nil {
			o.SCTPPorts, err = parseSCTPEndpoints(text)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			ob.once("sctp", "cannot read /proc/net/sctp/eps (%v): SCTP ports reported as unknown", err)
		}
	}

	if len(udpPorts) > 0 {
		text, err := ob.read("net/snmp")
		var counters map[string]int64
		if err == nil {
			counters, err = parseSNMP(text)
		}
		if err != nil {
			ob.once("snmp", "cannot read /proc/net/snmp (%v): activity from its counters not seen", err)
		}
		if v, ok := counters[counterUDPIn]; ok {
			o.Counters[counterUDPIn] = v
		}
		// IPv6 UDP is counted apart; absent without IPv6, which is fine.
		if text, err := ob.read("net/snmp6"); err == nil {
			if c6, err := parseSNMP6(text); err == nil {
				if v, ok := c6[counterUDP6In]; ok {
					o.Counters[counterUDP6In] = v
				}
			}
		}
	}
	return o
}

// dumpTCPSockets asks the kernel (netlink sock_diag) for every TCP socket of this network
// namespace, IPv4 and IPv6, with tcp_info. It needs no privilege.
func dumpTCPSockets() ([]tcpSocket, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, netlinkSockDiag)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	// Never hang a poll on a kernel that does not answer.
	tv := syscall.NsecToTimeval((5 * time.Second).Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("netlink timeout: %w", err)
	}
	var all []tcpSocket
	buf := make([]byte, 1<<16)
	for i, family := range []uint8{syscall.AF_INET, syscall.AF_INET6} {
		seq := uint32(time.Now().UnixNano()) + uint32(i)
		kernel := &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}
		if err := syscall.Sendto(fd, sockDiagRequest(family, seq), 0, kernel); err != nil {
			return nil, fmt.Errorf("sock_diag request: %w", err)
		}
		for done := false; !done; {
			// MSG_TRUNC: the real length is returned, so a truncated message is detected.
			n, _, err := syscall.Recvfrom(fd, buf, syscall.MSG_TRUNC)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("sock_diag reply: %w", err)
			}
			if n > len(buf) {
				return nil, fmt.Errorf("sock_diag reply of %d bytes truncated", n)
			}
			var sockets []tcpSocket
			sockets, done, err = parseSockDiag(buf[:n], seq)
			if err != nil && family == syscall.AF_INET6 &&
				(errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EAFNOSUPPORT)) {
				break // a kernel without IPv6: no IPv6 sockets
			}
			if err != nil {
				return nil, err
			}
			all = append(all, sockets...)
		}
	}
	return all, nil
}
