package main

import (
	"encoding/binary"
	"errors"
	"reflect"
	"syscall"
	"testing"
)

// diagMsg builds one SOCK_DIAG_BY_FAMILY message as the kernel sends it: nlmsghdr,
// inet_diag_msg, then attributes (an INET_DIAG_INFO of infoLen bytes if infoLen > 0, after an
// unrelated attribute, to check that attributes are walked).
func diagMsg(seq uint32, state uint8, sport uint16, cookie uint64, acked, received uint64, infoLen int) []byte {
	ne := binary.NativeEndian
	msg := make([]byte, inetDiagMsgLen)
	msg[0] = syscall.AF_INET
	msg[1] = state
	binary.BigEndian.PutUint16(msg[4:], sport)
	binary.BigEndian.PutUint16(msg[6:], 40000) // dport
	ne.PutUint32(msg[44:], uint32(cookie))
	ne.PutUint32(msg[48:], uint32(cookie>>32))
	ne.PutUint32(msg[68:], 4242) // inode
	attr := func(typ uint16, data []byte) []byte {
		a := make([]byte, rtattrHdrLen+len(data))
		ne.PutUint16(a[0:], uint16(len(a)))
		ne.PutUint16(a[2:], typ)
		copy(a[4:], data)
		for len(a)%4 != 0 {
			a = append(a, 0)
		}
		return a
	}
	msg = append(msg, attr(1, []byte{1, 2, 3})...) // INET_DIAG_MEMINFO-ish, 3 bytes: padded
	if infoLen > 0 {
		info := make([]byte, infoLen)
		info[0] = state
		if infoLen >= 136 {
			ne.PutUint64(info[tcpInfoBytesAcked:], acked)
			ne.PutUint64(info[tcpInfoBytesRecvd:], received)
		}
		msg = append(msg, attr(inetDiagInfo, info)...)
	}
	return nlmsg(sockDiagByFamily, seq, msg)
}

func nlmsg(typ uint16, seq uint32, payload []byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(payload)+3)
	ne.PutUint32(b[0:], uint32(nlmsgHdrLen+len(payload)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], 2) // NLM_F_MULTI
	ne.PutUint32(b[8:], seq)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestSockDiagRequest(t *testing.T) {
	ne := binary.NativeEndian
	b := sockDiagRequest(syscall.AF_INET6, 77)
	if len(b) != 72 || ne.Uint32(b[0:]) != 72 || ne.Uint16(b[4:]) != 20 ||
		ne.Uint16(b[6:]) != 0x301 || ne.Uint32(b[8:]) != 77 {
		t.Fatalf("bad nlmsghdr: % x", b[:16])
	}
	req := b[16:]
	if req[0] != syscall.AF_INET6 || req[1] != syscall.IPPROTO_TCP || req[2] != 1<<1 ||
		ne.Uint32(req[4:]) != 0xffffffff {
		t.Fatalf("bad inet_diag_req_v2: % x", req[:8])
	}
}

func TestParseSockDiag(t *testing.T) {
	var buf []byte
	buf = append(buf, diagMsg(5, tcpListen, 8080, 1, 0, 0, 232)...)
	buf = append(buf, diagMsg(5, 1, 8080, 0x100000002, 1000, 2000, 232)...)
	buf = append(buf, diagMsg(4, 1, 9999, 3, 0, 0, 232)...) // another request's: skipped
	buf = append(buf, diagMsg(5, tcpTimeWait, 8080, 4, 0, 0, 0)...)
	buf = append(buf, diagMsg(5, 1, 8080, 5, 7, 7, 104)...) // old kernel: short tcp_info
	sockets, done, err := parseSockDiag(buf, 5)
	if err != nil || done {
		t.Fatalf("err %v done %v", err, done)
	}
	want := []tcpSocket{
		{LocalPort: 8080, State: tcpListen, Key: "cookie:1", HasCounters: true},
		{LocalPort: 8080, State: 1, Key: "cookie:4294967298", HasCounters: true, BytesAcked: 1000, BytesReceived: 2000},
		{LocalPort: 8080, State: tcpTimeWait, Key: "cookie:4"},
		{LocalPort: 8080, State: 1, Key: "cookie:5"},
	}
	if !reflect.DeepEqual(sockets, want) {
		t.Fatalf("got %+v\nwant %+v", sockets, want)
	}

	sockets, done, err = parseSockDiag(nlmsg(nlmsgDone, 5, []byte{0, 0, 0, 0}), 5)
	if err != nil || !done || len(sockets) != 0 {
		t.Fatalf("done: %v %v %v", sockets, done, err)
	}
}

