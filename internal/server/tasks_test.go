package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/tasks"
)

// adminJSON calls the management API as the administrator and returns the
// status and body (no failure on error statuses).
func (e *bypassEnv) adminJSON(method, u, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, u+"?"+armVersion(u), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.identityToken(url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {"bypass-password-1"}, "client_id": {"moat-cli"}}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, out
}

func sha(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

// pushImage pushes a one-layer image as the administrator.
func (e *bypassEnv) pushImage(repo, tag string) string {
	e.t.Helper()
	host := strings.TrimPrefix(e.ts.URL, "http://")
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/oauth2/token?service="+host+"&scope=repository:"+repo+":pull,push", nil)
	req.SetBasicAuth("admin", "bypass-password-1")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st, body := e.doJSON(req, &tok); st != http.StatusOK {
		e.t.Fatalf("admin token: %d %s", st, body)
	}
	put := func(method, u, ct string, body []byte) {
		req, _ := http.NewRequest(method, e.ts.URL+u, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", ct)
		if st, b := e.doJSON(req, nil); st != http.StatusCreated {
			e.t.Fatalf("%s %s: %d %s", method, u, st, b)
		}
	}
	layer := []byte("layer of " + repo + ":" + tag)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + sha(layer) + `"]}}`)
	put(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+sha(layer), "application/octet-stream", layer)
	put(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+sha(cfg), "application/octet-stream", cfg)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		sha(cfg), len(cfg), sha(layer), len(layer))
	put(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", []byte(m))
	return sha([]byte(m))
}

func (e *bypassEnv) host() string { return strings.TrimPrefix(e.ts.URL, "http://") }

func (e *bypassEnv) assign(principal, scope, role string) {
	e.t.Helper()
	r, _ := rbac.RoleByName(role)
	e.admin(http.MethodPut, e.ts.URL+scope+"/providers/Microsoft.Authorization/roleAssignments/"+newGUID(),
		fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, rbac.RoleDefinitionID(e.srv.Subscription(), r), principal))
}

// createTask creates a task in registry reg copying from -> to, with
// credentials for the base registry; it returns the task identity's principal ID.
func (e *bypassEnv) createTask(reg, name, identityJSON, steps string, creds map[string]string) string {
	e.t.Helper()
	cr := map[string]any{}
	for ls, id := range creds {
		cr[ls] = map[string]string{"identity": id}
	}
	body, _ := json.Marshal(map[string]any{
		"identity": json.RawMessage(identityJSON),
		"properties": map[string]any{
			"step":        map[string]string{"type": "EncodedTask", "encodedTaskContent": base64.StdEncoding.EncodeToString([]byte(steps))},
			"credentials": map[string]any{"customRegistries": cr},
		}})
	st, out := e.adminJSON(http.MethodPut, e.mgmt+"Microsoft.ContainerRegistry/registries/"+reg+"/tasks/"+name, string(body))
	if st != http.StatusOK { // ACR answers a task's creation with 200
		e.t.Fatalf("create task: %d %v", st, out)
	}
	id, _ := out["identity"].(map[string]any)
	pid, _ := id["principalId"].(string)
	return pid
}

// runTask runs a task and waits for the run to end.
func (e *bypassEnv) runTask(reg, name string) (status, log string) {
	e.t.Helper()
	regPath := e.mgmt + "Microsoft.ContainerRegistry/registries/" + reg
	taskID := strings.TrimPrefix(regPath, e.ts.URL) + "/tasks/" + name
	st, out := e.adminJSON(http.MethodPost, regPath+"/scheduleRun", `{"type":"TaskRunRequest","taskId":"`+taskID+`"}`)
	if st != http.StatusOK {
		e.t.Fatalf("run: %d %v", st, out)
	}
	e.srv.WaitRuns()
	runPath := regPath + "/runs/" + out["name"].(string)
	_, run := e.adminJSON(http.MethodGet, runPath, "")
	return run["properties"].(map[string]any)["status"].(string), e.runLog(runPath)
}

