package mgmt

import (
	"context"
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

// typeGroupAction is the type in a resource group's actions.
const typeGroupAction = "Microsoft.Resources/subscriptions/resourceGroups"

// groups serves /subscriptions/{s}/resourceGroups[/{g}]. The right on a
// group is checked before it is looked up; the list shows the groups the
// caller may read.
func (h *Handler) groups(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	c := newCall(h, r, id)
	c.scope, c.name = "/subscriptions/"+id.Subscription, id.ResourceGroup
	if c.name != "" {
		if err := h.require(c.ctx, groupID(id.Subscription, c.name), verbAction(r.Method, typeGroupAction)); err != nil {
			return err
		}
	}
	return resourceGroups.serveCall(c, w)
}

var resourceGroups = &kind[ResourceGroup]{
	typ: typeGroupAction, what: "resource group", notFoundCode: "ResourceGroupNotFound",
	load: func(c *call) (ResourceGroup, int64, bool, error) {
		return loadDoc[ResourceGroup](c, groupID(c.id.Subscription, c.name))
	},
	list: func(c *call) ([]listed[ResourceGroup], error) {
		return listDocs(c, typeGroup, c.scope+"/resourceGroups/", func(g *ResourceGroup) string { return g.ID })
	},
	render: func(_ *call, g ResourceGroup, _ int64) (any, error) { return g, nil },
	put:    putGroup,
	// Everything in the group goes with it, as in ARM.
	remove: func(c *call, g ResourceGroup) error { return c.h.deleteGroup(c.ctx, c.id.Subscription, g.Name) },
}

func putGroup(c *call, cur *ResourceGroup, version int64, body []byte) (ResourceGroup, int64, error) {
	var in ResourceGroup
	if err := decodeBody(body, &in); err != nil {
		return in, 0, err
	}
	if !validGroupName(c.name) {
		return in, 0, badRequest("InvalidResourceGroupName", "resource group name %q is invalid: use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'", c.name)
	}
	gid := groupID(c.id.Subscription, c.name)
	g := ResourceGroup{ID: gid, Name: c.name, Type: typeGroup}
	if cur != nil {
		g = *cur
	}
	g.Location = c.h.location(in.Location)
	g.Tags = in.Tags
	g.Properties.ProvisioningState = "Succeeded"
	v, err := c.h.save(c.ctx, gid, typeGroup, g, version)
	return g, v, err
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
