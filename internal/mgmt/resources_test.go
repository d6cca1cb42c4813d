package mgmt_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// scopedReader lets principal "one" read only the resource seen; every other
// caller (the tests' setup) may do anything.
type scopedReader struct{ seen string }

func (r scopedReader) Allowed(principal, scope, action string) bool {
	if principal != "one" {
		return true
	}
	return strings.EqualFold(scope, r.seen) && strings.HasSuffix(action, "/read")
}

// Reaches: principal one's assignment is at the resource seen.
func (r scopedReader) Reaches(principal, scope string) bool {
	s, sc := strings.ToLower(r.seen), strings.ToLower(scope)
	return principal != "one" || strings.HasPrefix(s, sc) || strings.HasPrefix(sc, s)
}

func (scopedReader) Reload(context.Context) error { return nil }
func (scopedReader) All() []rbac.Assignment       { return nil }

func resourceIDs(t *testing.T, m map[string]any) []string {
	t.Helper()
	var ids []string
	for _, v := range m["value"].([]any) {
		ids = append(ids, v.(map[string]any)["id"].(string))
	}
	return ids
}

func TestListResources(t *testing.T) {
	e := newEnv(t)
	e.must(t, http.StatusCreated, "PUT", rgPath("other"), map[string]any{"location": "westus"})
	e.createRegistry(t, "regAAA", "Premium")
	e.must(t, http.StatusCreated, "PUT", regPathIn("other", "regBBB"), registryBody("Basic", nil))
	e.createVNet(t, "vnetA")
	all := "/subscriptions/" + sub + "/resources"
	want := []string{regPath("regAAA"), vnetPath("vnetA"), regPathIn("other", "regBBB")}
	if got := resourceIDs(t, e.must(t, http.StatusOK, "GET", all, nil)); !slices.Equal(got, want) {
		t.Fatalf("resources %v, want %v", got, want)
	}
	m := e.must(t, http.StatusOK, "GET", all+"?$filter="+url.QueryEscape("resourceType eq 'Microsoft.ContainerRegistry/registries'")+"&api-version=2021-04-01", nil)
	if got := resourceIDs(t, m); !slices.Equal(got, []string{regPath("regAAA"), regPathIn("other", "regBBB")}) {
		t.Fatalf("registries %v", got)
	}
	reg := m["value"].([]any)[0].(map[string]any)
	if reg["name"] != "regAAA" || reg["type"] != "Microsoft.ContainerRegistry/registries" || reg["location"] == "" || get(t, reg, "sku", "name") != "Premium" {
		t.Errorf("registry element %v", reg)
	}
	for filter, ids := range map[string][]string{
		"name eq 'REGBBB' and resourceType eq 'microsoft.containerregistry/registries'": {regPathIn("other", "regBBB")},
		"resourceType eq 'Microsoft.Network/virtualNetworks' or name eq 'regAAA'":       {regPath("regAAA"), vnetPath("vnetA")},
		"substringof('net', name)": {vnetPath("vnetA")},
		"resourceGroup eq 'other'": {regPathIn("other", "regBBB")},
		"name eq 'nothing'":        nil,
	} {
		m := e.must(t, http.StatusOK, "GET", all+"?$filter="+url.QueryEscape(filter), nil)
		if got := resourceIDs(t, m); !slices.Equal(got, ids) {
			t.Errorf("%s: %v, want %v", filter, got, ids)
		}
	}
	if m := e.must(t, http.StatusOK, "GET", all+"?$filter="+url.QueryEscape("name eq 'nothing'"), nil); m["value"] == nil {
		t.Error("an empty list must be [] (value present)")
	}
	// A resource group's resources.
	if got := resourceIDs(t, e.must(t, http.StatusOK, "GET", rgPath("OTHER")+"/resources", nil)); !slices.Equal(got, []string{regPathIn("other", "regBBB")}) {
		t.Errorf("group other: %v", got)
	}
	e.must(t, http.StatusNotFound, "GET", rgPath("nogroup")+"/resources", nil)
	// $expand.
	m = e.must(t, http.StatusOK, "GET", all+"?$expand=createdTime,provisioningState&$filter="+url.QueryEscape("name eq 'regAAA'"), nil)
	if r := m["value"].([]any)[0].(map[string]any); r["createdTime"] == nil || r["provisioningState"] != "Succeeded" {
		t.Errorf("expanded %v", r)
	}
}

func TestListResourcesPages(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"pageA", "pageB", "pageC"} {
		e.createRegistry(t, n, "Basic")
	}
	next := "/subscriptions/" + sub + "/resources?$top=2&$filter=" + url.QueryEscape("resourceType eq 'Microsoft.ContainerRegistry/registries'")
	var got []string
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("the nextLinks do not end")
		}
		m := e.must(t, http.StatusOK, "GET", next, nil)
		got = append(got, resourceIDs(t, m)...)
		next, _ = m["nextLink"].(string)
		if next != "" {
			u, err := url.Parse(next)
			if err != nil || u.Query().Get("$filter") == "" {
				t.Fatalf("nextLink %q keeps no $filter", next)
			}
			next = u.RequestURI()
		}
	}
	if want := []string{regPath("pageA"), regPath("pageB"), regPath("pageC")}; !slices.Equal(got, want) {
		t.Errorf("pages %v, want %v", got, want)
	}
	all := "/subscriptions/" + sub + "/resources"
	for q, code := range map[string]string{
		"$filter=" + url.QueryEscape("name gt 'a'"): "InvalidFilterInQueryString",
		"$filter=" + url.QueryEscape("plan eq 'a'"): "InvalidFilterInQueryString",
		"$top=0":            "InvalidTopInQueryString",
		"$top=x":            "InvalidTopInQueryString",
		"$skiptoken=%25%25": "InvalidSkipToken",
	} {
		status, m := e.do(t, "GET", all+"?"+q, nil)
		wantErr(t, status, m, http.StatusBadRequest, code)
	}
	status, m := e.do(t, "POST", all, nil)
	wantErr(t, status, m, http.StatusMethodNotAllowed, "MethodNotAllowed")
}

// TestListResourcesReadable: a caller sees only what it may read.
func TestListResourcesReadable(t *testing.T) {
	e := newEnv(t, func(h *mgmt.Handler, _ *sqlite.Store) {
		h.Auth, h.Roles = headerAuth{}, scopedReader{regPath("seenreg")}
	})
	e.createRegistry(t, "seenreg", "Basic")
	e.createRegistry(t, "hiddenreg", "Basic")
	e.createVNet(t, "hiddenvnet")
	m := e.must(t, http.StatusOK, "GET", "/subscriptions/"+sub+"/resources", nil, "X-Principal", "one")
	if got := resourceIDs(t, m); !slices.Equal(got, []string{regPath("seenreg")}) {
		t.Errorf("principal one sees %v", got)
	}
	// A group it has nothing in: 403 whether the group exists or not.
	e.must(t, http.StatusCreated, "PUT", rgPath("elsewhere"), map[string]any{"location": "local"})
	for _, g := range []string{"elsewhere", "nosuchgroup"} {
		status, body := e.do(t, "GET", rgPath(g)+"/resources", nil, "X-Principal", "one")
		wantErr(t, status, body, http.StatusForbidden, "AuthorizationFailed", "Microsoft.Resources/subscriptions/resourceGroups/resources/read")
	}
}
