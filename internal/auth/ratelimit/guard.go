package ratelimit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/network/netid"
)

// maxName is the longest principal name kept as a key (real names are far shorter).
const maxName = 256

// Endpoint tells the guard what a group of endpoints looks like.
type Endpoint interface {
	// SignIn returns whether r presents credentials and the principal name it
	// claims ("" when the name says nothing about who signs in).
	SignIn(r *http.Request) (name string, ok bool)
	// Failed reports whether status answers a sign-in with bad credentials.
	Failed(r *http.Request, status int) bool
	// TooMany writes the endpoint's 429 error body with msg.
	TooMany(w http.ResponseWriter, r *http.Request, msg string)
}

// Guard applies the limits to one group of endpoints. Nil limiters are off.
type Guard struct {
	Endpoint Endpoint
	// Requests limits every request per client address.
	Requests *Limiter
	// Failures and PrincipalFailures limit failed sign-ins per client address
	// and per claimed principal name; when either is exhausted, sign-ins are
	// refused (without checking the credentials) until it refills. Each
	// sign-in in flight holds one event of both until it is known not to
	// have failed.
	Failures, PrincipalFailures *Limiter
}

// Wrap returns next behind the guard.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := AddrKey(ClientAddr(r))
		if ok, wait := g.Requests.Allow(addr); !ok {
			g.reject(w, r, wait, "too many token requests from %s", addr)
			return
		}
		name, signIn := g.Endpoint.SignIn(r)
		if !signIn {
			next.ServeHTTP(w, r)
			return
		}
		name = strings.ToLower(name)
		if len(name) > maxName {
			name = name[:maxName] // bounds the limiter's memory; longer names share a bucket
		}
		// The failure allowance is reserved before the credentials are
		// checked, so concurrent guesses cannot all pass a check made before
		// any of them failed; a sign-in that does not fail gives it back.
		if ok, wait := g.Failures.Allow(addr); !ok {
			g.reject(w, r, wait, "too many failed sign-ins from %s", addr)
			return
		}
		if name != "" {
			if ok, wait := g.PrincipalFailures.Allow(name); !ok {
				g.Failures.Refund(addr)
				g.reject(w, r, wait, "too many failed sign-ins for %q", clip(name))
				return
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if !g.Endpoint.Failed(r, sw.status) {
			g.Failures.Refund(addr)
			if name != "" {
				g.PrincipalFailures.Refund(name)
			}
		}
	})
}

func (g *Guard) reject(w http.ResponseWriter, r *http.Request, wait time.Duration, format string, args ...any) {
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	g.Endpoint.TooMany(w, r, fmt.Sprintf(format, args...)+fmt.Sprintf("; retry after %d s", secs))
}

// ClientAddr is the request's client address as the listener determined it
// (PROXY protocol or X-Forwarded-For only from trusted proxies); without a
// listener identity, the TCP peer.
func ClientAddr(r *http.Request) netip.Addr {
	if id, ok := netid.From(r.Context()); ok && id.ClientIP.IsValid() {
		return id.ClientIP
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(host)
	return a
}

// statusWriter remembers the status code the handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// clip shortens a client-supplied name for a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
