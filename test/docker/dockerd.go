package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-registry/moat/test/netns"
)

// Daemon is a dockerd of the test's own, running in a network namespace.
type Daemon struct {
	Host *netns.Host
	// Dir holds the data root, exec root, pidfile, config file and Socket.
	Dir    string
	Socket string
	// etcDocker is /etc/netns/<ns>/docker: what dockerd and the docker CLI
	// of the namespace see as /etc/docker (certs.d).
	etcDocker string
	log       string
	proc      *netns.Process
}

const (
	daemonStartMax = 60 * time.Second
	daemonStopMax  = 30 * time.Second
)

// e2eRequired reports whether MOAT_E2E=1 asks for every e2e test to run.
func e2eRequired() bool { return os.Getenv("MOAT_E2E") == "1" }

// Require skips t (fails it under MOAT_E2E=1) unless the process is root
// and dockerd, the docker CLI, ip, nsenter and unshare are installed. It
// returns the paths of dockerd and the docker CLI.
func Require(t testing.TB) (dockerd, cli string) {
	t.Helper()
	missing := func(msg string) {
		t.Helper()
		if e2eRequired() {
			t.Fatalf("MOAT_E2E=1 but %s", msg)
		}
		fmt.Fprintf(os.Stderr, "test/docker: skipping: %s\n", msg)
		t.Skipf("skipping: %s (set MOAT_E2E=1 to make this a failure)", msg)
	}
	if os.Geteuid() != 0 {
		missing("the Docker engine tests start their own dockerd in a network namespace, which needs root")
	}
	dockerd = lookPath("dockerd")
	if dockerd == "" {
		missing("dockerd is not installed (scripts/install-test-deps installs Debian's docker.io)")
	}
	cli = os.Getenv("MOAT_DOCKER_CLI")
	if cli == "" {
		cli = dockerCLI(dockerd)
	}
	if cli == "" {
		missing("the docker CLI is not installed (scripts/install-test-deps installs Debian's docker.io)")
	}
	for _, tool := range []string{"ip", "nsenter", "unshare", "mount"} {
		if lookPath(tool) == "" {
			missing(tool + " is not installed (iproute2, util-linux, mount)")
		}
	}
	return dockerd, cli
}

// lookPath finds a command on PATH or in the sbin directories, which a
// test's PATH may lack.
func lookPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// dockerCLI is the docker CLI of the same installation as dockerd (Debian's
// docker.io puts both in /usr/bin and /usr/sbin), else the one on PATH.
func dockerCLI(dockerd string) string {
	prefix := filepath.Dir(filepath.Dir(dockerd))
	if p := filepath.Join(prefix, "bin", "docker"); isExecutable(p) {
		return p
	}
	return lookPath("docker")
}

// StartDaemon starts dockerd in h's network namespace with its own data
// root, exec root, pidfile, socket and config file in a temporary directory,
// no iptables, no bridge and the vfs storage driver (no container ever
// runs), trusting the given plain-HTTP registries (host:port). dockerd gets
// a mount namespace of its own in which /etc/hosts, /etc/resolv.conf and
// /etc/docker are the namespace's files in /etc/netns/<ns>/, as for the
// commands that `ip netns exec` runs there, so that host names and
// certs.d/<host:port>/ca.crt are the test's alone. It returns once dockerd
// answers on its socket; t.Cleanup stops it.
func StartDaemon(t testing.TB, h *netns.Host, dockerd string, insecure []string) *Daemon {
	t.Helper()
	d := &Daemon{Host: h, Dir: t.TempDir(), etcDocker: filepath.Join("/etc/netns", h.NS, "docker")}
	d.Socket = filepath.Join(d.Dir, "docker.sock")
	if err := os.MkdirAll(filepath.Join(d.etcDocker, "certs.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The bind mount needs /etc/docker (docker.io ships it, empty).
	if err := os.MkdirAll("/etc/docker", 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(d.Dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
		"--data-root", filepath.Join(d.Dir, "data"), "--exec-root", filepath.Join(d.Dir, "exec"),
		"--pidfile", filepath.Join(d.Dir, "docker.pid"), "--host", "unix://" + d.Socket, "--config-file", cfg}
	for _, r := range insecure {
		args = append(args, "--insecure-registry", r)
	}
	etc := filepath.Join("/etc/netns", h.NS)
	script := "set -e\n"
	for _, f := range []string{"hosts", "resolv.conf", "docker"} {
		script += fmt.Sprintf("mount --bind %s /etc/%s\n", shellQuote(filepath.Join(etc, f)), f)
	}
	script += `exec "$@"`
	cmd := exec.Command("nsenter", append([]string{"--net=" + filepath.Join("/var/run/netns", h.NS), "--",
		"unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", script, "sh", dockerd}, args...)...)
	cmd.Env = netns.CleanEnv(os.Environ())
	// The log goes to a file: failure messages show its tail (Output), not
	// hundreds of lines.
	d.log = filepath.Join(d.Dir, "dockerd.log")
	logFile, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	d.proc = netns.Start(t, cmd)
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("dockerd: %v", err)
		}
	})
	if err := d.waitReady(); err != nil {
		t.Fatalf("dockerd: %v\n%s", err, tail(d.Output(), 40))
	}
	return d
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// waitReady polls GET /_ping on the socket until dockerd answers OK.
func (d *Daemon) waitReady() error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.Socket)
		}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(daemonStartMax)
	for time.Now().Before(deadline) {
		select {
		case <-d.proc.Done():
			return fmt.Errorf("exited before it was ready (%v)", d.proc.Err())
		default:
		}
		if resp, err := client.Get("http://docker/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("did not answer GET /_ping on %s within %s", d.Socket, daemonStartMax)
}

// Stop sends SIGTERM to dockerd (which stops its containerd) and waits for
// it to exit; an error says it did not stop cleanly.
func (d *Daemon) Stop() error {
	select {
	case <-d.proc.Done():
		return d.exitErr()
	default:
	}
	_ = syscall.Kill(d.proc.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.proc.Done():
		return d.exitErr()
	case <-time.After(daemonStopMax):
		_ = d.proc.Stop()
		return fmt.Errorf("did not exit within %s of SIGTERM; killed", daemonStopMax)
	}
}

func (d *Daemon) exitErr() error {
	err := d.proc.Err()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("exited with %v\n%s", err, tail(d.Output(), 30))
	}
	return nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TrustCA makes dockerd and the docker CLI trust caPEM for the registry at
// hostPort: /etc/docker/certs.d/<hostPort>/ca.crt as they see it.
func (d *Daemon) TrustCA(t testing.TB, hostPort string, caPEM []byte) {
	t.Helper()
	dir := filepath.Join(d.etcDocker, "certs.d", hostPort)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Output is what dockerd logged so far.
func (d *Daemon) Output() string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return fmt.Sprintf("(no dockerd log: %v)", err)
	}
	return string(b)
}
