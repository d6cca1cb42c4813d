package server

import (
	"context"
	"time"

	"github.com/moat-registry/moat/internal/network/netguard"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/regindex"
)

// networkView gives the management API the data plane's network state.
type networkView struct {
	index   *regindex.Index
	denials *netguard.DenialLog
	trusted policy.TrustedServices
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
