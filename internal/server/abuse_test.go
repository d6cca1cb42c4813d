package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
)

// abuseEnv is a server whose listener trusts loopback as a proxy, so a test
// can present any client address with X-Forwarded-For.
func startAbuse(t *testing.T, limits func(*config.Limits)) *opsEnv {
	cfg := opsConfig(t, t.TempDir())
	cfg.Listeners[0].TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if limits != nil {
		limits(&cfg.Limits)
	}
	return startOps(t, cfg)
}

// tokenAs asks the registry token endpoint with Basic credentials from client address from.
func (e *opsEnv) tokenAs(from, user, pw string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/oauth2/token?service="+e.cfg.Listeners[0].Address, nil)
	req.SetBasicAuth(user, pw)
	req.Header.Set("X-Forwarded-For", from)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func status(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// want429 checks a throttled answer: 429, a Retry-After of whole seconds and
// the error body of the endpoint (code in body).
func want429(t *testing.T, resp *http.Response, code string) {
	t.Helper()
	ra := resp.Header.Get("Retry-After")
	st, body := status(t, resp)
	if n, err := strconv.Atoi(ra); st != http.StatusTooManyRequests || err != nil || n < 1 || !strings.Contains(body, code) {
		t.Fatalf("want 429 with Retry-After and %s, got %d Retry-After=%q %s", code, st, ra, body)
	}
}

// TestSignInFailuresPerAddress: after N failed sign-ins from one address,
// sign-ins from it get 429 with Retry-After, even with the right password and
// on the identity endpoint; another address still signs in.
func TestSignInFailuresPerAddress(t *testing.T) {
	e := startAbuse(t, func(l *config.Limits) { l.SignInFailures = 3 })
	const bad, good = "198.51.100.7", "198.51.100.8"
	for i := range 3 {
		if st, body := status(t, e.tokenAs(bad, "admin", "wrong")); st != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i, st, body)
		}
	}
	want429(t, e.tokenAs(bad, "admin", opsPassword), "TOOMANYREQUESTS")
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {opsPassword}, "client_id": {"moat-test"}}
	req, _ := http.NewRequest(http.MethodPost, e.base+"/identity/"+e.srv.Tenant()+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", bad)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	want429(t, resp, "temporarily_unavailable")
	if st, body := status(t, e.tokenAs(good, "admin", opsPassword)); st != http.StatusOK {
		t.Fatalf("other address: %d %s", st, body)
	}
}

// TestSignInFailuresPerPrincipal: failures for one name from many addresses
// throttle that name only; another user from the same address signs in.
func TestSignInFailuresPerPrincipal(t *testing.T) {
	e := startAbuse(t, func(l *config.Limits) { l.SignInFailuresPerPrincipal = 4 })
	for i := range 4 {
		if st, _ := status(t, e.tokenAs(fmt.Sprintf("203.0.113.%d", i+1), "victim", "guess")); st != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, st)
		}
	}
	want429(t, e.tokenAs("203.0.113.99", "Victim", "guess"), "TOOMANYREQUESTS")
	if st, body := status(t, e.tokenAs("203.0.113.99", "admin", opsPassword)); st != http.StatusOK {
		t.Fatalf("other user: %d %s", st, body)
	}
}

// TestTokenRequestRate: every token request counts against the address's
// rate (here 1/s with a burst of 10); the 11th in a row is throttled.
func TestTokenRequestRate(t *testing.T) {
	e := startAbuse(t, func(l *config.Limits) { l.TokenRequestsPerSecond = 1 })
	get := func(from string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, e.base+"/oauth2/token?service=x", nil)
		req.Header.Set("X-Forwarded-For", from)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i := range 10 {
		if st, body := status(t, get("192.0.2.1")); st != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, st, body)
		}
	}
	want429(t, get("192.0.2.1"), "TOOMANYREQUESTS")
	if st, _ := status(t, get("192.0.2.2")); st != http.StatusOK {
		t.Fatalf("other address throttled: %d", st)
	}
}

// TestUploadSessionLimit: a registry's open sessions are bounded; a
// cancelled one frees its place.
func TestUploadSessionLimit(t *testing.T) {
	e := startAbuse(t, func(l *config.Limits) { l.UploadSessions = 2 })
	if st, body := e.mgmt(http.MethodPut, e.regPath("upl1mt"), `{"location":"local","sku":{"name":"Standard"}}`); st >= 300 {
		t.Fatalf("create registry: %d %s", st, body)
	}
	tok, st := e.regToken("admin", opsPassword, "repository:upl1mt/app:push,pull")
	if st != http.StatusOK {
		t.Fatalf("token: %d", st)
	}
	var locs []string
	for range 2 {
		resp := e.do(http.MethodPost, "/v2/upl1mt/app/blobs/uploads/", tok, nil, nil)
		if st, body := status(t, resp); st != http.StatusAccepted {
			t.Fatalf("start: %d %s", st, body)
		}
		locs = append(locs, resp.Header.Get("Location"))
	}
	resp := e.do(http.MethodPost, "/v2/upl1mt/app/blobs/uploads/", tok, nil, nil)
	if st, body := status(t, resp); st != http.StatusTooManyRequests || !strings.Contains(body, "TOOMANYREQUESTS") || !strings.Contains(body, "cancel") {
		t.Fatalf("third session: %d %s", st, body)
	}
	// A monolithic push (no session) still works at the limit.
	blob := []byte("monolithic")
	resp = e.do(http.MethodPost, "/v2/upl1mt/app/blobs/uploads/?digest="+digestOf(blob), tok, strings.NewReader(string(blob)),
		map[string]string{"Content-Type": "application/octet-stream"})
	if st, body := status(t, resp); st != http.StatusCreated {
		t.Fatalf("monolithic at the limit: %d %s", st, body)
	}
	if st, _ := status(t, e.do(http.MethodDelete, locs[0], tok, nil, nil)); st != http.StatusNoContent {
		t.Fatalf("cancel: %d", st)
	}
	if st, body := status(t, e.do(http.MethodPost, "/v2/upl1mt/app/blobs/uploads/", tok, nil, nil)); st != http.StatusAccepted {
		t.Fatalf("after cancel: %d %s", st, body)
	}
}

