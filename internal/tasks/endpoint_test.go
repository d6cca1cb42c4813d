package tasks

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestEndpointDialsOnlyTheServer: whatever host a task file or import names
// (a cloud metadata address, another server), the runner's client connects
// to this server's listener; the name only travels as the Host header. This
// is what keeps tasks and imports from being used for SSRF.
func TestEndpointDialsOnlyTheServer(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := Endpoint{Scheme: "http", Addr: srv.Listener.Addr().String()}.HTTPClient()
	targets := []string{"169.254.169.254", "evil.example:8080", "[::1]:1", "10.0.0.1:22"}
	for _, h := range targets {
		resp, err := c.Get("http://" + h + "/v2/")
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: %s", h, resp.Status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, h := range targets {
		if hosts[i] != h {
			t.Fatalf("request %d reached the server with Host %q, want %q", i, hosts[i], h)
		}
	}
}
