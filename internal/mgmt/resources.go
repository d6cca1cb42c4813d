package mgmt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/moat-registry/moat/internal/armfilter"
	"github.com/moat-registry/moat/internal/resid"
)

// The tracked resource types GET .../resources lists besides registries,
// stored as generic documents.
var listedDocTypes = []string{typeVNet, typePE, typeUAI, typeWorkspace}

// maxTop bounds $top, as ARM does.
const maxTop = 1000

// genericResource is one element of a /resources list (ARM's
// GenericResourceExpanded: what the resource's own GET has at the top level).
type genericResource struct {
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	Type              string            `json:"type"`
	Location          string            `json:"location,omitempty"`
	Tags              map[string]string `json:"tags,omitempty"`
	SKU               *SKU              `json:"sku,omitempty"`
	Identity          json.RawMessage   `json:"identity,omitempty"`
	CreatedTime       string            `json:"createdTime,omitempty"`
	ProvisioningState string            `json:"provisioningState,omitempty"`
}

// resources authorizes a resource list (like any list, before anything is
// looked up: some role assignment must reach the scope) and serves it.
func (h *Handler) resources(w http.ResponseWriter, r *http.Request, sub string, rest []string) error {
	scope, action, rg := "/subscriptions/"+sub, "Microsoft.Resources/subscriptions/resources/read", ""
	if len(rest) == 3 {
		scope, action = groupID(sub, rest[1]), "Microsoft.Resources/subscriptions/resourceGroups/resources/read"
	}
	if err := h.authorize(r.Context(), need{scope: scope, action: action, list: true}); err != nil {
		return err
	}
	if len(rest) == 3 {
		var err error
		if rg, err = h.requireGroup(r.Context(), sub, rest[1]); err != nil {
			return err
		}
	}
	return h.listResources(w, r, sub, rg)
}

// listResources serves GET /subscriptions/{s}[/resourceGroups/{g}]/resources
// (Resources - List, List By Resource Group): every tracked resource of the
// scope that the caller may read, filtered by $filter, in pages of $top.
// az finds a registry given by name this way (`az acr update --name R`).
func (h *Handler) listResources(w http.ResponseWriter, r *http.Request, sub, rg string) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "a resource list")
	}
	q := r.URL.Query()
	filter, err := armfilter.Parse(q.Get("$filter"))
	if err != nil {
		return badRequest("InvalidFilterInQueryString", "Invalid $filter '%s' specified in the query string: %v.", clipVersion(q.Get("$filter")), err)
	}
	top, err := parseTop(q.Get("$top"))
	if err != nil {
		return err
	}
	expand := strings.Split(strings.ToLower(q.Get("$expand")), ",")
	all, err := h.scopeResources(r.Context(), sub, rg, slices.Contains(expand, "createdtime"))
	if err != nil {
		return err
	}
	after, err := skipTokenID(q.Get("$skiptoken"))
	if err != nil {
		return err
	}
	out := []genericResource{}
	for _, res := range all {
		if strings.ToLower(res.ID) <= after || !filter.Match(filterView(res)) {
			continue
		}
		if top > 0 && len(out) == top {
			writeJSON(w, http.StatusOK, map[string]any{"value": out, "nextLink": nextLink(r, out[len(out)-1].ID)})
			return nil
		}
		if slices.Contains(expand, "provisioningstate") {
			res.ProvisioningState = "Succeeded"
		}
		out = append(out, res)
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// scopeResources are the readable resources of a subscription or group,
// ordered by ID (case-insensitively), which is what pages continue from.
func (h *Handler) scopeResources(ctx context.Context, sub, rg string, created bool) ([]genericResource, error) {
	regs, err := h.Meta.ListRegistries(ctx)
	if err != nil {
		return nil, err
	}
	var out []genericResource
	for _, reg := range regs {
		id := registryIDOf(reg)
		if !strings.EqualFold(reg.Subscription, sub) || rg != "" && !strings.EqualFold(reg.ResourceGroup, rg) || !h.readable(ctx, registryType, id) {
			continue
		}
		g := genericResource{ID: id, Name: reg.Name, Type: registryType, Location: reg.Location, SKU: &SKU{Name: reg.SKU, Tier: reg.SKU}}
		if ident, err := h.identityOf(ctx, id); err != nil {
			return nil, err
		} else if ident != nil {
			g.Identity, _ = json.Marshal(ident)
		}
		if created {
			g.CreatedTime = reg.CreatedAt.UTC().Format("2006-01-02T15:04:05.0000000Z")
		}
		out = append(out, g)
	}
	prefix := "/subscriptions/" + sub + "/"
	if rg != "" {
		prefix = groupID(sub, rg) + "/"
	}
	for _, typ := range listedDocTypes {
		docs, err := readableDocs(ctx, h, typ, prefix, func(g *genericResource) string { return g.ID })
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	slices.SortFunc(out, func(a, b genericResource) int { return strings.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID)) })
	return out, nil
}

// filterView is what $filter looks at.
func filterView(g genericResource) armfilter.Resource {
	id, _ := resid.Parse(g.ID)
	return armfilter.Resource{Name: g.Name, Type: g.Type, ResourceGroup: id.ResourceGroup, Location: g.Location, Tags: g.Tags}
}

func parseTop(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxTop {
		return 0, badRequest("InvalidTopInQueryString", "$top must be a whole number from 1 to %d", maxTop)
	}
	return n, nil
}

// nextLink continues the list after the resource last (its ID, opaque to
// clients, in $skiptoken), keeping the request's other parameters.
func nextLink(r *http.Request, last string) string {
	return withSkipToken(r, base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(last))))
}

// withSkipToken is the request's URL with $skiptoken set to tok.
func withSkipToken(r *http.Request, tok string) string {
	q := r.URL.Query()
	q.Set("$skiptoken", tok)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}).String()
}

// skipTokenID is the lower-case ID a $skiptoken continues after ("": from
// the start).
func skipTokenID(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) > 2048 {
		return "", badRequest("InvalidSkipToken", "the $skiptoken is not one this server gave; follow the nextLink of the previous page as it is")
	}
	return string(b), nil
}
