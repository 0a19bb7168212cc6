package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(values map[string]string) func(string) string {
	return func(k string) string { return values[k] }
}

func baseEnv() map[string]string {
	return map[string]string{
		"CONTAINER_MAKER_NAMESPACE":    "team-a",
		"CONTAINER_MAKER_REPORT_LEASE": "web-0.status",
		"KUBERNETES_SERVICE_HOST":      "10.96.0.1",
		"KUBERNETES_SERVICE_PORT":      "443",
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(env(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	want := &config{
		Ports: []watchedPort{}, Namespace: "team-a", Lease: "web-0.status",
		PollInterval: time.Second, HeartbeatInterval: 10 * time.Second, ValiditySeconds: 30,
		TokenDir: "/var/run/secrets/container-maker/status", APIServer: "https://10.96.0.1:443",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
}

func TestConfigAllSet(t *testing.T) {
	e := baseEnv()
	e["CONTAINER_MAKER_WATCH_PORTS"] = " 8080/TCP, 53/udp,9000/SCTP,8080/TCP,8080/UDP"
	e["CONTAINER_MAKER_CONTAINER_NAME"] = "web"
	e["CONTAINER_MAKER_CONTAINER_ID"] = "containerd://abc"
	e["CONTAINER_MAKER_POLL_INTERVAL"] = "2.5e-1"
	e["CONTAINER_MAKER_HEARTBEAT_INTERVAL"] = "5.0"
	e["CONTAINER_MAKER_REPORT_VALIDITY"] = "15"
	e["CONTAINER_MAKER_TOKEN_DIR"] = "/tmp/tok"
	e["CONTAINER_MAKER_API_SERVER"] = "https://127.0.0.1:6443/"
	cfg, err := loadConfig(env(e))
	if err != nil {
		t.Fatal(err)
	}
	wantPorts := []watchedPort{{8080, "TCP"}, {53, "UDP"}, {9000, "SCTP"}, {8080, "UDP"}}
	if !reflect.DeepEqual(cfg.Ports, wantPorts) {
		t.Fatalf("ports %v, want %v (declared order, repeats once)", cfg.Ports, wantPorts)
	}
	if cfg.PollInterval != 250*time.Millisecond || cfg.HeartbeatInterval != 5*time.Second ||
		cfg.ValiditySeconds != 15 || cfg.TokenDir != "/tmp/tok" ||
		cfg.APIServer != "https://127.0.0.1:6443" || cfg.ContainerName != "web" ||
		cfg.ContainerID != "containerd://abc" {
		t.Fatalf("got %+v", cfg)
	}
	if !cfg.hasProtocol(protoSCTP) || !cfg.hasProtocol(protoUDP) || !cfg.hasProtocol(protoTCP) {
		t.Fatal("hasProtocol")
	}
}

func TestConfigIPv6ServiceHostIsBracketed(t *testing.T) {
	e := baseEnv()
	e["KUBERNETES_SERVICE_HOST"] = "fd00::1"
	cfg, err := loadConfig(env(e))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIServer != "https://[fd00::1]:443" {
		t.Fatalf("got %q", cfg.APIServer)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		key, value, want string
	}{
		{"CONTAINER_MAKER_WATCH_PORTS", "8080", "not port/PROTOCOL"},
		{"CONTAINER_MAKER_WATCH_PORTS", "8080/TCP,", "not port/PROTOCOL"},
		{"CONTAINER_MAKER_WATCH_PORTS", "0/TCP", "from 1 to 65535"},
		{"CONTAINER_MAKER_WATCH_PORTS", "70000/TCP", "from 1 to 65535"},
		{"CONTAINER_MAKER_WATCH_PORTS", "http/TCP", "from 1 to 65535"},
		{"CONTAINER_MAKER_WATCH_PORTS", "80/ICMP", "TCP, UDP or SCTP"},
		{"CONTAINER_MAKER_NAMESPACE", "", "CONTAINER_MAKER_NAMESPACE is required"},
		{"CONTAINER_MAKER_NAMESPACE", "Team_A", "not a valid namespace"},
		{"CONTAINER_MAKER_REPORT_LEASE", "", "CONTAINER_MAKER_REPORT_LEASE is required"},
		{"CONTAINER_MAKER_REPORT_LEASE", "a/b", "not a valid Lease name"},
		{"CONTAINER_MAKER_POLL_INTERVAL", "fast", "not a number of seconds"},
		{"CONTAINER_MAKER_POLL_INTERVAL", "0", "out of range"},
		{"CONTAINER_MAKER_HEARTBEAT_INTERVAL", "-1", "out of range"},
		{"CONTAINER_MAKER_HEARTBEAT_INTERVAL", "NaN", "not a number"},
		{"CONTAINER_MAKER_REPORT_VALIDITY", "1.5", "not an integer"},
		{"CONTAINER_MAKER_REPORT_VALIDITY", "0", "out of range"},
		{"CONTAINER_MAKER_API_SERVER", "http://127.0.0.1:6443", "not an https://host[:port] URL"},
		{"CONTAINER_MAKER_API_SERVER", "https://127.0.0.1:6443/api", "not an https://host[:port] URL"},
		{"KUBERNETES_SERVICE_HOST", "", "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT"},
		{"KUBERNETES_SERVICE_PORT", "https", "not a port number"},
	}
	for _, c := range cases {
		e := baseEnv()
		e[c.key] = c.value
		_, err := loadConfig(env(e))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: error %v, want it to mention %q", c.key, c.value, err, c.want)
		}
	}
}

func TestConfigReportsAllProblemsAtOnce(t *testing.T) {
	_, err := loadConfig(env(map[string]string{"CONTAINER_MAKER_WATCH_PORTS": "x"}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"WATCH_PORTS", "NAMESPACE", "REPORT_LEASE", "KUBERNETES_SERVICE_HOST"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}
