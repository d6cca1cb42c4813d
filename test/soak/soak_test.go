// Package soak runs concurrent pushes and pulls from several simulated
// networks (three public addresses and a service-endpoint subnet behind a
// virtual-network listener) while the registry's network rules, public access and role
// assignments change continuously, and judges every operation against the
// decision the state at that moment calls for.
//
//	MOAT_E2E=1 go test ./test/soak/                       # ~60 s
//	MOAT_SOAK_DURATION=30m go test -timeout 40m ./test/soak/
package soak

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/apiversion"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/server"
	"github.com/opencontainers/go-digest"
)

const (
	registry = "soakreg"
	repo     = "app"
)

// network is a simulated client network: its clients connect through the
// PROXY protocol (the listeners trust loopback as a proxy), so one process
// presents many source addresses. netV is a subnet with the
// Microsoft.ContainerRegistry service endpoint behind the virtual-network
// listener: a virtual-network rule admits it, not an IP rule.
type network struct {
	name   string
	prefix string // the IP rule or subnet address range that admits it
	client netip.Addr
	subnet bool // arrives on the virtual-network listener
}

var networks = []network{
	{"netA", "16.1.0.0/16", netip.MustParseAddr("16.1.0.7"), false},
	{"netB", "16.2.0.0/16", netip.MustParseAddr("16.2.0.7"), false},
	{"netC", "16.3.0.0/16", netip.MustParseAddr("16.3.0.7"), false},
	{"netV", "10.50.1.0/24", netip.MustParseAddr("10.50.1.7"), true},
}

// state is what the management API was last told.
type state struct {
	public     bool            // publicNetworkAccess Enabled
	allowAll   bool            // networkRuleSet.defaultAction Allow
	ipRules    map[string]bool // network name -> its IP rule (or virtual-network rule for netV) is present
	readerPull bool            // the reader holds AcrPull on the registry
}

func (s state) reaches(n network) bool {
	return s.public && (s.allowAll || s.ipRules[n.name])
}

func (s state) String() string {
	var rules []string
	for _, n := range networks {
		if s.ipRules[n.name] {
			rules = append(rules, n.name)
		}
	}
	return fmt.Sprintf("public=%v allowAll=%v rules=%v readerPull=%v", s.public, s.allowAll, rules, s.readerPull)
}

// timeline records each change with the time its management call was sent
// and the time it was answered. An operation is judged only against a state
// that was stable from before it started until after it ended.
type timeline struct {
	mu      sync.Mutex
	changes []change
}

type change struct {
	sent, answered time.Time
	after          state
}

// never is the answer time of a change still in flight (or whose outcome is unknown).
var never = time.Now().Add(100 * 365 * 24 * time.Hour)

// begin records a change as in flight from now; finish records its answer.
// Operations ending while it is in flight are therefore never judged
// against the state before it.
func (tl *timeline) begin() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.changes = append(tl.changes, change{sent: time.Now(), answered: never})
	return len(tl.changes) - 1
}

func (tl *timeline) finish(i int, after state) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.changes[i].answered, tl.changes[i].after = time.Now(), after
}

// stable returns the state in force during [start, end], if no change was
// in flight or made in that interval.
func (tl *timeline) stable(start, end time.Time) (state, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var cur state
	found := false
	for _, c := range tl.changes {
		if !c.sent.After(end) && !c.answered.Before(start) {
			return state{}, false // in flight during the operation
		}
		if c.answered.Before(start) {
			cur, found = c.after, true
		}
	}
	return cur, found
}

// stats are the figures the test prints.
type stats struct {
	requests, served, denied, judged, unjudged, pushes, pulls, changes atomic.Int64
	mu                                                                 sync.Mutex
	violations                                                         []string
	// per network: judged operations allowed and denied
	allowedBy, deniedBy map[string]int
}

func (s *stats) judgedAs(n network, allowed bool) {
	s.judged.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if allowed {
		s.allowedBy[n.name]++
	} else {
		s.deniedBy[n.name]++
	}
}

func (s *stats) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.violations) < 50 {
		s.violations = append(s.violations, fmt.Sprintf(format, args...))
	}
}

