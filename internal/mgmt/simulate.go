package mgmt

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netguard"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/resid"
)

// Impact preview (issue 21 item 2): POST .../registries/{r}/
// simulateNetworkRuleSet decides proposed network settings, a merge patch
// of the registry's own (the members a PATCH of its properties would
// send), with the data plane's decision function against the traffic
// memory of the last days, and names the sources and principals whose
// decision would change. It reveals who reaches the registry from where,
// so it needs the right to write the registry, as applying the change does.

const (
	defaultSimulateDays = 7
	maxSimulateDays     = 30 // the traffic memory's retention
	maxSimulateListed   = 1000
)

// simulateMembers are the members a simulate body may have: the network
// settings and days.
var simulateMembers = []string{"publicNetworkAccess", "networkRuleSet", "networkRuleBypassOptions", "networkRuleBypassAllowedForTasks"}

// simulatedDecision is one decision of a simulated source.
type simulatedDecision struct {
	Decision    string `json:"decision"`
	Reason      string `json:"reason"`
	MatchedRule string `json:"matchedRule,omitempty"`
}

func simulated(d policy.Decision) simulatedDecision {
	out := simulatedDecision{Decision: "Deny", Reason: d.Reason, MatchedRule: d.Rule}
	if d.Allow {
		out.Decision = "Allow"
	}
	return out
}

// simulatedSource is one network identity and principal of the remembered
// traffic whose decision changes.
type simulatedSource struct {
	ClientIP        string            `json:"clientIp"`
	Path            string            `json:"path"`
	Subnet          string            `json:"subnet,omitempty"`
	PrivateEndpoint string            `json:"privateEndpoint,omitempty"`
	Principal       string            `json:"principal,omitempty"`
	Requests        int64             `json:"requests"`
	FirstSeen       time.Time         `json:"firstSeen"`
	LastSeen        time.Time         `json:"lastSeen"`
	Current         simulatedDecision `json:"current"`
	Proposed        simulatedDecision `json:"proposed"`
}

// simulatedPrincipal sums a side's sources by principal.
type simulatedPrincipal struct {
	Principal string    `json:"principal"`
	Requests  int64     `json:"requests"`
	Sources   int       `json:"sources"`
	LastSeen  time.Time `json:"lastSeen"`
}

type simulateResult struct {
	Days  int       `json:"days"`
	Since time.Time `json:"since"`
	// Sources and Requests are all the remembered traffic considered.
	Sources  int   `json:"sources"`
	Requests int64 `json:"requests"`
	// UnattributedRequests were summed past the memory's bound of sources
	// per registry and hour: the preview cannot tell their decision.
	UnattributedRequests int64                `json:"unattributedRequests"`
	NewlyDenied          []simulatedSource    `json:"newlyDenied"`
	NewlyAllowed         []simulatedSource    `json:"newlyAllowed"`
	DeniedPrincipals     []simulatedPrincipal `json:"newlyDeniedPrincipals"`
	AllowedPrincipals    []simulatedPrincipal `json:"newlyAllowedPrincipals"`
	Truncated            bool                 `json:"truncated,omitempty"`
}

func (h *Handler) simulateNetworkRuleSet(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "simulateNetworkRuleSet (use POST)")
	}
	ctx := r.Context()
	reg, err := h.getRegistry(ctx, id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	cur, err := decodeProps(reg)
	if err != nil {
		return err
	}
	body, err := readObject(r)
	if err != nil {
		return err
	}
	patch, days, err := simulateRequest(body, r.URL.Query().Get("days"))
	if err != nil {
		return err
	}
	proposed, err := proposedSettings(cur, patch)
	if err != nil {
		return err
	}
	if err := h.validateNetwork(ctx, reg, reg.SKU, &proposed, cur); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return &Error{Status: e.Status, Code: e.Code, Message: "proposed settings: " + e.Message}
		}
		return err
	}
	since := time.Now().UTC().Add(-time.Duration(days) * 24 * time.Hour)
	traffic, err := h.Network.Traffic(ctx, reg.Key, reg.UID, since)
	if err != nil {
		return err
	}
	out := h.simulate(traffic, h.Network.Rules(reg.Key), h.Network.Compile(reg.Key, proposed))
	out.Days, out.Since = days, since
	writeJSON(w, http.StatusOK, out)
	return nil
}

// simulateRequest reads the body: the settings to change (at the top, or
// under properties as in a PATCH) and days (the body's wins over the query's).
func simulateRequest(body map[string]any, queryDays string) (map[string]any, int, error) {
	if k := memberName(body, "properties"); body[k] != nil {
		p, ok := body[k].(map[string]any)
		if !ok {
			return nil, 0, badRequest("InvalidRequestContent", "properties must be an object of network settings, as in a registry PATCH")
		}
		delete(body, k)
		for m, v := range p {
			body[m] = v
		}
	}
	days := defaultSimulateDays
	if queryDays != "" {
		n, err := parseDays(json.Number(queryDays))
		if err != nil {
			return nil, 0, err
		}
		days = n
	}
	patch := map[string]any{}
	for k, v := range body {
		if strings.EqualFold(k, "days") {
			n, err := parseDays(v)
			if err != nil {
				return nil, 0, err
			}
			days = n
			continue
		}
		known := false
		for _, m := range simulateMembers {
			if strings.EqualFold(k, m) {
				patch[m], known = v, true
			}
		}
		if !known {
			return nil, 0, badRequest("InvalidRequestContent", "simulateNetworkRuleSet takes the network settings of a registry PATCH (%s) and days; %q is none of them", strings.Join(simulateMembers, ", "), k)
		}
	}
	return patch, days, nil
}