// TestTaskSeedWorkflow is the seed workflow of SPEC 5 end to end: a task in
// registry "appsreg" copies the base image from "base" (public access
// disabled) with its system-assigned identity, which has AcrPull on base.
func TestTaskSeedWorkflow(t *testing.T) {
	e := newBypassEnv(t)
	e.srv.SetRunnerEndpoint("http", e.host())
	base := e.mgmt + "Microsoft.ContainerRegistry/registries/basereg"
	baseID := "/subscriptions/" + e.srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/basereg"
	e.admin(http.MethodPut, base, `{"sku":{"name":"Premium"}}`)
	e.admin(http.MethodPut, e.mgmt+"Microsoft.ContainerRegistry/registries/appsreg", `{"sku":{"name":"Premium"}}`)
	want := e.pushImage("basereg/node", "15-alpine")
	e.admin(http.MethodPatch, base, `{"properties":{"publicNetworkAccess":"Disabled"}}`)

	h := e.host()
	steps := "version: v1.1.0\nsteps:\n  - cmd: copy\n    from: " + h + "/basereg/node:15-alpine\n    to: $Registry/hello:$RunID\n" +
		"  - cmd: tag\n    from: $Registry/hello:$RunID\n    to: $Registry/hello:latest\n" +
		"  - cmd: delete\n    ref: $Registry/hello:$RunID\n"
	pid := e.createTask("appsreg", "crosstask", `{"type":"SystemAssigned"}`, steps, map[string]string{h + "/basereg": "[system]"})
	if pid == "" {
		t.Fatal("the task has no system-assigned identity")
	}
	e.assign(pid, baseID, "AcrPull")

	if st, log := e.runTask("appsreg", "crosstask"); st != tasks.Succeeded {
		t.Fatalf("run with trusted services allowed: %s\n%s", st, log)
	}
	// The copy is in apps, under latest (the run tag was deleted).
	if ok := e.manifestDigest("appsreg/hello", "latest"); ok != want {
		t.Fatalf("appsreg/hello:latest is %q, want %s", ok, want)
	}

	e.admin(http.MethodPatch, base, `{"properties":{"networkRuleBypassOptions":"None"}}`)
	st, log := e.runTask("appsreg", "crosstask")
	if st != tasks.Failed || !strings.Contains(log, "403") || !strings.Contains(log, "not allowed access") {
		t.Fatalf("run with trusted services disallowed: %s\n%s", st, log)
	}
	e.admin(http.MethodPatch, base, `{"properties":{"networkRuleBypassAllowedForTasks":true}}`)
	if st, log := e.runTask("appsreg", "crosstask"); st != tasks.Succeeded {
		t.Fatalf("networkRuleBypassAllowedForTasks: %s\n%s", st, log)
	}
	e.admin(http.MethodPatch, base, `{"properties":{"networkRuleBypassOptions":"AzureServices","networkRuleBypassAllowedForTasks":false}}`)
	if st, log := e.runTask("appsreg", "crosstask"); st != tasks.Succeeded {
		t.Fatalf("trusted services allowed again: %s\n%s", st, log)
	}

	// A task identity without AcrPull on base: the bypass does not authorise.
	e.createTask("appsreg", "norole", `{"type":"SystemAssigned"}`, steps, map[string]string{h + "/basereg": "[system]"})
	if st, log := e.runTask("appsreg", "norole"); st != tasks.Failed || strings.Contains(log, "not allowed access") {
		t.Fatalf("identity without AcrPull: %s\n%s", st, log)
	}

	// A user-assigned identity attached to the task never bypasses.
	st2, uai := e.adminJSON(http.MethodPut, e.mgmt+"Microsoft.ManagedIdentity/userAssignedIdentities/taskuai", `{}`)
	if st2 != http.StatusCreated {
		t.Fatalf("uai: %d %v", st2, uai)
	}
	up := uai["properties"].(map[string]any)
	e.assign(up["principalId"].(string), baseID, "AcrPull")
	e.createTask("appsreg", "uaitask", `{"type":"UserAssigned","userAssignedIdentities":{"`+uai["id"].(string)+`":{}}}`, steps,
		map[string]string{h + "/basereg": up["clientId"].(string)})
	if st, log := e.runTask("appsreg", "uaitask"); st != tasks.Failed || !strings.Contains(log, "not allowed access") {
		t.Fatalf("user-assigned identity: %s\n%s", st, log)
	}
	// ... which does work once the network lets it in: the identity is real.
	e.admin(http.MethodPatch, base, `{"properties":{"publicNetworkAccess":"Enabled","networkRuleSet":{"defaultAction":"Allow"}}}`)
	if st, log := e.runTask("appsreg", "uaitask"); st != tasks.Succeeded {
		t.Fatalf("user-assigned identity on an open registry: %s\n%s", st, log)
	}

	// Virtual-network rules: no bypass at all.
	e.admin(http.MethodPut, e.mgmt+"Microsoft.Network/virtualNetworks/corp", `{"properties":{"addressSpace":{"addressPrefixes":["10.77.0.0/16"]},"subnets":[{"name":"a","properties":{"addressPrefix":"10.77.1.0/24","serviceEndpoints":[{"service":"Microsoft.ContainerRegistry"}]}}]}}`)
	e.admin(http.MethodPatch, base, `{"properties":{"networkRuleSet":{"defaultAction":"Deny","virtualNetworkRules":[{"id":"`+
		"/subscriptions/"+e.srv.Subscription()+`/resourceGroups/default/providers/Microsoft.Network/virtualNetworks/corp/subnets/a"}]}}}`)
	if st, log := e.runTask("appsreg", "crosstask"); st != tasks.Failed || !strings.Contains(log, "not allowed access") {
		t.Fatalf("virtual-network rules: %s\n%s", st, log)
	}

	// Runs are listed, newest first.
	_, list := e.adminJSON(http.MethodGet, e.mgmt+"Microsoft.ContainerRegistry/registries/appsreg/runs", "")
	if v := list["value"].([]any); len(v) != 8 {
		t.Fatalf("%d runs listed, want 8", len(v))
	}
	// Deleting the task removes its identity.
	e.admin(http.MethodDelete, e.mgmt+"Microsoft.ContainerRegistry/registries/appsreg/tasks/crosstask", "")
	if _, ok := e.srv.dir.Get(pid); ok {
		t.Fatal("the task identity outlived the task")
	}
}

