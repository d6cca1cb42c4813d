package mgmt

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
		if key, name := requestType(c.path); key != c.key || name != c.name {
			t.Errorf("requestType(%s) = %s, %s; want %s, %s", c.path, key, name, c.key, c.name)
		}
	}
}

// TestVersionTables guards the tables against typos: dates in order, no
// duplicates.
func TestVersionTables(t *testing.T) {
	valid := regexp.MustCompile(`^20[12][0-9]-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(-preview)?$`)
	for key, at := range apiTypes {
		if len(at.versions) == 0 {
			t.Errorf("%s: no versions", key)
		}
		for i, v := range at.versions {
			if !valid.MatchString(v) {
				t.Errorf("%s: %q is not an api-version", key, v)
			}
			if i > 0 && at.versions[i-1] >= v {
				t.Errorf("%s: %s after %s: keep the list in order, once each", key, v, at.versions[i-1])
			}
		}
	}
	if got := supportedVersions([]string{"2017-03-01", "2023-07-01"}); !slices.Equal(got, []string{"2025-11-01", "2023-07-01", "2021-08-01-preview", "2019-05-01", "2017-03-01"}) {
		t.Errorf("supportedVersions = %v", got)
	}
}
