package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// push pushes an image (config and layer by monolithic upload, then the
// manifest under ref) to registry reg as the signed-in CLI user.
func (s *realServer) push(reg, repo, ref, seed string) digest.Digest {
	s.t.Helper()
	s.must("acr", "login", "-n", reg, "-o", "none")
	form := url.Values{"grant_type": {"refresh_token"}, "service": {s.host + "/" + reg},
		"scope": {"repository:" + reg + "/" + repo + ":push,pull"}, "refresh_token": {s.identityToken()}}
	resp, err := http.PostForm(s.base+"/oauth2/token", form)
	if err != nil {
		s.t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	send := func(method, path, ctype string, body []byte) {
		req, _ := http.NewRequest(method, s.base+"/v2/"+reg+"/"+repo+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			s.t.Fatalf("%s %s: %v %v", method, path, err, resp.Status)
		}
		resp.Body.Close()
	}
	cfg, layer := []byte(`{"architecture":"amd64","os":"linux","seed":"`+seed+`"}`), []byte("layer "+seed)
	for _, b := range [][]byte{cfg, layer} {
		send(http.MethodPost, "/blobs/uploads/?digest="+digest.FromBytes(b).String(), "application/octet-stream", b)
	}
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer)))
	send(http.MethodPut, "/manifests/"+ref, "application/vnd.oci.image.manifest.v1+json", m)
	return digest.FromBytes(m)
}

