package mgmt

import (
	"context"
	"net/http"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/resid"
)

// Linked access checks (ARM's linked authorization): a request field that
// names another resource — an identity to attach, a subnet to join, an
// import source — needs a right on that resource too, besides the right on
// the resource written. Every such field goes through requireLinked
// (docs/security.md lists them); it runs before the linked resource is
// looked up, so the answer is the same whether it exists or not.

// requireLinked fails with LinkedAuthorizationFailed unless the caller may
// perform action on linked, the resource ID that field names.
func (h *Handler) requireLinked(ctx context.Context, field, linked, action string) error {
	if h.may(ctx, linked, action) {
		return nil
	}
	return linkedDenied(ctx, field, linked, action)
}

// linkedDenied is the answer of a failed linked check; linked is the
// resource as the request named it.
func linkedDenied(ctx context.Context, field, linked, action string) error {
	return armErr(http.StatusForbidden, "LinkedAuthorizationFailed",
		"the client with object id '%s' does not have permission to perform action '%s' on the linked scope '%s' (named by %s) or the linked scope is invalid; ask an Owner of it to assign you a role that allows it (moat role assignment create --role '%s' --scope <its ID>)",
		caller(ctx), action, linked, field, leastRole[action])
}

// leastRole names the narrowest built-in role that grants a linked action.
var leastRole = map[string]string{
	rbac.ActionAssignIdentity: "Managed Identity Operator",
	rbac.ActionJoinSubnet:     "Network Contributor",
	rbac.ActionJoinIPGroup:    "Network Contributor",
	rbac.ActionPull:           "AcrPull",
	typeSubnet + "/read":      "Reader",
	typeScopeMap + "/read":    "Reader",
}

// linkedID parses a resource ID named in a request body: it must name one
// resource of the type wanted, in a resource group. It returns the ID in the
// one form that checks and lookups use.
func linkedID(raw, ns string, types ...string) (string, bool) {
	id, err := resid.Parse(raw)
	if err != nil || !id.Is(ns, types...) || id.IsCollection() || id.ResourceGroup == "" {
		return "", false
	}
	return pathID(id, len(id.Names)), true
}
