package azcli

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-registry/moat/test/harness"
)

// suffix is the login-server suffix: registries are <name>.registry.moat.test
// and the management API is at registry.moat.test (.test is reserved for
// testing, RFC 2606). Each command resolves them through its own /etc/hosts.
const suffix = "registry.moat.test"

// vmSubnetVNet is the virtual network the seeds' VM lives in (the harness
// creates it in place of az vm create); the vm listener is bound to it.
const vmVNetPath = "/resourceGroups/myResourceGroup/providers/Microsoft.Network/virtualNetworks/myDockerVMVNET"

// moatServer is one `moat serve --tls-auto` in host style, started for one
// scenario: a public listener on 127.0.0.1:port, and a virtual-network
// listener for the VM's network on 127.0.0.1:vnetPort that trusts the VM
// proxy's PROXY headers.
type moatServer struct {
	t        *testing.T
	bin, dir string
	cfgPath  string
	logPath  string
	ca       string // the local CA of --tls-auto
	home     string // HOME of the moat CLI runs
	password string // the administrator's
	port     int
	vnetPort int
	proc     *harness.Process

	sub, tenant      string
	spID, spSecret   string
	user, userSecret string
}

func startMoat(t *testing.T) *moatServer {
	t.Helper()
	dir, err := os.MkdirTemp(tmpRoot, "run-")
	if err != nil {
		t.Fatal(err)
	}
	s := &moatServer{t: t, bin: buildMoat(t), dir: dir, cfgPath: filepath.Join(dir, "moat.yaml"),
		logPath: filepath.Join(dir, "server.log"), ca: filepath.Join(dir, "data", "tls", "ca.pem"),
		home: filepath.Join(dir, "moat-home"), password: "azcli-admin-" + randomHex(12)}
	s.port, s.vnetPort = freePort(t), freePort(t)
	if err := os.MkdirAll(s.home, 0o700); err != nil {
		t.Fatal(err)
	}
	s.writeConfig("")
	cmd := exec.Command(s.bin, "serve", "--config", s.cfgPath, "--log-format", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.home, "MOAT_ADMIN_PASSWORD=" + s.password}
	if s.proc, err = harness.Start(cmd, s.logPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	s.waitReady()
	s.setUpDirectory()
	// The VM's virtual network is named by ID, which needs the subscription.
	s.writeConfig("/subscriptions/" + s.sub + vmVNetPath)
	if err := s.proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", s.vnetPort), s.proc.Exited())
	startVMProxies(t, s.port, s.vnetPort)
	return s
}

// writeConfig writes the server's configuration; vnet "" leaves out the
// virtual-network listener.
func (s *moatServer) writeConfig(vnet string) {
	cfg := fmt.Sprintf(`dataDir: %s
tlsAuto: true
loginServerSuffix: %s
publicURL: https://%s:%d
listeners:
  - name: public
    address: 127.0.0.1:%d
    kind: public
    trustedProxies: [%s/32]
`, filepath.Join(s.dir, "data"), suffix, suffix, s.port, s.port, vmPublicProxyIP)
	if vnet != "" {
		cfg += fmt.Sprintf(`  - name: vm-subnet
    address: 127.0.0.1:%d
    kind: virtualNetwork
    virtualNetwork: %s
    trustedProxies: [127.0.0.1/32]
`, s.vnetPort, vnet)
	}
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func (s *moatServer) stop() { s.proc.StopWithin(30 * time.Second) }

// waitReady waits until GET /v2/ answers 401 over TLS with the local CA.
func (s *moatServer) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.Exited():
			s.t.Fatalf("moat serve exited before it was ready:\n%s", s.logTail(40))
		default:
		}
		if client, err := s.httpClient(); err == nil {
			if resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/v2/", s.port)); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("moat serve was not ready within 60s:\n%s", s.logTail(40))
}

func (s *moatServer) httpClient() (*http.Client, error) {
	pem, err := os.ReadFile(s.ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, nil
}

// setUpDirectory signs the moat CLI in as the administrator and creates the
// principals az signs in as: a service principal and a user, each
// Contributor of the subscription (as `az ad sp create-for-rbac` makes one).
func (s *moatServer) setUpDirectory() {
	s.t.Helper()
	s.moat("login", "--server", fmt.Sprintf("https://127.0.0.1:%d", s.port), "-u", "admin", "-p", s.password, "-o", "none")
	var acct struct{ ID, TenantID string }
	s.moatJSON(&acct, "account", "show")
	s.sub, s.tenant = acct.ID, acct.TenantID
	scope := "/subscriptions/" + s.sub
	var sp struct{ AppID, Password string }
	// Owners, as the documents' reader is: the tasks example assigns a role.
	s.moatJSON(&sp, "ad", "sp", "create-for-rbac", "--name", "azcli-sp", "--role", "Owner", "--scopes", scope)
	s.spID, s.spSecret = sp.AppID, sp.Password
	s.user, s.userSecret = "azuser@moat.test", "Az-user-"+randomHex(8)
	s.moat("ad", "user", "create", "--user-principal-name", s.user, "--password", s.userSecret, "-o", "none")
	s.moat("role", "assignment", "create", "--assignee", s.user, "--role", "Owner", "--scope", scope, "-o", "none")
}

// moat runs the moat CLI against the server and returns its output.
func (s *moatServer) moat(args ...string) []byte {
	s.t.Helper()
	cmd := exec.Command(s.bin, args...)
	cmd.Env = []string{"HOME=" + s.home, "MOAT_CA_FILE=" + s.ca, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		s.t.Fatalf("moat %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func (s *moatServer) moatJSON(v any, args ...string) {
	s.t.Helper()
	if err := json.Unmarshal(s.moat(args...), v); err != nil {
		s.t.Fatalf("moat %s: %v", strings.Join(args, " "), err)
	}
}

// logSize and requestsSince read the server's request log (JSON lines) for
// the diagnosis of a failed step: method, path (never the query), status.
func (s *moatServer) logSize() int64 {
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (s *moatServer) requestsSince(off int64) []string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg, Method, Path, Route string
			Status                   int
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Method == "" {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s -> %d", rec.Method, rec.Path, rec.Status))
	}
	return out
}

func (s *moatServer) logTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func waitListening(t *testing.T, addr string, exited <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		select {
		case <-exited:
			t.Fatalf("moat serve exited while %s should come up", addr)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after the configuration reload", addr)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