func parseDays(v any) (int, error) {
	var n int64
	var err error
	switch x := v.(type) {
	case json.Number:
		n, err = x.Int64()
	default:
		err = fmt.Errorf("not a number")
	}
	if err != nil || n < 1 || n > maxSimulateDays {
		return 0, badRequest("InvalidParameter", "days must be a whole number of days from 1 to %d (the traffic memory keeps %d days)", maxSimulateDays, maxSimulateDays)
	}
	return int(n), nil
}

// proposedSettings is cur with patch merged into its network settings.
func proposedSettings(cur RegistryProperties, patch map[string]any) (RegistryProperties, error) {
	base, err := toObject(model.AccessOf(cur))
	if err != nil {
		return cur, err
	}
	merged, err := json.Marshal(mergePatch(base, patch))
	if err != nil {
		return cur, err
	}
	var a model.NetworkAccess
	if err := json.Unmarshal(merged, &a); err != nil {
		return cur, badRequest("InvalidRequestContent", "the proposed network settings do not read: %v", err)
	}
	a.StagedOn = nil
	p := a.Over(cur).WithDefaults()
	if a.NetworkRuleSet == nil { // removed by the patch: the default set
		p.NetworkRuleSet = nil
		p = p.WithDefaults()
	}
	rs := *p.NetworkRuleSet // validateNetwork normalises it in place: not cur's
	p.NetworkRuleSet = &rs
	return p, nil
}

// sourceKey groups the hours of one source.
type sourceKey struct{ ip, path, subnet, pe, principal string }

// simulate decides every remembered source under both rule sets.
func (h *Handler) simulate(traffic []netguard.Traffic, current, proposed *policy.Rules) simulateResult {
	var out simulateResult
	sources := map[sourceKey]*simulatedSource{}
	for _, t := range traffic {
		out.Requests += t.Count
		if t.ClientIP == netguard.Other {
			out.UnattributedRequests += t.Count
			continue
		}
		k := sourceKey{t.ClientIP, t.Path, t.Subnet, t.PrivateEndpoint, t.Principal}
		s := sources[k]
		if s == nil {
			s = &simulatedSource{ClientIP: t.ClientIP, Path: t.Path, Subnet: t.Subnet, PrivateEndpoint: t.PrivateEndpoint,
				Principal: t.Principal, FirstSeen: t.FirstSeen}
			sources[k] = s
		}
		s.Requests += t.Count
		if t.LastSeen.After(s.LastSeen) {
			s.LastSeen = t.LastSeen
		}
		if t.FirstSeen.Before(s.FirstSeen) {
			s.FirstSeen = t.FirstSeen
		}
	}
	out.Sources = len(sources)
	trusted := h.Network.Trusted()
	for _, s := range sources {
		id := netid.Identity{Path: netid.Path(s.Path), Subnet: s.Subnet, PrivateEndpoint: s.PrivateEndpoint}
		id.ClientIP, _ = netip.ParseAddr(s.ClientIP)
		var p *policy.Principal
		if s.Principal != "" {
			p, _ = h.Network.BypassPrincipal(s.Principal)
		}
		before, after := policy.Decide(current, id, p, trusted), policy.Decide(proposed, id, p, trusted)
		s.Current, s.Proposed = simulated(before), simulated(after)
		switch {
		case before.Allow && !after.Allow:
			out.NewlyDenied = append(out.NewlyDenied, *s)
		case !before.Allow && after.Allow:
			out.NewlyAllowed = append(out.NewlyAllowed, *s)
		}
	}
	out.DeniedPrincipals, out.AllowedPrincipals = byPrincipal(out.NewlyDenied), byPrincipal(out.NewlyAllowed)
	var cut1, cut2 bool
	out.NewlyDenied, cut1 = sortSources(out.NewlyDenied)
	out.NewlyAllowed, cut2 = sortSources(out.NewlyAllowed)
	out.Truncated = cut1 || cut2
	return out
}

// sortSources orders sources by requests (most first), then address, and
// keeps the first maxSimulateListed.
func sortSources(ss []simulatedSource) ([]simulatedSource, bool) {
	if ss == nil {
		ss = []simulatedSource{}
	}
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].Requests != ss[j].Requests {
			return ss[i].Requests > ss[j].Requests
		}
		return ss[i].ClientIP+ss[i].Principal < ss[j].ClientIP+ss[j].Principal
	})
	if len(ss) > maxSimulateListed {
		return ss[:maxSimulateListed], true
	}
	return ss, false
}

// byPrincipal sums sources by principal (anonymous requests are not a
// principal), most requests first.
func byPrincipal(ss []simulatedSource) []simulatedPrincipal {
	m := map[string]*simulatedPrincipal{}
	for _, s := range ss {
		if s.Principal == "" {
			continue
		}
		p := m[s.Principal]
		if p == nil {
			p = &simulatedPrincipal{Principal: s.Principal}
			m[s.Principal] = p
		}
		p.Requests += s.Requests
		p.Sources++
		if s.LastSeen.After(p.LastSeen) {
			p.LastSeen = s.LastSeen
		}
	}
	out := make([]simulatedPrincipal, 0, len(m))
	for _, p := range m {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Requests != out[j].Requests {
			return out[i].Requests > out[j].Requests
		}
		return out[i].Principal < out[j].Principal
	})
	return out
}
