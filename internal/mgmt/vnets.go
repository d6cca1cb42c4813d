package mgmt

func vnetID(sub, rg, name string) string {
	return groupID(sub, rg) + "/providers/Microsoft.Network/virtualNetworks/" + name
}

// vnets is Microsoft.Network/virtualNetworks; its subnets are stored as
// their own resources (subnets.go). A PUT that lists subnets replaces the
// set; one that omits the field keeps them (the cloud deletes them, a
// frequent accident). Deleting one that holds private endpoints is refused.
var vnets = &kind[VirtualNetwork]{
	typ: typeVNet, what: "virtual network",
	load: func(c *call) (VirtualNetwork, int64, bool, error) {
		return loadDoc[VirtualNetwork](c, vnetID(c.id.Subscription, c.id.ResourceGroup, c.id.Name()))
	},
	list: func(c *call) ([]listed[VirtualNetwork], error) {
		return listDocs(c, typeVNet, scopePrefix(c.id), func(v *VirtualNetwork) string { return v.ID })
	},
	render: func(c *call, vn VirtualNetwork, version int64) (any, error) {
		return vn, c.h.fillVNet(c.ctx, &vn, version)
	},
	put:    putVNet,
	remove: removeVNet,
}

func removeVNet(c *call, vn VirtualNetwork) error {
	if pes, err := c.h.endpointsInVNet(c.ctx, vn.ID); err != nil {
		return err
	} else if len(pes) > 0 {
		return badRequest("InUseVirtualNetworkCannotBeDeleted", "virtual network %s has private endpoint %s; delete the private endpoints first", vn.Name, pes[0].ID)
	}
	return c.h.Meta.DeleteResource(c.ctx, vn.ID)
}

func putVNet(c *call, cur *VirtualNetwork, version int64, body []byte) (VirtualNetwork, int64, error) {
	var in VirtualNetwork
	if err := decodeBody(body, &in); err != nil {
		return in, 0, err
	}
	ctx, name := c.ctx, c.id.Name()
	vid := vnetID(c.id.Subscription, c.id.ResourceGroup, name)
	if !validGroupName(name) {
		return in, 0, badRequest("InvalidResourceName", "virtual network name %q is invalid: use letters, digits, '-', '_' and '.'", name)
	}
	if err := c.h.requireRegistered(ctx, c.id.Subscription, "Microsoft.Network"); err != nil {
		return in, 0, err
	}
	space, err := parsePrefixes("addressSpace.addressPrefixes", in.Properties.AddressSpace.AddressPrefixes)
	if err != nil {
		return in, 0, err
	}
	if len(space) == 0 {
		return in, 0, badRequest("InvalidAddressSpace", "a virtual network needs at least one address prefix (e.g. --address-prefixes 10.0.0.0/16)")
	}
	if err := noOverlap("address prefix", space); err != nil {
		return in, 0, err
	}
	existing, err := c.h.loadSubnets(ctx, vid)
	if err != nil {
		return in, 0, err
	}
	want := existing
	if in.Properties.Subnets != nil {
		want = nil
		for _, s := range in.Properties.Subnets {
			s.ID, s.Type = vid+"/subnets/"+s.Name, typeSubnet
			want = append(want, s)
		}
	}
	if err := c.h.checkSubnets(ctx, space, want, existing); err != nil {
		return in, 0, err
	}
	vn := VirtualNetwork{ID: vid, Name: name, Type: typeVNet, Location: c.h.location(in.Location), Tags: in.Tags}
	if cur != nil {
		vn.ID, vn.Name = cur.ID, cur.Name
	}
	vn.Properties.AddressSpace.AddressPrefixes = prefixStrings(space)
	vn.Properties.ProvisioningState = "Succeeded"
	if version, err = c.h.save(ctx, vid, typeVNet, vn, version); err != nil {
		return vn, 0, err
	}
	return vn, version, c.h.replaceSubnets(ctx, want, existing)
}
