package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type saveOptions struct {
	containerID string
	base        string // the running image, by digest (the pod status's imageID)
	target      string // repository:tag to push to
	sizeLimit   int64
	authFile    string            // docker config.json from the mounted Secret ("" = anonymous)
	endpoints   map[string]string // registry name -> host:port to reach it at, if not its name
	insecure    map[string]bool   // registries the operator allows over plain HTTP
	lockDir     string
	procDir     string
	self        string // this binary, re-executed as the capture child
	annotations map[string]string
	timeout     time.Duration
}

type annotationFlag map[string]string

func (a annotationFlag) String() string { return "" }
func (a annotationFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("annotation %q is not key=value", v)
	}
	a[k] = val
	return nil
}

type listFlag map[string]bool

func (l listFlag) String() string { return "" }
func (l listFlag) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			l[item] = true
		}
	}
	return nil
}

func parseSaveFlags(args []string) (*saveOptions, error) {
	o := &saveOptions{
		annotations: map[string]string{}, endpoints: map[string]string{}, insecure: map[string]bool{},
		self: "/proc/self/exe",
	}
	fs := flag.NewFlagSet("save", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.containerID, "container-id", "", "runtime id of the container to save")
	fs.StringVar(&o.base, "base", "", "the container's image, by digest")
	fs.StringVar(&o.target, "target", "", "repository:tag to push")
	fs.Int64Var(&o.sizeLimit, "size-limit", 0, "refuse filesystems larger than this many bytes (0: no limit)")
	fs.StringVar(&o.authFile, "auth-file", os.Getenv("CONTAINER_MAKER_REGISTRY_AUTH_FILE"), "docker config.json with registry credentials")
	fs.Var(annotationFlag(o.endpoints), "endpoint", "registry=host:port: where to reach a registry (repeatable)")
	fs.Var(listFlag(o.insecure), "registry-insecure", "registry names that may be spoken to over plain HTTP, credentials included (repeatable, or comma separated)")
	fs.StringVar(&o.lockDir, "lock-dir", os.Getenv("CONTAINER_MAKER_SNAPSHOT_LOCK_DIR"), "directory for the save lock (the sidecar's own volume)")
	fs.StringVar(&o.procDir, "proc", "/proc", "the proc filesystem")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	fs.Var(annotationFlag(o.annotations), "annotation", "key=value manifest annotation (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.containerID == "" || o.base == "" || o.target == "" {
		return nil, errors.New("--container-id, --base and --target are required")
	}
	return o, nil
}

type saveResult struct {
	Reference string  `json:"reference"`
	Digest    string  `json:"digest"`
	Bytes     int64   `json:"bytes"`
	Entries   int64   `json:"entries"`
	Seconds   float64 `json:"seconds"`
}

func progressLine(fields map[string]any) {
	out, _ := json.Marshal(fields)
	fmt.Fprintln(os.Stderr, string(out))
}

