package main

// Pure parsers of what the kernel tells us: netlink sock_diag replies and /proc/net text. No I/O
// here, so the tests feed them fixtures.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// Netlink and sock_diag constants (<linux/netlink.h>, <linux/sock_diag.h>, <linux/inet_diag.h>).
const (
	netlinkSockDiag   = 4  // NETLINK_SOCK_DIAG
	sockDiagByFamily  = 20 // SOCK_DIAG_BY_FAMILY
	nlmsgError        = 2  // NLMSG_ERROR
	nlmsgDone         = 3  // NLMSG_DONE
	nlmFRequest       = 0x1
	nlmFDump          = 0x300 // NLM_F_ROOT | NLM_F_MATCH
	inetDiagInfo      = 2     // INET_DIAG_INFO: the attribute carrying struct tcp_info
	nlmsgHdrLen       = 16
	inetDiagReqV2Len  = 56 // struct inet_diag_req_v2
	inetDiagMsgLen    = 72 // struct inet_diag_msg
	rtattrHdrLen      = 4
	tcpInfoBytesAcked = 120 // offsetof(struct tcp_info, tcpi_bytes_acked)
	tcpInfoBytesRecvd = 128 // offsetof(struct tcp_info, tcpi_bytes_received)
)

// TCP states (<net/tcp_states.h>) that matter here.
const (
	tcpListen   = 10
	tcpTimeWait = 6
	tcpClose    = 7
)

// tcpSocket is one TCP socket of the network namespace, as much as we need of it.
type tcpSocket struct {
	LocalPort uint16
	State     uint8
	// Key identifies the socket across polls: its cookie (sock_diag) or inode (/proc/net/tcp).
	Key string
	// HasCounters says whether BytesAcked and BytesReceived are known (tcp_info came with it).
	HasCounters   bool
	BytesAcked    uint64
	BytesReceived uint64
}

// sockDiagRequest is the netlink message asking for every TCP socket of one address family, in
// any state, with its tcp_info.
func sockDiagRequest(family uint8, seq uint32) []byte {
	b := make([]byte, nlmsgHdrLen+inetDiagReqV2Len)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], seq)
	// b[12:16]: nlmsg_pid 0, the kernel.
	req := b[nlmsgHdrLen:]
	req[0] = family
	req[1] = syscall.IPPROTO_TCP
	req[2] = 1 << (inetDiagInfo - 1)  // idiag_ext
	ne.PutUint32(req[4:], 0xffffffff) // idiag_states: all
	// req[8:56]: inet_diag_sockid, zero: no filter (a dump).
	return b
}

// parseSockDiag parses one recv() worth of netlink messages answering the request with
// sequence number seq. done is true once NLMSG_DONE was seen.
func parseSockDiag(buf []byte, seq uint32) (sockets []tcpSocket, done bool, err error) {
	ne := binary.NativeEndian
	for len(buf) >= nlmsgHdrLen {
		msgLen := int(ne.Uint32(buf[0:]))
		msgType := ne.Uint16(buf[4:])
		msgSeq := ne.Uint32(buf[8:])
		if msgLen < nlmsgHdrLen || msgLen > len(buf) {
			return nil, false, fmt.Errorf("netlink: bad message length %d", msgLen)
		}
		payload := buf[nlmsgHdrLen:msgLen]
		next := (msgLen + 3) &^ 3 // NLMSG_ALIGN
		if next > len(buf) {
			next = len(buf)
		}
		buf = buf[next:]
		if msgSeq != seq {
			continue // not ours (a stale reply)
		}
		switch msgType {
		case nlmsgDone:
			return sockets, true, nil
		case nlmsgError:
			if len(payload) < 4 {
				return nil, false, errors.New("netlink: short error message")
			}
			errno := -int32(ne.Uint32(payload))
			if errno == 0 {
				continue // an acknowledgement
			}
			return nil, false, fmt.Errorf("sock_diag: %w", syscall.Errno(errno))
		case sockDiagByFamily:
			s, err := parseInetDiagMsg(payload)
			if err != nil {
				return nil, false, err
			}
			sockets = append(sockets, s)
		}
	}
	return sockets, false, nil
}

