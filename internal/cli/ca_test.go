package cli

import (
	"bytes"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newFakeARMTLS is newFakeARM served over HTTPS, and the PEM file of the CA
// its certificate chains to (httptest's, self-signed).
func newFakeARMTLS(t *testing.T) (*fakeARM, string) {
	t.Helper()
	f := newFakeARM(t)
	f.srv.Close()
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f, ca
}

// mustFailUntrusted runs the CLI with args and checks it failed because the
// server's certificate is not trusted, with the hint to give --ca-file.
func mustFailUntrusted(t *testing.T, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(""), &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "certificate signed by unknown authority") ||
		!strings.Contains(stderr.String(), "moat login --ca-file remembers it") {
		t.Fatalf("moat %s: exit %d, want the untrusted-certificate error; stderr: %s", strings.Join(args, " "), code, stderr.String())
	}
}

func TestLoginRemembersCA(t *testing.T) {
	f, ca := newFakeARMTLS(t)
	newFakeIdP(f)
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list())
	mustFailUntrusted(t, "login", "-u", "alice", "-p", "good-password", "--server", f.srv.URL)
	// A login that fails remembers nothing.
	if _, errOut, code := f.run("", "login", "-u", "alice", "-p", "bad-password", "--ca-file", ca); code == 0 || !strings.Contains(errOut, "AADSTS50126") {
		t.Fatalf("login with a bad password: exit %d: %s", code, errOut)
	}
	mustFailUntrusted(t, "acr", "list", "--server", f.srv.URL)

	f.mustRun("login", "-u", "alice", "-p", "good-password", "--ca-file", ca, "-o", "none")
	// The certificate is remembered, not the file's path.
	if err := os.Remove(ca); err != nil {
		t.Fatal(err)
	}
	if out := f.mustRun("acr", "list", "--query", "length(@)"); out != "0\n" {
		t.Errorf("acr list --server %s after login: %q", f.srv.URL, out)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"acr", "list", "--query", "length(@)"}, nil, &stdout, &stderr); code != 0 || stdout.String() != "0\n" {
		t.Errorf("acr list without --server after login: exit %d %q %q", code, stdout.String(), stderr.String())
	}
	// Signing in again without --ca-file keeps the CA.
	f.mustRun("login", "-u", "alice", "-p", "good-password", "-o", "none")
	f.mustRun("acr", "list")
	// Only for that server: another one with the same certificate is not trusted.
	other := httptest.NewTLSServer(http.HandlerFunc(f.serve))
	defer other.Close()
	mustFailUntrusted(t, "acr", "list", "--server", other.URL)

	raw, err := os.ReadFile(filepath.Join(os.Getenv("MOAT_CONFIG_DIR"), "config.json"))
	if err != nil || !strings.Contains(string(raw), `"caCertificates"`) || !strings.Contains(string(raw), "BEGIN CERTIFICATE") {
		t.Fatalf("config.json after login --ca-file: %v\n%s", err, raw)
	}
	f.mustRun("logout")
	mustFailUntrusted(t, "acr", "list", "--server", f.srv.URL)
	if raw, _ := os.ReadFile(filepath.Join(os.Getenv("MOAT_CONFIG_DIR"), "config.json")); strings.Contains(string(raw), "CERTIFICATE") {
		t.Errorf("config.json still holds the CA after logout:\n%s", raw)
	}
}

func TestCAFileOverridesRemembered(t *testing.T) {
	f, ca := newFakeARMTLS(t)
	newFakeIdP(f)
	f.mustRun("login", "-u", "alice", "-p", "good-password", "--ca-file", ca, "-o", "none")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	// --ca-file and MOAT_CA_FILE win over the remembered CA.
	if _, errOut, code := f.run("", "acr", "list", "--ca-file", notPEM); code == 0 || !strings.Contains(errOut, "no PEM certificate in it") {
		t.Errorf("acr list --ca-file %s: exit %d: %s", notPEM, code, errOut)
	}
	t.Setenv("MOAT_CA_FILE", notPEM)
	if _, errOut, code := f.run("", "acr", "list"); code == 0 || !strings.Contains(errOut, "no PEM certificate in it") {
		t.Errorf("acr list with MOAT_CA_FILE=%s: exit %d: %s", notPEM, code, errOut)
	}
}
