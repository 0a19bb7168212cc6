package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func TestReportShape(t *testing.T) {
	o := &observation{
		TCPListening: map[uint16]bool{8080: true},
		Conns:        map[string]tcpSocket{"cookie:1": {State: 1}, "cookie:2": {State: tcpTimeWait}},
		UDPBound:     map[uint16]bool{},
	}
	ports := []watchedPort{{8080, protoTCP}, {53, protoUDP}, {9000, protoSCTP}}
	b, err := json.Marshal(newReport(ports, o, t0, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"observedAt":"2026-03-01T12:00:00.123456789Z","ports":[` +
		`{"port":8080,"protocol":"TCP","listening":true},{"port":53,"protocol":"UDP","listening":false},` +
		`{"port":9000,"protocol":"SCTP","listening":null}],"lastActivity":null,"connections":1}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	active := t0.Add(-time.Second).In(time.FixedZone("X", 3600))
	b, _ = json.Marshal(newReport(nil, &observation{}, t0, &active))
	want = `{"version":1,"observedAt":"2026-03-01T12:00:00.123456789Z","ports":[],` +
		`"lastActivity":"2026-03-01T11:59:59.123456789Z","connections":0}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestSchedulerFirstPortChangeHeartbeat(t *testing.T) {
	s := &scheduler{poll: time.Second, heartbeat: 10 * time.Second}
	now := t0
	if !s.due(now, "a") {
		t.Fatal("the first poll writes")
	}
	s.succeeded(now, "a")
	for i := 1; i < 10; i++ {
		if s.due(now.Add(time.Duration(i)*time.Second), "a") {
			t.Fatalf("poll %d: nothing to write before the heartbeat", i)
		}
	}
	if !s.due(now.Add(3*time.Second), "b") {
		t.Fatal("a port change writes at once")
	}
	s.succeeded(now.Add(3*time.Second), "b")
	if s.due(now.Add(4*time.Second), "b") {
		t.Fatal("no change since")
	}
	// The ticker may fire a hair early: still the heartbeat.
	if !s.due(now.Add(13*time.Second-time.Millisecond), "b") {
		t.Fatal("heartbeat")
	}
}

func TestSchedulerBackoff(t *testing.T) {
	s := &scheduler{poll: time.Second, heartbeat: 10 * time.Second}
	var tries []int
	for i := range 60 {
		if s.due(t0.Add(time.Duration(i)*time.Second), "a") {
			tries = append(tries, i)
			s.failed()
		}
	}
	// Retry at the next poll, then 2, 4, 8 polls later, then every heartbeat (10 polls).
	want := []int{0, 1, 3, 7, 15, 25, 35, 45, 55}
	if !reflect.DeepEqual(tries, want) {
		t.Fatalf("tries at polls %v, want %v", tries, want)
	}
	s.succeeded(t0.Add(56*time.Second), "a")
	if s.failures != 0 || s.due(t0.Add(57*time.Second), "a") {
		t.Fatal("success resets the backoff")
	}
	// A port change waits for the backoff too (the API server is failing anyway).
	s.failed()
	s.failed()
	if s.due(t0.Add(58*time.Second), "b") || !s.due(t0.Add(59*time.Second), "b") {
		t.Fatal("backoff of 2 polls")
	}
}

// apiServer is an httptest TLS server standing in for the Kubernetes API.
type fakeAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []recorded
	status   int
}

type recorded struct {
	method, path, contentType, auth string
	body                            []byte
}

func newFakeAPI(t *testing.T) (*fakeAPI, string) {
	f := &fakeAPI{status: http.StatusOK}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, recorded{r.Method, r.URL.Path, r.Header.Get("Content-Type"),
			r.Header.Get("Authorization"), body})
		status := f.status
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status != http.StatusOK {
			_, _ = w.Write([]byte(`{"kind":"Status","message":"leases.coordination.k8s.io \"x\" is forbidden"}`))
		} else {
			_, _ = w.Write([]byte(`{"kind":"Lease"}`))
		}
	}))
	t.Cleanup(f.srv.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	writeFile(t, filepath.Join(dir, "ca.crt"), string(ca))
	writeFile(t, filepath.Join(dir, "token"), "token-one\n")
	return f, dir
}

func (f *fakeAPI) recorded() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

// writeFile replaces a file atomically, as the kubelet does.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func testConfig(apiURL, tokenDir string) *config {
	return &config{
		Ports: []watchedPort{{8080, protoTCP}}, Namespace: "team-a", Lease: "web-0-status",
		PollInterval: time.Second, HeartbeatInterval: 10 * time.Second, ValiditySeconds: 30,
		TokenDir: tokenDir, APIServer: apiURL,
	}
}

func TestPatch(t *testing.T) {
	api, dir := newFakeAPI(t)
	p := newPatcher(testConfig(api.srv.URL, dir))
	o := &observation{TCPListening: map[uint16]bool{8080: true}, Conns: map[string]tcpSocket{}}
	report := newReport([]watchedPort{{8080, protoTCP}}, o, t0, nil)
	if err := p.write(context.Background(), report, t0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "token"), "token-two")
	if err := p.write(context.Background(), report, t0); err != nil {
		t.Fatal(err)
	}
	reqs := api.recorded()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPatch ||
		r.path != "/apis/coordination.k8s.io/v1/namespaces/team-a/leases/web-0-status" ||
		r.contentType != "application/merge-patch+json" || r.auth != "Bearer token-one" {
		t.Fatalf("request %s %s %q %q", r.method, r.path, r.contentType, r.auth)
	}
	if reqs[1].auth != "Bearer token-two" {
		t.Fatalf("the rotated token was not re-read: %q", reqs[1].auth)
	}
	var body struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if len(body.Metadata.Annotations) != 1 {
		t.Fatalf("annotations %v", body.Metadata.Annotations)
	}
	var got statusReport
	if err := json.Unmarshal([]byte(body.Metadata.Annotations["container-maker.io/status-report"]), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, report) {
		t.Fatalf("report %+v, want %+v", got, report)
	}
	wantSpec := map[string]any{"holderIdentity": "web-0-status",
		"renewTime": "2026-03-01T12:00:00.123456Z", "leaseDurationSeconds": float64(30)}
	if !reflect.DeepEqual(body.Spec, wantSpec) {
		t.Fatalf("spec %v, want %v", body.Spec, wantSpec)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`).MatchString(body.Spec["renewTime"].(string)) {
		t.Fatal("renewTime is not a MicroTime")
	}
}

