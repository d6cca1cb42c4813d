// Package deploy runs the committed deployment examples: deploy/haproxy's
// configuration in front of three moat nodes built from deploy/moat-node.yaml,
// on one PostgreSQL and one S3 bucket, and checks what the examples promise: the client's real
// address reaches the nodes through the PROXY protocol, only the load balancer
// may speak it, and a node that dies is routed around.
package deploy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/blob/s3/s3test"
	"github.com/moat-registry/moat/internal/store/meta/postgres/pgtest"
	"github.com/moat-registry/moat/test/harness"
	"gopkg.in/yaml.v3"
)

// Addresses on the loopback network (all of 127.0.0.0/8 is local on Linux, so
// no root is needed): the load balancer connects from lbSource; clients come
// from allowed or denied.
const (
	lbSource = "127.0.0.2"
	allowed  = "127.0.0.3"
	denied   = "127.0.0.4"
)

func need(t *testing.T, what, why string) {
	t.Helper()
	if os.Getenv("MOAT_E2E") == "1" {
		t.Fatalf("%s is missing but MOAT_E2E=1 requires it: %s", what, why)
	}
	t.Skipf("skipping: %s is missing (%s)", what, why)
}

func TestMain(m *testing.M) { harness.Main(m) }

func TestHAProxyExample(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		haproxy, err = exec.LookPath("/usr/sbin/haproxy") // not on a non-root PATH
	}
	if err != nil {
		need(t, "haproxy", "scripts/install-test-deps installs it from Debian")
	}
	dsn := pgtest.SchemaDSN(t)
	bucket := s3test.Config(t)
	root := repoRoot(t)
	dir := t.TempDir()
	bin := harness.MustBinary(t)
	ca, certFile, keyFile := certificate(t, dir)
	password := "deploy-" + randomHex(12)

	// Three nodes from the committed node configuration, with only the
	// machine-specific values replaced.
	var nodes []*node
	for i := 1; i <= 3; i++ {
		n := &node{name: fmt.Sprintf("node%d", i), addr: "127.0.0.1:" + freePort(t), log: filepath.Join(dir, fmt.Sprintf("node%d.log", i))}
		cfg := nodeConfig(t, root, map[string]any{
			"dataDir": filepath.Join(dir, n.name), "tlsCert": certFile, "tlsKey": keyFile, "metricsAddress": "",
			"s3": map[string]any{"endpoint": bucket.Endpoint, "bucket": bucket.Bucket, "prefix": bucket.Prefix, "pathStyle": true},
		}, n.addr, lbSource+"/32")
		cfgPath := filepath.Join(dir, n.name+".yaml")
		if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		n.run(t, bin, []string{"serve", "--config", cfgPath}, "MOAT_POSTGRES="+dsn, "MOAT_ADMIN_PASSWORD="+password,
			"MOAT_S3_ACCESS_KEY="+bucket.AccessKey, "MOAT_S3_SECRET_KEY="+bucket.SecretKey)
		nodes = append(nodes, n)
	}
	client := httpsClient(ca, "")
	creators := 0
	for _, n := range nodes {
		waitReady(t, client, "https://"+n.addr+"/readyz", n)
		if strings.Contains(n.tail(), "created administrator") {
			creators++
		}
	}
	// The nodes started together on an empty database: one administrator.
	if creators != 1 {
		t.Fatalf("%d nodes say they created the administrator, want exactly 1", creators)
	}

	// HAProxy runs the committed file as it is; only its environment differs.
	lb := "127.0.0.1:" + freePort(t)
	hp := &node{name: "haproxy", log: filepath.Join(dir, "haproxy.log")}
	hp.run(t, haproxy, []string{"-db", "-f", filepath.Join(root, "deploy", "haproxy", "haproxy.cfg")},
		"MOAT_LB_BIND="+lb, "MOAT_LB_SOURCE="+lbSource,
		"MOAT_NODE1="+nodes[0].addr, "MOAT_NODE2="+nodes[1].addr, "MOAT_NODE3="+nodes[2].addr)
	base := "https://" + lb
	waitReady(t, client, base+"/readyz", hp)

	// Manage and push through the load balancer from the loopback address.
	home := filepath.Join(dir, "home")
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--server", base, "--ca-file", ca)...)
		cmd.Env = append(cleanEnv(), "HOME="+home, "MOAT_CONFIG_DIR="+filepath.Join(home, ".moat"))
		if args[0] == "login" {
			cmd.Stdin = strings.NewReader(password + "\n")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("moat %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	cli("login", "-u", "admin", "-p", "-", "-o", "none")
	reg := "deploy" + randomHex(4)
	cli("acr", "create", "--name", reg, "--sku", "Premium", "-o", "none")

	admin := func(from string) *http.Client { return httpsClient(ca, from) }
	layer := []byte("pushed through the load balancer " + randomHex(8))
	// The nodes learn of the new registry within milliseconds
	// (docs/scale-out.md), not at once: the first push may meet a node that
	// has not yet, as right after a registry's creation in ACR.
	var manifestDigest string
	eventually(t, "push through the load balancer to the new registry", func() (err error) {
		manifestDigest, err = push(admin("127.0.0.1"), base, lb, password, reg+"/app", "v1", layer)
		return err
	})

	// The image of scripts/image, pushed through the load balancer by crane,
	// pulled back and run.
	image(t, root, lb+"/"+reg+"/moat:test", ca, password, dir)

	// Deny by default: the refusal names the address the node judged. Every
	// connection reaches the nodes from the load balancer (127.0.0.2): only
	// the PROXY header tells them who the client is. (IP rules take public
	// addresses only, so allowing one client by rule is left to test/netns,
	// which has real public addresses in network namespaces.)
	cli("acr", "update", "--name", reg, "--default-action", "Deny", "-o", "none")
	for _, from := range []string{allowed, denied} {
		from := from
		eventually(t, "a client from "+from+" is refused by its own address", func() error {
			return deniedAs(admin(from), base+"/v2/"+reg+"/app/tags/list", lb, from)
		})
	}
	// A client that reaches a node directly cannot claim another address: its
	// PROXY header is refused (it is not a trusted proxy) or ignored.
	if err := deniedAs(admin(denied), "https://"+nodes[0].addr+"/v2/"+reg+"/app/tags/list", lb, denied); err != nil {
		t.Fatal(err)
	}
	if err := spoofedProxyHeader(nodes[0].addr, denied, allowed, ca, lb, reg); err != nil {
		t.Fatal(err)
	}

	cli("acr", "update", "--name", reg, "--default-action", "Allow", "-o", "none")
	scope := "repository:" + reg + "/app:pull"
	eventually(t, "pull through the load balancer once the registry is open again", func() error {
		return pull(admin(allowed), base, lb, password, scope, reg+"/app", manifestDigest)
	})
	// Least-connections spreads the pulls over the three nodes.
	for i := 0; i < 6; i++ {
		if err := pull(admin(allowed), base, lb, password, scope, reg+"/app", manifestDigest); err != nil {
			t.Fatalf("pull %d from %s: %v", i, allowed, err)
		}
	}

	// A node dies: the load balancer sends its connections elsewhere.
	_ = syscall.Kill(-nodes[0].cmd.Process.Pid, syscall.SIGKILL)
	<-nodes[0].exited
	for i := 0; i < 20; i++ {
		if err := pull(admin(allowed), base, lb, password, scope, reg+"/app", manifestDigest); err != nil {
			t.Fatalf("pull %d after node1 died: %v\n%s", i, err, hp.tail())
		}
	}
}

// image builds moat's image with scripts/image into ref, checks its
// configuration, and runs the binary exported from it.
func image(t *testing.T, root, ref, ca, password, dir string) {
	t.Helper()
	tools := os.Getenv("MOAT_TOOLS_BIN")
	if tools == "" {
		tools = filepath.Join(root, ".tools", "bin")
	}
	if _, err := os.Stat(filepath.Join(tools, "crane")); err != nil {
		need(t, "crane", "scripts/install-test-deps installs it into "+tools)
	}
	env := append(cleanEnv(), "PATH="+tools+":"+os.Getenv("PATH"), "DOCKER_CONFIG="+filepath.Join(dir, "docker"), "SSL_CERT_FILE="+ca)
	run := func(stdin string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env, cmd.Dir, cmd.Stdin = env, root, strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr)
		}
		return string(out)
	}
	host, _, _ := strings.Cut(ref, "/")
	run(password, filepath.Join(tools, "crane"), "auth", "login", host, "-u", "admin", "--password-stdin")
	run("", "bash", filepath.Join(root, "scripts", "image"), ref)
	var cfg struct {
		Architecture, OS string
		Config           struct {
			Entrypoint, Cmd []string
			User            string
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(run("", filepath.Join(tools, "crane"), "config", ref)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" || strings.Join(cfg.Config.Entrypoint, " ") != "/moat" ||
		strings.Join(cfg.Config.Cmd, " ") != "serve" || cfg.Config.User != "65532:65532" {
		t.Fatalf("image configuration %+v: want linux, entrypoint /moat, cmd serve, user 65532:65532", cfg)
	}
	fs := filepath.Join(dir, "image-fs.tar")
	run("", filepath.Join(tools, "crane"), "export", ref, fs)
	x := filepath.Join(dir, "image-fs")
	_ = os.MkdirAll(x, 0o755)
	run("", "tar", "-xf", fs, "-C", x, "moat", "etc/ssl/certs/ca-certificates.crt")
	if out := run("", filepath.Join(x, "moat"), "--help"); !strings.Contains(out, "serve") {
		t.Fatalf("the image's /moat --help:\n%s", out)
	}
}

// nodeConfig reads deploy/moat-node.yaml, sets the given top-level keys and
// the one listener's address and trusted proxies, and returns the YAML.
func nodeConfig(t *testing.T, root string, set map[string]any, addr, proxy string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "moat-node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("deploy/moat-node.yaml: %v", err)
	}
	for k, v := range set {
		cfg[k] = v
	}
	ls, _ := cfg["listeners"].([]any)
	if len(ls) != 1 {
		t.Fatalf("deploy/moat-node.yaml: want one listener, got %v", cfg["listeners"])
	}
	l := ls[0].(map[string]any)
	if l["kind"] != "public" || len(l["trustedProxies"].([]any)) == 0 {
		t.Fatalf("deploy/moat-node.yaml: the listener must be public with trusted proxies: %v", l)
	}
	l["address"], l["trustedProxies"] = addr, []string{proxy}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// push uploads one layer, a config and a manifest by the registry API with
// an admin token and returns the manifest's digest.
func push(c *http.Client, base, host, password, repo, tag string, layer []byte) (string, error) {
	tok, err := token(c, base, host, password, "repository:"+repo+":pull,push")
	if err != nil {
		return "", err
	}
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	for _, b := range [][]byte{layer, config} {
		req, _ := http.NewRequest("POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+digestOf(b), bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/octet-stream")
		if err := expect(c, req, http.StatusCreated); err != nil {
			return "", fmt.Errorf("push blob: %v", err)
		}
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		digestOf(config), len(config), digestOf(layer), len(layer))
	req, _ := http.NewRequest("PUT", base+"/v2/"+repo+"/manifests/"+tag, strings.NewReader(m))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if err := expect(c, req, http.StatusCreated); err != nil {
		return "", fmt.Errorf("push manifest: %v", err)
	}
	return digestOf([]byte(m)), nil
}

// pull gets a token and the manifest by digest, and checks the content.
func pull(c *http.Client, base, host, password, scope, repo, d string) error {
	tok, err := token(c, base, host, password, scope)
	if err != nil {
		return err
	}
	req, _ := http.NewRequest("GET", base+"/v2/"+repo+"/manifests/"+d, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET manifest: %d %s", resp.StatusCode, body)
	}
	if got := digestOf(body); got != d {
		return fmt.Errorf("manifest content hashes to %s, want %s", got, d)
	}
	return nil
}

func token(c *http.Client, base, host, password, scope string) (string, error) {
	q := url.Values{"service": {host}, "scope": {scope}}
	req, _ := http.NewRequest("GET", base+"/oauth2/token?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:"+password)))
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var a struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &a) != nil || a.AccessToken == "" {
		return "", fmt.Errorf("token: %d %s", resp.StatusCode, body)
	}
	return a.AccessToken, nil
}

