package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fakeProc writes a /proc-like tree of the given files (paths under it, like "net/tcp").
func fakeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func testObserver(t *testing.T, root string, diag func() ([]tcpSocket, error)) (*observer, *[]string) {
	var logs []string
	ob := &observer{procRoot: root, sockDiag: diag, warned: map[string]bool{},
		logf: func(f string, a ...any) { logs = append(logs, f) }}
	return ob, &logs
}

var allPorts = []watchedPort{
	{8080, protoTCP}, {80, protoTCP}, {9090, protoTCP}, {53, protoUDP}, {5000, protoUDP},
	{5001, protoUDP}, {9000, protoSCTP},
}

func listening(o *observation, p watchedPort) string {
	v := o.listening(p)
	if v == nil {
		return "null"
	}
	if *v {
		return "true"
	}
	return "false"
}

func TestObserveWithSockDiag(t *testing.T) {
	root := fakeProc(t, map[string]string{
		"net/udp": procUDP, "net/udp6": procUDP6, "net/snmp": procSNMP,
		"net/snmp6": "Udp6InDatagrams 3\n",
	})
	diag := func() ([]tcpSocket, error) {
		return []tcpSocket{
			{LocalPort: 8080, State: tcpListen, Key: "cookie:1"},
			{LocalPort: 80, State: tcpListen, Key: "cookie:2"},
			{LocalPort: 8080, State: 1, Key: "cookie:3", HasCounters: true, BytesReceived: 5},
			{LocalPort: 8080, State: tcpTimeWait, Key: "cookie:4"},
			{LocalPort: 43210, State: 1, Key: "cookie:5"}, // an outgoing connection: ignored
		}, nil
	}
	ob, logs := testObserver(t, root, diag)
	o := ob.observe(allPorts)
	got := []string{}
	for _, p := range allPorts {
		got = append(got, listening(o, p))
	}
	// SCTP: no /proc/net/sctp/eps, so unknown.
	if strings.Join(got, ",") != "true,true,false,true,true,false,null" {
		t.Fatalf("listening %v", got)
	}
	if o.TCPMode != modeSockDiag || len(o.Conns) != 2 || o.connections() != 1 {
		t.Fatalf("conns %+v", o.Conns)
	}
	if o.UDPQueued {
		t.Fatal("no declared UDP port has queued datagrams")
	}
	// Only the UDP counters mean activity (TCP activity is per connection, see activitySeen).
	if _, tcp := o.Counters["Tcp.PassiveOpens"]; tcp || o.Counters[counterUDPIn] != 461 ||
		o.Counters[counterUDP6In] != 3 {
		t.Fatalf("counters %v", o.Counters)
	}
	if len(*logs) != 0 {
		t.Fatalf("logs %v", *logs)
	}
}

func TestObserveFallsBackToProcNetTCPAndLogsOnce(t *testing.T) {
	root := fakeProc(t, map[string]string{"net/tcp": procTCP, "net/tcp6": procTCP6, "net/snmp": procSNMP})
	ob, logs := testObserver(t, root, func() ([]tcpSocket, error) { return nil, syscall.EPERM })
	ports := []watchedPort{{8080, protoTCP}, {80, protoTCP}, {50000, protoTCP}}
	var o *observation
	for range 3 {
		o = ob.observe(ports)
	}
	if len(*logs) != 1 || !strings.Contains((*logs)[0], "sock_diag failed") {
		t.Fatalf("logs %v", *logs)
	}
	if o.TCPMode != modeProc || listening(o, ports[0]) != "true" || listening(o, ports[1]) != "true" ||
		listening(o, ports[2]) != "false" {
		t.Fatalf("got %+v", o)
	}
	// 1F90 connections: an ESTABLISHED one and a TIME_WAIT one; C350 is the client side (local
	// port 50000, not LISTEN) so it counts for the declared port 50000.
	if len(o.Conns) != 3 || o.connections() != 2 {
		t.Fatalf("conns %+v", o.Conns)
	}
}

func TestObserveUnknownWhenUnreadable(t *testing.T) {
	ob, _ := testObserver(t, t.TempDir(), func() ([]tcpSocket, error) { return nil, errors.New("no") })
	o := ob.observe(allPorts)
	for _, p := range allPorts {
		if listening(o, p) != "null" {
			t.Fatalf("%v: %s, want null", p, listening(o, p))
		}
	}
	if len(o.Counters) != 0 {
		t.Fatalf("counters %v", o.Counters)
	}
}

