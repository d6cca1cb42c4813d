package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/store/blob/s3/s3test"
	"github.com/opencontainers/go-digest"
)

// faultProxy forwards TCP to an S3 server until it is cut: then it resets
// every open connection and every new one, as a crashed or partitioned S3
// endpoint does.
type faultProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = true
		}
		p.mu.Unlock()
		if down {
			c.(*net.TCPConn).SetLinger(0) // a reset, not a clean close
			c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *faultProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// cut resets every connection and refuses new ones until restore.
func (p *faultProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	clear(p.conns)
}

func (p *faultProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestS3Outage: while the S3 endpoint is unreachable, pushes and pulls fail
// promptly with 503 and a registry error body (never a hang, a 500 or a
// panic); once it is back the same node serves again without a restart, and
// what was committed before is intact, including a chunked upload that was
// interrupted by the outage.
func TestS3Outage(t *testing.T) {
	s3c := s3test.Config(t)
	t.Setenv("MOAT_ADMIN_PASSWORD", "s3-outage-password-1")
	proxy := newFaultProxy(t, hostOf(t, s3c.Endpoint))
	cfg := testConfig(t.TempDir())
	cfg.S3 = config.S3{Endpoint: "http://" + proxy.ln.Addr().String(), Region: cfg.S3.Region, Bucket: s3c.Bucket, Prefix: s3c.Prefix, PathStyle: true,
		AccessKey: s3c.AccessKey, SecretKey: s3c.SecretKey}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return netid.With(ctx, netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("203.0.113.5")})
	}
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })

	admin := loginToken(t, ts.URL, srv.Tenant(), "s3-outage-password-1")
	client := &http.Client{Timeout: 60 * time.Second} // a hang fails the test
	do := func(method, path, auth string, body []byte, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	regPath := "/subscriptions/" + srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/s3reg?api-version=2025-11-01"
	if resp, b := do(http.MethodPut, regPath, "Bearer "+admin, []byte(`{"sku":{"name":"Premium"}}`), "Content-Type", "application/json"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create registry: %d %s", resp.StatusCode, b)
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/oauth2/token?scope=repository:s3reg/app:pull,push", nil)
	req.SetBasicAuth("admin", "s3-outage-password-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	auth := "Bearer " + tok.AccessToken

	push := func(data []byte) (*http.Response, []byte) {
		return do(http.MethodPost, "/v2/s3reg/app/blobs/uploads/?digest="+digest.FromBytes(data).String(), auth, data,
			"Content-Type", "application/octet-stream")
	}
	before := randomBytes(t, 200_000)
	if resp, b := push(before); resp.StatusCode != http.StatusCreated {
		t.Fatalf("push before the outage: %d %s", resp.StatusCode, b)
	}
	// A chunked upload with its first chunk in before the outage.
	resp, b := do(http.MethodPost, "/v2/s3reg/app/blobs/uploads/", auth, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d %s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	chunked := randomBytes(t, 300_000)
	if resp, b := do(http.MethodPatch, loc, auth, chunked[:100_000], "Content-Type", "application/octet-stream",
		"Content-Range", "0-99999"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first chunk: %d %s", resp.StatusCode, b)
	}

	proxy.cut()
	unavailable := func(what string, resp *http.Response, b []byte) {
		t.Helper()
		var body struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(b, &body) != nil || len(body.Errors) != 1 || body.Errors[0].Code != "UNAVAILABLE" {
			t.Fatalf("%s during the outage: %d %s, want 503 with an UNAVAILABLE registry error", what, resp.StatusCode, b)
		}
	}
	start := time.Now()
	resp, b = push(randomBytes(t, 50_000))
	unavailable("push", resp, b)
	resp, b = do(http.MethodGet, "/v2/s3reg/app/blobs/"+digest.FromBytes(before).String(), auth, nil)
	unavailable("pull", resp, b)
	resp, b = do(http.MethodPatch, loc, auth, chunked[100_000:200_000], "Content-Type", "application/octet-stream", "Content-Range", "100000-199999")
	unavailable("chunk", resp, b)
	t.Logf("three requests failed in %v during the outage", time.Since(start))
	if resp, b := do(http.MethodGet, "/readyz", "", nil); resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(b, []byte(`"blobStore":"unavailable"`)) {
		t.Fatalf("readyz during the outage: %d %s", resp.StatusCode, b)
	}

	proxy.restore()
	if resp, b := do(http.MethodGet, "/readyz", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz after the outage: %d %s", resp.StatusCode, b)
	}
	resp, b = do(http.MethodGet, "/v2/s3reg/app/blobs/"+digest.FromBytes(before).String(), auth, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, before) {
		t.Fatalf("pull after the outage: %d, %d bytes (want %d)", resp.StatusCode, len(b), len(before))
	}
	// The interrupted upload goes on from what it had before the outage.
	resp, b = do(http.MethodGet, loc, auth, nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Range") != "0-99999" {
		t.Fatalf("upload status after the outage: %d Range %q %s", resp.StatusCode, resp.Header.Get("Range"), b)
	}
	if resp, b := do(http.MethodPatch, loc, auth, chunked[100_000:], "Content-Type", "application/octet-stream",
		"Content-Range", fmt.Sprintf("100000-%d", len(chunked)-1)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("chunk after the outage: %d %s", resp.StatusCode, b)
	} else {
		loc = resp.Header.Get("Location")
	}
	sep := "?"
	if bytes.ContainsRune([]byte(loc), '?') {
		sep = "&"
	}
	if resp, b := do(http.MethodPut, loc+sep+"digest="+digest.FromBytes(chunked).String(), auth, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish upload after the outage: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(http.MethodGet, "/v2/s3reg/app/blobs/"+digest.FromBytes(chunked).String(), auth, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(b, chunked) {
		t.Fatalf("pull of the resumed upload: %d, %d bytes", resp.StatusCode, len(b))
	}
	if resp, b := push(randomBytes(t, 50_000)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("push after the outage: %d %s", resp.StatusCode, b)
	}
}

func hostOf(t *testing.T, endpoint string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, endpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req.URL.Host
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
