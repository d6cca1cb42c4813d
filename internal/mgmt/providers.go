package mgmt

import (
	"context"
	"net/http"
	"strings"
)

// KnownProviders are the resource provider namespaces moat serves.
var KnownProviders = []string{"Microsoft.ContainerRegistry", "Microsoft.Network", "Microsoft.ManagedIdentity", "Microsoft.MachineLearningServices"}

func providerID(sub, ns string) string { return "/subscriptions/" + sub + "/providers/" + ns }

func canonicalProvider(ns string) (string, bool) {
	for _, k := range KnownProviders {
		if strings.EqualFold(k, ns) {
			return k, true
		}
	}
	return "", false
}

// registered reports whether ns is registered in subscription sub.
func (h *Handler) registered(ctx context.Context, sub, ns string) (bool, error) {
	var p Provider
	_, ok, err := h.load(ctx, providerID(sub, ns), &p)
	return ok && p.RegistrationState == "Registered", err
}

// requireRegistered refuses to create a resource of a namespace the subscription has not registered.
func (h *Handler) requireRegistered(ctx context.Context, sub, ns string) error {
	ok, err := h.registered(ctx, sub, ns)
	if err != nil || ok {
		return err
	}
	return armErr(http.StatusConflict, "MissingSubscriptionRegistration",
		"the subscription %s is not registered to use namespace '%s'; run 'moat provider register --namespace %s --subscription %s'", sub, ns, ns, sub)
}

func (h *Handler) setRegistration(ctx context.Context, sub, ns, state string) (Provider, error) {
	var p Provider
	version, _, err := h.load(ctx, providerID(sub, ns), &p)
	if err != nil {
		return p, err
	}
	p = Provider{ID: providerID(sub, ns), Namespace: ns, RegistrationState: state}
	_, err = h.save(ctx, p.ID, typeProvider, p, version)
	return p, err
}

// providers serves /subscriptions/{s}/providers[/{ns}[/register|/unregister]].
func (h *Handler) providers(w http.ResponseWriter, r *http.Request, sub string, rest []string) error {
	ctx := r.Context()
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the provider collection")
		}
		out := []Provider{}
		for _, ns := range KnownProviders {
			p, err := h.provider(ctx, sub, ns)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	ns, ok := canonicalProvider(rest[0])
	if len(rest) == 2 && ok {
		if err := h.require(ctx, "/subscriptions/"+sub, ns+"/register/action"); err != nil {
			return err
		}
	}
	if !ok {
		return armErr(http.StatusNotFound, "NamespaceNotFound", "resource provider namespace %q is not served here; known: %s", rest[0], strings.Join(KnownProviders, ", "))
	}
	switch {
	case len(rest) == 1 && r.Method == http.MethodGet:
		p, err := h.provider(ctx, sub, ns)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, p)
		return nil
	case len(rest) == 2 && r.Method == http.MethodPost && strings.EqualFold(rest[1], "register"):
		p, err := h.setRegistration(ctx, sub, ns, "Registered")
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, p)
		return nil
	case len(rest) == 2 && r.Method == http.MethodPost && strings.EqualFold(rest[1], "unregister"):
		p, err := h.setRegistration(ctx, sub, ns, "NotRegistered")
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, p)
		return nil
	}
	return methodNotAllowed(r, "a resource provider")
}

func (h *Handler) provider(ctx context.Context, sub, ns string) (Provider, error) {
	p := Provider{ID: providerID(sub, ns), Namespace: ns, RegistrationState: "NotRegistered"}
	_, _, err := h.load(ctx, p.ID, &p)
	return p, err
}

// Bootstrap gives a fresh server its default resource group and registers the
// providers a newcomer needs, so that 'moat acr create' works at once.
func (h *Handler) Bootstrap(ctx context.Context) error {
	var g ResourceGroup
	if _, ok, err := h.load(ctx, providerID(h.Subscription, "Microsoft.ContainerRegistry"), &Provider{}); err != nil || ok {
		return err // bootstrapped before
	}
	gid := groupID(h.Subscription, DefaultGroup)
	if _, ok, err := h.load(ctx, gid, &g); err != nil {
		return err
	} else if !ok {
		g = ResourceGroup{ID: gid, Name: DefaultGroup, Type: typeGroup, Location: h.Location}
		g.Properties.ProvisioningState = "Succeeded"
		if _, err := h.save(ctx, gid, typeGroup, g, 0); err != nil {
			return err
		}
	}
	for _, ns := range []string{"Microsoft.ContainerRegistry", "Microsoft.Network"} {
		if _, err := h.setRegistration(ctx, h.Subscription, ns, "Registered"); err != nil {
			return err
		}
	}
	return nil
}
