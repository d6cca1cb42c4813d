package server

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestReusedRegistryNameInheritsNothing: a registry deleted and created again
// under the same name is a new registry: the old registry's access tokens
// (a user's, the admin user's) and the admin user's docker login do not open
// it, and its audit trail does not show the old registry's events.
func TestReusedRegistryNameInheritsNothing(t *testing.T) {
	e := startOps(t, opsConfig(t, t.TempDir()))
	create := func() {
		t.Helper()
		if st, body := e.mgmt(http.MethodPut, e.regPath("reuse1reg"), `{"location":"local","sku":{"name":"Standard"},"properties":{"adminUserEnabled":true}}`); st >= 300 {
			t.Fatalf("create: %d %s", st, body)
		}
	}
	create()
	owner, _ := e.regToken("admin", opsPassword, "repository:reuse1reg/app:push,pull")
	e.pushImage(owner, "reuse1reg/app", "old")
	st, body := e.mgmt(http.MethodPost, e.regPath("reuse1reg")+"/listCredentials", "")
	var creds struct{ Passwords []struct{ Value string } }
	if st != http.StatusOK || json.Unmarshal(body, &creds) != nil {
		t.Fatalf("listCredentials: %d %s", st, body)
	}
	dk := newDockerEngine(e)
	if login := dk.login("reuse1reg", creds.Passwords[0].Value); login.RefreshToken == "" {
		t.Fatalf("admin user docker login: %d", login.status)
	}
	adminAccess := dk.token("repository:reuse1reg/app:pull").AccessToken
	for _, tok := range []string{owner, adminAccess} {
		if st := dk.pull(tok, "reuse1reg/app"); st != http.StatusOK {
			t.Fatalf("before: %d", st)
		}
	}
	if evs := e.auditEvents("reuse1reg"); len(evs) == 0 {
		t.Fatal("no audit events for the first registry")
	}

	if st, body := e.mgmt(http.MethodDelete, e.regPath("reuse1reg"), ""); st >= 300 {
		t.Fatalf("delete: %d %s", st, body)
	}
	create()
	for name, tok := range map[string]string{"the owner's access token": owner, "the admin user's access token": adminAccess} {
		if st := dk.pull(tok, "reuse1reg/app"); st != http.StatusUnauthorized {
			t.Errorf("%s of the deleted registry on the new one: %d, want 401", name, st)
		}
	}
	if got := dk.token("repository:reuse1reg/app:pull"); got.status != http.StatusUnauthorized {
		t.Errorf("the admin user's docker login of the deleted registry on the new one: %d, want 401", got.status)
	}
	for _, ev := range e.auditEvents("reuse1reg") {
		if ev["type"] == "push" || ev["type"] == "pull" {
			t.Errorf("the new registry's audit trail shows the old one's %v", ev)
		}
	}
}

// auditEvents reads a registry's audit trail through the management API.
func (e *opsEnv) auditEvents(reg string) []map[string]any {
	e.t.Helper()
	if err := e.srv.auditLog.Sync(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	st, body := e.mgmt(http.MethodGet, e.regPath(reg)+"/auditEvents?since=1h", "")
	var out struct{ Value []map[string]any }
	if st != http.StatusOK || json.Unmarshal(body, &out) != nil {
		e.t.Fatalf("auditEvents: %d %s", st, body)
	}
	return out.Value
}
