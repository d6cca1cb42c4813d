package mgmt_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/regauth"
	"github.com/moat-registry/moat/internal/auth/scopemap"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

var _ regauth.RepositoryTokens = (*mgmt.RepositoryTokens)(nil)

func TestScopeMaps(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "smreg", "Premium")
	sm := regPath("smreg") + "/scopeMaps"

	// Every registry has the built-in scope maps, read-only.
	list := e.must(t, http.StatusOK, "GET", sm, nil)
	if n := length(t, list, "value"); n != len(scopemap.Builtins) {
		t.Fatalf("%d scope maps in a new registry, want the %d built-in ones", n, len(scopemap.Builtins))
	}
	pull := e.must(t, http.StatusOK, "GET", sm+"/_repositories_pull", nil)
	if get(t, pull, "properties", "type") != "SystemDefined" || get(t, pull, "properties", "actions", 0) != "repositories/*/content/read" {
		t.Errorf("_repositories_pull: %v", pull)
	}
	st, m := e.do(t, "PUT", sm+"/_repositories_pull", obj{"properties": obj{"actions": []string{"repositories/a/content/read"}}})
	wantErr(t, st, m, http.StatusBadRequest, "ScopeMapReadOnly", "built-in")
	st, m = e.do(t, "DELETE", sm+"/_repositories_admin", nil)
	wantErr(t, st, m, http.StatusBadRequest, "ScopeMapReadOnly")

	// A scope map of one's own: actions checked and canonical.
	st, m = e.do(t, "PUT", sm+"/mine1", obj{"properties": obj{"actions": []string{"repositories/a*/content/read"}}})
	wantErr(t, st, m, http.StatusBadRequest, "InvalidScopeMapActions", "wildcard")
	st, m = e.do(t, "PUT", sm+"/mine1", obj{"properties": obj{"actions": []string{}}})
	wantErr(t, st, m, http.StatusBadRequest, "InvalidScopeMapActions", "at least one")
	st, m = e.do(t, "PUT", sm+"/ab", obj{"properties": obj{"actions": []string{"repositories/a/content/read"}}})
	wantErr(t, st, m, http.StatusBadRequest, "InvalidResourceName")
	made := e.must(t, http.StatusCreated, "PUT", sm+"/mine1", obj{"properties": obj{"description": "d",
		"actions": []string{"repositories/Hello/content/read", "repositories/samples/*/content/write"}}})
	if get(t, made, "properties", "actions", 0) != "repositories/hello/content/read" || get(t, made, "properties", "type") != "UserDefined" {
		t.Errorf("created: %v", made)
	}
	// PATCH (az acr scope-map update) replaces the actions.
	upd := e.must(t, http.StatusOK, "PATCH", sm+"/MINE1", obj{"properties": obj{"actions": []string{"repositories/hello/content/write"}}})
	if length(t, upd, "properties", "actions") != 1 || get(t, upd, "properties", "description") != "d" || get(t, upd, "name") != "mine1" {
		t.Errorf("patched: %v", upd)
	}
	if n := length(t, e.must(t, http.StatusOK, "GET", sm, nil), "value"); n != len(scopemap.Builtins)+1 {
		t.Errorf("%d scope maps, want %d", n, len(scopemap.Builtins)+1)
	}
	e.must(t, http.StatusOK, "DELETE", sm+"/mine1", nil)
	e.must(t, http.StatusNoContent, "DELETE", sm+"/mine1", nil)
}

