package mgmt_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/apiversion"
	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/gc"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/network/netguard"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/tasks"
)

// authzEnv is a management API with the real role assignments
// (rbac.Authorizer) and directory (identity.Directory) over one SQLite
// store. Callers are named by object ID in the X-Principal header; admin is
// Owner of the subscription.
type authzEnv struct {
	t     *testing.T
	srv   *httptest.Server
	h     *mgmt.Handler
	dir   *identity.Directory
	roles *rbac.Authorizer
	store *sqlite.Store
	admin string
}

func newAuthzEnv(t *testing.T, opts ...func(*mgmt.Handler, *sqlite.Store)) *authzEnv {
	t.Helper()
	ctx := context.Background()
	e := &authzEnv{t: t}
	base := newEnv(t, append([]func(*mgmt.Handler, *sqlite.Store){func(h *mgmt.Handler, store *sqlite.Store) {
		dir, err := identity.Open(ctx, store, "tenant-1")
		if err != nil {
			t.Fatal(err)
		}
		roles, err := rbac.NewAuthorizer(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		wire := tripwire{t}
		h.Tenant, h.Auth, h.Roles, h.Principals = "tenant-1", headerAuth{}, roles, dir
		h.Network, h.Audit, h.GC, h.Tasks, h.Mint = wire, wire, wire, &tasks.Service{Meta: store}, wire.mint
		e.h, e.dir, e.roles, e.store = h, dir, roles, store
	}}, opts...)...)
	e.srv = base.srv
	e.admin = e.user("admin")
	// The administrator's Owner assignment is written as the server's first start does.
	owner, _ := rbac.RoleByName("Owner")
	a := rbac.Assignment{ID: "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString(), Type: rbac.AssignmentType,
		Properties: rbac.AssignmentProperties{RoleDefinitionID: rbac.RoleDefinitionID(sub, owner), PrincipalID: e.admin, Scope: "/subscriptions/" + sub}}
	raw, _ := json.Marshal(a)
	if err := e.store.PutResource(ctx, &meta.Resource{ID: a.ID, Type: rbac.AssignmentType, Body: raw}); err != nil {
		t.Fatal(err)
	}
	if err := e.roles.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// tripwire stands in for the data plane's network state, audit trail,
// garbage collector and token minting: an unauthorised request must be
// refused before it reaches any of them.
type tripwire struct{ t *testing.T }

func (w tripwire) Rules(string) *policy.Rules { w.t.Error("reached the network state"); return nil }
func (w tripwire) HasServiceEndpoint(string) bool {
	w.t.Error("reached the network state")
	return false
}
func (w tripwire) Denials(context.Context, string, time.Time) ([]netguard.Denial, error) {
	w.t.Error("reached the denial log")
	return nil, nil
}
func (w tripwire) Disagreements(context.Context, string, time.Time) ([]netguard.Denial, error) {
	w.t.Error("reached the shadow-mode log")
	return nil, nil
}
func (w tripwire) Trusted() policy.TrustedServices { return policy.DefaultTrusted }
func (w tripwire) Events(context.Context, audit.Query) (audit.Page, error) {
	w.t.Error("reached the audit trail")
	return audit.Page{}, nil
}
func (w tripwire) Run(context.Context, gc.Options) (gc.Result, error) {
	w.t.Error("reached the garbage collector")
	return gc.Result{}, nil
}
func (w tripwire) mint(string, string, []string) (string, error) {
	w.t.Error("reached token minting")
	return "", errors.New("tripwire")
}

// user creates a user principal and returns its object ID.
func (e *authzEnv) user(name string) string {
	e.t.Helper()
	p := &identity.Principal{Kind: identity.KindUser, Name: name, DisplayName: name}
	if err := e.dir.Create(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

// grant assigns a built-in role as the administrator, through the API.
func (e *authzEnv) grant(principal, role, scope string) {
	e.t.Helper()
	r, ok := rbac.RoleByName(role)
	if !ok {
		e.t.Fatalf("no role %s", role)
	}
	body := obj{"properties": obj{"roleDefinitionId": rbac.RoleDefinitionID(sub, r), "principalId": principal}}
	e.as(e.admin, http.StatusCreated, "PUT", scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(), body)
}

// call sends a request as principal and returns the status and decoded body.
func (e *authzEnv) call(principal, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, _ := http.NewRequest(method, e.srv.URL+path+sep+"api-version="+apiversion.ForClient(path), rd)
	req.Header.Set("X-Principal", principal)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var m map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			e.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, m
}

// as is call that fails unless the status is want.
func (e *authzEnv) as(principal string, want int, method, path string, body any) map[string]any {
	e.t.Helper()
	status, m := e.call(principal, method, path, body)
	if status != want {
		e.t.Fatalf("%s %s as %s: %d, want %d: %v", method, path, principal, status, want, m)
	}
	return m
}

// errOf returns the code and message of an ARM error body.
func errOf(m map[string]any) (code, msg string) {
	e, _ := m["error"].(map[string]any)
	code, _ = e["code"].(string)
	msg, _ = e["message"].(string)
	return code, msg
}

// Paths of resources in a resource group.

func uaiPathIn(rg, name string) string {
	return rgPath(rg) + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
}

func wsPathIn(rg, name string) string {
	return rgPath(rg) + "/providers/Microsoft.MachineLearningServices/workspaces/" + name
}

// taskCreated is the status of a task's creation: 200, as ACR answers it
// (az acr task create takes anything else for a failure).
const taskCreated = http.StatusOK

func taskPathIn(rg, reg, name string) string { return regPathIn(rg, reg) + "/tasks/" + name }

func subnetPathIn(rg, vnet, subnet string) string { return vnetPathIn(rg, vnet) + "/subnets/" + subnet }

// taskBody is a task copying within its own registry; identity and
// credentials (login server -> identity) are optional.
func taskBody(identity obj, creds map[string]string) obj {
	file := "version: v1.1.0\nsteps:\n  - cmd: tag\n    from: $Registry/a:1\n    to: $Registry/a:2\n"
	props := obj{"step": obj{"type": "EncodedTask", "encodedTaskContent": base64.StdEncoding.EncodeToString([]byte(file))}}
	if creds != nil {
		cr := obj{}
		for ls, id := range creds {
			cr[ls] = obj{"identity": id}
		}
		props["credentials"] = obj{"customRegistries": cr}
	}
	b := obj{"properties": props}
	if identity != nil {
		b["identity"] = identity
	}
	return b
}

// userIdentity is an identity block attaching the user-assigned identities ids.
func userIdentity(typ string, ids ...string) obj {
	m := obj{}
	for _, id := range ids {
		m[id] = obj{}
	}
	return obj{"type": typ, "userAssignedIdentities": m}
}
