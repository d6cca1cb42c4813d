// Package bench is moat's load generator (the moat-bench command beside it)
// and the reference "limit" server it is compared with: the least work a
// registry can do for the same workload. It is a tool, not part of the
// product: the moat binary does not import it.
//
// The generator contacts only the registry URL it is given. It pushes and
// pulls blobs generated from a PRNG (never held whole in memory, digests
// verified on pull), measures manifest HEAD by tag and, when the registry
// asks for Docker token auth, token requests, then runs "many nodes pulling
// one image". Every loop is bounded in count and in time.
package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one benchmark run.
type Config struct {
	Registry    string     // base URL, e.g. http://127.0.0.1:5000
	Repository  string     // as the client addresses it, e.g. reg1/bench
	Username    string     // Docker token auth, used when /v2/ answers a Bearer challenge
	Password    string     //
	ProxySource netip.Addr // when valid, every connection opens with a PROXY v2 header claiming it

	Blobs       int           // blobs pushed then pulled (16)
	BlobSize    int64         // bytes per blob (32 MiB)
	Concurrency int           // blob transfers in flight (4)
	HeadConc    int           // manifest HEAD and token requests in flight (16)
	Duration    time.Duration // bound of the manifest HEAD and token runs each (10s)
	MaxRequests int           // bound of the manifest HEAD and token runs each in count (1,000,000)
	Nodes       int           // clients of the "many nodes pulling one image" run (8)
	Layers      int           // layers of that image, taken from the pushed blobs (4)
	Timeout     time.Duration // bound of the whole run (30m)
	Seed        uint64        // blob content seed (0: from the clock, so blobs are new each run)
	// HeadOnly stops after the manifest HEAD run (no token and image-pull
	// runs), for short HEAD slices alternated between registries.
	HeadOnly bool
	// ServerPID, when set, is the registry's process on this host: its
	// resident memory is reported around the blob push and pull (Memory).
	ServerPID int

	base *url.URL
}

// Defaults fills zero fields with the issue-9 workload.
func (c *Config) Defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.Blobs, 16)
	def(&c.Concurrency, 4)
	def(&c.HeadConc, 16)
	def(&c.MaxRequests, 1_000_000)
	def(&c.Nodes, 8)
	def(&c.Layers, 4)
	if c.BlobSize <= 0 {
		c.BlobSize = 32 << 20
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Minute
	}
	c.Layers = min(c.Layers, c.Blobs)
}

// Result is the JSON the run prints. MB is 10^6 bytes.
type Result struct {
	Registry     string    `json:"registry"`
	Repository   string    `json:"repository"`
	Auth         bool      `json:"token_auth"`
	ProxySource  string    `json:"proxy_source,omitempty"`
	Push         Transfer  `json:"blob_push"`
	Pull         Transfer  `json:"blob_pull"`
	ManifestHead Requests  `json:"manifest_head"`
	Token        *Requests `json:"token,omitempty"`
	// TokenExchange is POST /oauth2/exchange (an identity token for a
	// refresh token), on registries with moat's identity service.
	TokenExchange *Requests `json:"token_exchange,omitempty"`
	Memory        *Memory   `json:"server_memory,omitempty"`
	ImagePull     ImagePull `json:"image_pull"`
	Started       time.Time `json:"started"`
	Seconds       float64   `json:"seconds"`
	Settings      Settings  `json:"settings"`
}

// Settings echoes the workload sizes.
type Settings struct {
	Blobs       int     `json:"blobs"`
	BlobBytes   int64   `json:"blob_bytes"`
	Concurrency int     `json:"concurrency"`
	HeadConc    int     `json:"head_concurrency"`
	Duration    float64 `json:"duration_seconds"`
	Nodes       int     `json:"nodes"`
	Layers      int     `json:"layers"`
}

// Transfer is a blob push or pull run.
type Transfer struct {
	Blobs   int     `json:"blobs"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MBps    float64 `json:"mb_per_s"`
}

// Requests is a closed-loop request run.
type Requests struct {
	Concurrency int     `json:"concurrency"`
	Requests    int64   `json:"requests"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"requests_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
}