func save(o *saveOptions) (*saveResult, error) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	unlock, err := lock(o.lockDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	baseRef, err := name.ParseReference(o.base, nameOptions(o.base, o.insecure)...)
	if err != nil {
		return nil, fail("usage", exitUsage, "--base: %v", err)
	}
	targetRef, err := name.NewTag(o.target, nameOptions(o.target, o.insecure)...)
	if err != nil {
		return nil, fail("usage", exitUsage, "--target: %v", err)
	}
	tgt, err := findTarget(o.procDir, o.containerID)
	if err != nil {
		return nil, err
	}
	own, err := ownCapabilities(o.procDir)
	if err != nil {
		return nil, err
	}
	// Before any credential is read: a user container as strong as this sidecar could read
	// them from here.
	if err := checkWeaker(tgt, own); err != nil {
		return nil, err
	}
	root, err := openRoot(o.procDir, tgt)
	if err != nil {
		return nil, err
	}
	if err := stillTarget(o.procDir, tgt, o.containerID); err != nil {
		root.Close()
		return nil, err
	}
	child, err := startCapture(o.self, root, tgt, o.sizeLimit)
	root.Close() // the child has its own copy; this process never reads the user's files
	if err != nil {
		return nil, err
	}
	defer child.kill()
	progressLine(map[string]any{"phase": "capturing", "pid": tgt.pid, "uid": tgt.uid})

	// The credentials are read only now, by this process only: the capture child is another
	// program image already, with none of this process's memory or descriptors.
	keychain, err := loadKeychain(o.authFile)
	if err != nil {
		return nil, err
	}
	remoteOpts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain),
		remote.WithTransport(newTransport(o.endpoints, o.insecure)),
	}
	baseImage, err := remote.Image(baseRef, remoteOpts...)
	if err != nil {
		return nil, registryFailure("reading the original image "+o.base, err)
	}
	baseConfig, err := baseImage.ConfigFile()
	if err != nil {
		return nil, registryFailure("reading the original image's config", err)
	}

	last := time.Now()
	tarStream := &captureStream{child: child, limit: o.sizeLimit, onRead: func(n int64) {
		if time.Since(last) > 2*time.Second {
			last = time.Now()
			progressLine(map[string]any{"phase": "uploading", "bytes": n})
		}
	}}
	layer := stream.NewLayer(io.NopCloser(tarStream), stream.WithMediaType(types.OCILayer))
	img, err := buildImage(baseConfig, o, layer, started)
	if err != nil {
		return nil, err
	}
	if err := remote.Write(targetRef, img, remoteOpts...); err != nil {
		return nil, registryFailure("pushing "+targetRef.String(), err)
	}
	// The push read the stream to its end, so the child has reported; a failure there
	// failed the push above.
	if err := child.wait(); err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fail("internal", exitInternal, "digest of the pushed image: %v", err)
	}
	progressLine(map[string]any{"phase": "captured", "bytes": tarStream.n, "entries": child.result.Entries})
	return &saveResult{
		Reference: targetRef.Context().Digest(digest.String()).String(),
		Digest:    digest.String(),
		Bytes:     tarStream.n,
		Entries:   child.result.Entries,
		Seconds:   time.Since(started).Seconds(),
	}, nil
}

// buildImage is the saved image: one layer (the squashed filesystem) under the original image's
// runtime config, OCI media types, and the caller's annotations on the manifest.
func buildImage(base *v1.ConfigFile, o *saveOptions, layer v1.Layer, at time.Time) (v1.Image, error) {
	cfg := &v1.ConfigFile{
		Architecture: base.Architecture,
		OS:           base.OS,
		OSVersion:    base.OSVersion,
		Variant:      base.Variant,
		Created:      v1.Time{Time: at.UTC().Truncate(time.Second)},
		Config:       base.Config, // Env, Entrypoint, Cmd, WorkingDir, User, ExposedPorts, Labels...
		RootFS:       v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(mutate.MediaType(empty.Image, types.OCIManifestSchema1), cfg)
	if err != nil {
		return nil, fail("internal", exitInternal, "config: %v", err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: at.UTC().Truncate(time.Second)},
			CreatedBy: "container-maker saveContainer (filesystem of the running container, squashed)",
			Comment:   "from " + o.base,
		},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fail("internal", exitInternal, "layer: %v", err)
	}
	annotations := map[string]string{
		"org.opencontainers.image.created":   at.UTC().Format(time.RFC3339),
		"org.opencontainers.image.base.name": o.base,
	}
	for k, v := range o.annotations {
		annotations[k] = v
	}
	return mutate.Annotations(img, annotations).(v1.Image), nil
}

// registryFailure classifies a registry error: refused credentials, or unreachable (retryable).
func registryFailure(what string, err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f // ours: the capture's verdict, or the plain-HTTP refusal
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fail("denied", exitDenied, "%s: the registry refused our credentials: %v", what, err)
		case http.StatusNotFound:
			return fail("target", exitTarget, "%s: not found in the registry: %v", what, err)
		}
		if terr.StatusCode >= 500 {
			return fail("unavailable", exitUnavailable, "%s: %v", what, err)
		}
		return fail("registry", exitInternal, "%s: %v", what, err)
	}
	var nerr net.Error
	var oerr *net.OpError
	if errors.As(err, &oerr) || errors.As(err, &nerr) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, context.DeadlineExceeded) {
		return fail("unavailable", exitUnavailable, "%s: the registry is unreachable: %v", what, err)
	}
	return fail("registry", exitInternal, "%s: %v", what, err)
}

// registryName is the registry part of a reference ("127.0.0.1:5000/a/b:t" -> "127.0.0.1:5000").
func registryName(ref string) string {
	return strings.SplitN(ref, "/", 2)[0]
}

// nameOptions: plain HTTP is chosen (name.Insecure) only for a registry the operator named
// insecure. go-containerregistry itself still falls back to HTTP for loopback, RFC 1918 and
// .local names; credentialGuard keeps credentials off such connections.
func nameOptions(ref string, insecure map[string]bool) []name.Option {
	if insecure[registryName(ref)] {
		return []name.Option{name.Insecure}
	}
	return nil
}

