package cli

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeTLSAuto: `moat serve --tls-auto` starts and serves HTTPS with its
// generated certificate.
func TestServeTLSAuto(t *testing.T) {
	defer slog.SetDefault(slog.Default())
	t.Setenv("MOAT_ADMIN_PASSWORD", "serve-password-1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := newServe()
	out := &lockedBuf{}
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs([]string{"--tls-auto", "--data-dir", t.TempDir(), "--listen", addr})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() { cancel(); <-done }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve --tls-auto ended: %v\n%s", err, out)
		default:
		}
		if resp, err := client.Get("https://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.TLS == nil {
				t.Fatalf("healthz over TLS: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving HTTPS:\n%s", out)
		}
	}
	if !strings.Contains(out.String(), "moat listening on https://"+addr) {
		t.Fatalf("output: %s", out)
	}
}
