package mgmt

import (
	"context"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/resid"
)

// A route is one resource type of the management API: its handler and what
// the caller needs, decided from the request path alone. The check runs
// before anything is looked up, so that a caller without the right gets the
// same 403 whether the resource, its parent or its resource group exists.
type route struct {
	ns, types string // namespace and type path, e.g. "registries/tasks"
	serve     func(h *Handler, w http.ResponseWriter, r *http.Request, id resid.ID) error
	need      func(method string, id resid.ID) need
	served    func(h *Handler) bool // nil: always served
}

// need is an action at a scope. A list needs only some role assignment
// reaching the scope (the list shows what the caller may read).
type need struct {
	scope, action string
	list          bool
}

const (
	nsRegistry = "Microsoft.ContainerRegistry"
	nsNetwork  = "Microsoft.Network"
	nsIdentity = "Microsoft.ManagedIdentity"
	nsML       = "Microsoft.MachineLearningServices"
)

// routes is every resource type and action under /providers/. A resource
// type served by the generic handler names its kind (kind.go, crud.go).
var routes = []route{
	{nsRegistry, "registries", registries.serve, own(registryType), nil},
	{nsRegistry, "registries/privateEndpointConnections", connections.serve, verbAt(1, typePEC), nil},
	{nsRegistry, "registries/checkNetworkAccess", (*Handler).checkNetworkAccess, at(1, registryType+"/read"), hasNetwork},
	{nsRegistry, "registries/networkRuleDenials", (*Handler).networkRuleDenials, at(1, registryType+"/read"), hasNetwork},
	// The impact preview shows who reaches the registry from where: the
	// right to change its settings, not just to read them.
	{nsRegistry, "registries/simulateNetworkRuleSet", (*Handler).simulateNetworkRuleSet, at(1, registryType+"/write"), hasNetwork},
	{nsRegistry, "registries/networkRuleShadowDisagreements", (*Handler).networkRuleShadowDisagreements, at(1, registryType+"/read"), hasNetwork},
	{nsRegistry, "auditEvents", (*Handler).serverAuditEvents, at(0, ownerAction), hasAudit},
	{nsRegistry, "registries/auditEvents", (*Handler).auditEvents, at(1, registryType+"/read"), hasAudit},
	{nsRegistry, "registries/listCredentials", (*Handler).adminCredentials, at(1, actionListCredentials), nil},
	{nsRegistry, "registries/regenerateCredential", (*Handler).adminCredentials, at(1, actionRegenerateCredential), nil},
	{nsRegistry, "registries/promoteStagedNetworkAccess", (*Handler).promoteStaged, at(1, registryType+"/write"), nil},
	{nsRegistry, "registries/garbageCollect", (*Handler).garbageCollect, at(1, actionGarbageCollect), hasGC},
	{nsRegistry, "registries/privateLinkResources", (*Handler).privateLinkResources, at(1, registryType+"/privateLinkResources/read"), nil},
	{nsRegistry, "registries/scopeMaps", scopeMaps.serve, own(typeScopeMap), nil},
	{nsRegistry, "registries/tokens", tokens.serve, own(typeToken), nil},
	{nsRegistry, "registries/generateCredentials", (*Handler).generateCredentials, at(1, actionGenerateCredentials), nil},
	{nsRegistry, "registries/tasks", tasksKind.serve, own(typeTask), nil},
	{nsRegistry, "registries/tasks/listDetails", (*Handler).taskDetails, at(2, actionTaskDetails), nil},
	{nsRegistry, "registries/scheduleRun", (*Handler).scheduleRun, at(1, actionScheduleRun), nil},
	{nsRegistry, "registries/runs", runsKind.serve, own(typeRun), nil},
	{nsRegistry, "registries/runs/listLogSasUrl", (*Handler).runLogURL, at(2, actionRunLog), nil},
	// Import writes the target's content: push there (the source is a linked check).
	{nsRegistry, "registries/importImage", (*Handler).importImage, at(1, rbac.ActionPush), nil},
	{nsNetwork, "virtualNetworks", vnets.serve, own(typeVNet), nil},
	{nsNetwork, "virtualNetworks/subnets", subnets.serve, subnetNeed, nil},
	{nsNetwork, "privateEndpoints", endpoints.serve, own(typePE), nil},
	{nsNetwork, "ipGroups", ipGroups.serve, own(typeIPGroup), nil},
	{nsIdentity, "userAssignedIdentities", identities.serve, own(typeUAI), nil},
	{nsML, "workspaces", workspaces.serve, own(typeWorkspace), nil},
}

func hasNetwork(h *Handler) bool { return h.Network != nil }
func hasAudit(h *Handler) bool   { return h.Audit != nil }
func hasGC(h *Handler) bool      { return h.GC != nil }

// own: the method's verb on the resource itself; a collection is a list at its parent.
func own(typ string) func(string, resid.ID) need {
	return func(method string, id resid.ID) need {
		n := need{scope: pathID(id, len(id.Names)), action: verbAction(method, typ)}
		n.list = id.IsCollection() && method == http.MethodGet
		return n
	}
}

// at: a fixed action on the resource named by the path's first level names.
func at(level int, action string) func(string, resid.ID) need {
	return func(_ string, id resid.ID) need { return need{scope: pathID(id, level), action: action} }
}

// verbAt: the method's verb on typ, checked on the path's first level names.
func verbAt(level int, typ string) func(string, resid.ID) need {
	return func(method string, id resid.ID) need {
		return need{scope: pathID(id, level), action: verbAction(method, typ)}
	}
}

// subnetNeed: a subnet's own verb; the subnet list reads the virtual network's subnets.
func subnetNeed(method string, id resid.ID) need {
	if id.IsCollection() {
		return need{scope: pathID(id, 1), action: verbAction(method, typeSubnet)}
	}
	return own(typeSubnet)(method, id)
}

// pathID is the resource ID that the path's first level names identify
// (level 0: the resource group, or the subscription).
func pathID(id resid.ID, level int) string {
	s := "/subscriptions/" + id.Subscription
	if id.ResourceGroup != "" {
		s += "/resourceGroups/" + id.ResourceGroup
	}
	if level == 0 {
		return s
	}
	s += "/providers/" + id.Namespace
	for i := 0; i < level; i++ {
		s += "/" + id.Types[i] + "/" + id.Names[i]
	}
	return s
}

// routeOf finds the route of a parsed path.
func (h *Handler) routeOf(id resid.ID) (route, bool) {
	types := strings.Join(id.Types, "/")
	for _, rt := range routes {
		if strings.EqualFold(rt.ns, id.Namespace) && strings.EqualFold(rt.types, types) && (rt.served == nil || rt.served(h)) {
			return rt, true
		}
	}
	return route{}, false
}

// authorize checks a need for the caller of the request.
func (h *Handler) authorize(ctx context.Context, n need) error {
	if n.list && h.reaches(ctx, n.scope) {
		return nil
	}
	return h.require(ctx, n.scope, n.action)
}
