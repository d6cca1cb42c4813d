package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pushBaseImage pushes a small one-layer image to repo:tag over the data
// plane with a token of the server's administrator (what `docker push` does
// after `docker login`), and returns the manifest digest.
func (s *realServer) pushBaseImage(repo, tag string) string {
	s.t.Helper()
	sum := func(b []byte) string { h := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(h[:]) }
	tok := s.adminToken("repository:" + repo + ":pull,push")
	put := func(method, path, ct string, body []byte) {
		req, _ := http.NewRequest(method, s.base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			s.t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	layer := []byte("base layer of " + repo + ":" + tag)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + sum(layer) + `"]}}`)
	put(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+sum(layer), "application/octet-stream", layer)
	put(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+sum(cfg), "application/octet-stream", cfg)
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		sum(cfg), len(cfg), sum(layer), len(layer)))
	put(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", m)
	return sum(m)
}

// adminToken is a registry token of the server's administrator for scope.
func (s *realServer) adminToken(scope string) string {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+"/oauth2/token?service="+s.host+"&scope="+scope, nil)
	req.SetBasicAuth("admin", "admin-password-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); resp.StatusCode != http.StatusOK || err != nil || tok.AccessToken == "" {
		s.t.Fatalf("admin token for %s: %s %v", scope, resp.Status, err)
	}
	return tok.AccessToken
}