func TestParseSockDiagError(t *testing.T) {
	payload := make([]byte, 4+nlmsgHdrLen)
	errno := -int32(syscall.EPERM)
	binary.NativeEndian.PutUint32(payload, uint32(errno))
	_, _, err := parseSockDiag(nlmsg(nlmsgError, 9, payload), 9)
	if !errors.Is(err, syscall.EPERM) {
		t.Fatalf("got %v, want EPERM", err)
	}
	bad := diagMsg(1, 1, 80, 1, 0, 0, 0)
	binary.NativeEndian.PutUint32(bad, 9999)
	if _, _, err := parseSockDiag(bad, 1); err == nil {
		t.Fatal("a bad length must be an error")
	}
	short := nlmsg(sockDiagByFamily, 1, make([]byte, 40))
	if _, _, err := parseSockDiag(short, 1); err == nil {
		t.Fatal("a short inet_diag_msg must be an error")
	}
}

const procTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000010 00:00000000 00000000  1000        0 12346 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:D432 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000
   3: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 12347 1 0000000000000000 20 4 30 10 -1
`

const procTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22222 1 0000000000000000 100 0 0 10 0
`

const procUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 33333 2 0000000000000000 0
  124: 0100007F:14E9 00000000:0000 07 00000000:00000300 00:00000000 00000000     0        0 33334 2 0000000000000000 0
`

const procUDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  200: 00000000000000000000000000000000:1388 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 44444 2 0000000000000000 0
`

const procSNMP = `Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 9464685
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails
Tcp: 1 200 120000 -1 71058 69172 1466
Udp: InDatagrams NoPorts InErrors OutDatagrams
Udp: 461 0 0 512
UdpLite: InDatagrams NoPorts InErrors OutDatagrams
UdpLite: 0 0 0 0
`

func TestParseProcNetTCP(t *testing.T) {
	lines, err := parseProcNet(procTCP)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 4 {
		t.Fatalf("%d lines", len(lines))
	}
	if l := lines[0]; l.LocalPort != 8080 || l.State != tcpListen || l.Inode != 12345 {
		t.Fatalf("listener: %+v", l)
	}
	if l := lines[1]; l.LocalPort != 8080 || l.State != 1 || l.RxQueue != 16 || l.Inode != 12346 {
		t.Fatalf("connection: %+v", l)
	}
	sockets := tcpSocketsFromProc(lines)
	if sockets[1].Key != "inode:12346" || sockets[2].Key != "addr:0100007F:1F90-0100007F:D432" ||
		sockets[2].State != tcpTimeWait || sockets[1].HasCounters {
		t.Fatalf("sockets: %+v", sockets)
	}
	lines6, err := parseProcNet(procTCP6)
	if err != nil || len(lines6) != 1 || lines6[0].LocalPort != 80 || lines6[0].State != tcpListen {
		t.Fatalf("tcp6: %+v %v", lines6, err)
	}
}

func TestParseProcNetUDP(t *testing.T) {
	lines, err := parseProcNet(procUDP)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].LocalPort != 53 || lines[0].RxQueue != 0 ||
		lines[1].LocalPort != 5353 || lines[1].RxQueue != 0x300 {
		t.Fatalf("udp: %+v", lines)
	}
	lines6, err := parseProcNet(procUDP6)
	if err != nil || len(lines6) != 1 || lines6[0].LocalPort != 5000 {
		t.Fatalf("udp6: %+v %v", lines6, err)
	}
}

func TestParseProcNetErrors(t *testing.T) {
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	for _, line := range []string{
		"   0: 00000000:1F90 00000000:0000 0A",
		"   0: 00000000 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"   0: 00000000:XYZ1 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 inode",
	} {
		if _, err := parseProcNet(header + line + "\n"); err == nil {
			t.Errorf("%q: no error", line)
		}
	}
}

func TestParseSNMP(t *testing.T) {
	c, err := parseSNMP(procSNMP)
	if err != nil {
		t.Fatal(err)
	}
	if c["Tcp.PassiveOpens"] != 69172 || c[counterUDPIn] != 461 || c["Tcp.MaxConn"] != -1 ||
		c["UdpLite.InDatagrams"] != 0 {
		t.Fatalf("got %v", c)
	}
	if _, err := parseSNMP("Tcp: A B\nTcp: 1\n"); err == nil {
		t.Fatal("mismatched lines must be an error")
	}
	if _, err := parseSNMP("Tcp: A\nTcp: x\n"); err == nil {
		t.Fatal("a bad value must be an error")
	}
	c6, err := parseSNMP6("Ip6InReceives                   	12\nUdp6InDatagrams                 	7\n")
	if err != nil || c6[counterUDP6In] != 7 {
		t.Fatalf("snmp6: %v %v", c6, err)
	}
}

func TestParseSCTPEndpoints(t *testing.T) {
	text := " ENDPT     SOCK   STY SST HBKT LPORT   UID INODE LADDRS\n" +
		"ffff88017e0a0200 ffff880299f7fa00 2   10  29   9000   0   209580 10.0.0.1\n"
	ports, err := parseSCTPEndpoints(text)
	if err != nil || !reflect.DeepEqual(ports, map[uint16]bool{9000: true}) {
		t.Fatalf("got %v %v", ports, err)
	}
	if _, err := parseSCTPEndpoints(" ENDPT\nffff 1 2\n"); err == nil {
		t.Fatal("a short line must be an error")
	}
}