// ImagePull is N clients, each with its own connections and token, pulling
// the same manifest by tag, its config and its layers at once.
type ImagePull struct {
	Nodes      int     `json:"nodes"`
	Layers     int     `json:"layers"`
	ImageBytes int64   `json:"image_bytes"`
	Seconds    float64 `json:"seconds"`
	MBps       float64 `json:"mb_per_s"`
	P50ms      float64 `json:"pull_p50_ms"`
	P99ms      float64 `json:"pull_p99_ms"`
}

const (
	tag          = "bench"
	manifestType = "application/vnd.oci.image.manifest.v1+json"
	configType   = "application/vnd.oci.image.config.v1+json"
	layerType    = "application/vnd.oci.image.layer.v1.tar"
)

type blob struct {
	seed   uint64
	size   int64
	digest string
}

// Run runs the whole benchmark.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	u, err := url.Parse(strings.TrimSuffix(cfg.Registry, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--registry %q: want http://host:port or https://host:port", cfg.Registry)
	}
	if cfg.Repository == "" || strings.Trim(cfg.Repository, "/") != cfg.Repository {
		return nil, fmt.Errorf("--repository %q: want a repository name such as reg1/bench", cfg.Repository)
	}
	cfg.base = u
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	res := &Result{Registry: u.String(), Repository: cfg.Repository, Started: time.Now().UTC(),
		Settings: Settings{Blobs: cfg.Blobs, BlobBytes: cfg.BlobSize, Concurrency: cfg.Concurrency, HeadConc: cfg.HeadConc,
			Duration: cfg.Duration.Seconds(), Nodes: cfg.Nodes, Layers: cfg.Layers}}
	if cfg.ProxySource.IsValid() {
		res.ProxySource = cfg.ProxySource.String()
	}
	c := newClient(&cfg, max(cfg.Concurrency, cfg.HeadConc))
	if err := c.login(ctx); err != nil {
		return nil, err
	}
	res.Auth = c.authOn()

	// Digests first, outside the timed runs: the push then streams each blob
	// once, in a single PUT that names its digest.
	blobs := make([]blob, cfg.Blobs)
	if err := forEach(ctx, cfg.Blobs, max(cfg.Concurrency, 2), func(_ context.Context, i int) error {
		seed := cfg.Seed + uint64(i)
		blobs[i] = blob{seed: seed, size: cfg.BlobSize, digest: blobDigest(seed, cfg.BlobSize)}
		return nil
	}); err != nil {
		return nil, err
	}

	mem, err := newMemWatch(cfg.ServerPID)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := forEach(ctx, len(blobs), cfg.Concurrency, func(ctx context.Context, i int) error {
		return c.pushBlob(ctx, blobs[i])
	}); err != nil {
		return nil, fmt.Errorf("blob push: %w", err)
	}
	res.Push = transfer(len(blobs), cfg.BlobSize*int64(len(blobs)), time.Since(start))
	mem.phase(&mem.m.PushPeak)

	start = time.Now()
	if err := forEach(ctx, len(blobs), cfg.Concurrency, func(ctx context.Context, i int) error {
		return c.pullBlob(ctx, blobs[i].digest, blobs[i].size)
	}); err != nil {
		return nil, fmt.Errorf("blob pull: %w", err)
	}
	res.Pull = transfer(len(blobs), cfg.BlobSize*int64(len(blobs)), time.Since(start))
	mem.phase(&mem.m.PullPeak)
	if res.Memory, err = mem.done(); err != nil {
		return nil, err
	}

	imageBytes, err := c.pushImage(ctx, blobs[:cfg.Layers])
	if err != nil {
		return nil, fmt.Errorf("manifest push: %w", err)
	}

	res.ManifestHead, err = loop(ctx, cfg.HeadConc, cfg.Duration, cfg.MaxRequests, func(ctx context.Context) error {
		return c.headManifest(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("manifest HEAD: %w", err)
	}
	if cfg.HeadOnly {
		res.Seconds = round(time.Since(res.Started).Seconds())
		return res, nil
	}

	if res.Auth {
		tr, err := loop(ctx, cfg.HeadConc, cfg.Duration, cfg.MaxRequests, func(ctx context.Context) error {
			_, err := c.fetchToken(ctx)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		res.Token = &tr
		res.TokenExchange, err = exchangeRun(ctx, c, &cfg)
		if err != nil {
			return nil, err
		}
	}

	res.ImagePull, err = imagePull(ctx, &cfg, imageBytes)
	if err != nil {
		return nil, fmt.Errorf("image pull: %w", err)
	}
	res.ImagePull.Layers = cfg.Layers
	res.Seconds = round(time.Since(res.Started).Seconds())
	return res, nil
}

// exchangeRun measures POST /oauth2/exchange like the token run; nil when the
// registry has no identity service to get the identity token from.
func exchangeRun(ctx context.Context, c *client, cfg *Config) (*Requests, error) {
	id, err := c.identityToken(ctx)
	if errors.Is(err, errNoIdentity) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := loop(ctx, cfg.HeadConc, cfg.Duration, cfg.MaxRequests, func(ctx context.Context) error {
		return c.exchange(ctx, id)
	})
	if err != nil {
		return nil, fmt.Errorf("token exchange: %w", err)
	}
	return &r, nil
}

func transfer(n int, bytes int64, d time.Duration) Transfer {
	return Transfer{Blobs: n, Bytes: bytes, Seconds: round(d.Seconds()), MBps: round(float64(bytes) / 1e6 / d.Seconds())}
}

func round(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 3, 64), 64)
	return v
}

// loop runs f on conc workers until d has passed or max requests were sent.
func loop(ctx context.Context, conc int, d time.Duration, maxReq int, f func(context.Context) error) (Requests, error) {
	var sent atomic.Int64
	lat := make([][]time.Duration, conc)
	deadline := time.Now().Add(d)
	start := time.Now()
	var g *group
	g, ctx = newGroup(ctx)
	for w := range conc {
		g.Go(func() error {
			for time.Now().Before(deadline) && sent.Add(1) <= int64(maxReq) {
				if err := ctx.Err(); err != nil {
					return err
				}
				t := time.Now()
				if err := f(ctx); err != nil {
					return err
				}
				lat[w] = append(lat[w], time.Since(t))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Requests{}, err
	}
	el := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := Requests{Concurrency: conc, Requests: int64(len(all)), Seconds: round(el.Seconds())}
	if len(all) > 0 {
		r.PerSecond = round(float64(len(all)) / el.Seconds())
		r.P50ms, r.P99ms = pct(all, 50), pct(all, 99)
	}
	return r, nil
}

// pct is the p-th percentile of sorted durations, in milliseconds.
func pct(sorted []time.Duration, p int) float64 {
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return round(float64(sorted[i]) / 1e6)
}

func (c *client) blobsURL() string { return c.url("/v2/" + c.repo + "/blobs/") }

// pushBlob starts an upload (POST) and completes it with one PUT of the
// whole stream naming its digest.
func (c *client) pushBlob(ctx context.Context, b blob) error {
	resp, err := c.do(ctx, func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, c.blobsURL()+"uploads/", nil)
	})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return statusErr("POST upload", resp)
	}
	drain(resp)
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return fmt.Errorf("POST upload: no usable Location (%q)", resp.Header.Get("Location"))
	}
	if loc.Host != c.base.Host {
		return fmt.Errorf("upload Location %s is not on %s: refused", loc, c.base.Host)
	}
	q := loc.Query()
	q.Set("digest", b.digest)
	loc.RawQuery = q.Encode()
	resp, err = c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, loc.String(), newBlob(b.seed, b.size))
		if err != nil {
			return nil, err
		}
		req.ContentLength = b.size
		req.Header.Set("Content-Type", "application/octet-stream")
		return req, nil
	})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return statusErr("PUT upload", resp)
	}
	drain(resp)
	return nil
}

