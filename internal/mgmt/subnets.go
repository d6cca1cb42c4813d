package mgmt

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/moat-registry/moat/internal/resid"
)

func parseVersion(etag string) int64 {
	v, _ := strconv.ParseInt(strings.Trim(etag, `"`), 10, 64)
	return v
}

// fillSubnet adds derived fields: the private endpoints that live in it.
func (h *Handler) fillSubnet(ctx context.Context, s *Subnet) error {
	pes, err := h.endpointsInSubnet(ctx, s.ID)
	if err != nil {
		return err
	}
	s.Properties.PrivateEndpoints = nil
	for _, pe := range pes {
		s.Properties.PrivateEndpoints = append(s.Properties.PrivateEndpoints, SubResource{ID: pe.ID})
	}
	if s.Properties.ServiceEndpoints == nil {
		s.Properties.ServiceEndpoints = []ServiceEndpoint{}
	}
	return nil
}

func (h *Handler) subnets(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	vid := vnetID(id.Subscription, id.ResourceGroup, id.Names[0])
	var vn VirtualNetwork
	vversion, ok, err := h.load(ctx, vid, &vn)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("virtual network %q not found in resource group %q", id.Names[0], id.ResourceGroup)
	}
	subs, err := h.loadSubnets(ctx, vid)
	if err != nil {
		return err
	}
	if id.IsCollection() {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the subnet collection")
		}
		for i := range subs {
			if err := h.fillSubnet(ctx, &subs[i]); err != nil {
				return err
			}
		}
		if subs == nil {
			subs = []Subnet{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": subs})
		return nil
	}
	name := id.Name()
	idx := -1
	for i, s := range subs {
		if strings.EqualFold(s.Name, name) {
			idx = i
		}
	}
	switch r.Method {
	case http.MethodGet:
		if idx < 0 {
			return notFound("subnet %q not found in virtual network %q", name, vn.Name)
		}
		s := subs[idx]
		if err := h.fillSubnet(ctx, &s); err != nil {
			return err
		}
		return writeResource(w, http.StatusOK, s, parseVersion(s.Etag))
	case http.MethodPut:
		var in Subnet
		if err := decode(r, &in); err != nil {
			return err
		}
		cur := int64(0)
		if idx >= 0 {
			cur = parseVersion(subs[idx].Etag)
		}
		if err := ifMatch(r, cur); err != nil {
			return err
		}
		if err := ifNoneMatch(r, idx >= 0); err != nil {
			return err
		}
		in.Name, in.ID, in.Type = name, vid+"/subnets/"+name, typeSubnet
		if idx >= 0 {
			in.Name, in.ID = subs[idx].Name, subs[idx].ID
		}
		return h.putSubnet(w, r, vn, vversion, subs, idx, in)
	case http.MethodDelete:
		if idx < 0 {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if pes, err := h.endpointsInSubnet(ctx, subs[idx].ID); err != nil {
			return err
		} else if len(pes) > 0 {
			return badRequest("InUseSubnetCannotBeDeleted", "subnet %s has private endpoint %s; delete it first", name, pes[0].ID)
		}
		if err := h.Meta.DeleteResource(ctx, subs[idx].ID); err != nil {
			return err
		}
		if err := h.Index.Reload(ctx); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return methodNotAllowed(r, "a subnet")
}

func (h *Handler) putSubnet(w http.ResponseWriter, r *http.Request, vn VirtualNetwork, _ int64, subs []Subnet, idx int, in Subnet) error {
	ctx := r.Context()
	want := append([]Subnet(nil), subs...)
	status := http.StatusOK
	if idx >= 0 {
		if p, _ := subnetPrefix(in); p.IsValid() && !strings.EqualFold(p.String(), subs[idx].Properties.AddressPrefix) {
			if pes, err := h.endpointsInSubnet(ctx, in.ID); err != nil {
				return err
			} else if len(pes) > 0 {
				return badRequest("InUseSubnetCannotBeUpdated", "subnet %s has private endpoints; its address prefix cannot change", in.Name)
			}
		}
		want[idx] = in
	} else {
		want = append(want, in)
		status = http.StatusCreated
	}
	space, err := parsePrefixes("addressSpace.addressPrefixes", vn.Properties.AddressSpace.AddressPrefixes)
	if err != nil {
		return err
	}
	if err := h.checkSubnets(ctx, space, want, subs); err != nil {
		return err
	}
	if err := h.replaceSubnets(ctx, want, subs); err != nil {
		return err
	}
	if err := h.Index.Reload(ctx); err != nil {
		return err
	}
	var s Subnet
	v, _, err := h.load(ctx, in.ID, &s)
	if err != nil {
		return err
	}
	s.Etag = versionTag(v)
	if err := h.fillSubnet(ctx, &s); err != nil {
		return err
	}
	return writeResource(w, status, s, v)
}