// endpointTransport sends requests for some registry names to other addresses (a test
// registry on the node's loopback, reached from the pod through a relay), keeping the Host
// header, so the registry's own URLs and the references keep its name.
type endpointTransport struct {
	endpoints map[string]string
	inner     http.RoundTripper
}

// credentialGuard refuses every plain-HTTP request that carries credentials (an Authorization
// header: basic credentials, or a bearer token bought with them) unless the operator named that
// host insecure. It sits under go-containerregistry's authenticating transports, so it sees
// each request exactly as it goes out, the token server's included, and it judges the host by
// the name in the reference, before any endpoint rewrite.
type credentialGuard struct {
	insecure map[string]bool
	inner    http.RoundTripper
}

func (g *credentialGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && req.Header.Get("Authorization") != "" && !g.insecure[req.URL.Host] {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fail("insecure", exitTarget,
			"refusing to send registry credentials over plain HTTP to %s; name it in "+
				"--registry-insecure if that registry cannot speak HTTPS and the network to it "+
				"is trusted", req.URL.Host)
	}
	return g.inner.RoundTrip(req)
}

func newTransport(endpoints map[string]string, insecure map[string]bool) http.RoundTripper {
	var inner http.RoundTripper = remote.DefaultTransport
	if len(endpoints) > 0 {
		inner = &endpointTransport{endpoints: endpoints, inner: inner}
	}
	return &credentialGuard{insecure: insecure, inner: inner}
}

func (t *endpointTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint, ok := t.endpoints[req.URL.Host]
	if !ok || endpoint == req.URL.Host {
		return t.inner.RoundTrip(req)
	}
	clone := req.Clone(req.Context())
	u := *req.URL
	u.Host = endpoint
	clone.URL = &u
	clone.Host = req.URL.Host
	return t.inner.RoundTrip(clone)
}

// dockerConfig is the part of a docker config.json (a dockerconfigjson Secret) we read.
type dockerConfig struct {
	Auths map[string]struct {
		Auth     string `json:"auth"`
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"auths"`
}

type staticKeychain map[string]authn.AuthConfig

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if cfg, ok := k[r.RegistryStr()]; ok {
		return authn.FromConfig(cfg), nil
	}
	return authn.Anonymous, nil
}

// loadKeychain reads registry credentials once, in the process that pushes (never in the
// capture child). Errors never quote the file: it holds secrets.
func loadKeychain(file string) (authn.Keychain, error) {
	keys := staticKeychain{}
	if file == "" {
		return keys, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if os.IsNotExist(err) {
			return keys, nil // no Secret configured: anonymous
		}
		return nil, fail("credentials", exitInternal, "reading the registry credentials file: %v", err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fail("credentials", exitInternal, "the registry credentials file is not a docker config.json")
	}
	for host, a := range cfg.Auths {
		user, pass := a.Username, a.Password
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fail("credentials", exitInternal, "bad auth entry for %s in the credentials file", host)
			}
			user, pass, _ = strings.Cut(string(raw), ":")
		}
		keys[registryHost(host)] = authn.AuthConfig{Username: user, Password: pass}
	}
	return keys, nil
}

// registryHost turns "https://index.docker.io/v1/" or "127.0.0.1:5000" into the registry name.
func registryHost(key string) string {
	if u, err := url.Parse(key); err == nil && u.Host != "" {
		return u.Host
	}
	return strings.TrimSuffix(key, "/")
}

// lock takes an exclusive lock in the sidecar's own lock volume, shared by every exec of this
// sidecar: a second save of the same container while one runs is refused, not queued behind
// it. The lock file is never followed through a symlink (O_NOFOLLOW) and must be a plain
// file of ours; O_NONBLOCK keeps a FIFO from blocking the open.
func lock(dir string) (func(), error) {
	if dir == "" {
		return func() {}, nil
	}
	path := filepath.Join(dir, ".save.lock")
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fail("internal", exitInternal, "lock file %s is a symbolic link: refused", path)
		}
		return nil, fail("internal", exitInternal, "lock file: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		unix.Close(fd)
		return nil, fail("internal", exitInternal, "lock file %s is not a plain file of its own: refused", path)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fail("busy", exitBusy, "another save of this container is in progress")
		}
		return nil, fail("internal", exitInternal, "lock: %v", err)
	}
	return func() { unix.Close(fd) }, nil
}