// deniedAs checks that a request is refused by the network rules (403
// DENIED) naming addr as the client's address, and serves nothing.
func deniedAs(c *http.Client, u, host, addr string) error {
	req, _ := http.NewRequest("GET", u, nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "DENIED") || !strings.Contains(string(body), "'"+addr+"'") {
		return fmt.Errorf("GET %s from %s: %d %s, want 403 DENIED naming '%s'", u, addr, resp.StatusCode, body, addr)
	}
	return nil
}

// spoofedProxyHeader connects to a node directly from spoofer and sends a
// PROXY v1 header claiming claimed: the node must not serve it as claimed.
func spoofedProxyHeader(nodeAddr, spoofer, claimed, ca, host, reg string) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(spoofer)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", nodeAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, port, _ := net.SplitHostPort(nodeAddr)
	fmt.Fprintf(conn, "PROXY TCP4 %s 127.0.0.1 40000 %s\r\n", claimed, port)
	tc := tls.Client(conn, tlsConfig(ca))
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		return nil // refused at the connection: nothing served
	}
	fmt.Fprintf(tc, "GET /v2/%s/app/tags/list HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", reg, host)
	resp, err := io.ReadAll(tc)
	if err != nil && len(resp) == 0 {
		return nil
	}
	if s := string(resp); !strings.HasPrefix(s, "HTTP/1.1 4") || strings.Contains(s, claimed) {
		return fmt.Errorf("a PROXY header from an untrusted peer %s claiming %s was believed:\n%s", spoofer, claimed, s)
	}
	return nil
}