// TestRepositoryCommands runs acr repository and acr manifest against a
// real server: listings, attributes and locks, untag, deletes, and their
// output in az's shapes (json, table, tsv, --query).
func TestRepositoryCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	s := startServer(t)
	s.as("admin")
	s.must("login", "-u", "admin", "-p", "admin-password-1", "-o", "none")
	s.must("acr", "create", "-n", "repos1", "--sku", "Premium", "-o", "none")
	d1 := s.push("repos1", "team/app", "v1", "one")
	d2 := s.push("repos1", "team/app", "v2", "two")
	s.push("repos1", "team/app", "latest", "two")
	s.push("repos1", "other", "v1", "three")

	checks := []struct {
		args []string
		want string
	}{
		{[]string{"acr", "repository", "list", "-n", "repos1", "-o", "tsv"}, "other\nteam/app\n"},
		{[]string{"acr", "repository", "list", "-n", "repos1", "--top", "1"}, "[\n  \"other\"\n]\n"},
		{[]string{"acr", "repository", "show-tags", "-n", "repos1", "--repository", "team/app", "-o", "tsv"}, "latest\nv1\nv2\n"},
		{[]string{"acr", "repository", "show-tags", "-n", "repos1", "--repository", "team/app", "--orderby", "time_desc", "--top", "2", "-o", "tsv"}, "latest\nv2\n"},
		{[]string{"acr", "repository", "show-tags", "-n", "repos1", "--repository", "team/app", "-o", "table"}, "Result\n--------\nlatest\nv1\nv2\n"},
		{[]string{"acr", "repository", "show-tags", "-n", "repos1", "--repository", "team/app", "--detail", "--query", "[?name=='v1'].digest", "-o", "tsv"}, d1.String() + "\n"},
		{[]string{"acr", "repository", "show-manifests", "-n", "repos1", "--repository", "team/app", "--orderby", "time_asc", "--query", "[].tags", "-o", "json"},
			"[\n  [\n    \"v1\"\n  ],\n  [\n    \"latest\",\n    \"v2\"\n  ]\n]\n"},
		{[]string{"acr", "repository", "show", "-n", "repos1", "--repository", "team/app", "--query", "{m: manifestCount, t: tagCount, name: imageName, reg: registry}", "-o", "tsv"},
			"2\t3\tteam/app\t" + s.host + "/repos1\n"},
		{[]string{"acr", "repository", "show", "-n", "repos1", "--image", "team/app:v2", "--query", "[name, digest, changeableAttributes.writeEnabled]", "-o", "tsv"},
			"v2\n" + d2.String() + "\ntrue\n"},
		{[]string{"acr", "repository", "show", "-n", "repos1", "--image", "team/app@" + d1.String(), "--query", "{a: architecture, o: os, t: tags[0]}", "-o", "tsv"}, "amd64\tlinux\tv1\n"},
		{[]string{"acr", "manifest", "list-metadata", "-r", "repos1", "-n", "team/app", "--orderby", "time_desc", "--query", "[0].tags", "-o", "tsv"}, "latest\nv2\n"},
		{[]string{"acr", "manifest", "show-metadata", "-r", "repos1", "-n", "team/app:v1", "--query", "digest", "-o", "tsv"}, d1.String() + "\n"},
		// Lock an image: its tag cannot be deleted or moved; unlock.
		{[]string{"acr", "repository", "update", "-n", "repos1", "--image", "team/app:v1", "--write-enabled", "false", "--query", "changeableAttributes", "-o", "json"},
			"{\n  \"deleteEnabled\": true,\n  \"listEnabled\": true,\n  \"readEnabled\": true,\n  \"writeEnabled\": false\n}\n"},
	}
	for _, c := range checks {
		if got := s.must(c.args...); got != c.want {
			t.Errorf("moat %s:\n got %q\nwant %q", strings.Join(c.args, " "), got, c.want)
		}
	}
	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"acr", "repository", "untag", "-n", "repos1", "--image", "team/app:v1"},
			"ERROR: (REGISTRY_DISALLOWED_OPERATION) The operation is disallowed on this registry, repository or image: tag v1 in repository team/app has writeEnabled false. To allow it: moat acr repository update --name repos1 --image team/app:v1 --write-enabled true\n"},
		{[]string{"acr", "repository", "delete", "-n", "repos1", "--image", "team/app:v1", "--yes"}, "(REGISTRY_DISALLOWED_OPERATION)"},
		{[]string{"acr", "repository", "delete", "-n", "repos1", "--repository", "team/app", "--yes"}, "(REGISTRY_DISALLOWED_OPERATION)"},
		{[]string{"acr", "repository", "show", "-n", "repos1", "--image", "team/app:v9"}, "ERROR: (TAG_UNKNOWN) tag team/app:v9 not found in registry repos1\n"},
		{[]string{"acr", "repository", "show", "-n", "repos1"}, "ERROR: usage error: --image IMAGE | --repository REPOSITORY\n"},
		{[]string{"acr", "repository", "show-tags", "-n", "repos1", "--repository", "team/app", "--orderby", "newest"}, "ERROR: argument --orderby: invalid choice"},
		{[]string{"acr", "repository", "delete", "-n", "repos1", "--repository", "other"}, "Are you sure you want to delete the repository 'other' and all images under it? (y/n): ERROR: operation cancelled\n"},
		{[]string{"acr", "repository", "list", "-n", "nosuchreg"}, `NAME_UNKNOWN: registry "nosuchreg" does not exist on this server`},
	}
	for _, c := range refusals {
		_, errOut, code := s.run("", c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("moat %s: exit %d, stderr %q, want %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
	s.must("acr", "repository", "update", "-n", "repos1", "--image", "team/app:v1", "--write-enabled", "--delete-enabled", "true", "-o", "none")
	// Hide a repository, then untag and delete.
	s.must("acr", "repository", "update", "-n", "repos1", "--repository", "other", "--list-enabled", "false", "-o", "none")
	if got := s.must("acr", "repository", "list", "-n", "repos1", "-o", "tsv"); got != "team/app\n" {
		t.Errorf("list with a hidden repository: %q", got)
	}
	if got := s.must("acr", "repository", "untag", "-n", "repos1", "--image", "team/app:latest"); got != "" {
		t.Errorf("untag printed %q", got)
	}
	out, errOut, code := s.run("", "acr", "repository", "delete", "-n", "repos1", "--image", "team/app:v2", "--yes")
	if code != 0 || out != "" || errOut != "WARNING: This operation will delete the manifest '"+d2.String()+"' and all the following images: 'team/app:v2'\n" {
		t.Errorf("delete --image: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := s.must("acr", "manifest", "delete", "-r", "repos1", "-n", "team/app@"+d1.String(), "--yes"); got != "" {
		t.Errorf("manifest delete printed %q", got)
	}
	if got := s.must("acr", "repository", "delete", "-n", "repos1", "--repository", "other", "--yes", "--query", "[manifestsDeleted[0] != null, tagsDeleted]", "-o", "json"); got != "[\n  true,\n  [\n    \"v1\"\n  ]\n]\n" {
		t.Errorf("delete --repository: %q", got)
	}
	if got := s.must("acr", "manifest", "list-metadata", "-r", "repos1", "-n", "team/app", "--query", "length(@)"); got != "0\n" {
		t.Errorf("manifests left: %q", got)
	}
}
