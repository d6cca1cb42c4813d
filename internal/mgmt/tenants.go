package mgmt

import "net/http"

// listTenants answers GET /tenants (ARM's Tenants - List): the server's one
// tenant. `az login -u -p` without --tenant lists the tenants, then the
// subscriptions of each.
func (h *Handler) listTenants(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "tenants")
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": []any{map[string]any{
		"id":             "/tenants/" + h.Tenant,
		"tenantId":       h.Tenant,
		"tenantCategory": "Home",
		"displayName":    "moat",
		"domains":        []string{},
	}}})
	return nil
}

// subscriptionDoc is the server's subscription as ARM's Subscriptions - Get
// answers it (2019-11-01 and later: tenantId is its home tenant).
func (h *Handler) subscriptionDoc() map[string]any {
	return map[string]any{
		"id":                   "/subscriptions/" + h.Subscription,
		"subscriptionId":       h.Subscription,
		"tenantId":             h.Tenant,
		"displayName":          "moat",
		"state":                "Enabled",
		"authorizationSource":  "RoleBased",
		"managedByTenants":     []any{},
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "moat", "spendingLimit": "Off"},
	}
}