// pullBlob GETs a blob and checks its size and digest.
func (c *client) pullBlob(ctx context.Context, digest string, size int64) error {
	resp, err := c.do(ctx, func() (*http.Request, error) {
		return http.NewRequest(http.MethodGet, c.blobsURL()+digest, nil)
	})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusErr("GET blob "+digest, resp)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, resp.Body, make([]byte, 256<<10))
	if err != nil {
		return fmt.Errorf("GET blob %s: %w", digest, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); n != size || got != digest {
		return fmt.Errorf("GET blob %s: got %d bytes with digest %s, want %d bytes", digest, n, got, size)
	}
	return nil
}

// pushImage pushes a config and a manifest tagged "bench" whose layers are
// the given blobs; it returns the bytes a full pull moves.
func (c *client) pushImage(ctx context.Context, layers []blob) (int64, error) {
	cfgJSON := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`)
	sum := sha256.Sum256(cfgJSON)
	cfgDigest := "sha256:" + hex.EncodeToString(sum[:])
	if err := c.pushSmall(ctx, cfgJSON, cfgDigest); err != nil {
		return 0, err
	}
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{SchemaVersion: 2, MediaType: manifestType, Config: desc{configType, cfgDigest, int64(len(cfgJSON))}, Layers: []desc{}}
	total := int64(len(cfgJSON))
	for _, l := range layers {
		m.Layers = append(m.Layers, desc{layerType, l.digest, l.size})
		total += l.size
	}
	raw, _ := json.Marshal(m)
	resp, err := c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, c.url("/v2/"+c.repo+"/manifests/"+tag), bytes.NewReader(raw))
		if err == nil {
			req.Header.Set("Content-Type", manifestType)
		}
		return req, err
	})
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusCreated {
		return 0, statusErr("PUT manifest", resp)
	}
	drain(resp)
	return total + int64(len(raw)), nil
}

func (c *client) pushSmall(ctx context.Context, data []byte, digest string) error {
	resp, err := c.do(ctx, func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, c.blobsURL()+"uploads/", nil)
	})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return statusErr("POST upload", resp)
	}
	drain(resp)
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Host != c.base.Host {
		return fmt.Errorf("POST upload: unusable Location %q", resp.Header.Get("Location"))
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	resp, err = c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(data))
		if err == nil {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		return req, err
	})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return statusErr("PUT upload", resp)
	}
	drain(resp)
	return nil
}

func (c *client) headManifest(ctx context.Context) error {
	resp, err := c.do(ctx, c.manifestRequest(http.MethodHead))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HEAD manifest: %s", resp.Status)
	}
	return nil
}

// manifestRequest builds a request for the benchmark's tagged manifest.
func (c *client) manifestRequest(method string) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		req, err := http.NewRequest(method, c.url("/v2/"+c.repo+"/manifests/"+tag), nil)
		if err == nil {
			req.Header.Set("Accept", manifestType)
		}
		return req, err
	}
}

// pullImage is one node's pull: manifest by tag, then config and layers,
// every digest checked.
func (c *client) pullImage(ctx context.Context) error {
	resp, err := c.do(ctx, c.manifestRequest(http.MethodGet))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusErr("GET manifest", resp)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	if err != nil {
		return err
	}
	var m struct {
		Config struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		} `json:"config"`
		Layers []struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("GET manifest: %v", err)
	}
	if err := c.pullBlob(ctx, m.Config.Digest, m.Config.Size); err != nil {
		return err
	}
	for _, l := range m.Layers {
		if err := c.pullBlob(ctx, l.Digest, l.Size); err != nil {
			return err
		}
	}
	return nil
}

// imagePull starts cfg.Nodes clients at once, each with its own connections
// and its own token, and has each pull the image once.
func imagePull(ctx context.Context, cfg *Config, imageBytes int64) (ImagePull, error) {
	times := make([]time.Duration, cfg.Nodes)
	var mu sync.Mutex
	start := time.Now()
	err := forEach(ctx, cfg.Nodes, cfg.Nodes, func(ctx context.Context, i int) error {
		t := time.Now()
		c := newClient(cfg, 2)
		defer c.http.CloseIdleConnections()
		if err := c.login(ctx); err != nil {
			return err
		}
		if err := c.pullImage(ctx); err != nil {
			return err
		}
		mu.Lock()
		times[i] = time.Since(t)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return ImagePull{}, err
	}
	el := time.Since(start)
	if el <= 0 {
		return ImagePull{}, errors.New("no time passed")
	}
	slices.Sort(times)
	total := imageBytes * int64(cfg.Nodes)
	return ImagePull{Nodes: cfg.Nodes, ImageBytes: imageBytes, Seconds: round(el.Seconds()),
		MBps: round(float64(total) / 1e6 / el.Seconds()), P50ms: pct(times, 50), P99ms: pct(times, 99)}, nil
}