// parseInetDiagMsg parses a struct inet_diag_msg and its attributes.
func parseInetDiagMsg(b []byte) (tcpSocket, error) {
	if len(b) < inetDiagMsgLen {
		return tcpSocket{}, fmt.Errorf("sock_diag: short inet_diag_msg (%d bytes)", len(b))
	}
	ne := binary.NativeEndian
	s := tcpSocket{
		State:     b[1],
		LocalPort: binary.BigEndian.Uint16(b[4:]), // idiag_sport, network byte order
	}
	// idiag_cookie: two host-order u32 at offset 4 + 40 of the sockid.
	cookie := uint64(ne.Uint32(b[44:])) | uint64(ne.Uint32(b[48:]))<<32
	s.Key = "cookie:" + strconv.FormatUint(cookie, 10)
	attrs := b[inetDiagMsgLen:]
	for len(attrs) >= rtattrHdrLen {
		attrLen := int(ne.Uint16(attrs[0:]))
		attrType := ne.Uint16(attrs[2:])
		if attrLen < rtattrHdrLen || attrLen > len(attrs) {
			return tcpSocket{}, fmt.Errorf("sock_diag: bad attribute length %d", attrLen)
		}
		data := attrs[rtattrHdrLen:attrLen]
		// Older kernels send a shorter tcp_info: then the counters stay unknown.
		if attrType == inetDiagInfo && len(data) >= tcpInfoBytesRecvd+8 {
			s.HasCounters = true
			s.BytesAcked = ne.Uint64(data[tcpInfoBytesAcked:])
			s.BytesReceived = ne.Uint64(data[tcpInfoBytesRecvd:])
		}
		next := (attrLen + 3) &^ 3 // RTA_ALIGN
		if next > len(attrs) {
			break
		}
		attrs = attrs[next:]
	}
	return s, nil
}

// procNetSocket is one line of /proc/net/{tcp,tcp6,udp,udp6}.
type procNetSocket struct {
	LocalPort uint16
	State     uint8
	RxQueue   uint64
	Inode     uint64
	Local     string // hex address:port as in the file
	Remote    string
}

// parseProcNet parses /proc/net/{tcp,tcp6,udp,udp6}: a header line, then
// "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...".
func parseProcNet(text string) ([]procNetSocket, error) {
	var out []procNetSocket
	for i, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if i == 0 || len(fields) == 0 {
			continue // the header
		}
		if len(fields) < 10 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 10", i+1, len(fields))
		}
		_, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			return nil, fmt.Errorf("line %d: bad local address %q", i+1, fields[1])
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad local port %q", i+1, portHex)
		}
		state, err := strconv.ParseUint(fields[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad state %q", i+1, fields[3])
		}
		_, rxHex, ok := strings.Cut(fields[4], ":")
		if !ok {
			return nil, fmt.Errorf("line %d: bad queues %q", i+1, fields[4])
		}
		rx, err := strconv.ParseUint(rxHex, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad rx_queue %q", i+1, rxHex)
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad inode %q", i+1, fields[9])
		}
		out = append(out, procNetSocket{
			LocalPort: uint16(port), State: uint8(state), RxQueue: rx, Inode: inode,
			Local: fields[1], Remote: fields[2],
		})
	}
	return out, nil
}

// tcpSocketsFromProc turns /proc/net/tcp{,6} lines into sockets without byte counters. A socket
// is known by its inode; one without (TIME_WAIT) by its addresses.
func tcpSocketsFromProc(lines []procNetSocket) []tcpSocket {
	out := make([]tcpSocket, 0, len(lines))
	for _, l := range lines {
		key := "inode:" + strconv.FormatUint(l.Inode, 10)
		if l.Inode == 0 {
			key = "addr:" + l.Local + "-" + l.Remote
		}
		out = append(out, tcpSocket{LocalPort: l.LocalPort, State: l.State, Key: key})
	}
	return out
}

// parseSNMP parses /proc/net/snmp: pairs of "Proto: names..." and "Proto: values..." lines.
// The result is keyed "Tcp.PassiveOpens", "Udp.InDatagrams" and so on.
func parseSNMP(text string) (map[string]int64, error) {
	out := map[string]int64{}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || len(names) != len(values) || names[0] != values[0] ||
			!strings.HasSuffix(names[0], ":") {
			return nil, fmt.Errorf("snmp: lines %d and %d do not pair up", i+1, i+2)
		}
		proto := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			v, err := strconv.ParseInt(values[j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("snmp: %s.%s: bad value %q", proto, names[j], values[j])
			}
			out[proto+"."+names[j]] = v
		}
	}
	return out, nil
}

// parseSNMP6 parses /proc/net/snmp6: "Name value" lines (for Udp6InDatagrams).
func parseSNMP6(text string) (map[string]int64, error) {
	out := map[string]int64{}
	for i, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("snmp6: line %d: want name and value", i+1)
		}
		v, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("snmp6: line %d: bad value %q", i+1, fields[1])
		}
		out[fields[0]] = v
	}
	return out, nil
}

// parseSCTPEndpoints parses /proc/net/sctp/eps ("ENDPT SOCK STY SST HBKT LPORT UID INODE
// LADDRS"): the set of local ports with an SCTP endpoint.
func parseSCTPEndpoints(text string) (map[uint16]bool, error) {
	out := map[uint16]bool{}
	for i, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if i == 0 || len(fields) == 0 {
			continue // the header
		}
		if len(fields) < 6 {
			return nil, fmt.Errorf("sctp eps: line %d: %d fields, want at least 6", i+1, len(fields))
		}
		port, err := strconv.ParseUint(fields[5], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("sctp eps: line %d: bad port %q", i+1, fields[5])
		}
		out[uint16(port)] = true
	}
	return out, nil
}
