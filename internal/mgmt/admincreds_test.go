package mgmt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/apiversion"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/auth/regauth"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// The data plane's view of the admin passwords is a regauth.AdminCredentials.
var _ regauth.AdminCredentials = (*mgmt.AdminCreds)(nil)

// headerAuth authenticates the caller named by the X-Principal header.
type headerAuth struct{}

func (headerAuth) Principal(r *http.Request) (string, error) { return r.Header.Get("X-Principal"), nil }

// fixedRoles gives each principal one built-in role at the subscription.
type fixedRoles map[string]string

func (f fixedRoles) Allowed(principal, _, action string) bool {
	r, ok := rbac.RoleByName(f[principal])
	return ok && r.Permits(action)
}
func (f fixedRoles) Reaches(principal, _ string) bool { _, ok := f[principal]; return ok }
func (fixedRoles) Reload(context.Context) error       { return nil }
func (fixedRoles) All() []rbac.Assignment             { return nil }

// credsEnv is a management API with authorization by fixedRoles, and the
// AdminCreds of the same store.
type credsEnv struct {
	srv   *httptest.Server
	store meta.Store
	idx   *regindex.Index
	creds *mgmt.AdminCreds
}

func newCredsEnv(t *testing.T) *credsEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	idx, err := regindex.New(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	h := &mgmt.Handler{Meta: store, Index: idx, Subscription: sub, Location: "local", Limits: testLimits,
		Auth: headerAuth{}, Roles: fixedRoles{"owner": "Owner", "contrib": "Contributor", "reader": "Reader", "puller": "AcrPull"},
		LoginServer: func(r *http.Request, name string) string { return r.Host + "/" + strings.ToLower(name) }}
	if err := h.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &credsEnv{srv: srv, store: store, idx: idx, creds: &mgmt.AdminCreds{Meta: store}}
}

// call sends a request as principal and decodes the JSON answer.
func (e *credsEnv) call(t *testing.T, principal, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path+"?api-version="+apiversion.ForClient(path), rd)
	req.Header.Set("X-Principal", principal)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var m map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %s", method, path, raw)
		}
	}
	return resp.StatusCode, m
}

func (e *credsEnv) must(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	status, m := e.call(t, "owner", method, path, body)
	if status != want {
		t.Fatalf("%s %s: %d, want %d: %v", method, path, status, want, m)
	}
	return m
}

// passwords returns the two password values of a credentials answer.
func passwords(t *testing.T, m map[string]any) [2]string {
	t.Helper()
	var out [2]string
	for i, name := range []string{"password", "password2"} {
		if get(t, m, "passwords", i, "name") != name {
			t.Fatalf("passwords[%d] is not %s: %v", i, name, m)
		}
		out[i], _ = get(t, m, "passwords", i, "value").(string)
		if len(out[i]) < 32 {
			t.Fatalf("%s %q is too short", name, out[i])
		}
	}
	return out
}

// dataPlane returns what the data plane accepts for the registry now.
func (e *credsEnv) dataPlane(t *testing.T, name string) []string {
	t.Helper()
	if err := e.idx.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg, ok := e.idx.Lookup(name)
	if !ok {
		t.Fatalf("registry %s not in the index", name)
	}
	pws, err := e.creds.AdminPasswords(context.Background(), reg.Registry)
	if err != nil {
		t.Fatal(err)
	}
	return pws
}

