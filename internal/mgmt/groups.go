package mgmt

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/resid"
)

func groupID(sub, rg string) string { return "/subscriptions/" + sub + "/resourceGroups/" + rg }

// requireGroup fails with ResourceGroupNotFound unless the group exists, and
// returns its name as created.
func (h *Handler) requireGroup(ctx context.Context, sub, rg string) (string, error) {
	var g ResourceGroup
	_, ok, err := h.load(ctx, groupID(sub, rg), &g)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", armErr(http.StatusNotFound, "ResourceGroupNotFound", "resource group %q could not be found; create it with 'moat group create --name %s'", rg, rg)
	}
	return g.Name, nil
}

func (h *Handler) groups(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	if id.ResourceGroup == "" {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the resource group collection")
		}
		out := []ResourceGroup{}
		err := h.list(ctx, typeGroup, "/subscriptions/"+id.Subscription+"/resourceGroups/", func(raw []byte, _ int64) error {
			var g ResourceGroup
			if err := json.Unmarshal(raw, &g); err != nil {
				return err
			}
			if h.readable(ctx, typeGroup, g.ID) {
				out = append(out, g)
			}
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	gid := groupID(id.Subscription, id.ResourceGroup)
	if err := h.require(ctx, gid, verbAction(r.Method, "Microsoft.Resources/subscriptions/resourceGroups")); err != nil {
		return err
	}
	var g ResourceGroup
	version, exists, err := h.load(ctx, gid, &g)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !exists {
			return armErr(http.StatusNotFound, "ResourceGroupNotFound", "resource group %q could not be found", id.ResourceGroup)
		}
		return writeResource(w, http.StatusOK, g, version)
	case http.MethodPut:
		var in ResourceGroup
		if err := decode(r, &in); err != nil {
			return err
		}
		if err := ifMatch(r, version); err != nil {
			return err
		}
		if err := ifNoneMatch(r, exists); err != nil {
			return err
		}
		if !validGroupName(id.ResourceGroup) {
			return badRequest("InvalidResourceGroupName", "resource group name %q is invalid: use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'", id.ResourceGroup)
		}
		status := http.StatusOK
		if !exists {
			status = http.StatusCreated
			g = ResourceGroup{ID: gid, Name: id.ResourceGroup, Type: typeGroup}
		}
		g.Location = h.location(in.Location)
		g.Tags = in.Tags
		g.Properties.ProvisioningState = "Succeeded"
		if version, err = h.save(ctx, gid, typeGroup, g, version); err != nil {
			return err
		}
		return writeResource(w, status, g, version)
	case http.MethodDelete:
		if !exists {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err := h.deleteGroup(ctx, id.Subscription, g.Name); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return methodNotAllowed(r, "a resource group")
}

// deleteGroup deletes a group and everything in it, as ARM does.
func (h *Handler) deleteGroup(ctx context.Context, sub, rg string) error {
	regs, err := h.Meta.ListRegistries(ctx)
	if err != nil {
		return err
	}
	for _, reg := range regs {
		if strings.EqualFold(reg.Subscription, sub) && strings.EqualFold(reg.ResourceGroup, rg) {
			if err := h.removeRegistry(ctx, reg); err != nil {
				return err
			}
		}
	}
	pes, err := h.allEndpoints(ctx)
	if err != nil {
		return err
	}
	prefix := strings.ToLower(groupID(sub, rg) + "/")
	for _, pe := range pes {
		if conn := connectionOf(pe); conn != nil && strings.HasPrefix(strings.ToLower(pe.ID), prefix) {
			if err := h.deleteConnectionFor(ctx, conn.Properties.PrivateLinkServiceID, pe.ID); err != nil {
				return err
			}
		}
	}
	// Workspaces, identities, networks, role assignments at the group and
	// below, and the principals of what lived there.
	if err := h.forget(ctx, groupID(sub, rg)); err != nil {
		return err
	}
	return h.Index.Reload(ctx)
}

func validGroupName(s string) bool {
	if s == "" || len(s) > 90 || strings.HasSuffix(s, ".") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.()", c)) {
			return false
		}
	}
	return true
}
