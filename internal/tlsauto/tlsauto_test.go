package tlsauto

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestEnsureServesVerifiableTLS(t *testing.T) {
	dir := t.TempDir()
	names := Names([]string{"127.0.0.1:0"}, "registry.example.com")
	f, err := Ensure(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()
	caPEM, _ := os.ReadFile(f.CA)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("client trusting only ca.pem: %v", err)
	}
	resp.Body.Close()
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if err := leaf.VerifyHostname("myreg.registry.example.com"); err != nil {
		t.Fatalf("host-style login server not covered: %v", err)
	}
	if err := leaf.VerifyHostname("runlogs.blob.registry.example.com"); err != nil {
		t.Fatalf("the task runs' log host not covered: %v", err)
	}
	if fi, _ := os.Stat(dir + "/ca-key.pem"); fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestEnsureKeepsCAAndReissuesOnNewNames(t *testing.T) {
	dir := t.TempDir()
	f, _ := Ensure(dir, []string{"localhost", "127.0.0.1"})
	ca1, _ := os.ReadFile(f.CA)
	cert1, _ := os.ReadFile(f.Cert)
	Ensure(dir, []string{"localhost", "127.0.0.1"})
	if cert2, _ := os.ReadFile(f.Cert); string(cert2) != string(cert1) {
		t.Fatal("certificate re-issued although names did not change")
	}
	Ensure(dir, []string{"localhost", "127.0.0.1", "moat.example"})
	ca2, _ := os.ReadFile(f.CA)
	cert3, _ := os.ReadFile(f.Cert)
	if string(ca1) != string(ca2) {
		t.Fatal("CA changed: clients that trust it would break")
	}
	if string(cert3) == string(cert1) {
		t.Fatal("certificate not re-issued for new names")
	}
}

// TestNamesWithoutPort: certificate names never carry a port, even when the
// login-server suffix names one (issue 19: moat.test:6204 was a SAN).
func TestNamesWithoutPort(t *testing.T) {
	names := Names([]string{"127.0.0.1:6204"}, "Moat.Test:6204")
	for _, want := range []string{"moat.test", "*.moat.test", "127.0.0.1"} {
		if !slices.Contains(names, want) {
			t.Errorf("names %v lack %s", names, want)
		}
	}
	for _, n := range names {
		if strings.Contains(n, ":6204") {
			t.Errorf("name %q carries a port", n)
		}
	}
}