// manifestDigest reads a tag's digest as the administrator ("" if absent).
func (e *bypassEnv) manifestDigest(repo, tag string) string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/oauth2/token?service="+e.host()+"&scope=repository:"+repo+":pull", nil)
	req.SetBasicAuth("admin", "bypass-password-1")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	e.doJSON(req, &tok)
	req, _ = http.NewRequest(http.MethodHead, e.ts.URL+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Docker-Content-Digest")
}

// TestImportTrusted: registry import crosses the source's network rules as
// the trusted import service, with the caller's permissions.
func TestImportTrusted(t *testing.T) {
	e := newBypassEnv(t)
	e.srv.SetRunnerEndpoint("http", e.host())
	base := e.mgmt + "Microsoft.ContainerRegistry/registries/basereg"
	e.admin(http.MethodPut, base, `{"sku":{"name":"Premium"}}`)
	e.admin(http.MethodPut, e.mgmt+"Microsoft.ContainerRegistry/registries/appsreg", `{"sku":{"name":"Premium"}}`)
	want := e.pushImage("basereg/node", "15-alpine")
	e.admin(http.MethodPatch, base, `{"properties":{"publicNetworkAccess":"Disabled"}}`)
	imp := e.mgmt + "Microsoft.ContainerRegistry/registries/appsreg/importImage"
	body := `{"source":{"sourceImage":"` + e.host() + `/basereg/node:15-alpine"},"targetTags":["node:imported"]}`
	if st, out := e.adminJSON(http.MethodPost, imp, body); st != http.StatusOK {
		t.Fatalf("import: %d %v", st, out)
	}
	if d := e.manifestDigest("appsreg/node", "imported"); d != want {
		t.Fatalf("imported digest %q, want %s", d, want)
	}
	if st, out := e.adminJSON(http.MethodPost, imp, body); st != http.StatusConflict {
		t.Fatalf("NoForce import over an existing tag: %d %v", st, out)
	}
	e.admin(http.MethodPatch, base, `{"properties":{"networkRuleBypassOptions":"None"}}`)
	forced := body[:len(body)-1] + `,"mode":"Force"}`
	if st, out := e.adminJSON(http.MethodPost, imp, forced); st != http.StatusForbidden || !strings.Contains(fmt.Sprint(out), "not allowed access") {
		t.Fatalf("import with trusted services disallowed: %d %v", st, out)
	}
	e.admin(http.MethodPatch, base, `{"properties":{"networkRuleBypassOptions":"AzureServices"}}`)
	if st, out := e.adminJSON(http.MethodPost, imp, forced); st != http.StatusOK {
		t.Fatalf("import with trusted services allowed again: %d %v", st, out)
	}
}

