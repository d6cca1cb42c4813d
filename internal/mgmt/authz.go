package mgmt

import (
	"context"
	"net/http"
)

// Authenticator identifies the caller of the management API from its bearer
// token (an identity-service token).
type Authenticator interface {
	// Principal returns the caller's object ID, or an error to answer with (401).
	Principal(r *http.Request) (string, error)
}

// Permissions decides whether a principal may perform an action at a scope,
// and whether any of its role assignments reaches a scope (applies there or
// below it: the principal may see part of a list there).
type Permissions interface {
	Allowed(principal, scope, action string) bool
	Reaches(principal, scope string) bool
}

type principalKey struct{}

// caller returns the authenticated principal of the request ("" when the
// handler runs without authentication, in tests).
func caller(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// authenticate attaches the caller to the request. Without an Authenticator
// (tests) every request is allowed.
func (h *Handler) authenticate(r *http.Request) (*http.Request, error) {
	if h.Auth == nil {
		return r, nil
	}
	p, err := h.Auth.Principal(r)
	if err != nil {
		return r, err
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), nil
}

// may reports whether the caller may perform action at scope.
func (h *Handler) may(ctx context.Context, scope, action string) bool {
	if h.Auth == nil {
		return true
	}
	return h.Roles.Allowed(caller(ctx), scope, action)
}

// reaches reports whether some role assignment of the caller applies at scope or below it.
func (h *Handler) reaches(ctx context.Context, scope string) bool {
	return h.Auth == nil || h.Roles.Reaches(caller(ctx), scope)
}

// require fails with ARM's AuthorizationFailed unless the caller may perform action at scope.
func (h *Handler) require(ctx context.Context, scope, action string) error {
	if h.may(ctx, scope, action) {
		return nil
	}
	return armErr(http.StatusForbidden, "AuthorizationFailed",
		"the client with object id '%s' does not have authorization to perform action '%s' over scope '%s'; ask an Owner to assign you a role that allows it (moat role assignment create)",
		caller(ctx), action, scope)
}

// verbAction maps an HTTP method to the ARM action on a resource type.
func verbAction(method, typ string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return typ + "/read"
	case http.MethodDelete:
		return typ + "/delete"
	}
	return typ + "/write"
}

// readable filters a list to the items the caller may read.
func (h *Handler) readable(ctx context.Context, typ string, id string) bool {
	return h.may(ctx, id, typ+"/read")
}
