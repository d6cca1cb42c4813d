package docker

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The docker CLI steps the scenarios share, each checking docker's output.

var pushDigest = regexp.MustCompile(`: digest: (sha256:[0-9a-f]{64}) size: \d+`)

// repository is ref without its tag.
func repository(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// load makes a new image for linux/arch and loads it into dockerd as ref.
func (e *env) load(t *testing.T, u *user, ref, arch string) Image {
	t.Helper()
	img, err := NewImage(ref, arch)
	if err != nil {
		t.Fatal(err)
	}
	if out := e.mustDocker(t, u, img.Tar, "load"); !strings.Contains(out, "Loaded image: "+ref) {
		t.Fatalf("docker load did not say \"Loaded image: %s\":\n%s", ref, out)
	}
	return img
}

// push pushes ref and returns the manifest digest docker printed.
func (e *env) push(t *testing.T, u *user, ref string) string {
	t.Helper()
	out := e.mustDocker(t, u, nil, "push", ref)
	m := pushDigest.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("docker push %s printed no digest:\n%s", ref, out)
	}
	return m[1]
}

// remove removes ref from dockerd (the image too, when ref was its last tag).
func (e *env) remove(t *testing.T, u *user, refs ...string) {
	t.Helper()
	e.mustDocker(t, u, nil, append([]string{"rmi"}, refs...)...)
}

// pull pulls ref, which dockerd does not have, and checks that it got the
// image with ID id from manifest digest.
func (e *env) pull(t *testing.T, u *user, ref, digest, id string) {
	t.Helper()
	out := e.mustDocker(t, u, nil, "pull", ref)
	for _, want := range []string{"Digest: " + digest, "Status: Downloaded newer image for " + ref} {
		if !strings.Contains(out, want) {
			t.Fatalf("docker pull %s did not print %q:\n%s", ref, want, out)
		}
	}
	out = e.mustDocker(t, u, nil, "image", "inspect", ref)
	var inspect []struct {
		ID          string `json:"Id"`
		RepoDigests []string
	}
	if err := json.Unmarshal([]byte(out), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("docker image inspect %s (%v):\n%s", ref, err, out)
	}
	if inspect[0].ID != id {
		t.Fatalf("docker pull %s: image ID %s, want %s (the image pushed)", ref, inspect[0].ID, id)
	}
	if want := repository(ref) + "@" + digest; !slices.Contains(inspect[0].RepoDigests, want) {
		t.Fatalf("docker pull %s: RepoDigests %q lack %s", ref, inspect[0].RepoDigests, want)
	}
}

// pushPull loads a new image as ref, pushes it, removes it from dockerd,
// pulls it back and checks that it is the same image.
func (e *env) pushPull(t *testing.T, u *user, ref string) {
	t.Helper()
	img := e.load(t, u, ref, runtime.GOARCH)
	digest := e.push(t, u, ref)
	e.remove(t, u, ref)
	e.pull(t, u, ref, digest, img.ID)
	e.remove(t, u, ref)
}

// dockerLogin runs `docker login host` as u with its password on standard
// input.
func (e *env) dockerLogin(t *testing.T, u *user, host string) {
	t.Helper()
	out := e.mustDocker(t, u, []byte(u.password), "login", host, "--username", u.name, "--password-stdin")
	if !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login %s printed no \"Login Succeeded\":\n%s", host, out)
	}
}

// dockerAuth is u's Docker config entry for host.
func dockerAuth(t *testing.T, u *user, host string) map[string]string {
	t.Helper()
	p := filepath.Join(u.home, ".docker", "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("no Docker config: %v", err)
	}
	var cfg struct {
		Auths map[string]map[string]string `json:"auths"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v\n%s", p, err, raw)
	}
	entry, ok := cfg.Auths[host]
	if !ok {
		t.Fatalf("%s has no auths[%q]:\n%s", p, host, raw)
	}
	return entry
}

// expectIdentityToken checks that u's Docker config keeps, for host, a
// registry refresh token (identitytoken) under the user name userName and
// not u's password.
func expectIdentityToken(t *testing.T, u *user, host, userName string) string {
	t.Helper()
	entry := dockerAuth(t, u, host)
	if want := base64.StdEncoding.EncodeToString([]byte(userName + ":")); entry["auth"] != want {
		t.Errorf("auths[%q].auth = %q, want base64(%q) (the user name, no password)", host, entry["auth"], userName+":")
	}
	tok := entry["identitytoken"]
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("auths[%q].identitytoken is not a JWT: %.40q", host, tok)
	}
	raw, _ := os.ReadFile(filepath.Join(u.home, ".docker", "config.json"))
	if strings.Contains(string(raw), u.password) || strings.Contains(string(raw), base64.StdEncoding.EncodeToString([]byte(u.name+":"+u.password))) {
		t.Errorf("the Docker config keeps the password of %s", u.name)
	}
	return tok
}
