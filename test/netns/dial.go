package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread switched into the host's namespace, then
// switches the thread back. Sockets that fn creates itself (net.Dial,
// net.Listen in fn's goroutine) belong to the namespace and keep working
// afterwards from any goroutine. Goroutines that fn starts do NOT run in the
// namespace: create every socket in fn itself.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", h.NS))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: enter %s: %w", h.NS, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and ends with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("netns: leave %s: %w", h.NS, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// resolve turns host:port into ip:port, using only IP literals and the Net's
// own names (never DNS).
func (h *Host) resolve(address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return net.JoinHostPort(a.String(), port), nil
	}
	if a, ok := h.net.lookup(host); ok {
		return net.JoinHostPort(a.String(), port), nil
	}
	return "", fmt.Errorf("netns: %q is neither an IP address nor a name of this network (see Net.AddName)", host)
}

// DialContext connects from inside the host's namespace (TCP or UDP).
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	addr, err := h.resolve(address)
	if err != nil {
		return nil, err
	}
	var c net.Conn
	err = h.Do(func() error {
		var derr error
		c, derr = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
		return derr
	})
	return c, err
}

// Listen opens a listener inside the host's namespace, e.g. to run an
// in-process server there: serve it from any goroutine.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() error {
		var lerr error
		ln, lerr = net.Listen(network, address)
		return lerr
	})
	return ln, err
}

// HTTPClient is an HTTP client whose connections start in the host's
// namespace. It uses no proxy and resolves only IP literals and Net names;
// set Request.Host for virtual hosts.
func (h *Host) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         h.DialContext,
			ForceAttemptHTTP2:   true,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        10,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}
