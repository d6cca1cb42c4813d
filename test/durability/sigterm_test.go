package durability

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// drainMax is how long moat serve may take to exit after SIGTERM: the 30 s
// drain deadline plus the time to close the stores.
const drainMax = 40 * time.Second

// gate holds a request body after its first part until release is closed.
type gate struct {
	first, rest io.Reader
	reached     chan struct{}
	release     chan struct{}
	waited      bool
}

func (g *gate) Read(p []byte) (int, error) {
	n, err := g.first.Read(p)
	if err != io.EOF {
		return n, err
	}
	if !g.waited {
		g.waited = true
		close(g.reached)
		<-g.release
	}
	if n > 0 {
		return n, nil
	}
	return g.rest.Read(p)
}

// TestSIGTERMDuringChunkedPush sends a real SIGTERM to moat serve while a
// PATCH of a chunked upload is in flight: the listener stops accepting, the
// PATCH completes with 202, the process exits 0 within the drain deadline,
// and after a restart on the same data directory the session reports the
// acknowledged Range and the push completes with the right digest.
func TestSIGTERMDuringChunkedPush(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	s.createRegistry(t, "sigterm")
	c := newClient(t, s.url, "sigterm", "app")
	const chunk = 1 << 20
	big := blobData{seed: 42, size: 3 * chunk}
	loc := c.startUpload(t)
	if err := c.patch(loc, big.section(0, chunk), 0, chunk); err != nil {
		t.Fatal(err)
	}
	// The second chunk: half its bytes, then the server gets SIGTERM, then the rest.
	g := &gate{first: big.section(chunk, chunk/2), rest: big.section(chunk+chunk/2, chunk/2),
		reached: make(chan struct{}), release: make(chan struct{})}
	patched := make(chan error, 1)
	go func() { patched <- c.patch(loc, g, chunk, chunk) }()
	select {
	case <-g.reached:
	case err := <-patched:
		t.Fatalf("the PATCH ended before the signal: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // the server is reading the body
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused while the PATCH drains.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(s.url, "http://"), time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts 5 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-s.exited:
		t.Fatalf("moat serve exited with a request in flight:\n%s", s.log())
	default:
	}
	close(g.release)
	if err := <-patched; err != nil {
		t.Fatalf("the in-flight PATCH did not complete: %v", err)
	}
	start := time.Now()
	select {
	case <-s.exited:
	case <-time.After(drainMax):
		t.Fatalf("moat serve did not exit within %v of SIGTERM:\n%s", drainMax, s.log())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("moat serve exited with %d after SIGTERM (%v), want 0:\n%s", code, s.cmd.ProcessState, s.log())
	}
	t.Logf("exited %v after the in-flight PATCH completed", time.Since(start).Round(time.Millisecond))

	// Restart on the same data directory: the session resumes where the
	// acknowledged PATCHes left it.
	s2 := startServer(t, dataDir)
	c.connect(t, s2.url)
	status, rng, code := c.uploadStatus(t, loc)
	if status != http.StatusNoContent || rng != fmt.Sprintf("0-%d", 2*chunk-1) {
		t.Fatalf("GET upload after the restart: %d Range %q %s, want 204 Range 0-%d", status, rng, code, 2*chunk-1)
	}
	if err := c.patch(loc, big.section(2*chunk, chunk), 2*chunk, chunk); err != nil {
		t.Fatal(err)
	}
	c.commit(t, loc, big.digest())
	c.checkBlob(t, big.digest(), big.size)
}

// TestSIGHUPAddsTrustedProxy changes the YAML configuration of a running
// moat serve to trust 127.0.0.1 as a proxy and sends SIGHUP: X-Forwarded-For
// from 127.0.0.1, ignored before, is then the client address (as the
// what-if checkNetworkAccess {"caller":true} reports it).
func TestSIGHUPAddsTrustedProxy(t *testing.T) {
	port := freePort(t)
	cfgFile := filepath.Join(t.TempDir(), "moat.yaml")
	writeConfig := func(trusted string) {
		t.Helper()
		y := fmt.Sprintf("listeners:\n  - name: default\n    address: 127.0.0.1:%d\n    kind: public\n", port)
		if trusted != "" {
			y += "    trustedProxies: [\"" + trusted + "\"]\n"
		}
		if err := os.WriteFile(cfgFile, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("")
	s := startServerArgs(t, t.TempDir(), port, "--config", cfgFile)
	tok, sub := managementToken(t, s.url)
	regID := "/subscriptions/" + sub + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/hupreg"
	if st, b := mgmtCall(t, s.url, tok, http.MethodPut, regID, `{"location":"local","sku":{"name":"Premium"}}`, nil); st >= 300 {
		t.Fatalf("create registry: %d %s", st, b)
	}
	seen := func() string {
		t.Helper()
		st, b := mgmtCall(t, s.url, tok, http.MethodPost, regID+"/checkNetworkAccess", `{"caller":true}`,
			map[string]string{"X-Forwarded-For": "203.0.113.7"})
		if st != http.StatusOK {
			t.Fatalf("checkNetworkAccess: %d %s", st, b)
		}
		var out struct {
			ClientIP string `json:"clientIp"`
		}
		_ = json.Unmarshal(b, &out)
		return out.ClientIP
	}
	if ip := seen(); ip != "127.0.0.1" {
		t.Fatalf("before SIGHUP the untrusted X-Forwarded-For must not count: client %q", ip)
	}
	writeConfig("127.0.0.1/32")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ip := seen(); ip != "203.0.113.7"; ip = seen() {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after SIGHUP the trusted proxy's X-Forwarded-For is not the client: %q\n%s", ip, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(s.log(), "reloaded") {
		t.Errorf("the server log does not say it reloaded:\n%s", s.log())
	}
	select {
	case <-s.exited:
		t.Fatalf("moat serve exited on SIGHUP:\n%s", s.log())
	default:
	}
}

// managementToken signs the administrator in at the server's identity
// authority and returns a management token and the subscription ID.
func managementToken(t *testing.T, base string) (tok, sub string) {
	t.Helper()
	resp, err := http.Get(base + "/metadata/endpoints?api-version=2022-09-01")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Authentication struct {
			Tenant string `json:"tenant"`
		} `json:"authentication"`
	}
	if err := json.Unmarshal(expect(t, resp, http.StatusOK), &md); err != nil || md.Authentication.Tenant == "" {
		t.Fatalf("metadata endpoints: no tenant (%v)", err)
	}
	resp, err = http.PostForm(base+"/identity/"+md.Authentication.Tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}, "client_id": {"moat-durability"},
		"scope": {"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(expect(t, resp, http.StatusOK), &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("management token: %v", err)
	}
	st, b := mgmtCall(t, base, tr.AccessToken, http.MethodGet, "/subscriptions", "", nil)
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &subs) != nil || len(subs.Value) == 0 {
		t.Fatalf("GET /subscriptions: %d %s", st, b)
	}
	return tr.AccessToken, subs.Value[0].SubscriptionID
}

func mgmtCall(t *testing.T, base, tok, method, path, body string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path+"?api-version=2025-11-01", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