// TestSlowlorisHeaders: a client sending its request headers a byte at a
// time is disconnected by the header deadline, long before it finishes.
func TestSlowlorisHeaders(t *testing.T) {
	e := startAbuse(t, nil)
	c, err := net.Dial("tcp", e.cfg.Listeners[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET /v2/ HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Slow: y\r\n", 100)
	start := time.Now()
	for i := 0; i < len(req); i++ {
		if _, err := c.Write([]byte{req[i]}); err != nil {
			t.Logf("cut off after %d bytes, %s", i, time.Since(start).Round(time.Second))
			return
		}
		time.Sleep(100 * time.Millisecond)
		if time.Since(start) > 15*time.Second {
			// The server must have closed by now: a read sees EOF or a reset.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			if err == nil || isTimeout(err) {
				t.Fatalf("still connected after %s (read: %v)", time.Since(start), err)
			}
			t.Logf("cut off after %d bytes, %s: %v", i, time.Since(start).Round(time.Second), err)
			return
		}
	}
	t.Fatal("the whole slow request was accepted")
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestSlowBody: a body that stops moving is cut off by the stall deadline
// (shortened here), and a steady one within the minimum rate is not.
func TestSlowBody(t *testing.T) {
	bodyStall, bodyGrace = time.Second, 2*time.Second
	defer func() { bodyStall, bodyGrace = time.Minute, time.Minute }()
	e := startAbuse(t, nil)
	c, err := net.Dial("tcp", e.cfg.Listeners[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=pass")
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
	}
	if isTimeout(err) {
		t.Fatalf("a stalled body held the connection for %s", time.Since(start))
	}
	t.Logf("stalled body ended after %s: %v %v", time.Since(start).Round(time.Millisecond), err, resp)

	// A slow but steady body (1 KiB/s is the minimum average) completes.
	pr, pw := io.Pipe()
	go func() {
		for range 3 {
			pw.Write([]byte(strings.Repeat("a", 1500)))
			time.Sleep(700 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth2/token", pr)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("steady body: %v", err)
	}
	var out map[string]any
	json.NewDecoder(r2.Body).Decode(&out)
	r2.Body.Close()
	if r2.StatusCode >= 500 {
		t.Fatalf("steady body: %s %v", r2.Status, out)
	}
}

// TestPacedReadFrom: large and CopyN-limited downloads through the paced
// writer arrive whole and exact (the chunking must not lose or add bytes).
func TestPacedReadFrom(t *testing.T) {
	e := startAbuse(t, nil)
	if st, body := e.mgmt(http.MethodPut, e.regPath("pace1reg"), `{"location":"local","sku":{"name":"Standard"}}`); st >= 300 {
		t.Fatalf("create: %d %s", st, body)
	}
	tok, _ := e.regToken("admin", opsPassword, "repository:pace1reg/app:push,pull")
	blob := make([]byte, 9<<20+123) // more than two chunks
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	e.pushBlob(tok, "pace1reg/app", blob)
	for _, rng := range []string{"", "bytes=5-8388700", "bytes=4194300-"} {
		resp := e.do(http.MethodGet, "/v2/pace1reg/app/blobs/"+digestOf(blob), tok, nil, map[string]string{"Range": rng})
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := blob
		switch rng {
		case "bytes=5-8388700":
			want = blob[5:8388701]
		case "bytes=4194300-":
			want = blob[4194300:]
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("GET with Range %q: %s, %d bytes (want %d), %v", rng, resp.Status, len(got), len(want), err)
		}
	}
}

// TestSignInAllowanceReservedBeforeCheck: the failure allowance is taken
// before the password is checked, so 60 concurrent bad sign-ins from one
// address with an allowance of 5 get at most 5 password checks (401); the
// others are refused at once with 429. (Checking before and counting after
// let all 60 through to the expensive check.)
func TestSignInAllowanceReservedBeforeCheck(t *testing.T) {
	e := startAbuse(t, func(l *config.Limits) { l.SignInFailures = 5 })
	const n = 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int]int{}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, _ := status(t, e.tokenAs("198.51.100.60", "admin", fmt.Sprintf("wrong-%d", i)))
			mu.Lock()
			got[st]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if got[http.StatusUnauthorized] > 5 || got[http.StatusUnauthorized]+got[http.StatusTooManyRequests] != n {
		t.Fatalf("answers %v: want at most 5 checked (401) and the rest 429", got)
	}
	// A success gives its reservation back: the right password from a fresh
	// address, many times, never uses up that address's allowance.
	for i := range 8 {
		if st, body := status(t, e.tokenAs("198.51.100.61", "admin", opsPassword)); st != http.StatusOK {
			t.Fatalf("good sign-in %d: %d %s", i, st, body)
		}
	}
}
