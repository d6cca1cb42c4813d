package durability

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// signInFlood is how many bad sign-ins TestSignInFloodMemory sends at once.
const signInFlood = 1000

// TestSignInFloodMemory sends 1,000 concurrent sign-ins with wrong
// passwords (each an argon2id check of 19 MiB) to a real `moat serve`, half
// to the registry token endpoint and half to the identity authority, with
// the per-address and per-principal failure limits off so that only the
// bound on concurrent password checks stands between them and the memory.
// The server's peak resident memory (VmHWM) must stay under maxRSSMiB; a
// watcher kills the server as soon as it passes that, so that an unbounded
// server fails fast instead of swapping the machine. Every answer is a 401
// or 400 (checked and wrong) or a 503 with Retry-After (no slot free).
func TestSignInFloodMemory(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfgFile := filepath.Join(dir, "moat.yaml")
	cfg := fmt.Sprintf("listeners:\n  - name: public\n    address: 127.0.0.1:%d\nlimits:\n  tokenRequestsPerSecond: -1\n  signInFailures: -1\n  signInFailuresPerPrincipal: -1\n", port)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerArgs(t, filepath.Join(dir, "data"), port, "--config", cfgFile)
	tenant := serverTenant(t, s.url)
	idle := procStatusMiB(t, s.pid(), "VmRSS")

	killed := make(chan float64, 1)
	stop := guardRSS(s, maxRSSMiB, killed)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: signInFlood}, Timeout: 2 * time.Minute}
	start := time.Now()
	codes := floodSignIns(client, s.url, tenant)
	elapsed := time.Since(start)
	stop()
	select {
	case rss := <-killed:
		t.Fatalf("the server passed %d MiB of resident memory (%.0f MiB) under %d concurrent bad sign-ins and was killed; answers so far: %v",
			maxRSSMiB, rss, signInFlood, codes)
	default:
	}
	hwm := procStatusMiB(t, s.pid(), "VmHWM")
	t.Logf("%d concurrent bad sign-ins in %v: answers %v; server RSS %.1f MiB idle, VmHWM %.1f MiB (limit %d MiB)",
		signInFlood, elapsed.Round(time.Millisecond), codes, idle, hwm, maxRSSMiB)
	if hwm >= maxRSSMiB {
		t.Errorf("peak resident memory %.1f MiB, want under %d MiB", hwm, maxRSSMiB)
	}
	for code, n := range codes {
		switch code {
		case "401", "400", "503 Retry-After":
		default:
			t.Errorf("%d answers %s: want 401/400 (wrong password) or 503 with Retry-After (busy)", n, code)
		}
	}
	if codes["401"]+codes["400"] == 0 {
		t.Errorf("no sign-in was checked at all: %v", codes)
	}
}

// floodSignIns sends signInFlood bad sign-ins at once and counts the answers
// by status ("503 Retry-After" when a 503 carries Retry-After).
func floodSignIns(client *http.Client, base, tenant string) map[string]int {
	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range signInFlood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			var req *http.Request
			if i%2 == 0 {
				req, _ = http.NewRequest(http.MethodGet, base+"/oauth2/token?service=127.0.0.1", nil)
				req.SetBasicAuth("admin", fmt.Sprintf("wrong-%d", i))
			} else {
				form := url.Values{"grant_type": {"password"}, "client_id": {"flood"}, "scope": {"https://management.azure.com/.default"},
					"username": {fmt.Sprintf("nobody%d", i)}, "password": {"wrong"}}
				req, _ = http.NewRequest(http.MethodPost, base+"/identity/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			key := "error"
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				key = fmt.Sprint(resp.StatusCode)
				if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
					key += " Retry-After"
				}
			}
			mu.Lock()
			codes[key]++
			mu.Unlock()
		}()
	}
	close(gate)
	wg.Wait()
	return codes
}

// guardRSS samples the server's resident memory every 5 ms and kills it
// (reporting the figure on killed) once it passes limit MiB. stop ends it.
func guardRSS(s *server, limit float64, killed chan<- float64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if v, err := readProcStatus(s.pid(), "VmRSS"); err == nil && v > limit {
					s.kill()
					killed <- v
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// serverTenant reads the tenant ID from /metadata/endpoints.
func serverTenant(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metadata/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		Authentication struct{ Tenant string } `json:"authentication"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || md.Authentication.Tenant == "" {
		t.Fatalf("/metadata/endpoints: %v %+v", err, md)
	}
	return md.Authentication.Tenant
}
