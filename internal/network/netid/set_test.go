package netid

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
)

// newTestSet is a Set serving the echo handler, plus /block which waits for
// release before answering.
func newTestSet(t *testing.T, release <-chan struct{}, entered chan<- struct{}) *Set {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/id", echoHandler)
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		echoHandler(w, r)
	})
	s := NewSet(SetOptions{Handler: mux, Topology: fakeTopo{}, DrainTimeout: 10 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

func apply(t *testing.T, s *Set, ls ...config.Listener) {
	t.Helper()
	if err := s.Apply(ls); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func mustGet(t *testing.T, c *client, lines ...string) result {
	t.Helper()
	r, err := c.get(lines...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSetReloadUpdatesInPlace(t *testing.T) {
	s := newTestSet(t, nil, nil)
	l := config.Listener{Name: "l1", Address: "127.0.0.1:0", Kind: config.KindPublic}
	apply(t, s, l)
	address := s.Addrs()[0].String()
	c := dial(t, address, "127.0.0.1", nil)
	xff := "X-Forwarded-For: 16.17.18.19"
	if got := mustGet(t, c, xff); got.ID != public("127.0.0.1") {
		t.Fatalf("before: %v", got)
	}

	l.TrustedProxies = trustLoopback
	apply(t, s, l)
	if a := s.Addrs()[0].String(); a != address {
		t.Fatalf("reload moved the listener from %s to %s", address, a)
	}
	// The same keep-alive connection sees the new trust on its next request.
	if got := mustGet(t, c, xff); got.ID != public("16.17.18.19") {
		t.Fatalf("after trusting 127.0.0.1, same connection: %v", got)
	}
	if got := mustGet(t, dial(t, address, "127.0.0.1", nil), xff); got.ID != public("16.17.18.19") {
		t.Fatalf("after trusting 127.0.0.1, new connection: %v", got)
	}

	// Kind, name and virtual network change in place too.
	l = config.Listener{Name: "corp", Address: "127.0.0.1:0", Kind: config.KindVirtualNetwork, VirtualNetwork: vnetID}
	apply(t, s, l)
	want := Identity{Path: Public, ClientIP: addr("127.0.0.1"), Listener: "corp", VirtualNetwork: strings.ToLower(vnetID)}
	if got := mustGet(t, c, xff); got.ID != want {
		t.Fatalf("after switching to a virtual-network listener: %v", got)
	}
}

func TestSetReloadAddsAndDrains(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	s := newTestSet(t, release, entered)
	a := config.Listener{Name: "a", Address: "127.0.0.1:0"}
	b := config.Listener{Name: "b", Address: "127.0.0.2:0", Kind: config.KindVirtualNetwork, VirtualNetwork: vnetID}
	apply(t, s, a)
	addrA := s.Addrs()[0].String()

	apply(t, s, a, b)
	addrs := s.Addrs()
	if len(addrs) != 2 || addrs[0].String() != addrA {
		t.Fatalf("addrs after adding b: %v", addrs)
	}
	addrB := addrs[1].String()
	if got := mustGet(t, dial(t, addrB, "127.0.0.17", nil)); got.ID.Path != ServiceEndpoint || got.ID.Listener != "b" {
		t.Fatalf("new listener b: %v", got)
	}

	// A request in flight on a when a is removed finishes.
	inflight := dial(t, addrA, "127.0.0.1", nil)
	done := make(chan result, 1)
	go func() {
		_ = inflight.c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(inflight.c, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(inflight.br, nil)
		if err != nil {
			done <- result{}
			return
		}
		defer resp.Body.Close()
		var r result
		_ = jsonDecode(resp, &r)
		done <- r
	}()
	<-entered
	apply(t, s, b)
	if got := s.Addrs(); len(got) != 1 || got[0].String() != addrB {
		t.Fatalf("addrs after removing a: %v", got)
	}
	// a stops accepting at once.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addrA, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("removed listener still accepts connections")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if got := <-done; !got.OK || got.ID.Listener != "a" {
		t.Fatalf("in-flight request on the removed listener: %v", got)
	}
	if got := mustGet(t, dial(t, addrB, "127.0.0.1", nil)); got.ID.Listener != "b" {
		t.Fatalf("b after removing a: %v", got)
	}
}

func TestSetApplyIsAllOrNothing(t *testing.T) {
	s := newTestSet(t, nil, nil)
	a := config.Listener{Name: "a", Address: "127.0.0.1:0"}
	apply(t, s, a)
	addrA := s.Addrs()[0].String()
	busy, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	trustedA := a
	trustedA.TrustedProxies = trustLoopback
	for name, ls := range map[string][]config.Listener{
		"address in use":    {trustedA, {Name: "b", Address: busy.Addr().String()}},
		"invalid listener":  {trustedA, {Name: "c", Address: "127.0.0.3:0", Kind: config.KindVirtualNetwork}},
		"duplicate address": {trustedA, {Name: "d", Address: "127.0.0.1:0"}},
	} {
		if err := s.Apply(ls); err == nil {
			t.Fatalf("%s: Apply succeeded", name)
		}
		if got := s.Addrs(); len(got) != 1 || got[0].String() != addrA {
			t.Fatalf("%s: listeners changed to %v", name, got)
		}
		// a kept its old settings: 127.0.0.1 is still untrusted.
		if got := mustGet(t, dial(t, addrA, "127.0.0.1", nil), "X-Forwarded-For: 16.17.18.19"); got.ID.ClientIP != addr("127.0.0.1") {
			t.Fatalf("%s: a's settings changed: %v", name, got)
		}
	}
}

// A connection whose PROXY header was accepted loses its identity when its
// peer stops being a trusted proxy (fail closed), and keeps it otherwise.
func TestSetTrustWithdrawn(t *testing.T) {
	s := newTestSet(t, nil, nil)
	l := config.Listener{Name: "l1", Address: "127.0.0.1:0", TrustedProxies: trustLoopback}
	apply(t, s, l)
	c := dial(t, s.Addrs()[0].String(), "127.0.0.1", proxyHeader(t, 2, "16.17.18.19:1", "127.0.0.1:443"))
	if got := mustGet(t, c); got.ID != public("16.17.18.19") {
		t.Fatalf("before: %v", got)
	}
	l.TrustedProxies = nil
	apply(t, s, l)
	if got := mustGet(t, c); got.OK {
		t.Fatalf("after withdrawing trust: %v", got)
	}
	// A new connection from the no longer trusted peer is closed for its header.
	if _, err := dial(t, s.Addrs()[0].String(), "127.0.0.1", proxyHeader(t, 2, "16.17.18.19:1", "127.0.0.1:443")).get(); err == nil {
		t.Fatal("PROXY header accepted from a peer no longer trusted")
	}
}

func TestSetShutdown(t *testing.T) {
	s := NewSet(SetOptions{Handler: http.HandlerFunc(echoHandler)})
	apply(t, s, config.Listener{Name: "a", Address: "127.0.0.1:0"}, config.Listener{Name: "b", Address: "127.0.0.2:0"})
	addrs := s.Addrs()
	mustGet(t, dial(t, addrs[0].String(), "127.0.0.1", nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
			c.Close()
			t.Fatalf("%s still accepts after Shutdown", a)
		}
	}
	if err := s.Apply([]config.Listener{{Name: "a", Address: "127.0.0.1:0"}}); err == nil {
		t.Fatal("Apply after Shutdown succeeded")
	}
	select {
	case err := <-s.Errors():
		t.Fatalf("serve error: %v", err)
	default:
	}
}

// Under TLS, the PROXY header precedes the handshake and ConnContext finds
// the connection beneath the *tls.Conn.
func TestSetTLSWithProxyHeader(t *testing.T) {
	cert := selfSigned(t)
	s := NewSet(SetOptions{Handler: http.HandlerFunc(echoHandler), NewServer: func(config.Listener) *http.Server {
		return &http.Server{ReadHeaderTimeout: 5 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	}})
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	apply(t, s, config.Listener{Name: "l1", Address: "127.0.0.1:0", TrustedProxies: trustLoopback})
	addr := s.Addrs()[0].String()
	for _, tc := range []struct {
		name   string
		prefix []byte
		want   Identity
	}{
		{"direct", nil, public("127.0.0.1")},
		{"PROXY v2", proxyHeader(t, 2, "16.17.18.19:1", "127.0.0.1:443"), public("16.17.18.19")},
		{"PROXY v1", proxyHeader(t, 1, "16.17.18.19:1", "127.0.0.1:443"), public("16.17.18.19")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
				DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, network, a)
					if err == nil && tc.prefix != nil {
						_, err = c.Write(tc.prefix)
					}
					return c, err
				},
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got result
			if err := jsonDecode(resp, &got); err != nil {
				t.Fatal(err)
			}
			if !got.OK || got.ID != tc.want {
				t.Fatalf("got %v, want %+v", got, tc.want)
			}
		})
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "moat.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A proxied connection's identity is kept between its requests, and a reload
// that stops trusting the proxy applies to its next request.
func TestKnownIdentityFollowsReload(t *testing.T) {
	s := newTestSet(t, nil, nil)
	l := config.Listener{Name: "l1", Address: "127.0.0.1:0", Kind: config.KindPublic, TrustedProxies: trustLoopback}
	apply(t, s, l)
	address := s.Addrs()[0].String()
	c := dial(t, address, "127.0.0.1", proxyHeader(t, 2, "16.17.18.19:5555", "198.51.100.10:443"))
	for i := range 3 {
		if got := mustGet(t, c, "X-Forwarded-For: 1.2.3.4"); got.ID != public("16.17.18.19") {
			t.Fatalf("request %d on the proxied connection: %v", i, got)
		}
	}
	l.TrustedProxies = nil
	apply(t, s, l)
	if got, err := c.get(); err == nil && got.OK {
		t.Fatalf("after the proxy stopped being trusted, same connection: %v, want no identity", got)
	}
}
