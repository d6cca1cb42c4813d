package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/config"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const opsPassword = "ops-password-1"

// opsEnv is a running server for the operations tests.
type opsEnv struct {
	t       *testing.T
	srv     *Server
	cfg     config.Config
	base    string
	cancel  context.CancelFunc
	done    chan error
	mgmtTok string
}

func startOps(t *testing.T, cfg config.Config) *opsEnv {
	t.Helper()
	t.Setenv("MOAT_ADMIN_PASSWORD", opsPassword)
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- srv.Run(ctx, func([]net.Addr) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	e := &opsEnv{t: t, srv: srv, cfg: cfg, base: "http://" + cfg.Listeners[0].Address, cancel: cancel, done: done}
	t.Cleanup(e.stop)
	e.mgmtTok = loginToken(t, e.base, srv.Tenant(), opsPassword)
	return e
}

// stop is what SIGTERM does in moat serve: cancel Run's context, wait, close.
func (e *opsEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	<-e.done
	e.srv.Close()
	e.cancel = nil
}

func (e *opsEnv) regPath(name string) string {
	return e.base + "/subscriptions/" + e.srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/" + name
}

func (e *opsEnv) mgmt(method, u, body string) (int, []byte) {
	e.t.Helper()
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	req, _ := http.NewRequest(method, u+sep+armVersion(u), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.mgmtTok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// regToken gets a registry token with Basic credentials.
func (e *opsEnv) regToken(user, pw, scope string) (string, int) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/oauth2/token?service="+e.cfg.Listeners[0].Address+"&scope="+scope, nil)
	req.SetBasicAuth(user, pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out.Token, resp.StatusCode
}

func (e *opsEnv) do(method, u, tok string, body io.Reader, hdr map[string]string) *http.Response {
	e.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = e.base + u
	}
	req, _ := http.NewRequest(method, u, body)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// pushBlob uploads a blob monolithically (POST then PUT).
func (e *opsEnv) pushBlob(tok, repo string, b []byte) {
	e.t.Helper()
	resp := e.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", tok, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		e.t.Fatalf("start upload: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	resp = e.do(http.MethodPut, loc+"?digest="+digestOf(b), tok, bytes.NewReader(b), map[string]string{"Content-Type": "application/octet-stream"})
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("commit upload: %s", resp.Status)
	}
}

func (e *opsEnv) pushImage(tok, repo, tag string) []byte {
	e.t.Helper()
	cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer-"+tag)
	e.pushBlob(tok, repo, cfg)
	e.pushBlob(tok, repo, layer)
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digestOf(cfg), len(cfg), digestOf(layer), len(layer)))
	resp := e.do(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, tok, bytes.NewReader(m), map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("push manifest: %s", resp.Status)
	}
	return m
}

func opsConfig(t *testing.T, dir string) config.Config {
	cfg := testConfig(dir)
	cfg.Listeners = []config.Listener{{Name: "default", Address: freeAddr(t), Kind: config.KindPublic}}
	return cfg
}

// testConfig is the default configuration with its data in dir.
func testConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	return cfg
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

