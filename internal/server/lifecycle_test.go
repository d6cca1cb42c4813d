package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestShutdownDuringChunkedPushThenResume: SIGTERM (moat serve cancels Run's
// context) while a chunk is being sent lets that request finish; the server
// stops accepting; after a restart on the same data directory the upload
// session is still there and the push completes.
func TestShutdownDuringChunkedPushThenResume(t *testing.T) {
	dir := t.TempDir()
	e := startOps(t, opsConfig(t, dir))
	if code, b := e.mgmt(http.MethodPut, e.regPath("drainreg"), `{"location":"local","sku":{"name":"Premium"}}`); code >= 300 {
		t.Fatalf("create registry: %d %s", code, b)
	}
	tok, _ := e.regToken("admin", opsPassword, "repository:drainreg/app:pull,push")
	blob := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB in three chunks
	c1, c2, c3 := blob[:20000], blob[20000:40000], blob[40000:]
	resp := e.do(http.MethodPost, "/v2/drainreg/app/blobs/uploads/", tok, nil, nil)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start: %s", resp.Status)
	}
	chunk := func(e *opsEnv, start int, b io.Reader, n int) *http.Response {
		req, _ := http.NewRequest(http.MethodPatch, e.base+loc, b)
		req.ContentLength = int64(n)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", rangeOf(start, n))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("chunk at %d: %v", start, err)
			return &http.Response{Status: err.Error()}
		}
		resp.Body.Close()
		return resp
	}
	if resp := chunk(e, 0, bytes.NewReader(c1), len(c1)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("chunk 1: %s", resp.Status)
	}
	// Chunk 2 is in flight when the signal comes.
	pr, pw := io.Pipe()
	inflight := make(chan *http.Response, 1)
	go func() { inflight <- chunk(e, len(c1), pr, len(c2)) }()
	if _, err := pw.Write(c2[:5000]); err != nil {
		t.Fatal(err)
	}
	// Wait until the server is serving it (not merely queued on a kept-alive
	// connection, which a shutdown closes as idle, as any HTTP server does).
	for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(e.srv.obs.inflight) < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the chunk never reached the handler")
		}
	}
	e.cancel() // what SIGTERM does
	// The listener stops accepting new connections...
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", e.cfg.Listeners[0].Address, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after the shutdown began")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...while the request in flight finishes.
	if _, err := pw.Write(c2[5000:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r2 := <-inflight
	if r2.StatusCode != http.StatusAccepted || r2.Header.Get("Range") != "0-39999" {
		t.Fatalf("in-flight chunk: %s Range %q", r2.Status, r2.Header.Get("Range"))
	}
	if err := <-e.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	e.srv.Close()
	e.cancel = nil

	// Restart on the same data directory (a new port): the session survives.
	e2 := startOps(t, opsConfig(t, dir))
	tok, _ = e2.regToken("admin", opsPassword, "repository:drainreg/app:pull,push")
	resp = e2.do(http.MethodGet, loc, tok, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Range") != "0-39999" {
		t.Fatalf("upload status after restart: %s Range %q", resp.Status, resp.Header.Get("Range"))
	}
	if resp := chunk(e2, len(c1)+len(c2), bytes.NewReader(c3), len(c3)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("chunk 3: %s", resp.Status)
	}
	resp = e2.do(http.MethodPut, loc+"?digest="+digestOf(blob), tok, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("commit: %s", resp.Status)
	}
	resp = e2.do(http.MethodGet, "/v2/drainreg/app/blobs/"+digestOf(blob), tok, nil, nil)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, blob) {
		t.Fatalf("blob after resume: %d bytes, %s", len(got), resp.Status)
	}
}

func rangeOf(start, n int) string { return strconv.Itoa(start) + "-" + strconv.Itoa(start+n-1) }

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// TestReloadAddsTrustedProxyUnderTraffic: a reload (SIGHUP) that trusts the
// loopback proxy makes X-Forwarded-For count, while requests keep flowing
// without an error.
func TestReloadAddsTrustedProxyUnderTraffic(t *testing.T) {
	cfg := opsConfig(t, t.TempDir())
	e := startOps(t, cfg)
	if code, b := e.mgmt(http.MethodPut, e.regPath("hupreg"), `{"location":"local","sku":{"name":"Premium"}}`); code >= 300 {
		t.Fatalf("create registry: %d %s", code, b)
	}
	seen := func() string {
		req, _ := http.NewRequest(http.MethodPost, e.regPath("hupreg")+"/checkNetworkAccess?api-version=2025-11-01", strings.NewReader(`{"caller":true}`))
		req.Header.Set("Authorization", "Bearer "+e.mgmtTok)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			ClientIP string `json:"clientIp"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out.ClientIP
	}
	if ip := seen(); ip != "127.0.0.1" {
		t.Fatalf("before the reload the untrusted header must not count: %q", ip)
	}
	var stop atomic.Bool
	var failures, requests atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := http.Get(e.base + "/v2/")
				requests.Add(1)
				if err != nil || resp.StatusCode != http.StatusUnauthorized {
					failures.Add(1)
				}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	next := cfg
	next.Listeners = []config.Listener{{Name: "default", Address: cfg.Listeners[0].Address, Kind: config.KindPublic, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}
	if err := e.srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if failures.Load() != 0 || requests.Load() < 10 {
		t.Fatalf("%d of %d requests failed across the reload", failures.Load(), requests.Load())
	}
	if ip := seen(); ip != "203.0.113.7" {
		t.Fatalf("after the reload the trusted proxy's X-Forwarded-For must count: %q", ip)
	}
}

// TestReloadTLSCertificate: a reload re-reads the certificate files; a
// broken file keeps the previous certificate.
func TestReloadTLSCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, "moat-one")
	cfg := opsConfig(t, t.TempDir())
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	t.Setenv("MOAT_ADMIN_PASSWORD", opsPassword)
	srv, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ready, done := make(chan struct{}), make(chan error, 1)
	ctx, cancel := contextWithCancel(t)
	go func() { done <- srv.Run(ctx, func([]net.Addr) { close(ready) }) }()
	defer func() { cancel(); <-done }()
	<-ready
	served := func() string {
		c, err := tls.Dial("tcp", cfg.Listeners[0].Address, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "moat-one" {
		t.Fatalf("served %q", cn)
	}
	writeCert(t, certFile, keyFile, "moat-two")
	if err := srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if cn := served(); cn != "moat-two" {
		t.Fatalf("after reload served %q", cn)
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(cfg); err == nil {
		t.Fatal("a broken certificate must fail the reload")
	}
	if cn := served(); cn != "moat-two" {
		t.Fatalf("after a failed reload served %q", cn)
	}
	// HTTPS requests work end to end.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + cfg.Listeners[0].Address + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz over TLS: %v %v", err, resp)
	}
	resp.Body.Close()
}

func writeCert(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}
