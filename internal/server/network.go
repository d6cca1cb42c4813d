package server

import (
	"context"
	"time"

	"github.com/moat-registry/moat/internal/auth/regauth"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netguard"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/regindex"
)

// networkView gives the management API the data plane's network state.
type networkView struct {
	index   *regindex.Index
	denials *netguard.DenialLog
	traffic *netguard.TrafficLog
	tokens  *regauth.Service
	trusted policy.TrustedServices
}

func (v networkView) Traffic(ctx context.Context, regKey, regUID string, since time.Time) ([]netguard.Traffic, error) {
	return v.traffic.List(ctx, regKey, regUID, since)
}

func (v networkView) BypassPrincipal(id string) (*policy.Principal, bool) {
	return v.tokens.BypassPrincipal(id)
}

func (v networkView) Compile(regKey string, p model.RegistryProperties) *policy.Rules {
	return v.index.Compile(regKey, p)
}

func (v networkView) Rules(regKey string) *policy.Rules { return v.index.Rules(regKey) }

func (v networkView) HasServiceEndpoint(id string) bool { return v.index.HasServiceEndpoint(id) }

func (v networkView) Denials(ctx context.Context, regKey string, since time.Time) ([]netguard.Denial, error) {
	return v.denials.List(ctx, regKey, since)
}

func (v networkView) Disagreements(ctx context.Context, regKey string, since time.Time) ([]netguard.Denial, error) {
	return v.denials.Disagreements(ctx, regKey, since)
}

func (v networkView) Trusted() policy.TrustedServices { return v.trusted }

// trusted returns the trusted service types (SPEC 5 defaults; configurable).
func (s *Server) trusted() policy.TrustedServices { return policy.TrustedFrom(s.cfg.TrustedServices) }
