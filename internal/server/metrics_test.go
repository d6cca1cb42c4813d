package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDecisionMetricsScraped: a denied request is counted by registry and
// reason on the separate metrics listener, and the data listener has no /metrics.
func TestDecisionMetricsScraped(t *testing.T) {
	t.Setenv("MOAT_ADMIN_PASSWORD", "metrics-password-1")
	data, metrics := freeAddr(t), freeAddr(t)
	cfg := testConfig(t.TempDir())
	cfg.MetricsAddress = metrics
	cfg.Listeners = []config.Listener{{Name: "default", Address: data, Kind: config.KindPublic}}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- srv.Run(ctx, func([]net.Addr) { close(ready) }) }()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	// A registry with default action Deny; the loopback client matches no rule.
	base := "http://" + data
	mgmt := base + "/subscriptions/" + srv.Subscription() + "/resourceGroups/default/providers/"
	tok := loginToken(t, base, srv.Tenant(), "metrics-password-1")
	put := func(method, u, body string) {
		req, _ := http.NewRequest(method, u+"?"+armVersion(u), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %v %v", method, u, err, resp)
		}
		resp.Body.Close()
	}
	put(http.MethodPut, mgmt+"Microsoft.ContainerRegistry/registries/metricreg", `{"sku":{"name":"Premium"},"properties":{"networkRuleSet":{"defaultAction":"Deny"}}}`)
	resp, err := http.Get(base + "/v2/metricreg/app/tags/list")
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("denied request: %v %v", err, resp)
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		resp, err = http.Get("http://" + metrics + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := `moat_network_decisions_total{decision="deny",reason="no-matching-rule",registry="metricreg"} 1`
	if !strings.Contains(body, want) {
		t.Fatalf("metrics lack %s:\n%.2000s", want, body)
	}
	if !strings.Contains(body, "go_goroutines") {
		t.Fatal("metrics lack the Go runtime")
	}
	if resp, err := http.Get(base + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("/metrics is served on the data listener")
		}
	}
}
