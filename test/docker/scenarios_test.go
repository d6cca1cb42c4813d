package docker

import (
	"encoding/json"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/moat-registry/moat/test/netns"
)

// scenario is one story told with docker, on a new registry of its own (see
// registryName) with principals it creates.
type scenario struct {
	name string
	run  func(t *testing.T, s *moatServer, reg string)
	// shortTokens: runs (only) on the servers whose tokens live seconds.
	shortTokens bool
}

var scenarios = []scenario{
	{name: "moat-acr-login", run: acrLoginPushPull},
	{name: "docker-login-user", run: dockerLoginPushPull((*moatServer).directoryUser)},
	{name: "docker-login-service-principal", run: dockerLoginPushPull((*moatServer).servicePrincipal)},
	{name: "docker-login-admin-user", run: dockerLoginPushPull((*moatServer).adminUser)},
	{name: "manifest-list", run: manifestList},
	{name: "network-rules", run: networkRules},
	{name: "login-outlives-tokens", run: loginOutlivesTokens, shortTokens: true},
}

// scenarios are the scenarios that run on sp.
func (sp serverSpec) scenarios() []scenario {
	var out []scenario
	for _, sc := range scenarios {
		if sc.shortTokens == sp.shortTokens {
			out = append(out, sc)
		}
	}
	return out
}

// zeroUser is the user name of `moat acr login`'s credential: "the password
// is a refresh token".
const zeroUser = "00000000-0000-0000-0000-000000000000"

// acrLoginPushPull: a user with AcrPush signs in with moat, `moat acr login`
// writes the Docker credential, and docker pushes and pulls with it alone.
func acrLoginPushPull(t *testing.T, s *moatServer, reg string) {
	u := s.newDirectoryUser(t, "AcrPush", reg)
	s.signIn(t, u)
	if out := s.e.mustMoat(t, u, nil, "acr", "login", "--name", reg); !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("moat acr login --name %s printed no \"Login Succeeded\":\n%s", reg, out)
	}
	expectIdentityToken(t, u, s.dockerHost(reg), zeroUser)
	s.e.pushPull(t, u, s.ref(reg, "acr-login", ":v1"))
}

func (s *moatServer) directoryUser(t *testing.T, reg string) *user {
	return s.newDirectoryUser(t, "AcrPush", reg)
}

func (s *moatServer) servicePrincipal(t *testing.T, reg string) *user {
	return s.newServicePrincipal(t, "AcrPush", reg)
}

// dockerLoginPushPull: `docker login` with the password of the principal
// that principal makes, then push and pull. Docker keeps the refresh token
// moat returns (identitytoken) instead of the password.
func dockerLoginPushPull(principal func(*moatServer, *testing.T, string) *user) func(*testing.T, *moatServer, string) {
	return func(t *testing.T, s *moatServer, reg string) {
		u := principal(s, t, reg)
		s.e.dockerLogin(t, u, s.dockerHost(reg))
		expectIdentityToken(t, u, s.dockerHost(reg), u.name)
		s.e.pushPull(t, u, s.ref(reg, "docker-login", ":v1"))
	}
}