func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("MOAT_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("MOAT_SOAK_DURATION=%q: want a duration such as 30m", v)
		}
		return d
	}
	if os.Getenv("MOAT_E2E") == "1" {
		return time.Minute
	}
	t.Skip("the soak test runs with MOAT_E2E=1 (60 s) or MOAT_SOAK_DURATION=<duration>")
	return 0
}

type env struct {
	t          *testing.T
	cfg        config.Config
	addr       string // host:port of the public listener
	vnetAddr   string // host:port of the virtual-network listener
	subnetID   string
	srv        *server.Server
	mgmtTok    string
	regURL     string
	readerID   string
	adminPW    string
	readerPW   string
	assignment string // the reader's role assignment URL
	roleOn     bool   // the assignment exists (only the controller changes it)
	stats      *stats
	tl         *timeline
}

func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	e := start(t)
	e.setup()
	img := e.pushBase()

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.control(ctx) }()
	var pushedMu sync.Mutex
	var pushed []pushedImage
	for i, n := range networks {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := e.clientFrom(n)
				for ctx.Err() == nil {
					e.pullOp(c, n, img)
					time.Sleep(2 * time.Millisecond) // denials are fast: leave the CPU to the server
				}
			}()
			if w == 0 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := e.clientFrom(n)
					for seq := 0; ctx.Err() == nil; seq++ {
						if p, ok := e.pushOp(c, n, fmt.Sprintf("%s-%d-%d", n.name, i, seq)); ok {
							pushedMu.Lock()
							pushed = append(pushed, p)
							pushedMu.Unlock()
						}
						time.Sleep(2 * time.Millisecond)
					}
				}()
			}
		}
	}
	wg.Wait()

	// Afterwards, from an admitted network with everything open: every
	// acknowledged push is intact.
	if err := e.apply(state{public: true, allowAll: true, ipRules: map[string]bool{}, readerPull: true}); err != nil {
		t.Fatal(err)
	}
	c := e.clientFrom(networks[0])
	for _, p := range pushed {
		tok, st := e.token(c, "admin", e.adminPW, "pull")
		if st != http.StatusOK {
			t.Fatalf("token for the final check: %d", st)
		}
		m, st := e.get(c, tok, "manifests/"+p.tag)
		if st != http.StatusOK || digest.FromBytes(m) != p.manifest {
			t.Errorf("pushed %s: %d, manifest %s want %s", p.tag, st, digest.FromBytes(m), p.manifest)
		}
		b, st := e.get(c, tok, "blobs/"+p.layer.String())
		if st != http.StatusOK || digest.FromBytes(b) != p.layer {
			t.Errorf("pushed %s: layer %d %s", p.tag, st, digest.FromBytes(b))
		}
	}
	s := e.stats
	t.Logf("soak %s: %d requests (%d served 2xx, %d denied 401/403), %d operations judged (%d pulls, %d pushes acknowledged), %d not judged (a change in flight), %d state changes, %d pushed images verified intact, %d violations",
		dur, s.requests.Load(), s.served.Load(), s.denied.Load(), s.judged.Load(), s.pulls.Load(), s.pushes.Load(), s.unjudged.Load(), s.changes.Load(), len(pushed), len(s.violations))
	for _, n := range networks {
		t.Logf("  %s (%s): %d judged operations expected allowed, %d expected denied", n.name, n.client, s.allowedBy[n.name], s.deniedBy[n.name])
		if s.allowedBy[n.name] == 0 || s.deniedBy[n.name] == 0 {
			t.Errorf("%s: no allowed or no denied operation was judged: the soak did not exercise its decisions", n.name)
		}
	}
	for _, v := range s.violations {
		t.Error(v)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func start(t *testing.T) *env {
	addr := freeAddr(t)
	pw := randomString("soak-admin-")
	t.Setenv("MOAT_ADMIN_PASSWORD", pw)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listeners = []config.Listener{{Name: "default", Address: addr, Kind: config.KindPublic, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	// The soak judges authorization, not throttling: many token requests come from each simulated address.
	cfg.Limits.TokenRequestsPerSecond = 0 // no limit
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- srv.Run(ctx, func([]net.Addr) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return &env{t: t, cfg: cfg, addr: addr, srv: srv, adminPW: pw, readerPW: randomString("reader-"), stats: &stats{allowedBy: map[string]int{}, deniedBy: map[string]int{}}, tl: &timeline{}}
}

func randomString(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// mustMgmt is mgmt for the set-up, on the test goroutine.
func (e *env) mustMgmt(method, path string, body any) []byte {
	e.t.Helper()
	b, err := e.mgmt(method, path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// mgmt calls the management API from loopback (no PROXY header); a 404 of a
// DELETE is success.
func (e *env) mgmt(method, path string, body any) ([]byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	u := "http://" + e.addr + path
	if !strings.Contains(path, "?") && strings.HasPrefix(path, "/subscriptions/") {
		// the version moat's own CLI sends: it has every member moat serves
		u += "?api-version=" + apiversion.ForClient(path)
	}
	req, _ := http.NewRequest(method, u, r)
	req.Header.Set("Authorization", "Bearer "+e.mgmtTok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && !(method == http.MethodDelete && resp.StatusCode == http.StatusNotFound) {
		return nil, fmt.Errorf("%s %s: %s %s", method, path, resp.Status, out)
	}
	return out, nil
}

func (e *env) setup() {
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {e.adminPW}, "client_id": {"soak"},
		"scope": {"https://management.azure.com/.default"}}
	resp, err := http.PostForm("http://"+e.addr+"/identity/"+e.srv.Tenant()+"/oauth2/v2.0/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		e.t.Fatalf("admin sign-in: %s", resp.Status)
	}
	e.mgmtTok = tok.AccessToken
	e.regURL = "/subscriptions/" + e.srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/" + registry
	e.mustMgmt(http.MethodPut, e.regURL, map[string]any{"location": "local", "sku": map[string]string{"name": "Premium"}})
	var u struct {
		ID string `json:"id"`
	}
	json.Unmarshal(e.mustMgmt(http.MethodPost, "/graph/v1.0/users", map[string]any{"userPrincipalName": "reader",
		"passwordProfile": map[string]string{"password": e.readerPW}}), &u)
	if u.ID == "" {
		e.t.Fatal("creating the reader returned no id")
	}
	e.readerID = u.ID
	// The virtual network and its listener (added by a configuration reload:
	// the listener names the network by resource ID, which needs the subscription).
	var subnets []any
	for _, n := range networks {
		if n.subnet {
			subnets = append(subnets, map[string]any{"name": n.name, "properties": map[string]any{"addressPrefix": n.prefix,
				"serviceEndpoints": []map[string]string{{"service": "Microsoft.ContainerRegistry"}}}})
		}
	}
	vnet := "/subscriptions/" + e.srv.Subscription() + "/resourceGroups/default/providers/Microsoft.Network/virtualNetworks/soakvnet"
	e.mustMgmt(http.MethodPut, vnet, map[string]any{"location": "local", "properties": map[string]any{
		"addressSpace": map[string]any{"addressPrefixes": []string{"10.50.0.0/16"}}, "subnets": subnets}})
	e.subnetID = vnet + "/subnets/"
	e.vnetAddr = freeAddr(e.t)
	e.cfg.Listeners = append(e.cfg.Listeners, config.Listener{Name: "vnet", Address: e.vnetAddr, Kind: config.KindVirtualNetwork,
		VirtualNetwork: vnet, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err := e.srv.Reload(e.cfg); err != nil {
		e.t.Fatal(err)
	}
	e.assignment = e.regURL + "/providers/Microsoft.Authorization/roleAssignments/6a0d5d4e-0000-4000-8000-00000000500a"
	if err := e.apply(state{public: true, allowAll: true, ipRules: map[string]bool{}, readerPull: true}); err != nil {
		e.t.Fatal(err)
	}
}

// apply sets the state through the management API and records it. After a
// failed call the state is unknown: nothing later is judged.
func (e *env) apply(s state) error {
	rules, vnetRules := []map[string]string{}, []map[string]string{}
	for _, n := range networks {
		switch {
		case !s.ipRules[n.name]:
		case n.subnet:
			vnetRules = append(vnetRules, map[string]string{"action": "Allow", "id": e.subnetID + n.name})
		default:
			rules = append(rules, map[string]string{"action": "Allow", "value": n.prefix})
		}
	}
	public, action := "Disabled", "Deny"
	if s.public {
		public = "Enabled"
	}
	if s.allowAll {
		action = "Allow"
	}
	i := e.tl.begin()
	_, err := e.mgmt(http.MethodPatch, e.regURL, map[string]any{"properties": map[string]any{"publicNetworkAccess": public,
		"networkRuleSet": map[string]any{"defaultAction": action, "ipRules": rules, "virtualNetworkRules": vnetRules}}})
	switch {
	case err != nil:
	case s.readerPull && !e.roleOn:
		r, _ := rbac.RoleByName("AcrPull")
		_, err = e.mgmt(http.MethodPut, e.assignment, map[string]any{"properties": map[string]string{
			"roleDefinitionId": rbac.RoleDefinitionID(e.srv.Subscription(), r), "principalId": e.readerID}})
	case !s.readerPull && e.roleOn:
		_, err = e.mgmt(http.MethodDelete, e.assignment, nil)
	}
	if err != nil {
		e.stats.violation("management call failed: %v", err) // the change stays in flight: nothing more is judged
		return err
	}
	e.roleOn = s.readerPull
	e.tl.finish(i, s)
	e.stats.changes.Add(1)
	return nil
}

// control changes the state every 100-400 ms until ctx ends.
func (e *env) control(ctx context.Context) {
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	s := state{public: true, allowAll: true, ipRules: map[string]bool{}, readerPull: true}
	for ctx.Err() == nil {
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		next := state{public: s.public, allowAll: s.allowAll, ipRules: map[string]bool{}, readerPull: s.readerPull}
		for k, v := range s.ipRules {
			next.ipRules[k] = v
		}
		switch x := rng.IntN(100); {
		case x < 15:
			next.public = !s.public
		case x < 35:
			next.allowAll = !s.allowAll
		case x < 70:
			for _, n := range networks {
				next.ipRules[n.name] = rng.IntN(2) == 0
			}
		default:
			next.readerPull = !s.readerPull
		}
		if e.apply(next) != nil {
			return
		}
		s = next
	}
}

// clientFrom is an HTTP client of network n: its connections go to n's
// listener (whatever the URL says; the Host header stays the public one)
// and announce n's client address with a PROXY v1 header.
func (e *env) clientFrom(n network) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	src, dial := n.client, e.addr
	if n.subnet {
		dial = e.vnetAddr
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, dial)
		if err != nil {
			return nil, err
		}
		local := c.LocalAddr().(*net.TCPAddr)
		remote := c.RemoteAddr().(*net.TCPAddr)
		if _, err := fmt.Fprintf(c, "PROXY TCP4 %s %s %d %d\r\n", src, remote.IP, local.Port, remote.Port); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}, MaxIdleConnsPerHost: 4}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// count classifies one answer for the figures; 5xx is always a violation.
func (e *env) count(method, path string, status int) {
	s := e.stats
	s.requests.Add(1)
	switch {
	case status >= 200 && status < 300:
		s.served.Add(1)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		s.denied.Add(1)
	case status >= 500 || status == 0:
		s.violation("%s %s answered %d", method, path, status)
	}
}

// token asks for a registry token with Basic credentials; status 0 is a transport error.
func (e *env) token(c *http.Client, user, pw, actions string) (string, int) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.addr+"/oauth2/token?service="+e.addr+"&scope=repository:"+registry+"/"+repo+":"+actions, nil)
	req.SetBasicAuth(user, pw)
	resp, err := c.Do(req)
	if err != nil {
		e.count("GET", "/oauth2/token", 0)
		return "", 0
	}
	defer resp.Body.Close()
	e.count("GET", "/oauth2/token", resp.StatusCode)
	var out struct {
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return out.Token, resp.StatusCode
}

func (e *env) do(c *http.Client, method, tok, path string, body []byte, hdr ...string) ([]byte, int, http.Header) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = "http://" + e.addr + path
	}
	req, _ := http.NewRequest(method, u, r)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		e.count(method, req.URL.Path, 0)
		return nil, 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e.count(method, req.URL.Path, resp.StatusCode)
	return b, resp.StatusCode, resp.Header
}

func (e *env) get(c *http.Client, tok, p string) ([]byte, int) {
	b, st, _ := e.do(c, http.MethodGet, tok, "/v2/"+registry+"/"+repo+"/"+p, nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	return b, st
}

// baseImage is the image every pull reads.
type baseImage struct {
	manifest, layer digest.Digest
}

type pushedImage struct {
	tag             string
	manifest, layer digest.Digest
}

func (e *env) pushBase() baseImage {
	c := e.clientFrom(networks[0])
	p, ok := e.pushOp(c, networks[0], "base")
	if !ok {
		e.t.Fatal("pushing the base image with everything open failed")
	}
	return baseImage{manifest: p.manifest, layer: p.layer}
}

// pullOp: the reader's token, the manifest and the layer of the base image.
// Allowed when the network reaches the registry and the reader holds
// AcrPull; otherwise no content may be served.
func (e *env) pullOp(c *http.Client, n network, img baseImage) {
	begin := time.Now()
	tok, tst := e.token(c, "reader", e.readerPW, "pull")
	var m, l []byte
	mst, lst := 0, 0
	if tst == http.StatusOK {
		m, mst = e.get(c, tok, "manifests/"+img.manifest.String())
		l, lst = e.get(c, tok, "blobs/"+img.layer.String())
	}
	end := time.Now()
	served := mst == http.StatusOK || lst == http.StatusOK
	ok := mst == http.StatusOK && lst == http.StatusOK && digest.FromBytes(m) == img.manifest && digest.FromBytes(l) == img.layer
	st, stable := e.tl.stable(begin, end)
	if !stable {
		e.stats.unjudged.Add(1)
		return
	}
	want := st.reaches(n) && st.readerPull
	e.stats.judgedAs(n, want)
	switch {
	case want && !ok:
		e.stats.violation("allowed pull from %s denied (%s): token %d manifest %d layer %d", n.name, st, tst, mst, lst)
	case !want && served:
		e.stats.violation("denied pull from %s served content (%s): token %d manifest %d layer %d", n.name, st, tst, mst, lst)
	case ok:
		e.stats.pulls.Add(1)
	}
}

// pushOp: the admin pushes a layer and a manifest from n. Allowed when the
// network reaches the registry; a denied push must not be acknowledged.
func (e *env) pushOp(c *http.Client, n network, tag string) (pushedImage, bool) {
	begin := time.Now()
	layer := []byte(randomString("layer-" + tag + "-"))
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.FromBytes(layer), "size": len(layer)}},
	})
	tok, tst := e.token(c, "admin", e.adminPW, "pull,push")
	acked, steps := false, []int{tst}
	if tst == http.StatusOK {
		allBlobs := true
		for _, b := range [][]byte{config, layer} {
			_, st, _ := e.do(c, http.MethodPost, tok, "/v2/"+registry+"/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), b,
				"Content-Type", "application/octet-stream")
			steps = append(steps, st)
			allBlobs = allBlobs && st == http.StatusCreated
		}
		if allBlobs {
			_, st, _ := e.do(c, http.MethodPut, tok, "/v2/"+registry+"/"+repo+"/manifests/"+tag, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
			steps = append(steps, st)
			acked = st == http.StatusCreated
		}
	}
	end := time.Now()
	p := pushedImage{tag: tag, manifest: digest.FromBytes(m), layer: digest.FromBytes(layer)}
	st, stable := e.tl.stable(begin, end)
	if !stable {
		e.stats.unjudged.Add(1)
		return p, acked
	}
	want := st.reaches(n)
	e.stats.judgedAs(n, want)
	switch {
	case want && !acked:
		e.stats.violation("allowed push from %s refused (%s): statuses %v", n.name, st, steps)
	case !want && acked:
		e.stats.violation("denied push from %s acknowledged (%s): statuses %v", n.name, st, steps)
	case acked:
		e.stats.pushes.Add(1)
	}
	return p, acked
}