// TestOperations: after traffic, the metrics are scraped and parsed; the
// request log has one JSON line per request with its ID; the audit trail
// answers for pushes, pulls, sign-ins, tokens, a rule change and a denied
// pull; the health endpoints answer.
func TestOperations(t *testing.T) {
	logs := &syncBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(logs, nil)))
	defer slog.SetDefault(prev)

	cfg := opsConfig(t, t.TempDir())
	cfg.MetricsAddress = freeAddr(t)
	e := startOps(t, cfg)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp := e.do(http.MethodGet, p, "", nil, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status":"`) {
			t.Fatalf("%s: %s %s", p, resp.Status, b)
		}
		if p == "/readyz" && !strings.Contains(string(b), `"ready"`) {
			t.Fatalf("readyz: %s", b)
		}
	}
	if code, b := e.mgmt(http.MethodPut, e.regPath("opsreg"), `{"location":"local","sku":{"name":"Premium"}}`); code >= 300 {
		t.Fatalf("create registry: %d %s", code, b)
	}
	tok, code := e.regToken("admin", opsPassword, "repository:opsreg/app:pull,push,delete")
	if code != http.StatusOK || tok == "" {
		t.Fatalf("token: %d", code)
	}
	if _, code := e.regToken("admin", "wrong-password", "repository:opsreg/app:pull"); code != http.StatusUnauthorized {
		t.Fatalf("bad password: %d", code)
	}
	manifest := e.pushImage(tok, "opsreg/app", "v1")
	resp := e.do(http.MethodGet, "/v2/opsreg/app/manifests/v1", tok, nil, map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"})
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, manifest) {
		t.Fatalf("pull: %s", resp.Status)
	}
	reqID := resp.Header.Get("X-Request-Id")
	if reqID == "" {
		t.Fatal("no X-Request-Id")
	}
	// A cancelled upload.
	resp = e.do(http.MethodPost, "/v2/opsreg/app/blobs/uploads/", tok, nil, nil)
	resp.Body.Close()
	resp = e.do(http.MethodDelete, resp.Header.Get("Location"), tok, nil, nil)
	resp.Body.Close()
	// The rule change, then a denied pull.
	if code, b := e.mgmt(http.MethodPatch, e.regPath("opsreg"), `{"properties":{"networkRuleSet":{"defaultAction":"Deny"}}}`); code >= 300 {
		t.Fatalf("rule change: %d %s", code, b)
	}
	resp = e.do(http.MethodGet, "/v2/opsreg/app/manifests/v1", tok, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("pull after Deny: %s", resp.Status)
	}

	// The audit trail.
	events := func(typ string) []audit.Event {
		code, b := e.mgmt(http.MethodGet, e.regPath("opsreg")+"/auditEvents?since=1h&type="+typ, "")
		if code != http.StatusOK {
			t.Fatalf("auditEvents %s: %d %s", typ, code, b)
		}
		var out struct{ Value []audit.Event }
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out.Value
	}
	cfgEv := events("config")
	// The creation (before: null) and the rule change, newest first.
	if len(cfgEv) != 2 || string(cfgEv[1].Before) != "null" || cfgEv[0].PrincipalName != "admin" || !strings.Contains(string(cfgEv[0].After), `"Deny"`) ||
		strings.Contains(string(cfgEv[0].Before), `"Deny"`) {
		t.Fatalf("config events: %+v", cfgEv)
	}
	den := events("denial")
	if len(den) == 0 || den[0].Reason == "" || den[0].ClientIP != "127.0.0.1" {
		t.Fatalf("denial events: %+v", den)
	}
	if ev := events("push"); len(ev) != 1 || ev[0].Repository != "app" || ev[0].Reference != "v1" || ev[0].Digest != digestOf(manifest) || ev[0].PrincipalName != "admin" {
		t.Fatalf("push events: %+v", ev)
	}
	if ev := events("pull"); len(ev) != 1 || ev[0].RequestID != reqID || ev[0].Outcome != audit.Success {
		t.Fatalf("pull events (the denied pull is a denial, not a pull): %+v", ev)
	}
	var okSignIn, badSignIn bool
	for _, ev := range events("signin") {
		okSignIn = okSignIn || ev.Outcome == audit.Success && ev.PrincipalName == "admin"
		badSignIn = badSignIn || ev.Outcome == audit.Failure && ev.Principal == "admin" && ev.Grant == "basic"
	}
	if !okSignIn || !badSignIn {
		t.Fatalf("signin events: %+v", events("signin"))
	}
	if ev := events("token"); len(ev) == 0 || len(ev[0].Scopes) == 0 || !strings.Contains(ev[0].Scopes[0], "opsreg/app") {
		t.Fatalf("token events: %+v", ev)
	}
	if all := events(""); len(all) < 6 {
		t.Fatalf("all events: %d", len(all))
	}
	if code, _ := e.mgmt(http.MethodGet, e.regPath("opsreg")+"/auditEvents?type=bogus", ""); code != http.StatusBadRequest {
		t.Fatalf("bad type: %d", code)
	}

	// The metrics, parsed.
	mresp, err := http.Get("http://" + cfg.MetricsAddress + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(mresp.Body)
	mresp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) float64 {
		f := fams[name]
		if f == nil {
			t.Fatalf("no metric %s", name)
		}
	next:
		for _, m := range f.Metric {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("no %s with %v", name, labels)
		return 0
	}
	checks := []struct {
		name   string
		labels map[string]string
	}{
		{"moat_http_requests_total", map[string]string{"route": "manifest", "method": "write", "status": "201", "registry": "opsreg"}},
		{"moat_http_requests_total", map[string]string{"route": "manifest", "method": "read", "status": "403", "registry": "opsreg"}},
		{"moat_http_requests_total", map[string]string{"route": "token", "method": "read", "status": "401"}},
		{"moat_http_request_duration_seconds", map[string]string{"route": "manifest", "method": "read"}},
		{"moat_http_request_duration_seconds", map[string]string{"route": "upload", "method": "write"}},
		{"moat_http_request_bytes_total", map[string]string{"route": "upload", "registry": "opsreg"}},
		{"moat_http_response_bytes_total", map[string]string{"route": "manifest", "registry": "opsreg"}},
		{"moat_upload_sessions_total", map[string]string{"event": "started"}},
		{"moat_upload_sessions_total", map[string]string{"event": "committed"}},
		{"moat_upload_sessions_total", map[string]string{"event": "cancelled"}},
		{"moat_token_requests_total", map[string]string{"grant": "basic", "outcome": "issued"}},
		{"moat_token_requests_total", map[string]string{"grant": "basic", "outcome": "failed"}},
		{"moat_network_decisions_total", map[string]string{"decision": "deny", "registry": "opsreg"}},
		{"moat_audit_events_total", map[string]string{"type": "push"}},
	}
	for _, c := range checks {
		if v := value(c.name, c.labels); v < 1 {
			t.Errorf("%s%v = %v", c.name, c.labels, v)
		}
	}
	if fams["moat_audit_events_dropped_total"] == nil || fams["go_goroutines"] == nil {
		t.Error("dropped-events counter or Go runtime missing")
	}

	// One JSON log line per request: its ID, client, route, principal; no secrets.
	var found bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "ops-password-1") || strings.Contains(line, "wrong-password") || strings.Contains(line, tok) || strings.Contains(line, "Bearer") {
			t.Fatalf("a secret in the log: %s", line)
		}
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" || rec["requestId"] != reqID {
			continue
		}
		found = rec["route"] == "manifest" && rec["registry"] == "opsreg" && rec["clientIp"] == "127.0.0.1" &&
			rec["networkPath"] == "public" && rec["status"] == float64(200) && rec["principal"] != ""
		if !found {
			t.Fatalf("request log line: %s", line)
		}
	}
	if !found {
		t.Fatalf("no log line for request %s in:\n%.3000s", reqID, logs.String())
	}
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.Label {
		if l.GetName() == k {
			return l.GetValue() == v
		}
	}
	return v == ""
}
