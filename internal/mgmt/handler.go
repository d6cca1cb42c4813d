// Package mgmt is the ARM-shaped management API (/subscriptions/...):
// resource groups, provider registrations, registries and their private
// endpoint connections, virtual networks, subnets and private endpoints.
package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/tasks"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// DefaultGroup is the resource group every fresh server has.
const DefaultGroup = "default"

// Reloader is told after every registry change (the data plane's snapshot).
type Reloader interface {
	Reload(ctx context.Context) error
}

// Limits are the per-registry quotas (SPEC 2), configurable.
type Limits struct {
	IPRules             int
	VirtualNetworkRules int
	PrivateEndpoints    int
}

// MetaStore is what the management API needs of the metadata store: the
// registries and the other ARM resources.
type MetaStore interface {
	meta.Registries
	meta.Resources
}

// Handler serves the management API.
type Handler struct {
	Meta         MetaStore
	Index        Reloader
	Subscription string
	Location     string
	Limits       Limits
	// IPSets are the operator's named IP sets (lower-cased names) that IP
	// rules may name (the server configuration's ipSets).
	IPSets map[string][]netip.Prefix
	// Tenant is the directory's tenant ID.
	Tenant string
	// ZoneSuffix is the login-server suffix (without a port), used in private
	// DNS zone names; LoginServerSuffix is what follows "<registry>." in a
	// login server (with the port when clients must name one), reported to
	// clients as the cloud's acrLoginServer suffix. nil: ZoneSuffix.
	ZoneSuffix        string
	LoginServerSuffix func() string
	// Audiences are the management API's token audiences, the public URL
	// first (/metadata/endpoints reports them; clients ask for the first).
	Audiences []string
	// Auth and Perms authenticate and authorise callers; a nil Auth serves
	// without either (handler tests only — the server always sets both).
	Auth  Authenticator
	Roles Roles
	// Network is the data plane's network state (what-if, denials).
	Network Network
	// Audit is the audit trail (nil: auditEvents is not served); Record
	// is where changes of a registry's network settings are recorded (nil:
	// nowhere).
	Audit  AuditLog
	Record audit.Recorder
	// Principals is the directory of users, service principals and identities.
	Principals Directory
	// LoginServer returns a registry's login server as seen from a request.
	LoginServer func(r *http.Request, name string) string
	// Tasks keeps and runs task runs and imports; Mint signs a registry access
	// token for a principal (registry import). Both nil: no tasks or imports.
	Tasks *tasks.Service
	Mint  func(host, principal string, scopes []string) (string, error)
	// GC runs garbage collection (nil: garbageCollect is not served).
	GC GarbageCollector
	// LogSigner signs and checks runs' log links (nil: no run logs served).
	LogSigner LogSigner
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(w, r); err != nil {
		writeErr(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	if err := h.checkAPIVersion(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	r, err := h.authenticate(r)
	if err != nil {
		return err
	}
	if scope, name, ok := splitScopedPath(r.URL.Path, roleAssignmentsSegment); ok {
		return h.roleAssignments(w, r, scope, name)
	}
	if scope, id, ok := splitScopedPath(r.URL.Path, roleDefinitionsSegment); ok {
		return h.roleDefinitions(w, r, scope, id)
	}
	if strings.EqualFold(r.URL.Path, "/tenants") {
		return h.listTenants(w, r)
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) == 1 {
		return h.listSubscriptions(w, r)
	}
	if !strings.EqualFold(segs[1], h.Subscription) {
		return armErr(http.StatusNotFound, "SubscriptionNotFound", "subscription %q not found; this server's subscription is %s", segs[1], h.Subscription)
	}
	sub := h.Subscription
	rest := segs[2:]
	switch {
	case len(rest) == 0:
		return h.subscription(w, r)
	case len(rest) == 1 && strings.EqualFold(rest[0], "resources"),
		len(rest) == 3 && strings.EqualFold(rest[0], "resourceGroups") && strings.EqualFold(rest[2], "resources"):
		return h.resources(w, r, sub, rest)
	case strings.EqualFold(rest[0], "providers") && (len(rest) <= 2 || len(rest) == 3 && isRegistrationVerb(rest[2])):
		return h.providers(w, r, sub, rest[1:])
	}
	id, err := resid.Parse(r.URL.Path)
	if err != nil {
		return badRequest("InvalidResourceId", "%v", err)
	}
	id.Subscription = sub
	if id.Namespace == "" {
		return h.groups(w, r, id)
	}
	if id.ResourceGroup == "" && (len(id.Types) != 1 || !id.IsCollection() || r.Method != http.MethodGet) {
		return badRequest("InvalidResourceId", "%s has no resource group: resources live in one (/subscriptions/%s/resourceGroups/{group}/providers/...)", r.URL.Path, sub)
	}
	rt, ok := h.routeOf(id)
	if !ok {
		return armErr(http.StatusNotFound, "InvalidResourceType", "the resource type of %s is not served by this server", r.URL.Path)
	}
	// Authorization on the requested scope comes before any lookup.
	if err := h.authorize(r.Context(), rt.need(r.Method, id)); err != nil {
		return err
	}
	if id.ResourceGroup != "" {
		rg, err := h.requireGroup(r.Context(), sub, id.ResourceGroup)
		if err != nil {
			return err
		}
		id.ResourceGroup = rg
	}
	return rt.serve(h, w, r, id)
}

// scopePrefix is the ID prefix of a collection: the group's, or the whole subscription's.
func scopePrefix(id resid.ID) string {
	if id.ResourceGroup == "" {
		return "/subscriptions/" + id.Subscription + "/"
	}
	return groupID(id.Subscription, id.ResourceGroup) + "/"
}

func isRegistrationVerb(s string) bool {
	return strings.EqualFold(s, "register") || strings.EqualFold(s, "unregister")
}

// decode reads a JSON body into v with a clear error for the client.
func decode(r *http.Request, v any) error { return decodeWith(r, v, false) }

// decodeWith is decode, with numbers kept as json.Number when numbers is set.
func decodeWith(r *http.Request, v any, numbers bool) error {
	dec := json.NewDecoder(r.Body)
	if numbers {
		dec.UseNumber()
	}
	err := dec.Decode(v)
	if err == nil {
		if err = dec.Decode(&struct{}{}); errors.Is(err, io.EOF) {
			return nil
		} else if err == nil {
			return badRequest("InvalidRequestContent", "the request body has data after the JSON value; send one JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return armErr(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "request body exceeds %d bytes", maxBody)
	case errors.Is(err, io.EOF):
		return badRequest("InvalidRequestContent", "the request body is empty; send the resource as JSON")
	}
	return badRequest("InvalidRequestContent", "the request body is not valid JSON for this resource: %v", err)
}

// listSubscriptions answers GET /subscriptions: this server's one subscription.
func (h *Handler) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "subscriptions")
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": []any{h.subscriptionDoc()}})
	return nil
}

func (h *Handler) subscription(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "a subscription")
	}
	writeJSON(w, http.StatusOK, h.subscriptionDoc())
	return nil
}

func (h *Handler) location(l string) string {
	if l == "" {
		return h.Location
	}
	return l
}