func TestPatchErrorsExplainAndNeverShowTheToken(t *testing.T) {
	api, dir := newFakeAPI(t)
	p := newPatcher(testConfig(api.srv.URL, dir))
	report := newReport(nil, &observation{}, t0, nil)
	for status, want := range map[int]string{
		http.StatusUnauthorized: "token was rejected",
		http.StatusForbidden:    "RBAC",
		http.StatusNotFound:     "lease does not exist",
		http.StatusConflict:     "HTTP 409",
	} {
		api.mu.Lock()
		api.status = status
		api.mu.Unlock()
		err := p.write(context.Background(), report, t0)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "team-a/web-0-status") {
			t.Errorf("%d: %v, want it to say %q", status, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "token-one") {
			t.Errorf("%d: the error shows the token: %v", status, err)
		}
	}
}

func TestPatchVerifiesTheServerAgainstTheCA(t *testing.T) {
	api, dir := newFakeAPI(t)
	// A CA that did not sign the server's certificate (httptest servers all share one).
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	otherCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	writeFile(t, filepath.Join(dir, "ca.crt"), string(otherCA))
	p := newPatcher(testConfig(api.srv.URL, dir))
	err = p.write(context.Background(), newReport(nil, &observation{}, t0, nil), t0)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got %v, want a certificate error", err)
	}
	if len(api.recorded()) != 0 {
		t.Fatal("the request reached an unverified server")
	}
	// The CA is re-read too: with the right one, it works.
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.srv.Certificate().Raw})
	writeFile(t, filepath.Join(dir, "ca.crt"), string(ca))
	if err := p.write(context.Background(), newReport(nil, &observation{}, t0, nil), t0); err != nil {
		t.Fatal(err)
	}
}

