package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/test/harness"
	"github.com/moat-registry/moat/test/netns"
)

const commandTimeout = 2 * time.Minute

// env is one run: the network, dockerd and the moat binary.
type env struct {
	net *netns.Net
	// client is the namespace of dockerd and of every CLI run.
	client *netns.Host
	// moatHost is the namespace of the moat servers.
	moatHost *netns.Host
	bin      string // moat
	cli      string // docker
	daemon   *Daemon
}

// netSpec: a client on the internet and moat's public address, joined by
// the router.
func netSpec() netns.Spec {
	p := netip.MustParsePrefix
	host := func(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, 32) }
	internet, edge := p("16.17.18.0/24"), p("198.51.100.0/24")
	return netns.Spec{
		Segments: []netns.Segment{
			{Name: "internet", Gateway: p("16.17.18.1/24")},
			{Name: "edge", Gateway: p("198.51.100.1/24")},
		},
		Hosts: []netns.HostSpec{
			{Name: netns.Moat, NICs: []netns.NIC{{Segment: "edge", Addrs: []netip.Prefix{host(netns.MoatPublicIP)}, Routes: []netip.Prefix{internet}}}},
			{Name: netns.Internet, NICs: []netns.NIC{{Segment: "internet", Addrs: []netip.Prefix{host(netns.InternetIP)}, Routes: []netip.Prefix{edge}}}},
		},
	}
}

// moatBinary is the moat binary of the run (test/harness: $MOAT_BIN, or
// ./cmd/moat built once).
func moatBinary(t *testing.T) string { return harness.MustBinary(t) }

func TestMain(m *testing.M) { harness.Main(m) }

// user is one person or machine at the client, with its own HOME: the moat
// CLI's config and sessions (~/.moat) and the Docker config
// ($DOCKER_CONFIG/config.json) are its own.
type user struct {
	name, password string
	home           string
}

func newUser(t *testing.T, name, password string) *user {
	t.Helper()
	u := &user{name: name, password: password, home: t.TempDir()}
	for _, d := range []string{".docker", ".config", "run"} {
		if err := os.MkdirAll(filepath.Join(u.home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// environ is the environment of u's commands: none of the caller's
// MOAT_* or DOCKER_* settings, HOME and every client configuration location
// in u's HOME, and DOCKER_HOST at the test's dockerd.
func (e *env) environ(u *user) []string {
	var out []string
	for _, kv := range netns.CleanEnv(os.Environ()) {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME", k == "XDG_CONFIG_HOME", k == "XDG_RUNTIME_DIR", k == "REGISTRY_AUTH_FILE",
			strings.HasPrefix(k, "MOAT_"), strings.HasPrefix(k, "DOCKER_"):
			continue
		}
		out = append(out, kv)
	}
	return append(out, "HOME="+u.home, "DOCKER_CONFIG="+filepath.Join(u.home, ".docker"),
		"XDG_CONFIG_HOME="+filepath.Join(u.home, ".config"), "XDG_RUNTIME_DIR="+filepath.Join(u.home, "run"),
		"DOCKER_HOST=unix://"+e.daemon.Socket)
}

// result is what a command did.
type result struct {
	args           []string
	stdout, stderr string
	err            error
}

func (r result) combined() string { return r.stdout + r.stderr }

func (r result) String() string {
	status := "exit status 0"
	if r.err != nil {
		status = r.err.Error()
	}
	return fmt.Sprintf("$ %s\n(%s)\n--- stdout ---\n%s\n--- stderr ---\n%s", strings.Join(r.args, " "), status,
		strings.TrimRight(r.stdout, "\n"), strings.TrimRight(r.stderr, "\n"))
}

// run runs bin as u in the client's namespace.
func (e *env) run(u *user, stdin []byte, bin string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := e.client.Command(ctx, bin, args...)
	cmd.Env = e.environ(u)
	cmd.Dir = u.home
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", commandTimeout, err)
	}
	return result{args: append([]string{filepath.Base(bin)}, args...), stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// docker runs the docker CLI as u.
func (e *env) docker(u *user, stdin []byte, args ...string) result {
	return e.run(u, stdin, e.cli, args...)
}

// mustDocker runs the docker CLI as u and fails the test unless it succeeds;
// it returns stdout.
func (e *env) mustDocker(t *testing.T, u *user, stdin []byte, args ...string) string {
	t.Helper()
	r := e.docker(u, stdin, args...)
	if r.err != nil {
		t.Fatalf("docker failed:\n%s\n--- dockerd log (tail) ---\n%s", r, tail(e.daemon.Output(), 15))
	}
	return r.stdout
}

// mustFailDocker runs the docker CLI as u and fails the test unless it
// fails with output that contains every one of want.
func (e *env) mustFailDocker(t *testing.T, u *user, stdin []byte, why string, want []string, args ...string) string {
	t.Helper()
	r := e.docker(u, stdin, args...)
	if r.err == nil {
		t.Fatalf("docker succeeded but must fail (%s):\n%s", why, r)
	}
	for _, w := range want {
		if !strings.Contains(r.combined(), w) {
			t.Fatalf("docker failed (%s), but its output lacks %q:\n%s", why, w, r)
		}
	}
	t.Logf("refused as it must be (%s):\n$ docker %s\n%s", why, strings.Join(args, " "), strings.TrimSpace(r.combined()))
	return r.combined()
}

// moat runs the moat CLI as u.
func (e *env) moat(u *user, stdin []byte, args ...string) result {
	return e.run(u, stdin, e.bin, args...)
}

// mustMoat runs the moat CLI as u and fails the test unless it succeeds;
// it returns stdout.
func (e *env) mustMoat(t *testing.T, u *user, stdin []byte, args ...string) string {
	t.Helper()
	r := e.moat(u, stdin, args...)
	if r.err != nil {
		t.Fatalf("moat failed:\n%s", r)
	}
	return r.stdout
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