func expect(c *http.Client, req *http.Request, status int) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		return fmt.Errorf("%s %s: %d %s, want %d", req.Method, req.URL, resp.StatusCode, body, status)
	}
	return nil
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

// node is a child process (a moat node or HAProxy) with its log.
type node struct {
	name, addr, log string
	cmd             *exec.Cmd
	exited          chan struct{}
}

func (n *node) run(t *testing.T, bin string, args []string, env ...string) {
	t.Helper()
	f, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(bin, args...)
	n.cmd.Env = append(cleanEnv(), env...)
	n.cmd.Stdout, n.cmd.Stderr = f, f
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", n.name, err)
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); f.Close(); close(n.exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			<-n.exited
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", n.name, n.tail())
		}
	})
}

func (n *node) tail() string {
	b, _ := os.ReadFile(n.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func waitReady(t *testing.T, c *http.Client, u string, n *node) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		select {
		case <-n.exited:
			t.Fatalf("%s exited before it was ready:\n%s", n.name, n.tail())
		default:
		}
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("%s: %s not ready within 60 s:\n%s", n.name, u, n.tail())
}

// cleanEnv is the environment without MOAT_* settings of the caller.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MOAT_") {
			env = append(env, kv)
		}
	}
	return env
}

func tlsConfig(caFile string) *tls.Config {
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(caFile); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// httpsClient trusts the test CA and, if from is set, connects from that
// local address (a client on another host, as the load balancer sees it).
func httpsClient(caFile, from string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, TLSClientConfig: tlsConfig(caFile), DisableKeepAlives: true,
	}}
}

// certificate writes a self-signed certificate for 127.0.0.1 and returns the
// CA file (the certificate itself), the certificate and the key file.
func certificate(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "moat deploy test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, cert, key
}

func digestOf(b []byte) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
