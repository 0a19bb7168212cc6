package main

// Tests against this machine's kernel: sock_diag and /proc of the test process's own network
// namespace, and the whole loop against a TLS test server.

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"
)

func freePort(t *testing.T) uint16 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return uint16(port)
}

// onlyConn is the one connection on the declared ports (the test's accepted one).
func onlyConn(t *testing.T, o *observation) tcpSocket {
	t.Helper()
	if len(o.Conns) != 1 {
		t.Fatalf("connections %+v, want one", o.Conns)
	}
	for _, s := range o.Conns {
		return s
	}
	panic("unreachable")
}

func TestRealPollSeesListenerAndActivity(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ports := []watchedPort{{port, protoTCP}, {freePort(t), protoTCP}}
	ob := newObserver(t.Logf)
	if _, err := dumpTCPSockets(); err != nil {
		t.Fatalf("sock_diag does not work here: %v", err)
	}

	o1 := ob.observe(ports)
	if o1.TCPMode != modeSockDiag || listening(o1, ports[0]) != "true" || listening(o1, ports[1]) != "false" {
		t.Fatalf("mode %s, listening %s %s", o1.TCPMode, listening(o1, ports[0]), listening(o1, ports[1]))
	}
	if activitySeen(nil, o1, true, false) {
		t.Fatal("the first poll is no activity")
	}

	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	o2 := ob.observe(ports)
	// A connection that carries nothing is what the kubelet's TCP probe makes: no activity.
	if activitySeen(o1, o2, true, false) || o2.connections() != 1 {
		t.Fatalf("a new, silent connection: activity %v, connections %d", activitySeen(o1, o2, true, false), o2.connections())
	}

	if _, err := client.Write([]byte("hello, agent")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 12)
	if _, err := server.Read(buf); err != nil {
		t.Fatal(err)
	}
	o3 := ob.observe(ports)
	if !activitySeen(o2, o3, true, false) {
		t.Fatal("bytes on the connection: no activity seen")
	}
	// Seen by the byte counters themselves.
	if s := onlyConn(t, o3); !s.HasCounters || s.BytesReceived != o2.Conns[s.Key].BytesReceived+12 {
		t.Fatalf("connection %+v, before %+v", s, o2.Conns[s.Key])
	}
	if _, err := server.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Read(buf); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := onlyConn(t, ob.observe(ports))
		if s.BytesAcked == o3.Conns[s.Key].BytesAcked+2 {
			break // the reply is acknowledged: bytes_acked moved
		}
		if time.Now().After(deadline) {
			t.Fatalf("bytes_acked did not move: %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRealUDPBoundPort(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	ob := newObserver(t.Logf)
	ports := []watchedPort{{port, protoUDP}}
	o1 := ob.observe(ports)
	if listening(o1, ports[0]) != "true" {
		t.Fatalf("udp %d: %s", port, listening(o1, ports[0]))
	}
	sender, err := net.Dial("udp", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if _, err := sender.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	// Unread, the datagram waits in the socket's queue; InDatagrams grew too.
	o2 := ob.observe(ports)
	if !o2.UDPQueued || !activitySeen(o1, o2, false, true) {
		t.Fatalf("queued %v, counters %v -> %v", o2.UDPQueued, o1.Counters, o2.Counters)
	}
}

func TestRunWritesAndStops(t *testing.T) {
	api, dir := newFakeAPI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	cfg := testConfig(api.srv.URL, dir)
	cfg.Ports = []watchedPort{{port, protoTCP}}
	cfg.PollInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		run(ctx, cfg)
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(api.recorded()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no report written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // some polls; no port change, no heartbeat: no more writes
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
	reqs := api.recorded()
	if len(reqs) != 1 {
		t.Fatalf("%d writes, want 1", len(reqs))
	}
	var body struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(reqs[0].body, &body); err != nil {
		t.Fatal(err)
	}
	var r statusReport
	if err := json.Unmarshal([]byte(body.Metadata.Annotations[reportAnnotation]), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Ports) != 1 || r.Ports[0].Listening == nil || !*r.Ports[0].Listening || r.LastActivity != nil {
		t.Fatalf("report %+v", r)
	}
}
