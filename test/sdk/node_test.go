package sdk

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// nodeDir holds the npm test: package.json, package-lock.json, acr.mjs.
const nodeDir = "node"

// npmReady makes sure node and the locked packages are there: npm ci when
// node_modules is missing (scripts/install-test-deps runs it too). Without
// node the test is skipped, except under MOAT_E2E=1, where it fails.
func npmReady(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " is not installed (Node 20 or newer; scripts/install-test-deps installs it)"
			if os.Getenv("MOAT_E2E") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "@azure", "container-registry")); err == nil {
		return
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = nodeDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in test/sdk/node: %v\n%s", err, out)
	}
}

// TestContainerRegistryNodeSDK runs the npm package @azure/container-registry
// (list, get, update, delete) against moat, signed in as a service principal.
func TestContainerRegistryNodeSDK(t *testing.T) {
	npmReady(t)
	e := startHostStyle(t)
	appID, secret := e.servicePrincipal(t, "nodeacr", "AcrPush", "AcrDelete")
	a := e.acrClients(t, "nodeacr", e.spCredential(t, appID, secret))
	d1, _ := a.pushImage(t, "sdk/app", "v1", "one")
	d2, _ := a.pushImage(t, "sdk/app", "v2", "two")
	a.pushImage(t, "other", "latest", "three")

	cmd := exec.Command("node", "acr.mjs")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(),
		"MOAT_ACR_ENDPOINT="+e.loginServerURL("nodeacr"), "MOAT_AUTHORITY_HOST="+e.url+"/identity/",
		"MOAT_TENANT="+e.srv.Tenant(), "MOAT_CLIENT_ID="+appID, "MOAT_CLIENT_SECRET="+secret,
		"MOAT_DNS_SUFFIX="+hostSuffix, "MOAT_DNS_TARGET=127.0.0.1", "NODE_EXTRA_CA_CERTS="+e.caFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node acr.mjs: %v\n%s\n%s", err, raw, stderr.String())
	}
	type refusal struct {
		Status  any
		Message string
	}
	var out struct {
		Repositories    []string
		RepositoryPages int
		Repository      struct {
			Name, Registry          string
			ManifestCount, TagCount int
			CanDelete               bool
		}
		Manifests []struct {
			Digest, Architecture, OS string
			Tags                     []string
			Size                     int64
		}
		Tag struct {
			Name, Digest      string
			CanWrite, Created bool
		}
		TagsNewestFirst []string
		Manifest        struct {
			Digest, Architecture string
			Tags                 []string
		}
		Locked                  struct{ CanWrite, CanDelete, CanRead bool }
		DeleteLocked            refusal
		Hidden                  struct{ CanList bool }
		RepositoriesAfterHiding []string
		DeletedTagLookup        refusal
		AfterManifestDelete     int
		RepositoriesAtEnd       []string
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("node's output: %v\n%s", err, raw)
	}
	t.Logf("node: %s", raw)
	checks := []struct {
		ok   bool
		what string
	}{
		{slices.Equal(out.Repositories, []string{"other", "sdk/app"}) && out.RepositoryPages == 2, "repositories, a page of one at a time"},
		{out.Repository.Name == "sdk/app" && out.Repository.Registry == "nodeacr."+hostSuffix+":"+e.port && out.Repository.ManifestCount == 2 &&
			out.Repository.TagCount == 2 && out.Repository.CanDelete, "repository properties"},
		{len(out.Manifests) == 2 && out.Manifests[0].Digest == d2.String() && slices.Equal(out.Manifests[0].Tags, []string{"v2"}) &&
			out.Manifests[1].Architecture == "arm64" && out.Manifests[1].OS == "linux" && out.Manifests[1].Size > 0, "manifests newest first"},
		{out.Tag.Name == "v1" && out.Tag.Digest == d1.String() && out.Tag.CanWrite && out.Tag.Created, "tag properties"},
		{slices.Equal(out.TagsNewestFirst, []string{"v2", "v1"}), "the repository's tags, newest first"},
		{out.Manifest.Digest == d1.String() && out.Manifest.Architecture == "arm64" && slices.Equal(out.Manifest.Tags, []string{"v1"}), "manifest properties"},
		{!out.Locked.CanWrite && !out.Locked.CanDelete && out.Locked.CanRead, "tag locked"},
		{out.DeleteLocked.Status == 405.0 && strings.Contains(out.DeleteLocked.Message, "disallowed"), "delete of a locked tag refused"},
		{!out.Hidden.CanList && slices.Equal(out.RepositoriesAfterHiding, []string{"sdk/app"}), "hidden repository"},
		{out.DeletedTagLookup.Status == 404.0, "deleted tag gone"},
		{out.AfterManifestDelete == 1, "one manifest left after deleting v1's"},
		{slices.Equal(out.RepositoriesAtEnd, []string{"sdk/app"}), "repository deleted"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: wrong (output above)", c.what)
		}
	}
}