// tagDigest reads the digest of repo:tag over the data plane as the
// administrator ("" when absent).
func (s *realServer) tagDigest(repo, tag string) string {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodHead, s.base+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Authorization", "Bearer "+s.adminToken("repository:"+repo+":pull"))
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// TestTrustedServicesSeedWorkflow runs the ACR Tasks example of
// shared/seeds/001 ("Allow trusted services to securely access a
// network-restricted container registry") command for command with moat in
// place of az, against a real in-process server whose task runner reaches
// its data plane over the public listener (from 127.0.0.1, a public client):
//
//  1. create a base registry and push a base image to it (the linked
//     article imports node:15-alpine with `az acr import`; here it comes from
//     a staging registry of the same server that the image is pushed to);
//  2. in a second registry, create a task with a system-assigned identity
//     that pulls from the base registry;
//  3. give the task identity AcrPull on the base registry;
//  4. add the managed-identity credentials to the task;
//  5. disable public access on the base registry;
//  6. run the task: it succeeds, as a trusted service.
//
// Then, to test disabling trusted-service access: disable "allow trusted
// services" on the base registry, run the task again: it fails with the base
// registry's 403; enabling it again makes runs succeed.
func TestTrustedServicesSeedWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	s := startServer(t)
	s.as("admin")
	t.Setenv("MOAT_SERVER", s.base) // so that the commands run exactly as printed
	w := &walkthrough{t: t}
	w.ok(`moat login -u admin -p admin-password-1 --output none`)

	t.Log("## 1. Create the base registry and push a sample base image to it")
	w.ok(`moat group create --name myResourceGroup --location eastus --output none`)
	w.ok(`moat acr create --resource-group myResourceGroup --name mybaseregistry --sku Premium --output none`)
	w.ok(`moat acr create --resource-group myResourceGroup --name mystagingregistry --sku Premium --output none`)
	t.Logf("$ docker push %s/mystagingregistry/library/node:15-alpine   # the admin's token, over the data plane", s.host)
	want := s.pushBaseImage("mystagingregistry/library/node", "15-alpine")
	t.Logf("15-alpine: digest: %s", want)
	baseLS := strings.TrimSpace(w.ok(`moat acr show --name mybaseregistry --query loginServer --output tsv`))
	if baseLS != s.host+"/mybaseregistry" {
		t.Fatalf("login server of mybaseregistry: %q", baseLS)
	}
	imported := w.json(`moat acr import --name mybaseregistry --source ` + s.host + `/mystagingregistry/library/node:15-alpine --image baseimages/node:15-alpine`)
	if str(imported, "digest") != want {
		t.Fatalf("import: %v, want digest %s", imported, want)
	}

	t.Log("## 2. Define the task steps in a YAML file and create the task with a system-assigned identity")
	w.ok(`moat acr create --resource-group myResourceGroup --name myregistry --sku Premium --output none`)
	taskFile := filepath.Join(t.TempDir(), "helloworld.yaml")
	yaml := "version: v1.1.0\nsteps:\n" +
		"  - cmd: copy\n    from: " + baseLS + "/baseimages/node:15-alpine\n    to: $Registry/hello-world:$RunID\n" +
		"  - cmd: tag\n    from: $Registry/hello-world:$RunID\n    to: $Registry/hello-world:latest\n"
	if err := os.WriteFile(taskFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("$ cat helloworld.yaml\n%s", yaml)
	w.ok(`moat acr task create \
  --name helloworld-task-system \
  --registry myregistry \
  --file ` + taskFile + ` \
  --assign-identity \
  --output none`)
	principalID := strings.TrimSpace(w.ok(`moat acr task show --name helloworld-task-system --registry myregistry --query identity.principalId --output tsv`))
	if principalID == "" {
		t.Fatal("the task has no system-assigned identity")
	}

	t.Log("## 3. Give the task identity AcrPull on the base registry")
	baseregID := strings.TrimSpace(w.ok(`moat acr show --name mybaseregistry --query id --output tsv`))
	w.ok(`moat role assignment create \
  --assignee ` + principalID + ` \
  --scope ` + baseregID + ` \
  --role acrpull \
  --output none`)

	t.Log("## 4. Add the managed-identity credentials to the task")
	w.ok(`moat acr task credential add \
  --name helloworld-task-system \
  --registry myregistry \
  --login-server ` + baseLS + ` \
  --use-identity [system] \
  --output none`)

	t.Log("## 5. Disable public access on the base registry")
	w.ok(`moat acr update --name mybaseregistry --public-network-enabled false --output none`)
	if got := strings.TrimSpace(w.ok(`moat acr show --name mybaseregistry --query "[publicNetworkAccess, networkRuleBypassOptions]" --output tsv`)); got != "Disabled\nAzureServices" {
		t.Fatalf("base registry network settings: %q", got)
	}

	// run runs the task (the log goes to stderr, as az streams it) and
	// returns the run ID, the exit status and what was printed on stderr.
	run := func() (string, int, string) {
		t.Helper()
		out, errOut, code := w.exec(`moat acr task run --name helloworld-task-system --registry myregistry`)
		id := str(decodeObject(out), "name")
		if id == "" {
			// A failed run prints no resource; the error names the run.
			if i := strings.Index(errOut, "Run ID: "); i >= 0 {
				id = strings.Fields(errOut[i+len("Run ID: "):])[0]
			}
		}
		return id, code, errOut
	}

	t.Log("## 6. Run the task: the base registry lets the trusted task through")
	id, code, errOut := run()
	if code != 0 || !strings.Contains(errOut, "Run ID: "+id+" was successful") {
		t.Fatalf("run with trusted services allowed: exit %d\n%s", code, errOut)
	}
	if got := s.tagDigest("myregistry/hello-world", "latest"); got != want {
		t.Errorf("myregistry/hello-world:latest is %q, want %s", got, want)
	}

	t.Log("## Test disabling access by trusted services")
	w.ok(`moat acr update --name mybaseregistry --allow-trusted-services false --output none`)
	id, code, errOut = run()
	if code != 1 || !strings.Contains(errOut, "ERROR: Run ID: "+id+" failed") {
		t.Fatalf("run with trusted services disallowed: exit %d\n%s", code, errOut)
	}
	logs := w.ok(`moat acr task logs --registry myregistry --run-id ` + id)
	for _, want := range []string{"403 Forbidden", "client with IP '127.0.0.1' is not allowed access", baseLS + "/baseimages/node", "Run ID: " + id + " failed after"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log of the failed run %s lacks %q:\n%s", id, want, logs)
		}
	}
	if got := strings.TrimSpace(w.ok(`moat acr task list-runs --registry myregistry --name helloworld-task-system --query "[0].{run: runId, status: status}" --output tsv`)); got != id+"\tFailed" {
		t.Errorf("newest run: %q, want %s Failed", got, id)
	}

	t.Log("## Allow trusted services again: runs succeed")
	w.ok(`moat acr update --name mybaseregistry --allow-trusted-services true --output none`)
	id, code, errOut = run()
	if code != 0 || !strings.Contains(errOut, "Run ID: "+id+" was successful") {
		t.Fatalf("run with trusted services allowed again: exit %d\n%s", code, errOut)
	}
	if got := w.ok(`moat acr task list-runs --registry myregistry --query "[].status" --output tsv`); got != "Succeeded\nFailed\nSucceeded\n" {
		t.Errorf("runs (newest first): %q", got)
	}
}

// decodeObject decodes a JSON object ("" or not an object: nil).
func decodeObject(s string) object {
	var v object
	_ = json.Unmarshal([]byte(s), &v)
	return v
}
