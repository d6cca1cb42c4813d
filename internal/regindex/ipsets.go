package regindex

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netrule"
)

// ipSets are what IP rules may name besides prefixes: the IP groups
// (Microsoft.Network/ipGroups, by lower-cased ID) as the snapshot was built,
// and the operator's named IP sets of the server configuration.
type ipSets struct {
	groups, named map[string][]netip.Prefix
}

// Expand implements netrule.Sets.
func (s ipSets) Expand(r netrule.Ref) ([]netip.Prefix, bool) {
	var ps []netip.Prefix
	var ok bool
	switch r.Kind {
	case netrule.RefIPGroup:
		ps, ok = s.groups[r.Key]
	case netrule.RefIPSet:
		ps, ok = s.named[r.Key]
	}
	return ps, ok
}

// loadIPGroups reads every IP group's prefixes (an entry that does not parse
// allows nothing: the API checked it on write).
func loadIPGroups(ctx context.Context, store Store) (map[string][]netip.Prefix, error) {
	res, err := store.ListResources(ctx, model.TypeIPGroup, "")
	if err != nil {
		return nil, err
	}
	out := make(map[string][]netip.Prefix, len(res))
	for _, r := range res {
		var g model.IPGroup
		if json.Unmarshal(r.Body, &g) != nil {
			continue
		}
		var ps []netip.Prefix
		for _, a := range g.Properties.IPAddresses {
			if p, err := netrule.ParseIPRule(a); err == nil {
				ps = append(ps, p)
			}
		}
		out[strings.ToLower(r.ID)] = ps
	}
	return out, nil
}

// NamedSets turns the configuration's IP sets (name -> prefixes) into the
// lookup the snapshot uses (lower-cased names).
func NamedSets(sets map[string][]netip.Prefix) map[string][]netip.Prefix {
	out := make(map[string][]netip.Prefix, len(sets))
	for k, v := range sets {
		out[strings.ToLower(k)] = v
	}
	return out
}