func TestTokens(t *testing.T) {
	var store *sqlite.Store
	e := newEnv(t, func(_ *mgmt.Handler, s *sqlite.Store) { store = s })
	e.createRegistry(t, "tokreg", "Premium")
	e.createRegistry(t, "otherreg", "Premium")
	reg, tok := regPath("tokreg"), regPath("tokreg")+"/tokens"
	e.must(t, http.StatusCreated, "PUT", reg+"/scopeMaps/pullhello", obj{"properties": obj{"actions": []string{"repositories/hello/content/read"}}})
	e.must(t, http.StatusCreated, "PUT", regPath("otherreg")+"/scopeMaps/foreign", obj{"properties": obj{"actions": []string{"repositories/x/content/read"}}})

	// The scope map must be one of the token's registry, and exist.
	st, m := e.do(t, "PUT", tok+"/token1", obj{"properties": obj{}})
	wantErr(t, st, m, http.StatusBadRequest, "InvalidParameter", "scopeMapId is required")
	st, m = e.do(t, "PUT", tok+"/token1", obj{"properties": obj{"scopeMapId": regPath("otherreg") + "/scopeMaps/foreign"}})
	wantErr(t, st, m, http.StatusBadRequest, "InvalidParameter", "must name a scope map of registry tokreg")
	st, m = e.do(t, "PUT", tok+"/token1", obj{"properties": obj{"scopeMapId": reg + "/scopeMaps/nothere"}})
	wantErr(t, st, m, http.StatusNotFound, "ResourceNotFound", "nothere")
	st, m = e.do(t, "PUT", tok+"/token1", obj{"properties": obj{"scopeMapId": reg + "/scopeMaps/pullhello", "status": "sleeping"}})
	wantErr(t, st, m, http.StatusBadRequest, "InvalidParameter", "status")

	made := e.must(t, http.StatusCreated, "PUT", tok+"/token1", obj{"properties": obj{"scopeMapId": reg + "/scopeMaps/pullhello"}})
	if get(t, made, "properties", "status") != "enabled" || length(t, made, "properties", "credentials", "passwords") != 0 {
		t.Errorf("created: %v", made)
	}

	// generateCredentials: both passwords, values answered once, hashes kept.
	exp := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	creds := e.must(t, http.StatusOK, "POST", reg+"/generateCredentials", obj{"tokenId": tok + "/token1", "expiry": exp})
	if get(t, creds, "username") != "token1" || length(t, creds, "passwords") != 2 {
		t.Fatalf("credentials: %v", creds)
	}
	pw1, _ := get(t, creds, "passwords", 0, "value").(string)
	shown := e.must(t, http.StatusOK, "GET", tok+"/token1", nil)
	if length(t, shown, "properties", "credentials", "passwords") != 2 || get(t, shown, "properties", "credentials", "passwords", 0, "value") != nil {
		t.Errorf("shown: %v", shown)
	}
	st, m = e.do(t, "POST", reg+"/generateCredentials", obj{"tokenId": tok + "/token1", "expiry": "2001-01-01T00:00:00Z"})
	wantErr(t, st, m, http.StatusBadRequest, "InvalidParameter", "past")
	st, m = e.do(t, "POST", reg+"/generateCredentials", obj{"tokenId": regPath("otherreg") + "/tokens/token1"})
	wantErr(t, st, m, http.StatusBadRequest, "InvalidParameter", "token of registry tokreg")

	// The data plane's view: scope map actions and a password that checks.
	ctx := context.Background()
	r, err := store.GetRegistry(ctx, "tokreg")
	if err != nil {
		t.Fatal(err)
	}
	rt := &mgmt.RepositoryTokens{Meta: store}
	got, err := rt.RepositoryToken(ctx, r, "TOKEN1")
	if err != nil || got == nil || !got.Enabled || len(got.Passwords) != 2 || !scopemap.Allows(got.Actions, "hello", scopemap.ContentRead) || scopemap.Allows(got.Actions, "other", scopemap.ContentRead) {
		t.Fatalf("RepositoryToken: %+v %v", got, err)
	}
	if !identity.CheckPassword(got.Passwords[0].Hash, pw1) || got.Passwords[0].Expiry == nil {
		t.Errorf("password1 is not stored as its hash with its expiry: %+v", got.Passwords[0])
	}
	if none, _ := rt.RepositoryToken(ctx, r, "../x"); none != nil {
		t.Errorf("a name that cannot be a token's found %+v", none)
	}

	// az acr token credential delete --password1: PATCH the passwords kept.
	kept := e.must(t, http.StatusOK, "PATCH", tok+"/token1", obj{"properties": obj{"credentials": obj{"passwords": []obj{{"name": "password2"}}}}})
	if length(t, kept, "properties", "credentials", "passwords") != 1 || get(t, kept, "properties", "credentials", "passwords", 0, "name") != "password2" {
		t.Errorf("after deleting password1: %v", kept)
	}
	st, m = e.do(t, "PATCH", tok+"/token1", obj{"properties": obj{"credentials": obj{"passwords": []obj{{"name": "password1"}}}}})
	wantErr(t, st, m, http.StatusBadRequest, "InvalidParameter", "no password named")
	dis := e.must(t, http.StatusOK, "PATCH", tok+"/token1", obj{"properties": obj{"status": "disabled"}})
	if get(t, dis, "properties", "status") != "disabled" || length(t, dis, "properties", "credentials", "passwords") != 1 {
		t.Errorf("disabled: %v", dis)
	}
	if got, _ := rt.RepositoryToken(ctx, r, "token1"); got == nil || got.Enabled {
		t.Errorf("disabled token seen as %+v", got)
	}
	// Built-in scope maps are bound by ID too.
	e.must(t, http.StatusOK, "PATCH", tok+"/token1", obj{"properties": obj{"scopeMapId": reg + "/scopeMaps/_repositories_push"}})
	if got, _ := rt.RepositoryToken(ctx, r, "token1"); got == nil || !scopemap.Allows(got.Actions, "any", scopemap.ContentWrite) {
		t.Errorf("token on _repositories_push: %+v", got)
	}
	e.must(t, http.StatusOK, "DELETE", tok+"/token1", nil)
	if got, _ := rt.RepositoryToken(ctx, r, "token1"); got != nil {
		t.Errorf("deleted token still seen: %+v", got)
	}
}
