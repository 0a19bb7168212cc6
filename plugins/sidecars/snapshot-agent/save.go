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
	"strconv"
	"strings"
	"syscall"
	"time"

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
	lockDir     string
	procDir     string
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

func parseSaveFlags(args []string) (*saveOptions, error) {
	o := &saveOptions{annotations: map[string]string{}, endpoints: map[string]string{}}
	fs := flag.NewFlagSet("save", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.containerID, "container-id", "", "runtime id of the container to save")
	fs.StringVar(&o.base, "base", "", "the container's image, by digest")
	fs.StringVar(&o.target, "target", "", "repository:tag to push")
	fs.Int64Var(&o.sizeLimit, "size-limit", 0, "refuse filesystems larger than this many bytes (0: no limit)")
	fs.StringVar(&o.authFile, "auth-file", os.Getenv("CONTAINER_MAKER_REGISTRY_AUTH_FILE"), "docker config.json with registry credentials")
	fs.Var(annotationFlag(o.endpoints), "endpoint", "registry=host:port: where to reach a registry (repeatable)")
	fs.StringVar(&o.lockDir, "lock-dir", os.Getenv("CONTAINER_MAKER_SNAPSHOT_DIR"), "directory for the save lock")
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

	// Everything that needs this sidecar's own identity happens before we take the target's:
	// the lock file and the credentials are readable by root only.
	unlock, err := lock(o.lockDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	keychain, err := loadKeychain(o.authFile)
	if err != nil {
		return nil, err
	}
	baseRef, err := name.ParseReference(o.base, nameOptions(o.base)...)
	if err != nil {
		return nil, fail("usage", exitUsage, "--base: %v", err)
	}
	targetRef, err := name.NewTag(o.target, nameOptions(o.target)...)
	if err != nil {
		return nil, fail("usage", exitUsage, "--target: %v", err)
	}
	tgt, err := findTarget(o.procDir, o.containerID)
	if err != nil {
		return nil, err
	}
	if err := becomeTarget(tgt); err != nil {
		return nil, err
	}
	root := filepath.Join(o.procDir, strconv.Itoa(tgt.pid), "root")
	mountinfo, err := os.ReadFile(filepath.Join(o.procDir, strconv.Itoa(tgt.pid), "mountinfo"))
	if err != nil {
		return nil, fail("target", exitTarget, "reading the mounts of process %d: %v", tgt.pid, err)
	}
	points, err := mountPoints(string(mountinfo))
	if err != nil {
		return nil, fail("target", exitTarget, "process %d: %v", tgt.pid, err)
	}
	if _, err := os.Stat(root + "/"); err != nil {
		return nil, fail("target", exitTarget,
			"the filesystem of process %d (uid %d) is not readable from here: %v", tgt.pid, tgt.uid, err)
	}
	tr := newTree(root, points)

	// Measure first: a snapshot over the limit fails before anything is written or sent.
	use, err := tr.measure()
	if err != nil {
		return nil, err
	}
	progressLine(map[string]any{"phase": "measured", "bytes": use.bytes, "entries": use.entries})
	if o.sizeLimit > 0 && use.bytes > o.sizeLimit {
		return nil, fail("size_limit", exitTooLarge,
			"the container's filesystem holds %d bytes, over the snapshot size limit of %d bytes",
			use.bytes, o.sizeLimit)
	}

	remoteOpts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain),
		remote.WithTransport(newTransport(o.endpoints)),
	}
	baseImage, err := remote.Image(baseRef, remoteOpts...)
	if err != nil {
		return nil, registryFailure("reading the original image "+o.base, err)
	}
	baseConfig, err := baseImage.ConfigFile()
	if err != nil {
		return nil, registryFailure("reading the original image's config", err)
	}

	pr, pw := io.Pipe()
	go func() {
		last := time.Now()
		pw.CloseWithError(tr.writeTar(pw, func(n int64) {
			if time.Since(last) > 2*time.Second {
				last = time.Now()
				progressLine(map[string]any{"phase": "uploading", "bytes": n, "of": use.bytes})
			}
		}))
	}()
	layer := stream.NewLayer(pr, stream.WithMediaType(types.OCILayer))
	img, err := buildImage(baseConfig, o, layer, started)
	if err != nil {
		return nil, err
	}
	if err := remote.Write(targetRef, img, remoteOpts...); err != nil {
		var f *failure
		if errors.As(err, &f) {
			return nil, f
		}
		return nil, registryFailure("pushing "+targetRef.String(), err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fail("internal", exitInternal, "digest of the pushed image: %v", err)
	}
	return &saveResult{
		Reference: targetRef.Context().Digest(digest.String()).String(),
		Digest:    digest.String(),
		Bytes:     use.bytes,
		Entries:   use.entries,
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

// isLocalhost: plain HTTP is allowed for a registry on the loopback only.
func isLocalhost(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func nameOptions(ref string) []name.Option {
	registry := strings.SplitN(ref, "/", 2)[0]
	if isLocalhost(registry) {
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

func newTransport(endpoints map[string]string) http.RoundTripper {
	if len(endpoints) == 0 {
		return remote.DefaultTransport
	}
	return &endpointTransport{endpoints: endpoints, inner: remote.DefaultTransport}
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

// loadKeychain reads registry credentials once, before the agent drops its identity. Errors
// never quote the file: it holds secrets.
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

// lock takes an exclusive lock in the snapshot volume, shared by every exec of this sidecar:
// a second save of the same container while one runs is refused, not queued behind it.
func lock(dir string) (func(), error) {
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.OpenFile(filepath.Join(dir, ".save.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fail("internal", exitInternal, "lock file: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fail("busy", exitBusy, "another save of this container is in progress")
		}
		return nil, fail("internal", exitInternal, "lock: %v", err)
	}
	return func() { f.Close() }, nil
}
