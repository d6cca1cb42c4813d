// Package apiversion is the table of the api-versions each resource
// provider has published (Azure/azure-rest-api-specs), by request path: what
// the management API accepts (internal/mgmt) and what moat's own clients send.
package apiversion

import (
	"slices"
	"strings"
)

// The api-versions each resource provider has published, from the REST API
// specifications (Azure/azure-rest-api-specs: every readme tag's stable and
// preview folder of the type). A request with any of them is served; moat
// serves one shape for all of them (docs/azure-cli.md says where az reads a
// field that older versions name differently). Unknown versions are refused
// as ARM refuses them: InvalidApiVersionParameter for ARM's own types
// (subscriptions, tenants, resource groups, providers, /resources),
// NoRegisteredProviderFound for a provider's types, each listing the
// supported versions.
//
// Compat are the versions moat's own CLI and portal send for every
// type (they predate the table): accepted everywhere, so that those clients,
// old and new, keep working.
var Compat = []string{"2019-05-01", "2021-08-01-preview", "2023-07-01", "2025-11-01"}

var (
	// Microsoft.ContainerRegistry: registries and their children.
	ACR = []string{
		"2016-06-27-preview", "2017-03-01", "2017-06-01-preview", "2017-10-01", "2019-05-01",
		"2019-05-01-preview", "2019-12-01-preview", "2020-11-01-preview", "2021-06-01-preview",
		"2021-08-01-preview", "2021-09-01", "2021-12-01-preview", "2022-02-01-preview", "2022-12-01",
		"2023-01-01-preview", "2023-06-01-preview", "2023-07-01", "2023-08-01-preview",
		"2023-11-01-preview", "2024-11-01-preview", "2025-03-01-preview", "2025-04-01",
		"2025-05-01-preview", "2025-06-01-preview", "2025-11-01", "2026-01-01-preview", "2026-03-01-preview",
	}
	// ACR Tasks (containerregistry_build.json): tasks, runs, taskRuns,
	// agentPools and the scheduleRun / listBuildSourceUploadUrl actions.
	ACRTasks = []string{"2018-02-01-preview", "2018-09-01", "2019-04-01", "2019-06-01-preview", "2025-03-01-preview"}
	// ACR's scope maps and tokens (and generateCredentials): the versions since 2019-05-01-preview that have them.
	ACRTokens = slices.DeleteFunc(slices.Clone(ACR[slices.Index(ACR, "2019-05-01-preview"):]), func(v string) bool {
		return v == "2019-12-01-preview" || v == "2021-09-01"
	})
	// Microsoft.Network stable versions that have virtual networks (2015-05-01-preview: one network.json).
	Network = []string{
		"2015-05-01-preview", "2015-06-15", "2016-03-30", "2016-06-01", "2016-09-01", "2016-12-01",
		"2017-03-01", "2017-06-01", "2017-08-01", "2017-09-01", "2017-10-01", "2017-11-01",
		"2018-01-01", "2018-02-01", "2018-04-01", "2018-06-01", "2018-07-01", "2018-08-01",
		"2018-10-01", "2018-11-01", "2018-12-01", "2019-02-01", "2019-04-01", "2019-06-01",
		"2019-07-01", "2019-08-01", "2019-09-01", "2019-11-01", "2019-12-01", "2020-03-01",
		"2020-04-01", "2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01", "2020-11-01",
		"2021-02-01", "2021-03-01", "2021-05-01", "2021-08-01", "2022-01-01", "2022-05-01",
		"2022-07-01", "2022-09-01", "2022-11-01", "2023-02-01", "2023-04-01", "2023-05-01",
		"2023-06-01", "2023-09-01", "2023-11-01", "2024-01-01", "2024-03-01", "2024-05-01",
		"2024-07-01", "2024-10-01", "2025-01-01", "2025-03-01", "2025-05-01", "2025-07-01",
	}
	// Microsoft.Resources (resources.json): resource groups, /resources, providers.
	Resources = []string{
		"2015-11-01", "2016-02-01", "2016-07-01", "2016-09-01", "2017-05-10", "2018-02-01",
		"2018-05-01", "2019-03-01", "2019-05-01", "2019-05-10", "2019-07-01", "2019-08-01",
		"2019-10-01", "2020-06-01", "2020-08-01", "2020-10-01", "2021-01-01", "2021-04-01",
		"2022-09-01", "2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01", "2025-04-01",
	}
	// Microsoft.Resources subscriptions.json: subscriptions and tenants.
	Subscriptions   = []string{"2016-06-01", "2018-06-01", "2019-06-01", "2019-11-01", "2020-01-01", "2021-01-01", "2022-12-01"}
	ManagedIdentity = []string{"2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31", "2023-07-31-preview", "2024-11-30", "2025-01-31-preview"}
	// Microsoft.Authorization role assignments.
	RoleAssignments = []string{
		"2015-07-01", "2017-10-01-preview", "2018-01-01-preview", "2018-09-01-preview", "2020-03-01-preview",
		"2020-04-01-preview", "2020-08-01-preview", "2020-10-01-preview", "2022-01-01-preview", "2022-04-01",
	}
	// Microsoft.MachineLearningServices workspaces.
	MachineLearning = []string{
		"2018-03-01-preview", "2018-11-19", "2019-05-01", "2019-06-01", "2019-11-01", "2020-01-01",
		"2020-02-18-preview", "2020-03-01", "2020-04-01", "2020-04-01-preview", "2020-05-01-preview",
		"2020-05-15-preview", "2020-06-01", "2020-08-01", "2020-09-01-preview", "2021-01-01",
		"2021-03-01-preview", "2021-04-01", "2021-07-01", "2022-01-01-preview", "2022-02-01-preview",
		"2022-05-01", "2022-06-01-preview", "2022-10-01", "2022-10-01-preview", "2022-12-01-preview",
		"2023-02-01-preview", "2023-04-01", "2023-04-01-preview", "2023-06-01-preview", "2023-08-01-preview",
		"2023-10-01", "2024-01-01-preview", "2024-04-01", "2024-04-01-preview", "2024-07-01-preview",
		"2024-10-01", "2024-10-01-preview", "2025-01-01-preview", "2025-04-01", "2025-04-01-preview",
		"2025-06-01", "2025-07-01-preview", "2025-09-01", "2026-01-15-preview", "2026-07-01", "2026-07-15-preview",
	}
)