func TestObserveSCTPFromEndpoints(t *testing.T) {
	root := fakeProc(t, map[string]string{"net/sctp/eps": " ENDPT     SOCK   STY SST HBKT LPORT   UID INODE LADDRS\n" +
		"ffff88017e0a0200 ffff880299f7fa00 2   10  29   9000   0   209580 10.0.0.1\n"})
	ob, _ := testObserver(t, root, nil)
	ports := []watchedPort{{9000, protoSCTP}, {9001, protoSCTP}}
	o := ob.observe(ports)
	if listening(o, ports[0]) != "true" || listening(o, ports[1]) != "false" {
		t.Fatalf("got %+v", o.SCTPPorts)
	}
}

func TestObserveUDPQueuedDatagrams(t *testing.T) {
	root := fakeProc(t, map[string]string{"net/udp": procUDP})
	ob, _ := testObserver(t, root, nil)
	if o := ob.observe([]watchedPort{{5353, protoUDP}}); !o.UDPQueued {
		t.Fatal("5353 has 0x300 bytes queued")
	}
}

func obs(mode string, counters map[string]int64, conns ...tcpSocket) *observation {
	o := &observation{TCPMode: mode, Conns: map[string]tcpSocket{}, Counters: counters}
	for _, c := range conns {
		o.Conns[c.Key] = c
	}
	return o
}

func TestActivity(t *testing.T) {
	a := tcpSocket{LocalPort: 80, State: 1, Key: "cookie:1", HasCounters: true, BytesAcked: 10, BytesReceived: 20}
	probe := tcpSocket{LocalPort: 80, State: 8, Key: "cookie:2", HasCounters: true, BytesReceived: 1}
	b := tcpSocket{LocalPort: 80, State: 1, Key: "cookie:3", HasCounters: true, BytesReceived: 40}
	closed := tcpSocket{LocalPort: 80, State: tcpTimeWait, Key: "cookie:4"}
	moreIn, moreOut, fin := a, a, a
	moreIn.BytesReceived += 2
	moreOut.BytesAcked += 2
	fin.BytesReceived++
	counters := func(po, udp, udp6 int64) map[string]int64 {
		return map[string]int64{"Tcp.PassiveOpens": po, counterUDPIn: udp, counterUDP6In: udp6}
	}
	base := counters(100, 50, 5)
	cases := []struct {
		name          string
		prev, cur     *observation
		hasTCP, hasUD bool
		want          bool
	}{
		{"first poll", nil, obs(modeSockDiag, base, a, b), true, true, false},
		{"nothing changed", obs(modeSockDiag, base, a), obs(modeSockDiag, base, a), true, true, false},
		{"a connection closed", obs(modeSockDiag, base, a, b), obs(modeSockDiag, base, a), true, false, false},
		{"new connection with data", obs(modeSockDiag, base, a), obs(modeSockDiag, base, a, b), true, false, true},
		{"new connection without data (a probe)", obs(modeSockDiag, base, a), obs(modeSockDiag, base, a, probe), true, false, false},
		{"new TIME_WAIT: we closed a connection", obs(modeSockDiag, base, a), obs(modeSockDiag, base, a, closed), true, false, true},
		{"bytes received", obs(modeSockDiag, base, a), obs(modeSockDiag, base, moreIn), true, false, true},
		{"bytes acked", obs(modeSockDiag, base, a), obs(modeSockDiag, base, moreOut), true, false, true},
		{"only a FIN", obs(modeSockDiag, base, a), obs(modeSockDiag, base, fin), true, false, false},
		{"passive opens alone (probes)", obs(modeSockDiag, base), obs(modeSockDiag, counters(101, 50, 5)), true, false, false},
		{"new cookie, no TCP port", obs(modeSockDiag, base, a), obs(modeSockDiag, base, a, b), false, true, false},
		{"mode switched: new baseline", obs(modeProc, base), obs(modeSockDiag, base, a), true, false, false},
		{"udp in", obs("", base), obs("", counters(100, 51, 5)), false, true, true},
		{"udp6 in", obs("", base), obs("", counters(100, 50, 6)), false, true, true},
		{"udp in, no UDP port", obs("", base), obs("", counters(100, 51, 6)), true, false, false},
		{"counter went back", obs("", base), obs("", counters(99, 49, 4)), true, true, false},
	}
	for _, c := range cases {
		if got := activitySeen(c.prev, c.cur, c.hasTCP, c.hasUD); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	queued := obs("", base)
	queued.UDPQueued = true
	if !activitySeen(obs("", base), queued, false, true) {
		t.Error("queued datagrams on a declared UDP port are activity")
	}
	// Without byte counters (from /proc/net/tcp) only new sockets count.
	p1 := tcpSocket{LocalPort: 80, State: 1, Key: "inode:7"}
	if activitySeen(obs(modeProc, base, p1), obs(modeProc, base, p1), true, false) {
		t.Error("same inode, no counters: no activity")
	}
}
