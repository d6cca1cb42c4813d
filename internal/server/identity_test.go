package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/auth/identity"
)

// TestRegistryIdentities: a registry's system-assigned identity is created
// with it and removed with it; user-assigned identities are resources of
// their own, attached to the registry.
func TestRegistryIdentities(t *testing.T) {
	e := newBypassEnv(t)
	tok := loginToken(t, e.ts.URL, e.srv.Tenant(), "bypass-password-1")
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, e.ts.URL+path+"?"+armVersion(path), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	rg := "/subscriptions/" + e.srv.Subscription() + "/resourceGroups/default/providers/"
	uaID := rg + "Microsoft.ManagedIdentity/userAssignedIdentities/builder"
	status, ua := call(http.MethodPut, uaID, `{"location":"local"}`)
	if status != http.StatusCreated {
		t.Fatalf("create identity: %d %v", status, ua)
	}
	uaProps := ua["properties"].(map[string]any)
	uaPrincipal, _ := uaProps["principalId"].(string)
	if p, ok := e.srv.dir.Get(uaPrincipal); !ok || p.Assignment != identity.UserAssigned {
		t.Fatalf("user-assigned identity has no principal: %v", ua)
	}
	regPath := rg + "Microsoft.ContainerRegistry/registries/bypassreg"
	status, reg := call(http.MethodPatch, regPath, `{"identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+uaID+`":{}}}}`)
	if status != http.StatusOK {
		t.Fatalf("assign identities: %d %v", status, reg)
	}
	ident, _ := reg["identity"].(map[string]any)
	sysID, _ := ident["principalId"].(string)
	sys, ok := e.srv.dir.Get(sysID)
	if !ok || sys.Assignment != identity.SystemAssigned || sys.OwnerType != "Microsoft.ContainerRegistry/registries" || !strings.EqualFold(sys.Owner, e.regID) {
		t.Fatalf("system-assigned identity: %v %+v", ident, sys)
	}
	if ident["type"] != "SystemAssigned, UserAssigned" || ident["userAssignedIdentities"].(map[string]any)[uaID] == nil {
		t.Fatalf("identity block: %v", ident)
	}
	if p, _ := e.srv.dir.Get(uaPrincipal); len(p.AttachedTo) != 1 || !strings.EqualFold(p.AttachedTo[0], e.regID) {
		t.Fatalf("user-assigned identity not attached to the registry: %+v", p)
	}
	// Back to none: the system identity is deleted, the user-assigned one detached.
	if status, reg = call(http.MethodPatch, regPath, `{"identity":{"type":"None"}}`); status != http.StatusOK || reg["identity"] != nil {
		t.Fatalf("remove identities: %d %v", status, reg)
	}
	if _, ok := e.srv.dir.Get(sysID); ok {
		t.Fatal("system-assigned identity survived type None")
	}
	if p, _ := e.srv.dir.Get(uaPrincipal); len(p.AttachedTo) != 0 {
		t.Fatalf("still attached: %+v", p)
	}
	// A system identity goes with its registry.
	call(http.MethodPatch, regPath, `{"identity":{"type":"SystemAssigned"}}`)
	_, reg = call(http.MethodGet, regPath, "")
	sysID = reg["identity"].(map[string]any)["principalId"].(string)
	if status, _ := call(http.MethodDelete, regPath, ""); status != http.StatusOK {
		t.Fatalf("delete registry: %d", status)
	}
	if _, ok := e.srv.dir.Get(sysID); ok {
		t.Fatal("system-assigned identity survived its registry")
	}
	if status, body := call(http.MethodPatch, rg+"Microsoft.ContainerRegistry/registries/bypassreg", `{"identity":{"type":"Sideways"}}`); status != http.StatusNotFound {
		t.Fatalf("PATCH of a deleted registry: %d %v", status, body)
	}
	if status, _ := call(http.MethodDelete, uaID, ""); status != http.StatusOK {
		t.Fatalf("delete identity: %d", status)
	}
	if _, ok := e.srv.dir.Get(uaPrincipal); ok {
		t.Fatal("user-assigned identity's principal survived")
	}
}