// Type is the api-versions of one resource type.
type Type struct {
	Versions []string
	ARM      bool // one of ARM's own types (InvalidApiVersionParameter)
}

// types is keyed by lower-case namespace, or namespace/type[/child type]
// where a type was published on other versions than its namespace.
var types = map[string]Type{
	"microsoft.resources/subscriptions":                               {Subscriptions, true},
	"microsoft.resources/tenants":                                     {Subscriptions, true},
	"microsoft.resources":                                             {Resources, true},
	"microsoft.containerregistry":                                     {ACR, false},
	"microsoft.containerregistry/registries/tasks":                    {ACRTasks, false},
	"microsoft.containerregistry/registries/runs":                     {ACRTasks, false},
	"microsoft.containerregistry/registries/taskruns":                 {ACRTasks, false},
	"microsoft.containerregistry/registries/agentpools":               {ACRTasks, false},
	"microsoft.containerregistry/registries/schedulerun":              {ACRTasks, false},
	"microsoft.containerregistry/registries/listbuildsourceuploadurl": {ACRTasks, false},
	"microsoft.containerregistry/registries/scopemaps":                {ACRTokens, false},
	"microsoft.containerregistry/registries/tokens":                   {ACRTokens, false},
	"microsoft.containerregistry/registries/generatecredentials":      {ACRTokens, false},
	"microsoft.network":                                               {Network, false},
	"microsoft.network/privateendpoints":                              {Network[slices.Index(Network, "2019-04-01"):], false},
	"microsoft.network/ipgroups":                                      {Network[slices.Index(Network, "2019-09-01"):], false}, // ipGroups came with 2019-09-01
	"microsoft.managedidentity":                                       {ManagedIdentity, false},
	"microsoft.authorization":                                         {RoleAssignments, false},
	"microsoft.machinelearningservices":                               {MachineLearning, false},
}

// RequestType is the table key of a request path and the type ARM names in
// its error: the namespace and types after the last /providers/ segment, or
// one of ARM's own types.
func RequestType(path string) (key, name string) {
	orig := strings.Split(strings.Trim(path, "/"), "/")
	segs := strings.Split(strings.ToLower(strings.Trim(path, "/")), "/")
	if segs[0] == "tenants" {
		return "microsoft.resources/tenants", "tenants"
	}
	for i := len(segs) - 2; i >= 2; i-- {
		if segs[i] != "providers" {
			continue
		}
		if i+2 >= len(segs) || i == 2 && i+3 == len(segs) && isRegistrationVerb(segs[i+2]) {
			break // /providers/{namespace}[/register]: a provider's registration
		}
		var types, names []string
		for j := i + 2; j < len(segs); j += 2 {
			types, names = append(types, segs[j]), append(names, orig[j])
		}
		return segs[i+1] + "/" + strings.Join(types, "/"), strings.Join(names, "/")
	}
	switch {
	case len(segs) <= 2:
		return "microsoft.resources/subscriptions", "subscriptions"
	case segs[len(segs)-1] == "resources":
		return "microsoft.resources/resources", "resources"
	case segs[2] == "providers":
		return "microsoft.resources/providers", "providers"
	}
	return "microsoft.resources/resourcegroups", "resourceGroups"
}

// Lookup finds the most specific table entry for key.
func Lookup(key string) (Type, bool) {
	for {
		if t, ok := types[key]; ok {
			return t, true
		}
		i := strings.LastIndexByte(key, '/')
		if i < 0 {
			return Type{}, false
		}
		key = key[:i]
	}
}

// Supported lists a type's versions newest first, as ARM does, with
// moat's own.
func Supported(published []string) []string {
	all := slices.Concat(published, Compat)
	slices.Sort(all)
	all = slices.Compact(all)
	slices.Reverse(all)
	return all
}

// isRegistrationVerb reports whether s is a provider's register or unregister.
func isRegistrationVerb(s string) bool {
	return strings.EqualFold(s, "register") || strings.EqualFold(s, "unregister")
}