var anyDigest = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// manifestList: two single-platform images pushed with docker, joined with
// `docker manifest create` and `push`, read back with `docker manifest
// inspect`; `docker pull` of the list gets the image of this platform.
func manifestList(t *testing.T, s *moatServer, reg string) {
	e := s.e
	u := s.newDirectoryUser(t, "AcrPush", reg)
	e.dockerLogin(t, u, s.dockerHost(reg))
	var insecure []string
	if s.insecure {
		insecure = []string{"--insecure"} // the docker CLI itself talks to the registry
	}
	repo := s.ref(reg, "multi", "")
	other := "arm64"
	if runtime.GOARCH == other {
		other = "amd64"
	}
	archs := []string{runtime.GOARCH, other}
	images, digests := map[string]Image{}, map[string]string{}
	for _, arch := range archs {
		images[arch] = e.load(t, u, repo+":"+arch, arch)
		digests[arch] = e.push(t, u, repo+":"+arch)
	}
	list := repo + ":list"
	args := append([]string{"manifest", "create"}, insecure...)
	if out := e.mustDocker(t, u, nil, append(args, list, repo+":"+archs[0], repo+":"+archs[1])...); !strings.Contains(out, "Created manifest list "+list) {
		t.Fatalf("docker manifest create printed no \"Created manifest list %s\":\n%s", list, out)
	}
	// --purge drops the local copy, so that inspect reads the registry's.
	out := e.mustDocker(t, u, nil, append(append([]string{"manifest", "push", "--purge"}, insecure...), list)...)
	listDigest := anyDigest.FindString(out)
	if listDigest == "" {
		t.Fatalf("docker manifest push %s printed no digest:\n%s", list, out)
	}
	out = e.mustDocker(t, u, nil, append(append([]string{"manifest", "inspect"}, insecure...), list)...)
	var idx struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Platform  struct {
				Architecture string `json:"architecture"`
				OS           string `json:"os"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(out), &idx); err != nil {
		t.Fatalf("docker manifest inspect %s: %v\n%s", list, err, out)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != "application/vnd.docker.distribution.manifest.list.v2+json" || len(idx.Manifests) != 2 {
		t.Fatalf("docker manifest inspect %s: not a list of the two images:\n%s", list, out)
	}
	for _, m := range idx.Manifests {
		arch := m.Platform.Architecture
		if m.Digest != digests[arch] || m.Platform.OS != "linux" || m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
			t.Errorf("docker manifest inspect %s: entry %+v, want linux/%s %s (pushed %v)", list, m, arch, digests[arch], digests)
		}
	}
	e.remove(t, u, repo+":"+archs[0], repo+":"+archs[1])
	e.pull(t, u, list, listDigest, images[runtime.GOARCH].ID)
	e.remove(t, u, list)
}

// networkRules: once the registry denies by default, docker is refused with
// moat's message naming the client's address; a rule for that address lets
// it in again.
func networkRules(t *testing.T, s *moatServer, reg string) {
	e := s.e
	u := s.newDirectoryUser(t, "AcrPush", reg)
	host, ref := s.dockerHost(reg), s.ref(reg, "denied", ":v1")
	e.dockerLogin(t, u, host)
	img := e.load(t, u, ref, runtime.GOARCH)
	digest := e.push(t, u, ref)
	e.remove(t, u, ref)

	s.cli(t, "acr", "update", "--name", reg, "--default-action", "Deny", "-o", "none")
	denied := "client with IP '" + netns.InternetIP.String() + "' is not allowed access"
	if s.style == "host" {
		e.mustFailDocker(t, u, []byte(u.password), "the registry denies the client's network", []string{"failed with status: 403 Forbidden"},
			"login", host, "--username", u.name, "--password-stdin")
	} else {
		// In path style a login names no registry (the host serves them
		// all), so none of their rules refuses it; moat acr login names one.
		s.signIn(t, u)
		if r := e.moat(u, nil, "acr", "login", "--name", reg); r.err == nil || !strings.Contains(r.stderr, denied) {
			t.Fatalf("moat acr login --name %s must be refused with %q:\n%s", reg, denied, r)
		}
	}
	e.mustFailDocker(t, u, nil, "the registry denies the client's network", []string{denied}, "pull", ref)
	newRef := s.ref(reg, "denied", ":v2")
	e.load(t, u, newRef, runtime.GOARCH)
	e.mustFailDocker(t, u, nil, "the registry denies the client's network", []string{denied}, "push", newRef)
	e.remove(t, u, newRef)

	s.cli(t, "acr", "network-rule", "add", "--name", reg, "--ip-address", netns.InternetIP.String(), "-o", "none")
	e.dockerLogin(t, u, host)
	e.pull(t, u, ref, digest, img.ID)
	e.remove(t, u, ref)
}
