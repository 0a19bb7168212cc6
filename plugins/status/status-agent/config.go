package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Protocols of a declared port, spelled as in a Kubernetes ContainerPort.
const (
	protoTCP  = "TCP"
	protoUDP  = "UDP"
	protoSCTP = "SCTP"
)

const defaultTokenDir = "/var/run/secrets/container-maker/status"

// watchedPort is one declared port of the user's container.
type watchedPort struct {
	Port     uint16
	Protocol string
}

func (p watchedPort) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Protocol) }

// config is the agent's whole configuration; it comes from the environment only.
type config struct {
	Ports             []watchedPort
	Namespace         string
	Lease             string
	ContainerName     string
	ContainerID       string
	PollInterval      time.Duration
	HeartbeatInterval time.Duration
	ValiditySeconds   int
	TokenDir          string
	APIServer         string // https://host:port, no trailing slash
}

func (c *config) hasProtocol(protocol string) bool {
	for _, p := range c.Ports {
		if p.Protocol == protocol {
			return true
		}
	}
	return false
}

var (
	// DNS-1123 label (namespaces) and subdomain (lease names): also keeps the URL path clean.
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// loadConfig reads and validates the configuration; getenv is os.Getenv outside tests. All
// problems are reported together, so one failed start shows everything to fix.
func loadConfig(getenv func(string) string) (*config, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	cfg := &config{
		Namespace:     getenv("CONTAINER_MAKER_NAMESPACE"),
		Lease:         getenv("CONTAINER_MAKER_REPORT_LEASE"),
		ContainerName: getenv("CONTAINER_MAKER_CONTAINER_NAME"),
		ContainerID:   getenv("CONTAINER_MAKER_CONTAINER_ID"),
		TokenDir:      getenv("CONTAINER_MAKER_TOKEN_DIR"),
	}
	ports, err := parsePorts(getenv("CONTAINER_MAKER_WATCH_PORTS"))
	if err != nil {
		bad("CONTAINER_MAKER_WATCH_PORTS: %v", err)
	}
	cfg.Ports = ports

	switch {
	case cfg.Namespace == "":
		bad("CONTAINER_MAKER_NAMESPACE is required")
	case len(cfg.Namespace) > 63 || !dnsLabel.MatchString(cfg.Namespace):
		bad("CONTAINER_MAKER_NAMESPACE %q is not a valid namespace name", cfg.Namespace)
	}
	switch {
	case cfg.Lease == "":
		bad("CONTAINER_MAKER_REPORT_LEASE is required")
	case len(cfg.Lease) > 253 || !dnsSubdomain.MatchString(cfg.Lease):
		bad("CONTAINER_MAKER_REPORT_LEASE %q is not a valid Lease name", cfg.Lease)
	}

	cfg.PollInterval, err = parseSeconds(getenv("CONTAINER_MAKER_POLL_INTERVAL"), time.Second)
	if err != nil {
		bad("CONTAINER_MAKER_POLL_INTERVAL: %v", err)
	}
	cfg.HeartbeatInterval, err = parseSeconds(getenv("CONTAINER_MAKER_HEARTBEAT_INTERVAL"), 10*time.Second)
	if err != nil {
		bad("CONTAINER_MAKER_HEARTBEAT_INTERVAL: %v", err)
	}
	cfg.ValiditySeconds = 30
	if raw := strings.TrimSpace(getenv("CONTAINER_MAKER_REPORT_VALIDITY")); raw != "" {
		n, err := strconv.Atoi(raw)
		switch {
		case err != nil:
			bad("CONTAINER_MAKER_REPORT_VALIDITY: %q is not an integer number of seconds", raw)
		case n < 1 || n > math.MaxInt32:
			bad("CONTAINER_MAKER_REPORT_VALIDITY: %d is out of range (1 to 2147483647 seconds)", n)
		default:
			cfg.ValiditySeconds = n
		}
	}

	if cfg.TokenDir == "" {
		cfg.TokenDir = defaultTokenDir
	}

	cfg.APIServer, err = apiServer(getenv)
	if err != nil {
		bad("%v", err)
	}

	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return cfg, nil
}

// parsePorts parses "8080/TCP,53/UDP" (empty: no ports). A repeated port/protocol is kept once,
// at its first position.
func parsePorts(raw string) ([]watchedPort, error) {
	ports := []watchedPort{}
	if strings.TrimSpace(raw) == "" {
		return ports, nil
	}
	seen := map[watchedPort]bool{}
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		number, protocol, ok := strings.Cut(item, "/")
		if !ok {
			return nil, fmt.Errorf("%q is not port/PROTOCOL (for example 8080/TCP)", item)
		}
		n, err := strconv.ParseUint(number, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q: the port must be a number from 1 to 65535", item)
		}
		protocol = strings.ToUpper(protocol)
		if protocol != protoTCP && protocol != protoUDP && protocol != protoSCTP {
			return nil, fmt.Errorf("%q: the protocol must be TCP, UDP or SCTP", item)
		}
		p := watchedPort{Port: uint16(n), Protocol: protocol}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// parseSeconds parses a positive number of seconds (a float); empty gives the default.
func parseSeconds(raw string, def time.Duration) (time.Duration, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a number of seconds", raw)
	}
	// The server only asks for a positive number; under a millisecond would busy-loop, and the
	// upper bound keeps the duration from overflowing.
	if f < 0.001 || f > 1e9 {
		return 0, fmt.Errorf("%q is out of range (0.001 to 1e9 seconds)", raw)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// apiServer is CONTAINER_MAKER_API_SERVER if set, else the in-cluster service address.
func apiServer(getenv func(string) string) (string, error) {
	if raw := getenv("CONTAINER_MAKER_API_SERVER"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.User != nil {
			return "", fmt.Errorf("CONTAINER_MAKER_API_SERVER %q is not an https://host[:port] URL", raw)
		}
		return "https://" + u.Host, nil
	}
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return "", errors.New("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set " +
			"(not in a pod?) and CONTAINER_MAKER_API_SERVER is not set either")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("KUBERNETES_SERVICE_PORT %q is not a port number", port)
	}
	// An IPv6 service address must be bracketed in the URL.
	return "https://" + net.JoinHostPort(host, port), nil
}
