// Package scaleout runs three `moat serve` processes on one PostgreSQL
// (MOAT_TEST_POSTGRES) and one S3 bucket (MOAT_TEST_S3), as a scaled-out
// deployment behind a load balancer does, and checks that they behave as one
// registry: content pushed through one node is pulled through another, an
// upload started on one node is finished on another, and a network rule
// changed through one node is enforced by the others, so is a change to an IP
// group that a rule names, and an expiring IP rule
// stops matching on every node at its expiry and is removed and audited
// once. It measures how long a
// rule change takes to reach another node (logged, never asserted).
//
// Run it with both servers: scripts/test-postgres scripts/test-s3 go test ./test/scaleout/
// Without them it is skipped, except under MOAT_E2E=1, where it fails.
package scaleout

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/blob/s3/s3test"
	"github.com/moat-registry/moat/internal/store/meta/postgres/pgtest"
	"github.com/moat-registry/moat/test/harness"
	"github.com/opencontainers/go-digest"
)

const password = "scaleout-admin-password-1"

func tool(t *testing.T, name string) string {
	t.Helper()
	for _, d := range []string{os.Getenv("MOAT_TOOLS_BIN"), "../../.tools/bin"} {
		if p := filepath.Join(d, name); d != "" {
			if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("MOAT_E2E") == "1" {
		t.Fatalf("MOAT_E2E=1 but %s is not installed: run scripts/install-test-deps", name)
	}
	t.Skipf("%s is not installed (scripts/install-test-deps); skipping", name)
	return ""
}

type node struct {
	addr, url string
	log       string
}

// startNode runs `moat serve` and waits until /v2/ answers with a Bearer challenge.
func startNode(t *testing.T, bin string, args, env []string) *node {
	t.Helper()
	dir := t.TempDir()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	n := &node{addr: addr, url: "http://" + addr, log: filepath.Join(dir, "server.log")}
	// Behind a load balancer on this host: the node trusts X-Forwarded-For
	// from 127.0.0.1, so a test request can come from a public client address.
	conf := filepath.Join(dir, "moat.yaml")
	yml := fmt.Sprintf("listeners:\n  - name: lb\n    address: %q\n    kind: public\n    trustedProxies: [\"127.0.0.1/32\"]\n", addr)
	if err := os.WriteFile(conf, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--config", conf}, args...)...)
	cmd.Env = env
	proc, err := harness.Start(cmd, n.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proc.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(n.log)
			t.Logf("--- log of node %s ---\n%s", addr, tail(string(b), 30))
		}
	})
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-proc.Exited():
			b, _ := os.ReadFile(n.log)
			t.Fatalf("node %s exited:\n%s", addr, tail(string(b), 30))
		default:
		}
		if resp, err := http.Get(n.url + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return n
			}
		}
	}
	t.Fatalf("node %s did not become ready", addr)
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// call makes an HTTP request and returns the status and body.
func call(t *testing.T, method, u, auth string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// armToken signs the administrator in at n (the Entra-like password grant).
func (n *node) armToken(t *testing.T) string {
	t.Helper()
	_, b := call(t, http.MethodGet, n.url+"/metadata/endpoints?api-version=2022-09-01", "", nil)
	var md struct {
		Authentication struct {
			LoginEndpoint, Tenant string
		}
	}
	if err := json.Unmarshal(b, &md); err != nil || md.Authentication.Tenant == "" {
		t.Fatalf("metadata: %s", b)
	}
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {password},
		"client_id": {"moat-scaleout-test"}, "scope": {"https://management.azure.com/.default"}}
	resp, b := call(t, http.MethodPost, strings.TrimSuffix(md.Authentication.LoginEndpoint, "/")+"/oauth2/token", // the ADFS-shaped authority
		"", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("sign-in at %s: %d %s", n.url, resp.StatusCode, b)
	}
	return "Bearer " + tok.AccessToken
}

