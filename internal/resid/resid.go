// Package resid parses ARM-shaped resource IDs and request paths:
//
//	/subscriptions/{sub}[/resourceGroups/{rg}][/providers/{namespace}[/{type}[/{name}]]...]
//
// Keywords and names compare case-insensitively, as in the cloud.
package resid

import (
	"fmt"
	"strings"
)

// ID is a parsed resource ID or collection path.
type ID struct {
	Subscription  string
	ResourceGroup string
	Namespace     string // e.g. Microsoft.ContainerRegistry ("" when none)
	// Types and Names alternate down the hierarchy: registries/r1/privateEndpointConnections/c1.
	// Names has one fewer element than Types for a collection path.
	Types []string
	Names []string
}

// Parse parses an ARM path. It fails on empty segments, an odd structure, or
// characters that cannot appear in a resource name.
func Parse(path string) (ID, error) {
	var id ID
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 2 || !strings.EqualFold(segs[0], "subscriptions") {
		return id, fmt.Errorf("resource ID %q must start with /subscriptions/{subscriptionId}", path)
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "\\?#%") {
			return id, fmt.Errorf("resource ID %q has an empty or invalid segment", path)
		}
	}
	id.Subscription, segs = segs[1], segs[2:]
	if len(segs) >= 1 && strings.EqualFold(segs[0], "resourceGroups") {
		if len(segs) < 2 {
			return id, nil // the resource group collection
		}
		id.ResourceGroup, segs = segs[1], segs[2:]
	}
	if len(segs) == 0 {
		return id, nil
	}
	if !strings.EqualFold(segs[0], "providers") || len(segs) < 2 {
		return id, fmt.Errorf("resource ID %q: expected /providers/{namespace} after the resource group", path)
	}
	id.Namespace, segs = segs[1], segs[2:]
	for len(segs) > 0 {
		id.Types = append(id.Types, segs[0])
		if len(segs) > 1 {
			id.Names = append(id.Names, segs[1])
		}
		segs = segs[min(2, len(segs)):]
	}
	return id, nil
}

// Is reports whether id is of namespace/type path types (case-insensitive),
// e.g. Is("Microsoft.ContainerRegistry", "registries").
func (id ID) Is(namespace string, types ...string) bool {
	if !strings.EqualFold(id.Namespace, namespace) || len(id.Types) != len(types) {
		return false
	}
	for i, t := range types {
		if !strings.EqualFold(id.Types[i], t) {
			return false
		}
	}
	return true
}

// IsCollection reports whether the path names a collection (no name after the last type).
func (id ID) IsCollection() bool { return len(id.Names) < len(id.Types) }

// Name returns the last name ("" for a collection).
func (id ID) Name() string {
	if id.IsCollection() || len(id.Names) == 0 {
		return ""
	}
	return id.Names[len(id.Names)-1]
}

// RegistryID formats a registry's resource ID.
func RegistryID(sub, rg, name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.ContainerRegistry/registries/" + name
}
