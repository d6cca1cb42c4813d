// Package ruleexpiry removes expired IP rules from the registries' stored
// settings and audits each removal. Enforcement does not wait for it: an
// expired rule matches nothing from its expiry on, on every node
// (internal/network/policy); the sweep keeps the stored rule set truthful and says in
// the audit trail when the rule went. Every node sweeps; the store's version
// check lets exactly one of them remove a rule and audit it.
package ruleexpiry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Principal is who the audit trail says removed the rules.
const Principal = "moat:rule-expiry"

// Store reads and writes registries.
type Store interface {
	GetRegistry(ctx context.Context, key string) (*meta.Registry, error)
	UpdateRegistry(ctx context.Context, r *meta.Registry) error
}

// Sweeper removes expired rules.
type Sweeper struct {
	Store Store
	Index *regindex.Index
	Audit interface {
		Record(context.Context, audit.Event)
	}
}

// Loop sweeps every interval until ctx ends.
func (s *Sweeper) Loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Sweep(ctx, time.Now()); err != nil && ctx.Err() == nil {
				slog.Warn("removing expired IP rules", "err", err)
			}
		}
	}
}

// Sweep removes the rules expired at now from every registry the snapshot
// says has one, and returns how many it removed.
func (s *Sweeper) Sweep(ctx context.Context, now time.Time) (int, error) {
	var removed int
	var errs []error
	for _, r := range s.Index.Load().All() {
		if r.NextExpiry.IsZero() || now.Before(r.NextExpiry) {
			continue
		}
		n, err := s.sweepOne(ctx, r.Key, now)
		removed += n
		errs = append(errs, err)
	}
	if removed > 0 {
		errs = append(errs, s.Index.Reload(ctx)) // this node at once; the others on the store's notice
	}
	return removed, errors.Join(errs...)
}

// sweepOne removes one registry's expired rules from its stored settings.
func (s *Sweeper) sweepOne(ctx context.Context, key string, now time.Time) (int, error) {
	reg, err := s.Store.GetRegistry(ctx, key)
	if errors.Is(err, meta.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var p model.RegistryProperties
	if err := json.Unmarshal(reg.Properties, &p); err != nil || p.NetworkRuleSet == nil {
		return 0, nil // unreadable settings deny everyone already; nothing to tidy
	}
	var kept []model.IPRule
	var gone []model.IPRule
	for _, r := range p.NetworkRuleSet.IPRules {
		if r.Expired(now) {
			gone = append(gone, r)
		} else {
			kept = append(kept, r)
		}
	}
	if len(gone) == 0 {
		return 0, nil // another node was first
	}
	if kept == nil {
		kept = []model.IPRule{}
	}
	before := reg.Properties
	p.NetworkRuleSet.IPRules = kept
	if reg.Properties, err = json.Marshal(p); err != nil {
		return 0, err
	}
	if err := s.Store.UpdateRegistry(ctx, reg); errors.Is(err, meta.ErrConflict) || errors.Is(err, meta.ErrNotFound) {
		return 0, nil // changed meanwhile (by a user or another node): the next sweep looks again
	} else if err != nil {
		return 0, err
	}
	b, a := model.NetworkSettings(before), model.NetworkSettings(reg.Properties)
	for _, r := range gone {
		s.Audit.Record(ctx, audit.Event{Time: *r.ExpiresOn, Registry: key, Type: audit.TypeConfig, Outcome: audit.Success,
			Principal: Principal, PrincipalName: "rule expiry",
			Detail: fmt.Sprintf("IP rule %s expired at %s and was removed", r.Value, r.ExpiresOn.UTC().Format(time.RFC3339)),
			Before: b, After: a})
	}
	slog.Info("expired IP rules removed", "registry", key, "rules", strings.Join(values(gone), ","))
	return len(gone), nil
}

func values(rs []model.IPRule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Value
	}
	return out
}