func TestAdminCredentials(t *testing.T) {
	e := newCredsEnv(t)
	reg := regPath("myreg1")
	e.must(t, http.StatusCreated, "PUT", reg, registryBody("Basic", nil))

	// Disabled: 400 that says how to enable it; nothing for the data plane.
	status, m := e.call(t, "owner", "POST", reg+"/listCredentials", nil)
	wantErr(t, status, m, http.StatusBadRequest, "AdminUserDisabled", "admin user is disabled; enable it with moat acr update --name myreg1 --admin-enabled true")
	if pws := e.dataPlane(t, "myreg1"); len(pws) != 0 {
		t.Errorf("disabled admin user has passwords %v", pws)
	}

	e.must(t, http.StatusOK, "PATCH", reg, obj{"properties": obj{"adminUserEnabled": true}})
	// Before any listCredentials there is no password to accept.
	if pws := e.dataPlane(t, "myreg1"); len(pws) != 0 {
		t.Errorf("passwords before they were generated: %v", pws)
	}
	m = e.must(t, http.StatusOK, "POST", reg+"/listCredentials", nil)
	if m["username"] != "myreg1" || length(t, m, "passwords") != 2 {
		t.Fatalf("listCredentials: %v", m)
	}
	first := passwords(t, m)
	if first[0] == first[1] {
		t.Errorf("both passwords are %q", first[0])
	}
	// Stable across calls, accepted by the data plane, never in the registry.
	if again := passwords(t, e.must(t, http.StatusOK, "POST", reg+"/listCredentials", nil)); again != first {
		t.Errorf("listCredentials changed: %v then %v", first, again)
	}
	if pws := e.dataPlane(t, "myreg1"); len(pws) != 2 || pws[0] != first[0] || pws[1] != first[1] {
		t.Errorf("data plane: %v, want %v", pws, first)
	}
	for _, p := range []string{reg, rgPath("default") + "/providers/Microsoft.ContainerRegistry/registries"} {
		raw, _ := json.Marshal(e.must(t, http.StatusOK, "GET", p, nil))
		if strings.Contains(string(raw), first[0]) || strings.Contains(string(raw), first[1]) {
			t.Errorf("GET %s shows a password: %s", p, raw)
		}
	}

	// Renewing one password keeps the other.
	m = e.must(t, http.StatusOK, "POST", reg+"/regenerateCredential", obj{"name": "Password2"})
	renewed := passwords(t, m)
	if renewed[0] != first[0] || renewed[1] == first[1] || m["username"] != "myreg1" {
		t.Errorf("regenerate password2: %v -> %v", first, renewed)
	}
	if pws := e.dataPlane(t, "myreg1"); pws[1] != renewed[1] {
		t.Errorf("data plane after renew: %v", pws)
	}
	status, m = e.call(t, "owner", "POST", reg+"/regenerateCredential", obj{"name": "password3"})
	wantErr(t, status, m, http.StatusBadRequest, "InvalidPasswordName", "password or password2")
	status, m = e.call(t, "owner", "POST", reg+"/regenerateCredential", nil)
	wantErr(t, status, m, http.StatusBadRequest, "InvalidRequestContent")
	status, m = e.call(t, "owner", "GET", reg+"/listCredentials", nil)
	wantErr(t, status, m, http.StatusMethodNotAllowed, "MethodNotAllowed")
	status, m = e.call(t, "owner", "POST", regPath("nothere")+"/listCredentials", nil)
	wantErr(t, status, m, http.StatusNotFound, "ResourceNotFound")

	// Disabling the admin user stops the data plane from accepting them;
	// enabling it again brings back the same passwords.
	e.must(t, http.StatusOK, "PATCH", reg, obj{"properties": obj{"adminUserEnabled": false}})
	if pws := e.dataPlane(t, "myreg1"); len(pws) != 0 {
		t.Errorf("disabled: %v", pws)
	}
	status, m = e.call(t, "owner", "POST", reg+"/regenerateCredential", obj{"name": "password"})
	wantErr(t, status, m, http.StatusBadRequest, "AdminUserDisabled")
	e.must(t, http.StatusOK, "PATCH", reg, obj{"properties": obj{"adminUserEnabled": true}})
	if pws := e.dataPlane(t, "myreg1"); len(pws) != 2 || pws[0] != renewed[0] || pws[1] != renewed[1] {
		t.Errorf("re-enabled: %v", pws)
	}

	// A registry created again under the same name has new passwords.
	e.must(t, http.StatusOK, "DELETE", reg, nil)
	e.must(t, http.StatusCreated, "PUT", reg, registryBody("Basic", obj{"adminUserEnabled": true}))
	if pws := e.dataPlane(t, "myreg1"); len(pws) != 0 {
		t.Errorf("the new registry inherited passwords: %v", pws)
	}
	fresh := passwords(t, e.must(t, http.StatusOK, "POST", reg+"/listCredentials", nil))
	if fresh[0] == renewed[0] || fresh[1] == renewed[1] {
		t.Errorf("the new registry got the old passwords")
	}
}

// TestAdminCredentialsAuthorization: Owner and Contributor may list and
// renew the passwords; Reader and AcrPull may not.
func TestAdminCredentialsAuthorization(t *testing.T) {
	e := newCredsEnv(t)
	reg := regPath("myreg1")
	e.must(t, http.StatusCreated, "PUT", reg, registryBody("Basic", obj{"adminUserEnabled": true}))
	for _, p := range []string{"owner", "contrib"} {
		if status, m := e.call(t, p, "POST", reg+"/listCredentials", nil); status != http.StatusOK {
			t.Errorf("%s: listCredentials %d %v", p, status, m)
		}
		if status, m := e.call(t, p, "POST", reg+"/regenerateCredential", obj{"name": "password"}); status != http.StatusOK {
			t.Errorf("%s: regenerateCredential %d %v", p, status, m)
		}
	}
	for _, p := range []string{"reader", "puller", "nobody"} {
		status, m := e.call(t, p, "POST", reg+"/listCredentials", nil)
		wantErr(t, status, m, http.StatusForbidden, "AuthorizationFailed", "Microsoft.ContainerRegistry/registries/listCredentials/action")
		status, m = e.call(t, p, "POST", reg+"/regenerateCredential", obj{"name": "password"})
		wantErr(t, status, m, http.StatusForbidden, "AuthorizationFailed", "Microsoft.ContainerRegistry/registries/regenerateCredential/action")
	}
}

// TestAdminCredentialsConcurrent: concurrent first calls agree on one set of
// passwords (the one stored).
func TestAdminCredentialsConcurrent(t *testing.T) {
	e := newCredsEnv(t)
	reg := regPath("myreg1")
	e.must(t, http.StatusCreated, "PUT", reg, registryBody("Basic", obj{"adminUserEnabled": true}))
	const n = 8
	type answer struct {
		status int
		body   map[string]any
	}
	results := make(chan answer, n)
	for range n {
		go func() {
			req, _ := http.NewRequest("POST", e.srv.URL+reg+"/listCredentials?api-version="+apiversion.ForClient(reg), nil)
			req.Header.Set("X-Principal", "owner")
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				results <- answer{}
				return
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			results <- answer{resp.StatusCode, m}
		}()
	}
	var first [2]string
	for i := range n {
		a := <-results
		if a.status != http.StatusOK {
			t.Fatalf("listCredentials: %d %v", a.status, a.body)
		}
		got := passwords(t, a.body)
		if i == 0 {
			first = got
		} else if got != first {
			t.Errorf("concurrent listCredentials disagree: %v and %v", first, got)
		}
	}
	if pws := e.dataPlane(t, "myreg1"); len(pws) != 2 || pws[0] != first[0] {
		t.Errorf("stored %v, answered %v", pws, first)
	}
}