func TestPatchWithoutToken(t *testing.T) {
	api, dir := newFakeAPI(t)
	if err := os.Remove(filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
	p := newPatcher(testConfig(api.srv.URL, dir))
	err := p.write(context.Background(), newReport(nil, &observation{}, t0, nil), t0)
	if err == nil || !strings.Contains(err.Error(), "mounted") {
		t.Fatalf("got %v", err)
	}
}

// fakeWriter records reports; err is returned by the next writes.
type fakeWriter struct {
	reports []statusReport
	err     error
}

func (w *fakeWriter) write(_ context.Context, r statusReport, _ time.Time) error {
	if w.err != nil {
		return w.err
	}
	w.reports = append(w.reports, r)
	return nil
}

func TestAgentStep(t *testing.T) {
	listening := false
	var conns []tcpSocket
	diag := func() ([]tcpSocket, error) {
		out := append([]tcpSocket(nil), conns...)
		if listening {
			out = append(out, tcpSocket{LocalPort: 8080, State: tcpListen, Key: "cookie:1"})
		}
		return out, nil
	}
	ob, _ := testObserver(t, t.TempDir(), diag)
	cfg := testConfig("https://unused", t.TempDir())
	w := &fakeWriter{}
	var logs []string
	a := newAgent(cfg, ob, w, func(f string, args ...any) { logs = append(logs, f) })
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	ctx := context.Background()

	a.step(ctx, at(0))
	if len(w.reports) != 1 || *w.reports[0].Ports[0].Listening || w.reports[0].LastActivity != nil {
		t.Fatalf("first poll: %+v", w.reports)
	}
	a.step(ctx, at(1))
	listening = true
	a.step(ctx, at(2))
	if len(w.reports) != 2 || !*w.reports[1].Ports[0].Listening {
		t.Fatalf("a port change writes at once: %+v", w.reports)
	}
	// Traffic: a connection, then bytes, at every poll; written with the heartbeat only.
	for i := 3; i < 12; i++ {
		conns = []tcpSocket{{LocalPort: 8080, State: 1, Key: "cookie:9", HasCounters: true, BytesReceived: uint64(10 * i)}}
		a.step(ctx, at(i))
	}
	if len(w.reports) != 2 {
		t.Fatalf("activity alone does not write: %d reports", len(w.reports))
	}
	a.step(ctx, at(12))
	if len(w.reports) != 3 {
		t.Fatalf("heartbeat: %d reports", len(w.reports))
	}
	last := w.reports[2]
	if last.LastActivity == nil || *last.LastActivity != at(11).Format(time.RFC3339Nano) || last.Connections != 1 {
		t.Fatalf("heartbeat report %+v", last)
	}

	// Failures are retried with backoff and logged without repeating.
	w.err = errors.New("boom")
	listening = false
	for i := 13; i < 20; i++ {
		a.step(ctx, at(i))
	}
	failures := 0
	for _, l := range logs {
		if strings.Contains(l, "failed") {
			failures++
		}
	}
	if failures != 1 || a.sched.failures != 3 { // polls 13, 14, 16 (next: 20)
		t.Fatalf("%d failure logs, %d failures: %v", failures, a.sched.failures, logs)
	}
	w.err = nil
	a.step(ctx, at(20))
	if len(w.reports) != 4 || *w.reports[3].Ports[0].Listening {
		t.Fatalf("after recovery: %+v", w.reports)
	}
}
