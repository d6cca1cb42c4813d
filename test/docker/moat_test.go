package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/test/netns"
)

// moatServer is one `moat serve` in the moat namespace, in one addressing
// style, with its administrator signed in at the client.
type moatServer struct {
	serverSpec
	e      *env
	addr   string // 198.51.100.10:PORT
	url    string // the management API
	suffix string // host style: the login-server suffix
	caFile string // host style: <data-dir>/tls/ca.pem
	caPEM  []byte
	admin  *user
	proc   *netns.Process
	log    string // the server's output
}

const (
	hostSuffix  = "moat.test"
	serverStart = 60 * time.Second
)

// moatAddr is moat's public address with port.
func moatAddr(port int) string { return netip.AddrPortFrom(netns.MoatPublicIP, uint16(port)).String() }

var caLine = regexp.MustCompile(`clients must trust the local CA at (\S+)`)

// startMoat runs `moat serve` as sp says in the moat namespace and signs
// the administrator in from the client.
func (e *env) startMoat(t *testing.T, sp serverSpec) *moatServer {
	t.Helper()
	dir := t.TempDir()
	s := &moatServer{serverSpec: sp, e: e, admin: newUser(t, "admin", "docker-"+randomHex(24))}
	s.addr = moatAddr(sp.port)
	args := []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--listen", s.addr}
	s.url = "http://" + s.addr
	if sp.style == "host" {
		args = append(args, "--tls-auto", "--login-server-suffix", hostSuffix)
		s.url, s.suffix = "https://"+s.addr, hostSuffix
	}
	cmd := e.moatHost.Command(context.Background(), e.bin, args...)
	serverHome := filepath.Join(dir, "home")
	if err := os.MkdirAll(serverHome, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(e.environ(&user{home: serverHome}), "MOAT_ADMIN_PASSWORD="+s.admin.password)
	if sp.shortTokens {
		cmd.Env = append(cmd.Env, "MOAT_TOKEN_ACCESS_LIFETIME="+shortLifetime.String(), "MOAT_TOKEN_REFRESH_LIFETIME="+shortLifetime.String())
	}
	// The log (a line per request) goes to a file; failures show its tail.
	s.log = filepath.Join(dir, "server.log")
	logFile, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	s.proc = netns.Start(t, cmd)
	out := s.waitListening(t)
	if sp.style == "host" {
		m := caLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("moat serve --tls-auto did not say where its CA is:\n%s", out)
		}
		s.caFile = m[1]
		if s.caPEM, err = os.ReadFile(s.caFile); err != nil {
			t.Fatal(err)
		}
	}
	s.signIn(t, s.admin)
	return s
}

// output is what the server logged so far.
func (s *moatServer) output() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// waitListening waits until the server says it listens and returns its
// output.
func (s *moatServer) waitListening(t *testing.T) string {
	t.Helper()
	for deadline := time.Now().Add(serverStart); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-s.proc.Done():
			t.Fatalf("moat serve exited (%v):\n%s", s.proc.Err(), s.output())
		default:
		}
		if out := s.output(); strings.Contains(out, "moat listening on") {
			return out
		}
	}
	t.Fatalf("moat serve did not say \"moat listening on\" within %s:\n%s", serverStart, s.output())
	return ""
}

// logTail is the end of the server's log, for failure messages.
func (s *moatServer) logTail() string {
	return fmt.Sprintf("--- moat serve (%s style, port %d) log, tail ---\n%s", s.style, s.port, tail(s.output(), 20))
}

// signIn runs `moat login` as u (with the server's CA, which the login
// remembers: no later command of u names it).
func (s *moatServer) signIn(t *testing.T, u *user) {
	t.Helper()
	args := []string{"login", "--server", s.url, "-u", u.name, "-p", "-", "-o", "none"}
	if s.caFile != "" {
		args = append(args, "--ca-file", s.caFile)
	}
	s.e.mustMoat(t, u, []byte(u.password+"\n"), args...)
}

// cli runs the moat CLI as the administrator and returns stdout.
func (s *moatServer) cli(t *testing.T, args ...string) string {
	t.Helper()
	r := s.e.moat(s.admin, nil, args...)
	if r.err != nil {
		t.Fatalf("moat (as admin) failed:\n%s\n%s", r, s.logTail())
	}
	return r.stdout
}

// loginServer is the login server of registry reg: the host docker logs in
// to and the prefix of its images.
func (s *moatServer) loginServer(reg string) string {
	switch {
	case s.style == "host" && s.port == 443:
		return reg + "." + s.suffix
	case s.style == "host":
		return fmt.Sprintf("%s.%s:%d", reg, s.suffix, s.port)
	}
	return s.addr + "/" + reg
}