// TestWorkspaceIdentityPull: an ML workspace's system-assigned identity
// pulls from a registry with public access disabled; a user-assigned
// identity attached to the same workspace does not.
func TestWorkspaceIdentityPull(t *testing.T) {
	e := newBypassEnv(t)
	base := e.mgmt + "Microsoft.ContainerRegistry/registries/basereg"
	baseID := "/subscriptions/" + e.srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/basereg"
	e.admin(http.MethodPut, base, `{"sku":{"name":"Premium"}}`)
	e.pushImage("basereg/model", "v1")
	e.admin(http.MethodPatch, base, `{"properties":{"publicNetworkAccess":"Disabled"}}`)
	st, ws := e.adminJSON(http.MethodPut, e.mgmt+"Microsoft.MachineLearningServices/workspaces/ml1", `{}`)
	if st != http.StatusCreated {
		t.Fatalf("workspace: %d %v", st, ws)
	}
	props := ws["properties"].(map[string]any)
	secret := props["instanceSecret"].(string)
	if !strings.HasSuffix(props["identityEndpoint"].(string), "/identity/msi/token") || secret == "" {
		t.Fatalf("workspace properties: %v", props)
	}
	e.assign(ws["identity"].(map[string]any)["principalId"].(string), baseID, "AcrPull")
	_, again := e.adminJSON(http.MethodGet, e.mgmt+"Microsoft.MachineLearningServices/workspaces/ml1", "")
	if _, leaked := again["properties"].(map[string]any)["instanceSecret"]; leaked {
		t.Fatal("the instance secret is served after creation")
	}
	ref := tasks.Ref{Host: e.host(), Repo: "basereg/model", Tag: "v1"}
	pull := func(clientID string) error {
		mi := &tasks.ManagedIdentity{Secret: secret, ClientID: clientID}
		c := tasks.NewClient(tasks.Endpoint{Scheme: "http", Addr: e.host()}, func(tasks.Ref) tasks.Authorizer { return mi })
		ok, err := c.Exists(context.Background(), ref)
		if err == nil && !ok {
			err = fmt.Errorf("not found")
		}
		return err
	}
	if err := pull(""); err != nil {
		t.Fatalf("workspace identity pull: %v", err)
	}
	_, uai := e.adminJSON(http.MethodPut, e.mgmt+"Microsoft.ManagedIdentity/userAssignedIdentities/mluai", `{}`)
	up := uai["properties"].(map[string]any)
	e.assign(up["principalId"].(string), baseID, "AcrPull")
	e.admin(http.MethodPut, e.mgmt+"Microsoft.MachineLearningServices/workspaces/ml1", `{"identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+uai["id"].(string)+`":{}}}}`)
	if err := pull(up["clientId"].(string)); err == nil || !strings.Contains(err.Error(), "not allowed access") {
		t.Fatalf("user-assigned identity of a workspace: %v", err)
	}
	e.admin(http.MethodPatch, base, `{"properties":{"networkRuleBypassOptions":"None"}}`)
	if err := pull(""); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("workspace with trusted services disallowed: %v", err)
	}
}

// TestRunSurvivesRestart: a run in progress when the server stops is marked
// failed at the next start, not lost.
func TestRunSurvivesRestart(t *testing.T) {
	t.Setenv("MOAT_ADMIN_PASSWORD", "restart-password-1")
	dir := t.TempDir()
	srv, err := New(context.Background(), testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	regID := "/subscriptions/" + srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/appsreg"
	run, err := srv.tasks.Create(ctx, regID, tasks.RunProperties{Task: "t1", TaskID: regID + "/tasks/t1"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv, err = New(ctx, testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	got, ok, err := srv.tasks.Get(ctx, run.ID)
	if err != nil || !ok {
		t.Fatalf("run lost: %v %v", ok, err)
	}
	if got.Properties.Status != tasks.Failed || got.Properties.RunErrorMessage != tasks.RestartMessage || got.Properties.FinishTime == nil {
		t.Fatalf("run after restart: %+v", got.Properties)
	}
}

// runLog reads a run's log through its log link (listLogSasUrl), on this
// server whatever the link's host.
func (e *bypassEnv) runLog(runPath string) string {
	e.t.Helper()
	st, out := e.adminJSON(http.MethodPost, runPath+"/listLogSasUrl", "")
	link, err := url.Parse(fmt.Sprint(out["logLink"]))
	if st != http.StatusOK || err != nil {
		e.t.Fatalf("listLogSasUrl: %d %v", st, out)
	}
	resp, err := http.Get(e.ts.URL + link.RequestURI())
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET the log link: %s %s", resp.Status, b)
	}
	return string(b)
}