// registryToken is a data-plane token of n for repository reg/app.
func (n *node) registryToken(t *testing.T, reg string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.url+"/oauth2/token?service="+n.addr+"&scope=repository:"+reg+"/app:pull,push", nil)
	req.SetBasicAuth("admin", password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.NewDecoder(resp.Body).Decode(&tok) != nil || tok.AccessToken == "" {
		t.Fatalf("registry token from %s: %s", n.url, resp.Status)
	}
	return "Bearer " + tok.AccessToken
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestMain(m *testing.M) { harness.Main(m) }

func TestThreeNodes(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	s3c := s3test.Config(t)
	crane := tool(t, "crane")

	bin := harness.MustBinary(t)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MOAT_") {
			env = append(env, kv)
		}
	}
	env = append(env, "MOAT_ADMIN_PASSWORD="+password, "MOAT_S3_ACCESS_KEY="+s3c.AccessKey, "MOAT_S3_SECRET_KEY="+s3c.SecretKey)
	args := []string{"--postgres", dsn, "--s3-endpoint", s3c.Endpoint, "--s3-bucket", s3c.Bucket, "--s3-prefix", s3c.Prefix, "--s3-path-style"}
	// The first node creates the schema; the others join it.
	nodes := []*node{startNode(t, bin, args, env)}
	nodes = append(nodes, startNode(t, bin, args, env), startNode(t, bin, args, env))
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	arm := n3.armToken(t)
	_, b := call(t, http.MethodGet, n3.url+"/subscriptions?api-version=2025-11-01", arm, nil)
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		}
	}
	if json.Unmarshal(b, &subs) != nil || len(subs.Value) == 0 {
		t.Fatalf("subscriptions: %s", b)
	}
	const reg = "scaleout1"
	regURL := n3.url + "/subscriptions/" + subs.Value[0].SubscriptionID +
		"/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/" + reg + "?api-version=2025-11-01"
	if resp, b := call(t, http.MethodPut, regURL, arm, []byte(`{"sku":{"name":"Premium"}}`), "Content-Type", "application/json"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create registry through node 3: %d %s", resp.StatusCode, b)
	}

	t.Run("push on node 1 and pull on node 2", func(t *testing.T) {
		home := t.TempDir()
		cenv := append(slices.Clone(env), "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, ".docker"))
		run := func(args ...string) string {
			t.Helper()
			cmd := exec.Command(crane, append(args, "--insecure")...)
			cmd.Env, cmd.Stdin = cenv, strings.NewReader(password)
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("crane %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
			}
			return strings.TrimSpace(string(out))
		}
		for _, n := range []*node{n1, n2} {
			run("auth", "login", n.addr, "-u", "admin", "--password-stdin")
		}
		layer := filepath.Join(home, "layer.tar")
		writeTar(t, layer, randomBytes(3<<20))
		pushed := run("append", "-f", layer, "-t", n1.addr+"/"+reg+"/app:v1")
		want := pushed[strings.LastIndex(pushed, "@")+1:]
		if got := run("digest", n2.addr+"/"+reg+"/app:v1"); got != want {
			t.Fatalf("digest through node 2 %s, pushed %s", got, want)
		}
		if run("manifest", n2.addr+"/"+reg+"/app:v1") != run("manifest", n1.addr+"/"+reg+"/app:v1") {
			t.Fatal("manifests differ between the nodes")
		}
		// Downloads every blob through node 2 and checks it against its digest.
		run("validate", "--remote", n2.addr+"/"+reg+"/app:v1")
	})

	t.Run("upload started on node 1 finishes on node 2", func(t *testing.T) {
		tok1, tok2 := n1.registryToken(t, reg), n2.registryToken(t, reg)
		data := randomBytes(9<<20 + 4321) // a multipart part, then a tail
		resp, b := call(t, http.MethodPost, n1.url+"/v2/"+reg+"/app/blobs/uploads/", tok1, nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start on node 1: %d %s", resp.StatusCode, b)
		}
		loc := resp.Header.Get("Location")
		cut := 6 << 20
		resp, b = call(t, http.MethodPatch, n1.url+loc, tok1, data[:cut], "Content-Type", "application/octet-stream",
			"Content-Range", fmt.Sprintf("0-%d", cut-1))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("first chunk on node 1: %d %s", resp.StatusCode, b)
		}
		loc = resp.Header.Get("Location")
		resp, b = call(t, http.MethodPatch, n2.url+loc, tok2, data[cut:], "Content-Type", "application/octet-stream",
			"Content-Range", fmt.Sprintf("%d-%d", cut, len(data)-1))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("second chunk on node 2: %d %s", resp.StatusCode, b)
		}
		loc = resp.Header.Get("Location")
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		d := digest.FromBytes(data)
		if resp, b := call(t, http.MethodPut, n2.url+loc+sep+"digest="+d.String(), tok2, nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("finish on node 2: %d %s", resp.StatusCode, b)
		}
		if resp, b := call(t, http.MethodGet, n1.url+"/v2/"+reg+"/app/blobs/"+d.String(), tok1, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(b, data) {
			t.Fatalf("blob through node 1: %d, %d bytes of %d", resp.StatusCode, len(b), len(data))
		}
	})

	t.Run("network rule changed on node 3 is enforced on node 1", func(t *testing.T) {
		tok1 := n1.registryToken(t, reg)
		probe := n1.url + "/v2/" + reg + "/app/tags/list"
		const clientIP = "203.0.113.7" // the client, as the load balancer forwards it
		rules := map[bool]string{      // allowed -> the rule set that makes the client so
			true:  `{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"` + clientIP + `"}]}}}`,
			false: `{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"192.0.2.1"}]}}}`,
		}
		client := &http.Client{Timeout: 10 * time.Second}
		status := func() int {
			req, _ := http.NewRequest(http.MethodGet, probe, nil)
			req.Header.Set("Authorization", tok1)
			req.Header.Set("X-Forwarded-For", clientIP)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		const changes = 100
		var delays []time.Duration
		for i := range changes {
			allowed := i%2 == 1 // deny first: the registry starts open
			if resp, b := call(t, http.MethodPatch, regURL, arm, []byte(rules[allowed]), "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
				t.Fatalf("change %d through node 3: %d %s", i, resp.StatusCode, b)
			}
			changed := time.Now()
			want := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[allowed]
			for {
				got := status()
				if got == want {
					delays = append(delays, time.Since(changed))
					break
				}
				if got != http.StatusOK && got != http.StatusForbidden {
					t.Fatalf("change %d: node 1 answered %d", i, got)
				}
				if time.Since(changed) > 10*time.Second {
					t.Fatalf("change %d (allowed=%v) not enforced on node 1 after 10s (still %d)", i, allowed, got)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		slices.Sort(delays)
		p50, p99 := delays[len(delays)/2], delays[len(delays)*99/100]
		t.Logf("propagation of %d rule changes from node 3 to node 1: p50=%v p99=%v max=%v", changes, p50, p99, delays[len(delays)-1])
		fmt.Printf("propagation p50=%v p99=%v\n", p50, p99)
	})

	t.Run("an IP group changed on node 3 is in force on node 1", func(t *testing.T) {
		const clientIP = "203.0.113.9"
		groupURL := strings.Replace(regURL, "/providers/Microsoft.ContainerRegistry/registries/"+reg, "/providers/Microsoft.Network/ipGroups/agents", 1)
		groupID := groupURL[len(n3.url):strings.Index(groupURL, "?")]
		putGroup := func(addr string) {
			body := `{"location":"local","properties":{"ipAddresses":["` + addr + `"]}}`
			if resp, b := call(t, http.MethodPut, groupURL, arm, []byte(body), "Content-Type", "application/json"); resp.StatusCode >= 300 {
				t.Fatalf("IP group through node 3: %d %s", resp.StatusCode, b)
			}
		}
		putGroup("192.0.2.1")
		body := `{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"` + groupID + `"}]}}}`
		if resp, b := call(t, http.MethodPatch, regURL, arm, []byte(body), "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
			t.Fatalf("rule naming the group through node 3: %d %s", resp.StatusCode, b)
		}
		var delays []time.Duration
		for i := range 20 {
			allowed := i%2 == 0
			putGroup(map[bool]string{true: clientIP, false: "192.0.2.1"}[allowed])
			changed := time.Now()
			want := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[allowed]
			for n1.clientStatus(t, reg, clientIP) != want {
				if time.Since(changed) > 10*time.Second {
					t.Fatalf("group change %d (allowed=%v) not in force on node 1 after 10s", i, allowed)
				}
				time.Sleep(2 * time.Millisecond)
			}
			delays = append(delays, time.Since(changed))
		}
		slices.Sort(delays)
		t.Logf("propagation of %d IP group changes from node 3 to node 1: p50=%v max=%v", len(delays), delays[len(delays)/2], delays[len(delays)-1])
		// The group is named: it cannot be deleted.
		if resp, b := call(t, http.MethodDelete, groupURL, arm, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "InUseIpGroupCannotBeDeleted") {
			t.Errorf("deleting the group in use: %d %s", resp.StatusCode, b)
		}
	})

	t.Run("shadow mode lists exactly the sources that promoting its staged set then denies", func(t *testing.T) {
		a, b, c := "203.0.113.21", "203.0.113.22", "203.0.113.23"
		patch := func(body string) {
			if resp, out := call(t, http.MethodPatch, regURL, arm, []byte(body), "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
				t.Fatalf("PATCH through node 3: %d %s", resp.StatusCode, out)
			}
		}
		patch(`{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"value":"` + a + `"},{"value":"` + b + `"},{"value":"` + c + `"}]}}}`)
		patch(`{"properties":{"stagedNetworkAccess":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"value":"` + a + `"},{"value":"` + b + `"}]}}}}`)
		// Traffic from the three sources through nodes 1 and 2: the enforced
		// set applies (all in), the staged one is decided beside it.
		for _, n := range []*node{n1, n2} {
			for _, ip := range []string{a, b, c} {
				for n.clientStatus(t, reg, ip) != http.StatusOK {
					time.Sleep(5 * time.Millisecond) // until the node has the rules
				}
			}
		}
		type rec struct {
			ClientIP, Decision, StagedDecision, StagedReason string
			Count                                            int
		}
		listURL := strings.Replace(regURL, "?api-version=", "/networkRuleShadowDisagreements?since=1h&api-version=", 1)
		// Both nodes flush their records every 5 seconds: wait past that,
		// so that a wrong record of A or B would be listed too.
		var got []rec
		for start := time.Now(); ; time.Sleep(500 * time.Millisecond) {
			_, body := call(t, http.MethodGet, listURL, arm, nil)
			var out struct{ Value []rec }
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatalf("disagreements: %s", body)
			}
			got = out.Value
			if (len(got) > 0 && time.Since(start) > 6*time.Second) || time.Since(start) > 20*time.Second {
				break
			}
		}
		for _, d := range got {
			if d.ClientIP != c || d.Decision != "allow" || d.StagedDecision != "deny" || d.StagedReason != "no-matching-rule" {
				t.Errorf("disagreement %+v: only %s, allowed now and denied staged, was expected", d, c)
			}
		}
		if len(got) == 0 {
			t.Fatalf("no disagreement listed")
		}
		// Promote through node 3: what the staged set would have done is done.
		promote := strings.Replace(regURL, "?api-version=", "/promoteStagedNetworkAccess?api-version=", 1)
		if resp, out := call(t, http.MethodPost, promote, arm, nil); resp.StatusCode != http.StatusOK || strings.Contains(string(out), "stagedNetworkAccess") {
			t.Fatalf("promote: %d %s", resp.StatusCode, out)
		}
		want := map[string]int{a: http.StatusOK, b: http.StatusOK, c: http.StatusForbidden}
		for _, n := range []*node{n1, n2} {
			for ip, status := range want {
				deadline := time.Now().Add(10 * time.Second)
				for n.clientStatus(t, reg, ip) != status {
					if time.Now().After(deadline) {
						t.Fatalf("after the promotion, node %s does not answer %d to %s", n.addr, status, ip)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}
		if resp, out := call(t, http.MethodPost, promote, arm, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(out), "NoStagedNetworkAccess") {
			t.Errorf("a second promote: %d %s", resp.StatusCode, out)
		}
	})

	t.Run("an expiring rule stops matching on every node at its expiry, and one node removes and audits it", func(t *testing.T) {
		const clientIP = "203.0.113.8"
		// The client asks for its token from its own address, which only
		// the expiring rule lets in.
		status := func(n *node) int { return n.clientStatus(t, reg, clientIP) }
		expires := time.Now().Add(3 * time.Second).UTC()
		body := `{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"192.0.2.1"},` +
			`{"action":"Allow","value":"` + clientIP + `","expiresOn":"` + expires.Format(time.RFC3339Nano) + `"}]}}}`
		if resp, b := call(t, http.MethodPatch, regURL, arm, []byte(body), "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
			t.Fatalf("expiring rule through node 3: %d %s", resp.StatusCode, b)
		}
		for _, n := range []*node{n1, n2} {
			for status(n) != http.StatusOK {
				if time.Now().After(expires) {
					t.Fatalf("node %s never let the client in before the rule expired", n.addr)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		time.Sleep(time.Until(expires))
		// From its expiry on, the rule matches nothing on any node, whether
		// or not a sweep has removed it yet: the first request is denied.
		for _, n := range []*node{n1, n2} {
			if got := status(n); got != http.StatusForbidden {
				t.Errorf("node %s answered %d right after the expiry, want 403", n.addr, got)
			}
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			_, b := call(t, http.MethodGet, regURL, arm, nil)
			if !strings.Contains(string(b), clientIP) && strings.Contains(string(b), "192.0.2.1") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the expired rule is still stored 10s after its expiry: %s", b)
			}
		}
		// Three nodes sweep; one removed the rule and audited it.
		auditURL := strings.Replace(regURL, "?api-version=", "/auditEvents?type=config&since=1h&api-version=", 1)
		count := func() int {
			_, b := call(t, http.MethodGet, strings.Replace(auditURL, n3.url, n1.url, 1), arm, nil)
			var evs struct {
				Value []struct{ Principal, Detail string }
			}
			if err := json.Unmarshal(b, &evs); err != nil {
				t.Fatalf("audit events: %s", b)
			}
			n := 0
			for _, e := range evs.Value {
				if e.Principal == "moat:rule-expiry" && strings.Contains(e.Detail, "IP rule "+clientIP+" expired") {
					n++
				}
			}
			return n
		}
		for deadline := time.Now().Add(15 * time.Second); count() == 0; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no audit event of the expiry")
			}
		}
		time.Sleep(3 * time.Second) // every node has swept a few more times
		if n := count(); n != 1 {
			t.Errorf("%d audit events of the expiry, want 1", n)
		}
	})
}

// clientStatus is the status of a pull-side request of a client at
// clientIP (forwarded by the load balancer) through n: its token request,
// then the tags list with the token (both pass the network rules).
func (n *node) clientStatus(t *testing.T, reg, clientIP string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.url+"/oauth2/token?service="+n.addr+"&scope=repository:"+reg+"/app:pull", nil)
	req.SetBasicAuth("admin", password)
	req.Header.Set("X-Forwarded-For", clientIP)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode
	}
	resp, _ = call(t, http.MethodGet, n.url+"/v2/"+reg+"/app/tags/list", "Bearer "+tok.AccessToken, nil, "X-Forwarded-For", clientIP)
	return resp.StatusCode
}

// writeTar writes a one-file tar archive (an image layer) to path.
func writeTar(t *testing.T, path string, content []byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "data.bin", Mode: 0o644, Size: int64(len(content))})
	tw.Write(content)
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
