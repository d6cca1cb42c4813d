package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/store/meta/postgres/pgtest"
)

// TestGroupDeleteCascades: after a resource group is deleted, the instance
// secret of a workspace that lived in it gets no token, the token its
// identity already had changes nothing, and a re-created group of the same
// name is closed to the old group's Contributor — on the node that deleted
// it at once, and on every other node (PostgreSQL: a second node).
func TestGroupDeleteCascades(t *testing.T) {
	t.Run("one node, SQLite", func(t *testing.T) {
		n := startNode(t, testConfig(t.TempDir()))
		groupDeleteCascades(t, n, n)
	})
	t.Run("two nodes, PostgreSQL", func(t *testing.T) {
		cfg := testConfig(t.TempDir())
		cfg.Postgres = pgtest.SchemaDSN(t)
		groupDeleteCascades(t, startNode(t, cfg), startNode(t, cfg))
	})
}

const cascadePassword = "cascade-password-1"

// node is one running server.
type node struct {
	*httptest.Server
	srv *Server
}

// startNode starts a server whose clients come from 203.0.113.5.
func startNode(t *testing.T, cfg config.Config) node {
	t.Setenv("MOAT_ADMIN_PASSWORD", cascadePassword)
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return netid.With(ctx, netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("203.0.113.5")})
	}
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return node{ts, srv}
}

