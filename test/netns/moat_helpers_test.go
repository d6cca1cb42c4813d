package netns

// Helpers of the end-to-end network-enforcement test (enforcement_test.go):
// a real `moat serve` inside the moat namespace, the moat CLI, crane clients
// in the client namespaces, and raw HTTP probes (with PROXY protocol headers
// and X-Forwarded-For) that report exactly what the server answered.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/moat-registry/moat/test/harness"
)

const (
	// clientTimeout bounds one crane run or one HTTP exchange.
	clientTimeout = 60 * time.Second
	// serverStartTimeout bounds the server's start and its reload.
	serverStartTimeout = 60 * time.Second
)

// findCrane locates crane (MOAT_TOOLS_BIN, <repo>/.tools/bin, PATH). It fails
// the test when crane is missing: the caller has already checked for root.
func findCrane(t *testing.T) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv("MOAT_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	if root, err := harness.RepoRoot(); err == nil {
		dirs = append(dirs, filepath.Join(root, ".tools", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "crane")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath("crane"); err == nil {
		return p
	}
	t.Fatalf("crane not found in %s or PATH: run scripts/install-test-deps", strings.Join(dirs, ", "))
	return ""
}

// moatBinary is the moat binary of the run (test/harness: $MOAT_BIN, or
// ./cmd/moat built once).
func moatBinary(t *testing.T) string { return harness.MustBinary(t) }

func TestMain(m *testing.M) { harness.Main(m) }

// isolatedEnv is the environment of every process the test starts: no
// proxies, no MOAT_* settings of the caller, and HOME (with every client
// configuration location) inside home, so that nothing reads or writes the
// user's own credentials.
func isolatedEnv(home string, extra ...string) []string {
	for _, d := range []string{".docker", ".config", "run"} {
		_ = os.MkdirAll(filepath.Join(home, d), 0o700)
	}
	var env []string
	for _, kv := range CleanEnv(os.Environ()) {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "DOCKER_CONFIG", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "REGISTRY_AUTH_FILE":
			continue
		}
		if strings.HasPrefix(k, "MOAT_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+home,
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"),
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_RUNTIME_DIR="+filepath.Join(home, "run"))
	return append(env, extra...)
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// ---------------------------------------------------------------------------
// The moat server

// listenerSpec is one entry of the listeners: section of the server config.
type listenerSpec struct {
	Name, Address, Kind string
	TrustedProxies      []string
	VirtualNetwork      string
}

// moatServer is `moat serve` running inside a namespace.
type moatServer struct {
	host     *Host
	bin      string
	dir      string
	cfgPath  string
	password string
	suffix   string
	url      string // management API (the public listener)
	sub      string // the server's subscription ID
	proc     *Process
	cliHome  string
}

var subscriptionLine = regexp.MustCompile(`subscription ([0-9a-fA-F-]{36})`)

// startMoat writes a config with the given listeners and runs moat serve in
// h; it returns once the server printed its subscription and answers
// GET <mgmtURL-host>/v2/ with 401 from probeFrom.
func startMoat(t *testing.T, h *Host, bin, suffix string, listeners []listenerSpec, mgmtAddr string, probeFrom *Host) *moatServer {
	t.Helper()
	dir := t.TempDir()
	s := &moatServer{host: h, bin: bin, dir: dir, cfgPath: filepath.Join(dir, "moat.yaml"),
		password: "netns-" + randomHex(24), suffix: suffix, url: "http://" + mgmtAddr,
		cliHome: filepath.Join(dir, "cli-home")}
	s.writeConfig(t, listeners)
	s.proc = s.start(t)
	out := s.proc.WaitFor(t, "moat listening on", serverStartTimeout)
	m := subscriptionLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("moat serve did not print its subscription ID in its start line:\n%s", out)
	}
	s.sub = strings.ToLower(m[1])
	if st, _ := httpGet(t, probeFrom, mgmtAddr, "/v2/", "", nil); st != http.StatusUnauthorized {
		t.Fatalf("GET http://%s/v2/ from %s: status %d, want 401 (ready, authentication required)\n%s", mgmtAddr, probeFrom.Name, st, s.proc.Output())
	}
	s.login(t)
	return s
}

// start runs `moat serve --config` in the server's namespace.
func (s *moatServer) start(t *testing.T) *Process {
	t.Helper()
	cmd := s.host.Command(context.Background(), s.bin, "serve", "--config", s.cfgPath)
	cmd.Env = isolatedEnv(filepath.Join(s.dir, "server-home"), "MOAT_ADMIN_PASSWORD="+s.password)
	return Start(t, cmd)
}

// restart stops the server (SIGTERM) and starts it again on the same
// configuration and data; it returns once the new process serves.
func (s *moatServer) restart(t *testing.T) {
	t.Helper()
	if err := s.proc.Stop(); err != nil {
		t.Fatalf("moat serve did not stop cleanly on SIGTERM: %v\n%s", err, s.proc.Output())
	}
	s.proc = s.start(t)
	s.proc.WaitFor(t, "moat started", serverStartTimeout)
}

func (s *moatServer) writeConfig(t *testing.T, listeners []listenerSpec) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "dataDir: %q\n", filepath.Join(s.dir, "data"))
	if s.suffix != "" {
		fmt.Fprintf(&b, "loginServerSuffix: %q\n", s.suffix)
	}
	b.WriteString("listeners:\n")
	for _, l := range listeners {
		fmt.Fprintf(&b, "  - name: %q\n    address: %q\n    kind: %s\n", l.Name, l.Address, l.Kind)
		if len(l.TrustedProxies) > 0 {
			q := make([]string, len(l.TrustedProxies))
			for i, p := range l.TrustedProxies {
				q[i] = strconv.Quote(p)
			}
			fmt.Fprintf(&b, "    trustedProxies: [%s]\n", strings.Join(q, ", "))
		}
		if l.VirtualNetwork != "" {
			fmt.Fprintf(&b, "    virtualNetwork: %q\n", l.VirtualNetwork)
		}
	}
	if err := os.WriteFile(s.cfgPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reload rewrites the config and sends SIGHUP; it returns when the server
// has logged that the listeners were applied.
func (s *moatServer) reload(t *testing.T, listeners []listenerSpec) {
	t.Helper()
	before := len(s.proc.Output())
	s.writeConfig(t, listeners)
	if err := syscall.Kill(s.proc.Cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to moat serve: %v", err)
	}
	deadline := time.Now().Add(serverStartTimeout)
	for {
		out := s.proc.Output()[before:]
		switch {
		case strings.Contains(out, "certificates reloaded"):
			return
		case strings.Contains(out, "reload on SIGHUP failed"):
			t.Fatalf("moat serve could not reload its listeners:\n%s", out)
		case time.Now().After(deadline):
			t.Fatalf("moat serve did not log \"... certificates reloaded\" within %s of SIGHUP:\n%s", serverStartTimeout, out)
		}
		select {
		case <-s.proc.Done():
			t.Fatalf("moat serve exited (%v) after SIGHUP:\n%s", s.proc.Err(), s.proc.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// login signs the CLI in as the administrator when this moat has `moat
// login` (the management API may require a token); without it the
// management API is open to the CLI.
func (s *moatServer) login(t *testing.T) {
	t.Helper()
	help, err := s.cliRaw(nil, "login", "--help")
	if err != nil {
		return // no `moat login` in this build
	}
	args, stdin := loginArgs(help, s.url, s.password)
	if out, err := s.cliRaw(stdin, args...); err != nil {
		t.Fatalf("moat login as admin: %v\n%s", err, out)
	}
}

// loginArgs are the arguments of `moat login` as the administrator, with
// the password on standard input when the command can read it from there.
func loginArgs(help, server, password string) ([]string, []byte) {
	args := []string{"login", "--server", server, "--username", "admin"}
	switch {
	case strings.Contains(help, "--password-stdin"):
		return append(args, "--password-stdin"), []byte(password)
	case strings.Contains(help, `"-" reads it from standard input`):
		return append(args, "--password", "-"), []byte(password)
	}
	return append(args, "--password", password), nil
}

// cliRaw runs the moat CLI inside the server's namespace against the
// management API; it returns stdout (stdout and stderr on failure).
func (s *moatServer) cliRaw(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := s.host.Command(ctx, s.bin, args...)
	cmd.Env = isolatedEnv(s.cliHome, "MOAT_SERVER="+s.url)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// cli runs `moat args...` and fails the test if it fails.
func (s *moatServer) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.cliRaw(nil, args...)
	if err != nil {
		t.Fatalf("moat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// cliJSON runs `moat args... -o json` and decodes the answer into v.
func (s *moatServer) cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := s.cli(t, append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("moat %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cliTSV runs `moat args... --query q -o tsv` and returns the trimmed answer.
func (s *moatServer) cliTSV(t *testing.T, q string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(s.cli(t, append(args, "--query", q, "--output", "tsv")...))
}

// whatIf is the answer of `moat acr network-rule check`.
type whatIf struct {
	Decision    string `json:"decision"`
	Reason      string `json:"reason"`
	MatchedRule string `json:"matchedRule"`
	Path        string `json:"path"`
	ClientIP    string `json:"clientIp"`
	Note        string `json:"note"`
}

// netIdentity is the network identity a client has (as the test knows it
// from the topology): what the what-if is asked about.
type netIdentity struct {
	IP     string
	Subnet string // subnet resource ID, for clients on a virtual-network listener
	PE     string // private endpoint resource ID, for clients that dial its IP
}

func (s *moatServer) check(t *testing.T, reg string, id netIdentity) whatIf {
	t.Helper()
	args := []string{"acr", "network-rule", "check", "--name", reg, "--ip-address", id.IP}
	if id.Subnet != "" {
		args = append(args, "--subnet", id.Subnet)
	}
	if id.PE != "" {
		args = append(args, "--private-endpoint", id.PE)
	}
	var w whatIf
	s.cliJSON(t, &w, args...)
	return w
}

// denial is one record of `moat acr network-rule denials`.
type denial struct {
	Registry        string `json:"registry"`
	ClientIP        string `json:"clientIp"`
	Path            string `json:"path"`
	Subnet          string `json:"subnet"`
	PrivateEndpoint string `json:"privateEndpoint"`
	Reason          string `json:"reason"`
	Route           string `json:"route"`
	Count           int64  `json:"count"`
}

// ---------------------------------------------------------------------------
// crane clients

// craneClient is crane run inside one client namespace with its own
// DOCKER_CONFIG, logged in as the administrator to each given address.
type craneClient struct {
	host  *Host
	crane string
	home  string
}

func newCraneClient(t *testing.T, h *Host, crane, user, password string, addrs ...string) *craneClient {
	t.Helper()
	c := &craneClient{host: h, crane: crane, home: filepath.Join(t.TempDir(), "home-"+h.Name)}
	for _, a := range addrs {
		// crane auth login only writes $DOCKER_CONFIG/config.json.
		if out, err := c.runStdin([]byte(password), "auth", "login", a, "-u", user, "--password-stdin"); err != nil {
			t.Fatalf("%s: crane auth login %s: %v\n%s", h.Name, a, err, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(c.home, ".docker", "config.json")); err != nil || !strings.Contains(string(b), addrs[0]) {
		t.Fatalf("%s: crane auth login left no credentials in its DOCKER_CONFIG: %v %s", h.Name, err, b)
	}
	return c
}

func (c *craneClient) run(args ...string) (string, error) { return c.runStdin(nil, args...) }

// moat runs the moat CLI in the client's namespace with the client's HOME
// (so `moat acr login` writes the DOCKER_CONFIG that crane reads), against
// the management API at server.
func (c *craneClient) moat(bin, server string, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := c.host.Command(ctx, bin, args...)
	cmd.Env = isolatedEnv(c.home, "MOAT_SERVER="+server)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *craneClient) runStdin(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := c.host.Command(ctx, c.crane, args...)
	cmd.Env = isolatedEnv(c.home)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// pull is `crane pull --format oci REF DIR` (manifest, config and layer
// through the registry); it returns the digest of the pulled manifest. It
// runs crane with --verbose, whose log of the HTTP exchanges shows the status
// lines: crane's own error message names only the error code.
func (c *craneClient) pull(t *testing.T, ref string) (digest, out string, err error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pulled")
	out, err = c.run("pull", "--verbose", "--insecure", "--format", "oci", ref, dir)
	if err != nil {
		return "", out, err
	}
	b, rerr := os.ReadFile(filepath.Join(dir, "index.json"))
	if rerr != nil {
		return "", out, fmt.Errorf("crane pull succeeded but left no OCI layout: %w", rerr)
	}
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if jerr := json.Unmarshal(b, &idx); jerr != nil || len(idx.Manifests) != 1 {
		return "", out, fmt.Errorf("pulled index.json: %v %s", jerr, b)
	}
	return idx.Manifests[0].Digest, out, nil
}

// layerTar writes a one-file tar (unique content per run) for crane append.
func layerTar(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := []byte("moat netns enforcement test " + randomHex(16) + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg,
		ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(data)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---------------------------------------------------------------------------
// HTTP probes

// response is what a probe got: the status and body of an HTTP answer, or
// closed when the server closed the connection without answering.
type response struct {
	Status int
	Body   string
	Closed bool
	Err    error
}

func (r response) String() string {
	switch {
	case r.Closed:
		return "connection closed without an answer"
	case r.Err != nil:
		return "error: " + r.Err.Error()
	}
	return fmt.Sprintf("%d %s", r.Status, clip(r.Body))
}

// clip shortens a body for a message (a token answer is long).
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// exchange dials addr from h, writes preface (a PROXY header, or nothing)
// and one HTTP/1.1 request, and reads the answer until the server closes
// (the request says Connection: close).
func exchange(h *Host, addr string, preface []byte, req *http.Request) response {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	conn, err := h.DialContext(ctx, "tcp", addr)
	if err != nil {
		return response{Err: err}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(clientTimeout))
	var w bytes.Buffer
	w.Write(preface)
	req.Close = true
	if err := req.Write(&w); err != nil {
		return response{Err: err}
	}
	if _, err := conn.Write(w.Bytes()); err != nil {
		// The server may have closed already (it read the PROXY header).
		return response{Closed: true, Err: err}
	}
	raw, rerr := io.ReadAll(conn)
	if len(raw) == 0 {
		var ne net.Error
		if rerr != nil && errors.As(rerr, &ne) && ne.Timeout() {
			return response{Err: fmt.Errorf("no answer within %s", clientTimeout)}
		}
		return response{Closed: true, Err: rerr}
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
	if err != nil {
		return response{Err: fmt.Errorf("%v: %q", err, raw)}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return response{Status: resp.StatusCode, Body: string(body)}
}

// tokenRequest is docker's token request for pulling reg/repo through addr
// (path style), with the administrator's Basic credentials.
func tokenRequest(addr, reg, repo, user, password string, header http.Header) *http.Request {
	u := "http://" + addr + "/oauth2/token?service=" + addr + "&scope=repository:" + reg + "/" + repo + ":pull"
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req
}

// httpGet is GET http://addr path from h (Host header host when set).
func httpGet(t *testing.T, h *Host, addr, path, host string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if host != "" {
		req.Host = host
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	r := exchange(h, addr, nil, req)
	if r.Err != nil && !r.Closed {
		t.Fatalf("GET http://%s%s from %s: %v", addr, path, h.Name, r.Err)
	}
	return r.Status, r.Body
}

// proxyV1 is a PROXY protocol v1 header for a TCP4 connection src -> dst.
func proxyV1(src, dst netip.AddrPort) []byte {
	return fmt.Appendf(nil, "PROXY TCP4 %s %s %d %d\r\n", src.Addr(), dst.Addr(), src.Port(), dst.Port())
}

// proxyV2 is a PROXY protocol v2 header (command PROXY, TCP over IPv4).
func proxyV2(src, dst netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11)                // version 2, PROXY; AF_INET, STREAM
	b = binary.BigEndian.AppendUint16(b, 12) // address block length
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	b = append(b, s4[:]...)
	b = append(b, d4[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	return b
}

// ---------------------------------------------------------------------------
// The summary table

type tableRow struct {
	Scenario, Client, Via, Registry, Expected, Observed, WhatIf string
}

func formatTable(rows []tableRow) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tCLIENT\tVIA\tREGISTRY\tEXPECTED\tOBSERVED\tWHAT-IF")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Client, r.Via, r.Registry, r.Expected, r.Observed, r.WhatIf)
	}
	_ = tw.Flush()
	return b.String()
}

// rawConn is one TCP connection from a namespace on which the test sends
// several HTTP/1.1 requests (keep-alive), optionally after a PROXY header.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, h *Host, addr string, preface []byte) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	if len(preface) > 0 {
		if _, err := c.Write(preface); err != nil {
			t.Fatalf("write PROXY header to %s from %s: %v", addr, h.Name, err)
		}
	}
	return &rawConn{conn: c, br: bufio.NewReader(c)}
}

// do sends req on the connection (keeping it open) and reads the answer.
func (rc *rawConn) do(req *http.Request) response {
	_ = rc.conn.SetDeadline(time.Now().Add(clientTimeout))
	if err := req.Write(rc.conn); err != nil {
		return response{Err: err}
	}
	resp, err := http.ReadResponse(rc.br, req)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return response{Closed: true, Err: err}
		}
		return response{Err: err}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return response{Status: resp.StatusCode, Body: string(body)}
}
