package mgmt

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/network/netguard"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/resid"
)

// Network is the data plane's network state, for what-if and the denial audit.
type Network interface {
	Rules(regKey string) *policy.Rules
	HasServiceEndpoint(subnetID string) bool
	Denials(ctx context.Context, regKey string, since time.Time) ([]netguard.Denial, error)
	// Disagreements are shadow mode's: requests the staged settings decide
	// otherwise than the enforced ones.
	Disagreements(ctx context.Context, regKey string, since time.Time) ([]netguard.Denial, error)
	Trusted() policy.TrustedServices
}

// checkRequest is the body of checkNetworkAccess: who is asking, from where.
type checkRequest struct {
	IPAddress       string `json:"ipAddress"`
	Subnet          string `json:"subnet"`
	PrivateEndpoint string `json:"privateEndpoint"`
	// Caller asks about the network identity of this very request (the
	// address and path the server sees; moat acr check-health).
	Caller bool `json:"caller"`
}

// checkResult is the what-if answer.
type checkResult struct {
	Decision    string `json:"decision"` // Allow or Deny
	Reason      string `json:"reason"`
	MatchedRule string `json:"matchedRule,omitempty"`
	Path        string `json:"path"`
	ClientIP    string `json:"clientIp,omitempty"`
	Note        string `json:"note,omitempty"`
}

// checkNetworkAccess answers "would a request from here be allowed?" without
// sending traffic, with the same decision function as the data plane.
func (h *Handler) checkNetworkAccess(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "checkNetworkAccess (use POST)")
	}
	reg, err := h.getRegistry(r.Context(), id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	var in checkRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	// The answer tells whether the subnet has the service endpoint: that is
	// the subnet's to tell (a linked read).
	if sid, ok := linkedID(in.Subnet, "Microsoft.Network", "virtualNetworks", "subnets"); ok && !in.Caller {
		if err := h.requireLinked(r.Context(), "subnet", sid, typeSubnet+"/read"); err != nil {
			return err
		}
	}
	nid, note, err := h.whatIfIdentity(in)
	if in.Caller {
		var ok bool
		if nid, ok = netid.From(r.Context()); !ok {
			return badRequest("InvalidParameter", "this request has no network identity")
		}
		note, err = "the network identity of this request as the server sees it", nil
	}
	if err != nil {
		return err
	}
	d := policy.Decide(h.Network.Rules(reg.Key), nid, nil, h.Network.Trusted())
	out := checkResult{Decision: "Deny", Reason: d.Reason, MatchedRule: d.Rule, Path: string(nid.Path), Note: note}
	if d.Allow {
		out.Decision = "Allow"
	}
	if nid.ClientIP.IsValid() {
		out.ClientIP = nid.ClientIP.String()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// whatIfIdentity builds the network identity a real request would have.
func (h *Handler) whatIfIdentity(in checkRequest) (netid.Identity, string, error) {
	var id netid.Identity
	if in.IPAddress != "" {
		a, err := netip.ParseAddr(strings.TrimSpace(in.IPAddress))
		if err != nil {
			return id, "", badRequest("InvalidParameter", "--ip-address %q is not an IP address", in.IPAddress)
		}
		id.ClientIP = a.Unmap()
	}
	switch {
	case in.PrivateEndpoint != "":
		pid, err := resid.Parse(in.PrivateEndpoint)
		if err != nil || !pid.Is("Microsoft.Network", "privateEndpoints") || pid.IsCollection() {
			return id, "", badRequest("InvalidParameter", "--private-endpoint %q is not a private endpoint resource ID", in.PrivateEndpoint)
		}
		id.Path, id.PrivateEndpoint = netid.PrivateEndpoint, strings.ToLower(in.PrivateEndpoint)
		return id, "", nil
	case in.Subnet != "":
		sid, err := resid.Parse(in.Subnet)
		if err != nil || !sid.Is("Microsoft.Network", "virtualNetworks", "subnets") || sid.IsCollection() {
			return id, "", badRequest("InvalidParameter", "--subnet %q is not a subnet resource ID", in.Subnet)
		}
		if h.Network.HasServiceEndpoint(in.Subnet) {
			id.Path, id.Subnet = netid.ServiceEndpoint, strings.ToLower(in.Subnet)
			return id, "", nil
		}
		id.Path = netid.Public
		return id, "the subnet has no Microsoft.ContainerRegistry service endpoint, so its traffic arrives as public traffic from its private address", nil
	case in.IPAddress == "":
		return id, "", badRequest("InvalidParameter", "give --ip-address, --subnet or --private-endpoint")
	}
	id.Path = netid.Public
	return id, "", nil
}

// networkRuleDenials lists recent denials of a registry (?since=1h, default 24h).
func (h *Handler) networkRuleDenials(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	return h.networkRecords(w, r, id, "networkRuleDenials", h.Network.Denials)
}

// networkRuleShadowDisagreements lists the recent shadow-mode disagreements
// of a registry: requests its staged settings decide otherwise.
func (h *Handler) networkRuleShadowDisagreements(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	return h.networkRecords(w, r, id, "networkRuleShadowDisagreements", h.Network.Disagreements)
}

func (h *Handler) networkRecords(w http.ResponseWriter, r *http.Request, id resid.ID, what string,
	list func(context.Context, string, time.Time) ([]netguard.Denial, error)) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, what+" (use GET)")
	}
	reg, err := h.getRegistry(r.Context(), id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	since := 24 * time.Hour
	if s := r.URL.Query().Get("since"); s != "" {
		if since, err = time.ParseDuration(s); err != nil || since <= 0 {
			return badRequest("InvalidParameter", "since=%q must be a duration such as 15m, 1h or 24h", s)
		}
	}
	ds, err := list(r.Context(), reg.Key, time.Now().Add(-since))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": ds})
	return nil
}
