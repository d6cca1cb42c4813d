package server

import (
	"context"
	"errors"
	"time"

	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/netguard"
	"github.com/moat-registry/moat/internal/policy"
)

// reloaders reloads every in-memory snapshot after a management change, so the
// change is in force for the next request.
type reloaders []mgmt.Reloader

func (rs reloaders) Reload(ctx context.Context) error {
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.Reload(ctx))
	}
	return errors.Join(errs...)
}

// networkView gives the management API the data plane's network state.
type networkView struct {
	state   *policy.State
	audit   *netguard.Audit
	trusted policy.TrustedServices
}

func (v networkView) Rules(regKey string) *policy.Rules { return v.state.Rules(regKey) }

func (v networkView) HasServiceEndpoint(id string) bool { return v.state.HasServiceEndpoint(id) }

func (v networkView) Denials(ctx context.Context, regKey string, since time.Time) ([]netguard.Denial, error) {
	return v.audit.List(ctx, regKey, since)
}

func (v networkView) Trusted() policy.TrustedServices { return v.trusted }

// trusted returns the trusted service types (SPEC 5 defaults; configurable).
func (s *Server) trusted() policy.TrustedServices { return policy.TrustedFrom(s.cfg.TrustedServices) }
