package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/server"
)

// small is the test workload: a few small blobs, short request runs.
func small(registry, repo string) Config {
	return Config{Registry: registry, Repository: repo, Blobs: 4, BlobSize: 1 << 20, Concurrency: 2,
		HeadConc: 4, Duration: 300 * time.Millisecond, Nodes: 3, Layers: 2, Timeout: 2 * time.Minute}
}

// sane checks every figure of a run is positive (never a timing or a ratio).
func sane(t *testing.T, res *Result, auth bool) {
	t.Helper()
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	for name, tr := range map[string]Transfer{"push": back.Push, "pull": back.Pull} {
		if tr.Blobs != 4 || tr.Bytes != 4<<20 || tr.Seconds < 0 || tr.MBps <= 0 {
			t.Errorf("%s: %+v", name, tr)
		}
	}
	reqs := map[string]*Requests{"manifest_head": &back.ManifestHead}
	if auth {
		reqs["token"] = back.Token
		reqs["token_exchange"] = back.TokenExchange
	} else if back.Token != nil || back.TokenExchange != nil {
		t.Errorf("token runs without auth: %+v %+v", back.Token, back.TokenExchange)
	}
	for name, r := range reqs {
		if r == nil || r.Requests <= 0 || r.PerSecond <= 0 || r.P50ms <= 0 || r.P99ms < r.P50ms || r.Concurrency != 4 {
			t.Errorf("%s: %+v", name, r)
		}
	}
	if back.Auth != auth {
		t.Errorf("token_auth = %v, want %v", back.Auth, auth)
	}
	ip := back.ImagePull
	if ip.Nodes != 3 || ip.Layers != 2 || ip.ImageBytes <= 2<<20 || ip.MBps <= 0 || ip.P50ms <= 0 || ip.P99ms < ip.P50ms {
		t.Errorf("image_pull: %+v", ip)
	}
}

func TestLimitServer(t *testing.T) {
	s, err := NewLimitServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	base := "http://" + ln.Addr().String()
	for _, proxy := range []string{"", "16.17.18.19"} {
		cfg := small(base, "reg1/bench")
		if proxy != "" {
			cfg.ProxySource = netip.MustParseAddr(proxy)
		}
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("proxy %q: %v", proxy, err)
		}
		sane(t, res, false)
	}

	// The server's memory (here, this process's own) around the transfers.
	cfg := small(base, "reg1/mem")
	cfg.ServerPID = os.Getpid()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Memory; m == nil || m.PID != cfg.ServerPID || m.IdleMiB <= 0 || m.PushPeak <= 0 || m.PullPeak <= 0 || m.AfterMiB <= 0 {
		t.Errorf("server memory: %+v", m)
	}

	// A wrong digest is refused and leaves no blob.
	resp, err := http.Post(base+"/v2/r/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	bad := "sha256:" + strings.Repeat("0", 64)
	req, _ := http.NewRequest(http.MethodPut, base+resp.Header.Get("Location")+"?digest="+bad, bytes.NewReader([]byte("x")))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("wrong digest: %s", resp.Status)
	}
	if resp, _ := http.Get(base + "/v2/r/blobs/" + bad); resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("blob of a refused upload: %v", resp)
	}
}

func TestBlobReader(t *testing.T) {
	var a, b bytes.Buffer
	io.Copy(&a, newBlob(7, 1001))
	io.CopyBuffer(&b, struct{ io.Reader }{newBlob(7, 1001)}, make([]byte, 3)) // odd reads: same stream
	if a.Len() != 1001 || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("blob of %d and %d bytes differ", a.Len(), b.Len())
	}
	if blobDigest(7, 1001) == blobDigest(8, 1001) {
		t.Fatal("seeds give the same blob")
	}
}

func TestParseChallenge(t *testing.T) {
	realm, service, err := parseChallenge(`Bearer realm="http://h:1/oauth2/token",service="h:1",scope="repository:a/b:pull"`)
	if err != nil || realm != "http://h:1/oauth2/token" || service != "h:1" {
		t.Fatalf("%q %q %v", realm, service, err)
	}
	if _, _, err := parseChallenge(`Basic realm="x"`); err == nil {
		t.Fatal("Basic accepted")
	}
}

const password = "bench-password-1"

// TestMoat runs the generator against a whole moat server listening on
// loopback and trusting PROXY headers from it, with token auth on: a
// default-Allow registry, and a default-Deny one that allows only
// 16.17.18.19, reachable only with --proxy-source 16.17.18.19.
func TestMoat(t *testing.T) {
	t.Setenv("MOAT_ADMIN_PASSWORD", password)
	sc := config.Default()
	sc.DataDir = t.TempDir()
	sc.Listeners = []config.Listener{{Name: "pub", Address: "127.0.0.1:0", Kind: config.KindPublic, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}
	// The token run measures the endpoint flat out from one address: no per-address limit.
	sc.Limits.TokenRequestsPerSecond = 0
	srv, err := server.New(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan []net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, func(a []net.Addr) { addrs <- a }) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	var base string
	select {
	case a := <-addrs:
		base = "http://" + a[0].String()
	case err := <-done:
		t.Fatal(err)
	}

	mgmt := base + "/subscriptions/" + srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/"
	tok := adminToken(t, base, srv.Tenant())
	call(t, tok, http.MethodPut, mgmt+"benchallow", `{"sku":{"name":"Premium"}}`)
	call(t, tok, http.MethodPut, mgmt+"benchdeny", `{"sku":{"name":"Premium"}}`)
	call(t, tok, http.MethodPatch, mgmt+"benchdeny", `{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"value":"16.17.18.19"}]}}}`)

	cfg := small(base, "benchallow/bench")
	cfg.Username, cfg.Password = "admin", password
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sane(t, res, true)

	cfg = small(base, "benchdeny/bench")
	cfg.Username, cfg.Password = "admin", password
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("the default-Deny registry without a PROXY header: %v, want a 403", err)
	}
	cfg.ProxySource = netip.MustParseAddr("16.17.18.19")
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("with the allowed PROXY source: %v", err)
	}
	sane(t, res, true)

	// Without credentials the challenge is an error, not a silent anonymous run.
	cfg = small(base, "benchallow/bench")
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "--username") {
		t.Fatalf("no credentials: %v", err)
	}
}

func adminToken(t *testing.T, base, tenant string) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {password}, "client_id": {"moat-bench"}, "scope": {"https://management.azure.com/.default"}}
	resp, err := http.PostForm(base+"/identity/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("identity token: %s %v", resp.Status, err)
	}
	return out.AccessToken
}

func call(t *testing.T, tok, method, u, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, u+"?api-version=2025-11-01", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %s %s", method, u, resp.Status, b)
	}
}
