package mgmt

import (
	"cmp"
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
)

// fillVNet adds the subnets and the ETag to a stored virtual network.
func (h *Handler) fillVNet(ctx context.Context, vn *VirtualNetwork, version int64) error {
	subs, err := h.loadSubnets(ctx, vn.ID)
	if err != nil {
		return err
	}
	vn.Etag = versionTag(version)
	vn.Properties.Subnets = make([]Subnet, 0, len(subs))
	for _, s := range subs {
		if err := h.fillSubnet(ctx, &s); err != nil {
			return err
		}
		vn.Properties.Subnets = append(vn.Properties.Subnets, s)
	}
	return nil
}

// subnetDoc is a subnet as stored: with its place in the order of creation
// (subnets list in that order, as in the cloud).
type subnetDoc struct {
	Subnet
	Seq int64 `json:"seq,omitempty"`
}

// loadSubnets reads a virtual network's subnets in the order they were created.
func (h *Handler) loadSubnets(ctx context.Context, vid string) ([]Subnet, error) {
	docs, err := h.subnetDocs(ctx, vid)
	out := make([]Subnet, len(docs))
	for i, d := range docs {
		out[i] = d.Subnet
	}
	return out, err
}

func (h *Handler) subnetDocs(ctx context.Context, vid string) ([]subnetDoc, error) {
	var out []subnetDoc
	err := h.list(ctx, typeSubnet, vid+"/subnets/", func(raw []byte, v int64) error {
		var s subnetDoc
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		s.Etag = versionTag(v)
		out = append(out, s)
		return nil
	})
	// The store lists by ID; subnets stored before they had a place come first.
	slices.SortStableFunc(out, func(a, b subnetDoc) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, err
}

// checkSubnets validates a virtual network's subnets against its address space.
func (h *Handler) checkSubnets(ctx context.Context, space []netip.Prefix, want, existing []Subnet) error {
	var prefixes []netip.Prefix
	names := map[string]bool{}
	for i := range want {
		s := &want[i]
		if !validGroupName(s.Name) {
			return badRequest("InvalidResourceName", "subnet name %q is invalid: use letters, digits, '-', '_' and '.'", s.Name)
		}
		if names[strings.ToLower(s.Name)] {
			return badRequest("DuplicateResourceName", "subnet %q is listed twice", s.Name)
		}
		names[strings.ToLower(s.Name)] = true
		p, err := subnetPrefix(*s)
		if err != nil {
			return err
		}
		if !inside(p, space) {
			return badRequest("NetcfgSubnetRangeOutsideVnet", "subnet %s prefix %s is not within the address space %s of the virtual network", s.Name, p, strings.Join(prefixStrings(space), ", "))
		}
		s.Properties.AddressPrefix, s.Properties.AddressPrefixes = p.String(), nil
		s.Properties.ServiceEndpoints, err = canonicalEndpoints(s.Properties.ServiceEndpoints)
		if err != nil {
			return err
		}
		prefixes = append(prefixes, p)
	}
	if err := noOverlapNamed(want, prefixes); err != nil {
		return err
	}
	for _, old := range existing {
		if names[strings.ToLower(old.Name)] {
			for i, s := range want {
				if strings.EqualFold(s.Name, old.Name) && !strings.EqualFold(prefixes[i].String(), old.Properties.AddressPrefix) {
					if pes, err := h.endpointsInSubnet(ctx, old.ID); err != nil {
						return err
					} else if len(pes) > 0 {
						return badRequest("InUseSubnetCannotBeUpdated", "subnet %s has private endpoint %s; its address prefix cannot change", old.Name, pes[0].ID)
					}
				}
			}
			continue
		}
		if pes, err := h.endpointsInSubnet(ctx, old.ID); err != nil {
			return err
		} else if len(pes) > 0 {
			return badRequest("InUseSubnetCannotBeDeleted", "subnet %s has private endpoint %s; delete it before removing the subnet", old.Name, pes[0].ID)
		}
	}
	return nil
}

func (h *Handler) replaceSubnets(ctx context.Context, want, existing []Subnet) error {
	docs, err := h.subnetDocs(ctx, vnetOf(want, existing))
	if err != nil {
		return err
	}
	had := map[string]subnetDoc{}
	next := int64(1)
	for _, d := range docs {
		had[strings.ToLower(d.Name)] = d
		next = max(next, d.Seq+1)
	}
	keep := map[string]bool{}
	for _, s := range want {
		key := strings.ToLower(s.Name)
		keep[key] = true
		s.Etag = ""
		s.Properties.PrivateEndpoints = nil
		s.Properties.ProvisioningState = "Succeeded"
		d, ok := had[key]
		if !ok {
			d.Seq, next = next, next+1
		}
		if _, err := h.save(ctx, s.ID, typeSubnet, subnetDoc{Subnet: s, Seq: d.Seq}, parseVersion(d.Etag)); err != nil {
			return err
		}
	}
	for _, s := range existing {
		if !keep[strings.ToLower(s.Name)] {
			if err := h.Meta.DeleteResource(ctx, s.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// vnetOf is the virtual network of the subnets.
func vnetOf(lists ...[]Subnet) string {
	for _, l := range lists {
		for _, s := range l {
			return s.ID[:strings.LastIndex(strings.ToLower(s.ID), "/subnets/")]
		}
	}
	return "/nothing"
}