// dockerHost is the registry host of reg as docker knows it (docker login
// HOST, the key of the Docker config's auths).
func (s *moatServer) dockerHost(reg string) string {
	host, _, _ := strings.Cut(s.loginServer(reg), "/")
	return host
}

// ref is the reference of repository repo of reg with suffix (":tag").
func (s *moatServer) ref(reg, repo, suffix string) string {
	return s.loginServer(reg) + "/" + repo + suffix
}

// registryName is the name of the registry of scenario on the server on
// port: known before the run, so that host-style login servers can be in
// the client's /etc/hosts before dockerd first reads it (dockerd's resolver
// re-reads the file only every few seconds).
func (e *env) registryName(scenario string, port int) string {
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(scenario))
	return fmt.Sprintf("%s%d%s", name, port, e.net.ID)
}

// registryHosts are the hosts (host:port) of the registries of sp's
// scenarios, as docker names them.
func (e *env) registryHosts(sp serverSpec) []string {
	s := moatServer{serverSpec: sp, addr: moatAddr(sp.port), suffix: hostSuffix}
	var hosts []string
	for _, sc := range sp.scenarios() {
		if h := s.dockerHost(e.registryName(sc.name, sp.port)); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// addNames makes the host names of hosts (host:port) resolve to moat at the
// client.
func (e *env) addNames(t *testing.T, hosts []string) {
	t.Helper()
	for _, h := range hosts {
		name, _, err := net.SplitHostPort(h)
		if err != nil {
			name = h
		}
		e.net.AddName(t, name, netns.MoatPublicIP)
	}
}

// newRegistry creates the Premium registry of scenario and, in host style,
// makes dockerd trust its certificate. The login server moat reports must
// be the one docker uses.
func (s *moatServer) newRegistry(t *testing.T, scenario string) string {
	t.Helper()
	reg := s.e.registryName(scenario, s.port)
	s.cli(t, "acr", "create", "--name", reg, "--sku", "Premium", "-o", "none")
	if s.style == "host" && !s.insecure {
		s.e.daemon.TrustCA(t, s.dockerHost(reg), s.caPEM)
	}
	if got := strings.TrimSpace(s.cli(t, "acr", "show", "--name", reg, "--query", "loginServer", "-o", "tsv")); got != s.loginServer(reg) {
		t.Fatalf("moat reports the login server %q for registry %s, want %q (where docker reaches it)", got, reg, s.loginServer(reg))
	}
	return reg
}

// registryID is the resource ID of reg.
func (s *moatServer) registryID(t *testing.T, reg string) string {
	t.Helper()
	id := strings.TrimSpace(s.cli(t, "acr", "show", "--name", reg, "--query", "id", "-o", "tsv"))
	if !strings.HasPrefix(id, "/subscriptions/") {
		t.Fatalf("moat acr show --name %s --query id: %q", reg, id)
	}
	return id
}

// newDirectoryUser creates a user with role on reg.
func (s *moatServer) newDirectoryUser(t *testing.T, role, reg string) *user {
	t.Helper()
	u := newUser(t, "docker-"+randomHex(10)+"@example.com", "pw-"+randomHex(24))
	s.cli(t, "ad", "user", "create", "--user-principal-name", u.name, "--password", u.password, "-o", "none")
	s.cli(t, "role", "assignment", "create", "--assignee", u.name, "--role", role, "--scope", s.registryID(t, reg), "-o", "none")
	return u
}

// newServicePrincipal creates a service principal with role on reg; its
// user name is the appId, its password the secret.
func (s *moatServer) newServicePrincipal(t *testing.T, role, reg string) *user {
	t.Helper()
	out := s.cli(t, "ad", "sp", "create-for-rbac", "--name", "docker-sp-"+randomHex(8), "--role", role, "--scopes", s.registryID(t, reg))
	var sp struct {
		AppID    string `json:"appId"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal([]byte(out), &sp); err != nil || sp.AppID == "" || sp.Password == "" {
		t.Fatalf("moat ad sp create-for-rbac printed no appId and password (%v):\n%s", err, out)
	}
	return newUser(t, sp.AppID, sp.Password)
}

// adminUser enables the admin user of reg and returns it.
func (s *moatServer) adminUser(t *testing.T, reg string) *user {
	t.Helper()
	s.cli(t, "acr", "update", "--name", reg, "--admin-enabled", "true", "-o", "none")
	out := s.cli(t, "acr", "credential", "show", "--name", reg)
	var cred struct {
		Username  string `json:"username"`
		Passwords []struct {
			Value string `json:"value"`
		} `json:"passwords"`
	}
	if err := json.Unmarshal([]byte(out), &cred); err != nil || cred.Username == "" || len(cred.Passwords) == 0 {
		t.Fatalf("moat acr credential show --name %s (%v):\n%s", reg, err, out)
	}
	return newUser(t, cred.Username, cred.Passwords[0].Value)
}
