package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// CommandTimeout bounds Host.Run.
const CommandTimeout = 2 * time.Minute

// Command is `ip netns exec <ns> name args...`: name runs inside the host's
// namespace (with /etc/hosts and /etc/resolv.conf from /etc/netns/<ns>), in
// its own process group, with the proxy variables (HTTP_PROXY, ...) removed
// from the environment. Set Env, Dir, Stdin... before starting it.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	cmd.Env = CleanEnv(os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// CleanEnv is env without proxy settings (and NO_PROXY=*), so that clients in
// a namespace talk to the addresses they are given.
func CleanEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "NO_PROXY=*")
}

// Output runs name in the namespace and returns its combined output.
func (h *Host) Output(ctx context.Context, name string, args ...string) (string, error) {
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %s %s: %w", h.Name, name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// Run runs name in the namespace (at most CommandTimeout) and fails the test
// if it fails; it returns the combined output.
func (h *Host) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	out, err := h.Output(ctx, name, args...)
	if err != nil {
		t.Fatalf("netns: %v\n%s", err, out)
	}
	return out
}

// Process is a command started in a namespace; it is stopped by t.Cleanup.
type Process struct {
	Cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

// Start starts name in the host's namespace. Its output is collected (Output,
// WaitFor) and logged if the test fails; the process group is stopped
// (SIGTERM, then SIGKILL) when the test ends.
func (h *Host) Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return Start(t, h.Command(context.Background(), name, args...))
}

// Start starts cmd (usually from Host.Command, adjusted) like Host.Start.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &p.out
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("netns: start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(cmd.Args, " "), p.Output())
		}
	})
	return p
}

// Output is everything the process wrote so far (stdout and stderr).
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// WaitFor waits until the output contains substr and returns the output; the
// test fails if the process exits first or timeout passes.
func (p *Process) WaitFor(t testing.TB, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if out := p.Output(); strings.Contains(out, substr) {
			return out
		}
		select {
		case <-p.done:
			if out := p.Output(); strings.Contains(out, substr) {
				return out
			}
			t.Fatalf("netns: %s exited (%v) before printing %q:\n%s", strings.Join(p.Cmd.Args, " "), p.err, substr, p.Output())
		case <-deadline:
			t.Fatalf("netns: %s did not print %q within %s:\n%s", strings.Join(p.Cmd.Args, " "), substr, timeout, p.Output())
		case <-tick.C:
		}
	}
}

// Stop ends the process group: SIGTERM, and SIGKILL after 5 seconds. It
// returns the exit error (nil if it had exited cleanly or stopped on SIGTERM).
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	pid := p.Cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return p.err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
