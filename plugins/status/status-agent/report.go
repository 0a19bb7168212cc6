package main

// The report, when to write it, and the write itself: one merge PATCH of the pod's Lease.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	reportAnnotation = "container-maker.io/status-report"
	reportVersion    = 1
	microTimeLayout  = "2006-01-02T15:04:05.000000Z07:00" // metav1.MicroTime, in UTC: "...Z"
	requestTimeout   = 10 * time.Second
)

type portReport struct {
	Port      uint16 `json:"port"`
	Protocol  string `json:"protocol"`
	Listening *bool  `json:"listening"`
}

// statusReport is the annotation's JSON value (the field order is the documented one).
type statusReport struct {
	Version      int          `json:"version"`
	ObservedAt   string       `json:"observedAt"`
	Ports        []portReport `json:"ports"`
	LastActivity *string      `json:"lastActivity"`
	Connections  int          `json:"connections"`
}

func newReport(ports []watchedPort, o *observation, observedAt time.Time, lastActivity *time.Time) statusReport {
	r := statusReport{
		Version:     reportVersion,
		ObservedAt:  observedAt.UTC().Format(time.RFC3339Nano),
		Ports:       make([]portReport, 0, len(ports)),
		Connections: o.connections(),
	}
	for _, p := range ports {
		r.Ports = append(r.Ports, portReport{Port: p.Port, Protocol: p.Protocol, Listening: o.listening(p)})
	}
	if lastActivity != nil {
		s := lastActivity.UTC().Format(time.RFC3339Nano)
		r.LastActivity = &s
	}
	return r
}

// portsKey sums up the ports' listening states, to notice a change.
func portsKey(ports []portReport) string {
	var b strings.Builder
	for _, p := range ports {
		state := "unknown"
		if p.Listening != nil {
			state = fmt.Sprint(*p.Listening)
		}
		fmt.Fprintf(&b, "%d/%s=%s,", p.Port, p.Protocol, state)
	}
	return b.String()
}

// leasePatchBody is the JSON merge patch: the report as an annotation, and the Lease renewed by
// us for validity seconds from observedAt.
func leasePatchBody(r statusReport, observedAt time.Time, lease string, validity int) ([]byte, error) {
	report, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	type metadata struct {
		Annotations map[string]string `json:"annotations"`
	}
	type spec struct {
		HolderIdentity       string `json:"holderIdentity"`
		RenewTime            string `json:"renewTime"`
		LeaseDurationSeconds int    `json:"leaseDurationSeconds"`
	}
	return json.Marshal(struct {
		Metadata metadata `json:"metadata"`
		Spec     spec     `json:"spec"`
	}{
		Metadata: metadata{Annotations: map[string]string{reportAnnotation: string(report)}},
		Spec: spec{
			HolderIdentity:       lease,
			RenewTime:            observedAt.UTC().Format(microTimeLayout),
			LeaseDurationSeconds: validity,
		},
	})
}

// scheduler decides, once per poll, whether to write: at the first poll, when a port's
// listening state differs from the last written one, and when a heartbeat has passed since the
// last successful write. Everything else (activity, connection counts) rides on the next
// heartbeat, so traffic never means more than one write per heartbeat. After a failure the next
// try waits 1, 2, 4... polls, capped at a heartbeat.
type scheduler struct {
	poll, heartbeat time.Duration
	written         bool // a write has succeeded
	lastSuccess     time.Time
	writtenPorts    string
	failures        int
	skip            int // polls still to skip before retrying
}

// due is called once per poll.
func (s *scheduler) due(now time.Time, ports string) bool {
	if s.skip > 0 {
		s.skip--
		return false
	}
	if !s.written || ports != s.writtenPorts || s.failures > 0 {
		return true
	}
	// Tolerance of half a poll: the ticker's jitter must not push a heartbeat one poll late.
	return now.Sub(s.lastSuccess) >= s.heartbeat-s.poll/2
}

func (s *scheduler) succeeded(now time.Time, ports string) {
	s.written, s.lastSuccess, s.writtenPorts, s.failures, s.skip = true, now, ports, 0, 0
}

// failed sets the backoff; it returns the number of polls until the next try.
func (s *scheduler) failed() int {
	s.failures++
	maxPolls := max(1, int((s.heartbeat+s.poll/2)/s.poll))
	wait := maxPolls
	if s.failures <= 30 {
		wait = min(1<<(s.failures-1), maxPolls)
	}
	s.skip = wait - 1
	return wait
}

// patcher writes the report with the projected token. The token is re-read for every request
// (the kubelet rotates it); the CA too, and the HTTP client is rebuilt when the CA changes.
type patcher struct {
	url      string
	lease    string
	ns       string
	tokenDir string
	validity int
	caPEM    []byte
	client   *http.Client
}

func newPatcher(cfg *config) *patcher {
	return &patcher{
		url:      fmt.Sprintf("%s/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", cfg.APIServer, cfg.Namespace, cfg.Lease),
		lease:    cfg.Lease,
		ns:       cfg.Namespace,
		tokenDir: cfg.TokenDir,
		validity: cfg.ValiditySeconds,
	}
}

func (p *patcher) httpClient() (*http.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(p.tokenDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	if p.client != nil && bytes.Equal(caPEM, p.caPEM) {
		return p.client, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("cluster CA: no certificate in %s", filepath.Join(p.tokenDir, "ca.crt"))
	}
	if p.client != nil {
		p.client.CloseIdleConnections()
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: requestTimeout,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
		// The API server is reached directly, never through a proxy from the environment.
		Proxy: nil,
	}
	p.client, p.caPEM = &http.Client{Transport: transport, Timeout: requestTimeout}, caPEM
	return p.client, nil
}

// write sends one PATCH. Errors never carry the token.
func (p *patcher) write(ctx context.Context, r statusReport, observedAt time.Time) error {
	body, err := leasePatchBody(r, observedAt, p.lease, p.validity)
	if err != nil {
		return err
	}
	token, err := os.ReadFile(filepath.Join(p.tokenDir, "token"))
	if err != nil {
		return fmt.Errorf("token: %w (is the projected ServiceAccount token mounted?)", err)
	}
	tok := strings.TrimSpace(string(token))
	if tok == "" {
		return fmt.Errorf("token: %s is empty", filepath.Join(p.tokenDir, "token"))
	}
	client, err := p.httpClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "container-maker-status-agent")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error names the method and URL only, never the headers.
		return err
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return p.explain(resp.StatusCode, detail)
}

func (p *patcher) explain(code int, body []byte) error {
	var status struct {
		Message string `json:"message"`
	}
	msg := ""
	if json.Unmarshal(body, &status) == nil && status.Message != "" {
		msg = status.Message
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		msg = ": " + msg
	}
	lease := p.ns + "/" + p.lease
	switch code {
	case http.StatusUnauthorized:
		return fmt.Errorf("PATCH lease %s: 401 Unauthorized%s (the token was rejected: is the "+
			"projected ServiceAccount token mounted and current?)", lease, msg)
	case http.StatusForbidden:
		return fmt.Errorf("PATCH lease %s: 403 Forbidden%s (RBAC or the admission policy "+
			"container-maker-status-lease refused the patch, as the message says: check the "+
			"ServiceAccount's Role and RoleBinding, and that the policy allows the report fields)",
			lease, msg)
	case http.StatusNotFound:
		return fmt.Errorf("PATCH lease %s: 404 Not Found%s (the lease does not exist: it is created "+
			"with the pod and must not be deleted)", lease, msg)
	}
	return fmt.Errorf("PATCH lease %s: HTTP %d%s", lease, code, msg)
}
