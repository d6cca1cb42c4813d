package mgmt

import (
	"context"
	"strconv"
	"strings"
)

// subnets is Microsoft.Network/virtualNetworks/subnets. A subnet is checked
// against its virtual network's address space and its siblings; one that
// holds private endpoints keeps its prefix and cannot be deleted.
var subnets = &kind[Subnet]{
	typ: typeSubnet, what: "subnet",
	parent: func(c *call) error {
		var vn VirtualNetwork
		_, ok, err := c.h.load(c.ctx, vnetID(c.id.Subscription, c.id.ResourceGroup, c.id.Names[0]), &vn)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("virtual network %q not found in resource group %q", c.id.Names[0], c.id.ResourceGroup)
		}
		c.parentID, c.parentName = vn.ID, vn.Name
		return nil
	},
	load: func(c *call) (Subnet, int64, bool, error) {
		subs, err := c.h.loadSubnets(c.ctx, c.parentID)
		for _, s := range subs {
			if strings.EqualFold(s.Name, c.id.Name()) {
				return s, parseVersion(s.Etag), true, err
			}
		}
		return Subnet{}, 0, false, err
	},
	list: func(c *call) ([]listed[Subnet], error) {
		subs, err := c.h.loadSubnets(c.ctx, c.parentID)
		out := make([]listed[Subnet], len(subs))
		for i, s := range subs {
			out[i] = listed[Subnet]{id: s.ID, s: s, version: parseVersion(s.Etag)}
		}
		return out, err
	},
	render: func(c *call, s Subnet, _ int64) (any, error) { return s, c.h.fillSubnet(c.ctx, &s) },
	put:    putSubnet,
	remove: func(c *call, s Subnet) error {
		if pes, err := c.h.endpointsInSubnet(c.ctx, s.ID); err != nil {
			return err
		} else if len(pes) > 0 {
			return badRequest("InUseSubnetCannotBeDeleted", "subnet %s has private endpoint %s; delete it first", s.Name, pes[0].ID)
		}
		return c.h.Meta.DeleteResource(c.ctx, s.ID)
	},
}

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

func putSubnet(c *call, cur *Subnet, _ int64, body []byte) (Subnet, int64, error) {
	var in Subnet
	if err := decodeBody(body, &in); err != nil {
		return in, 0, err
	}
	ctx := c.ctx
	in.Name, in.ID, in.Type = c.id.Name(), c.parentID+"/subnets/"+c.id.Name(), typeSubnet
	subs, err := c.h.loadSubnets(ctx, c.parentID)
	if err != nil {
		return in, 0, err
	}
	want := append([]Subnet(nil), subs...)
	if cur != nil {
		in.Name, in.ID = cur.Name, cur.ID
		if p, _ := subnetPrefix(in); p.IsValid() && !strings.EqualFold(p.String(), cur.Properties.AddressPrefix) {
			if pes, err := c.h.endpointsInSubnet(ctx, in.ID); err != nil {
				return in, 0, err
			} else if len(pes) > 0 {
				return in, 0, badRequest("InUseSubnetCannotBeUpdated", "subnet %s has private endpoints; its address prefix cannot change", in.Name)
			}
		}
		for i := range want {
			if strings.EqualFold(want[i].Name, in.Name) {
				want[i] = in
			}
		}
	} else {
		want = append(want, in)
	}
	var vn VirtualNetwork
	if _, _, err := c.h.load(ctx, c.parentID, &vn); err != nil {
		return in, 0, err
	}
	space, err := parsePrefixes("addressSpace.addressPrefixes", vn.Properties.AddressSpace.AddressPrefixes)
	if err != nil {
		return in, 0, err
	}
	if err := c.h.checkSubnets(ctx, space, want, subs); err != nil {
		return in, 0, err
	}
	if err := c.h.replaceSubnets(ctx, want, subs); err != nil {
		return in, 0, err
	}
	var s subnetDoc
	v, _, err := c.h.load(ctx, in.ID, &s)
	s.Etag = versionTag(v)
	return s.Subnet, v, err
}