// call sends a request to a node with a bearer token (or the instance
// secret header when tok starts with "secret:") and returns the status and body.
func call(t *testing.T, ts node, tok, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if s, ok := strings.CutPrefix(tok, "secret:"); ok {
		req.Header.Set("X-IDENTITY-HEADER", s)
	} else {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually waits until cond holds (another node follows a change at the
// store's notice), and fails the test after 10 s.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	for {
		ok, last := cond()
		if ok {
			t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: not after 10 s; last answer: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func groupDeleteCascades(t *testing.T, n1, n2 node) {
	tenant := n1.srv.Tenant()
	admin := loginToken(t, n1.URL, tenant, cascadePassword)
	v := "?api-version=2025-11-01"
	sub := "/subscriptions/" + n1.srv.Subscription()
	doomed := sub + "/resourceGroups/doomed"
	keeper := sub + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/keeperreg"
	must := func(ts node, tok, method, path, body string, want int) string {
		t.Helper()
		st, out := call(t, ts, tok, method, path, body)
		if st != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, st, out, want)
		}
		return out
	}
	assign := func(principal, scope, role string) {
		r, _ := rbac.RoleByName(role)
		must(n1, admin, http.MethodPut, scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+v,
			fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, rbac.RoleDefinitionID(n1.srv.Subscription(), r), principal), http.StatusCreated)
	}
	must(n1, admin, http.MethodPut, doomed+v, `{"location":"local"}`, http.StatusCreated)
	must(n1, admin, http.MethodPut, keeper+v, `{"sku":{"name":"Premium"}}`, http.StatusCreated)
	var ws struct {
		Identity   struct{ PrincipalID string }
		Properties struct{ InstanceSecret string }
	}
	json.Unmarshal([]byte(must(n1, admin, http.MethodPut, doomed+"/providers/Microsoft.MachineLearningServices/workspaces/ws"+v, `{"location":"local"}`, http.StatusCreated)), &ws)
	assign(ws.Identity.PrincipalID, keeper, "Contributor")
	var bob struct{ ID string }
	json.Unmarshal([]byte(must(n1, admin, http.MethodPost, "/graph/v1.0/users", `{"userPrincipalName":"bob","passwordProfile":{"password":"bob-password-1"}}`, http.StatusCreated)), &bob)
	assign(bob.ID, doomed, "Contributor")
	// Management tokens are for one node's address (its audience); bob
	// signs in at a node once that node knows him.
	bobTok := func(n node) string {
		var tok string
		eventually(t, "bob signs in", func() (bool, string) {
			resp, err := http.PostForm(n.URL+"/identity/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"},
				"username": {"bob"}, "password": {"bob-password-1"}, "client_id": {"moat-cli"}, "scope": {managementScope(t, n.URL)}})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				AccessToken string `json:"access_token"`
			}
			json.NewDecoder(resp.Body).Decode(&out)
			tok = out.AccessToken
			return tok != "", resp.Status
		})
		return tok
	}
	msi := "/identity/msi/token?api-version=2019-08-01&resource=" + url.QueryEscape(strings.TrimSuffix(managementScope(t, n2.URL), ".default"))
	var miTok string
	eventually(t, "node 2 gives the workspace identity a token", func() (bool, string) {
		st, out := call(t, n2, "secret:"+ws.Properties.InstanceSecret, http.MethodGet, msi, "")
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		json.Unmarshal([]byte(out), &tok)
		miTok = tok.AccessToken
		return st == http.StatusOK, out
	})
	eventually(t, "node 2 lets the workspace identity change a registry", func() (bool, string) {
		st, out := call(t, n2, miTok, http.MethodPatch, keeper+v, `{"tags":{"by":"ws"}}`)
		return st == http.StatusOK, out
	})
	// Its registry refresh token (what 'acr login' keeps) pulls from the registry.
	host := strings.TrimPrefix(n2.URL, "http://")
	form := url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {miTok}}
	req, _ := http.NewRequest(http.MethodPost, n2.URL+"/oauth2/exchange", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		RefreshToken string `json:"refresh_token"`
	}
	json.NewDecoder(resp.Body).Decode(&ex)
	resp.Body.Close()
	pull := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, n2.URL+"/oauth2/token?service="+host+"&scope=repository:keeperreg/app:pull", nil)
		req.SetBasicAuth("00000000-0000-0000-0000-000000000000", ex.RefreshToken)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		json.NewDecoder(resp.Body).Decode(&tok)
		return call(t, n2, tok.AccessToken, http.MethodGet, "/v2/keeperreg/app/tags/list", "")
	}
	if st, out := pull(); st != http.StatusNotFound { // an empty repository: the request got through
		t.Fatalf("the workspace identity pulls with its refresh token: %d %s", st, out)
	}
	reg := doomed + "/providers/Microsoft.ContainerRegistry/registries/bobreg" + v
	bob2 := bobTok(n2)
	eventually(t, "node 2 lets bob create a registry in the group", func() (bool, string) {
		st, out := call(t, n2, bob2, http.MethodPut, reg, `{"sku":{"name":"Premium"}}`)
		return st == http.StatusCreated, out
	})

	must(n1, admin, http.MethodDelete, doomed+v, "", http.StatusOK)
	must(n1, admin, http.MethodPut, doomed+v, `{"location":"local"}`, http.StatusCreated)
	eventually(t, "the workspace identity's refresh token pulls nothing", func() (bool, string) {
		st, out := pull()
		return st == http.StatusUnauthorized || st == http.StatusForbidden, out
	})
	for _, n := range []node{n1, n2} {
		admin, bob := loginToken(t, n.URL, tenant, cascadePassword), bobTok(n)
		eventually(t, "the workspace's instance secret gets no token", func() (bool, string) {
			st, out := call(t, n, "secret:"+ws.Properties.InstanceSecret, http.MethodGet, msi, "")
			return st == http.StatusUnauthorized, out
		})
		eventually(t, "the workspace identity's token changes nothing", func() (bool, string) {
			st, out := call(t, n, miTok, http.MethodPatch, keeper+v, `{"tags":{"by":"ghost"}}`)
			return st == http.StatusUnauthorized, out
		})
		eventually(t, "the re-created group is closed to the old Contributor", func() (bool, string) {
			if st, _ := call(t, n, admin, http.MethodGet, doomed+v, ""); st != http.StatusOK {
				return false, "the re-created group is not there yet"
			}
			st, out := call(t, n, bob, http.MethodPut, reg, `{"sku":{"name":"Premium"}}`)
			return st == http.StatusForbidden, out
		})
	}
}
