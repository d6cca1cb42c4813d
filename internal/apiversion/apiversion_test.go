package apiversion

import (
	"regexp"
	"slices"
	"testing"
)

func TestRequestType(t *testing.T) {
	const s = "/subscriptions/s"
	reg := s + "/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r"
	for _, c := range []struct{ path, key, name string }{
		{"/tenants", "microsoft.resources/tenants", "tenants"},
		{"/subscriptions", "microsoft.resources/subscriptions", "subscriptions"},
		{s, "microsoft.resources/subscriptions", "subscriptions"},
		{s + "/resourcegroups", "microsoft.resources/resourcegroups", "resourceGroups"},
		{s + "/resourceGroups/g", "microsoft.resources/resourcegroups", "resourceGroups"},
		{s + "/resources", "microsoft.resources/resources", "resources"},
		{s + "/resourceGroups/g/resources", "microsoft.resources/resources", "resources"},
		{s + "/providers", "microsoft.resources/providers", "providers"},
		{s + "/providers/Microsoft.Network", "microsoft.resources/providers", "providers"},
		{s + "/providers/Microsoft.Network/register", "microsoft.resources/providers", "providers"},
		{s + "/providers/Microsoft.ContainerRegistry/checkNameAvailability", "microsoft.containerregistry/checknameavailability", "checkNameAvailability"},
		{s + "/providers/Microsoft.ContainerRegistry/registries", "microsoft.containerregistry/registries", "registries"},
		{reg, "microsoft.containerregistry/registries", "registries"},
		{reg + "/tasks/t", "microsoft.containerregistry/registries/tasks", "registries/tasks"},
		{reg + "/privateEndpointConnections", "microsoft.containerregistry/registries/privateendpointconnections", "registries/privateEndpointConnections"},
		{reg + "/providers/Microsoft.Authorization/roleAssignments/a", "microsoft.authorization/roleassignments", "roleAssignments"},
		{s + "/providers/Microsoft.Authorization/roleAssignments", "microsoft.authorization/roleassignments", "roleAssignments"},
	} {
		if key, name := RequestType(c.path); key != c.key || name != c.name {
			t.Errorf("RequestType(%s) = %s, %s; want %s, %s", c.path, key, name, c.key, c.name)
		}
	}
}

// TestVersionTables guards the tables against typos: dates in order, no
// duplicates.
func TestVersionTables(t *testing.T) {
	valid := regexp.MustCompile(`^20[12][0-9]-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(-preview)?$`)
	for key, at := range types {
		if len(at.Versions) == 0 {
			t.Errorf("%s: no versions", key)
		}
		for i, v := range at.Versions {
			if !valid.MatchString(v) {
				t.Errorf("%s: %q is not an api-version", key, v)
			}
			if i > 0 && at.Versions[i-1] >= v {
				t.Errorf("%s: %s after %s: keep the list in order, once each", key, v, at.Versions[i-1])
			}
		}
	}
	if got := Supported([]string{"2017-03-01", "2023-07-01"}); !slices.Equal(got, []string{"2025-11-01", "2023-07-01", "2021-08-01-preview", "2019-05-01", "2017-03-01"}) {
		t.Errorf("Supported = %v", got)
	}
}

// TestForClient: moat's clients ask for a published version of each type
// that has every member moat serves for it.
func TestForClient(t *testing.T) {
	const reg = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r"
	for path, want := range map[string]string{
		reg:                             "2026-03-01-preview",
		reg + "/listCredentials":        "2026-03-01-preview",
		reg + "/tasks/t":                "2025-03-01-preview",
		reg + "/runs/ca1/listLogSasUrl": "2025-03-01-preview",
		reg + "/scheduleRun":            "2025-03-01-preview",
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v": "2025-11-01",
		reg + "/providers/Microsoft.Authorization/roleAssignments/x":                      "2025-11-01",
		"/subscriptions/s": "2025-11-01",
	} {
		got := ForClient(path)
		if got != want {
			t.Errorf("ForClient(%s) = %s, want %s", path, got, want)
		}
		if typ, ok := Lookup(must(RequestType(path))); ok && !slices.Contains(typ.Versions, got) && !slices.Contains(Compat, got) {
			t.Errorf("ForClient(%s) = %s, which the type does not accept", path, got)
		}
	}
}

func must(key, _ string) string { return key }

// TestTokenVersions: scope maps and tokens are served in the versions
// that published them (az sends 2020-11-01-preview), not in older ones.
func TestTokenVersions(t *testing.T) {
	for _, typ := range []string{"scopemaps", "tokens", "generatecredentials"} {
		at, ok := Lookup("microsoft.containerregistry/registries/" + typ)
		if !ok || !slices.Contains(at.Versions, "2020-11-01-preview") || !slices.Contains(at.Versions, "2019-05-01-preview") ||
			slices.Contains(at.Versions, "2019-05-01") || slices.Contains(at.Versions, "2019-12-01-preview") || slices.Contains(at.Versions, "2021-09-01") {
			t.Errorf("%s: %v", typ, at.Versions)
		}
	}
}
