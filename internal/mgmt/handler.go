// Package mgmt is the ARM-shaped management API (/subscriptions/...). This
// first cut serves registries; the management-plane issue adds the rest.
package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/resid"
)

// APIVersions are the accepted ?api-version= values.
var APIVersions = []string{"2019-05-01", "2021-08-01-preview", "2023-07-01", "2025-11-01"}

// maxBody bounds a request body.
const maxBody = 1 << 20

// Reloader is told after every registry change (the data plane's snapshot).
type Reloader interface {
	Reload(ctx context.Context) error
}

// Handler serves the management API.
type Handler struct {
	Meta         meta.Store
	Index        Reloader
	Subscription string
	Location     string
	// LoginServer returns a registry's login server as seen from a request.
	LoginServer func(r *http.Request, name string) string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(w, r); err != nil {
		writeErr(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	if err := checkAPIVersion(r); err != nil {
		return err
	}
	if strings.Trim(r.URL.Path, "/") == "subscriptions" {
		return h.listSubscriptions(w, r)
	}
	id, err := resid.Parse(r.URL.Path)
	if err != nil {
		return badRequest("InvalidResourceId", "%v", err)
	}
	if !strings.EqualFold(id.Subscription, h.Subscription) {
		return armErr(http.StatusNotFound, "SubscriptionNotFound", "subscription %q not found; this server's subscription is %s", id.Subscription, h.Subscription)
	}
	if id.ResourceGroup != "" && !strings.EqualFold(id.ResourceGroup, DefaultGroup) {
		return armErr(http.StatusNotFound, "ResourceGroupNotFound", "resource group %q could not be found; use %q", id.ResourceGroup, DefaultGroup)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if id.Is("Microsoft.ContainerRegistry", "registries") {
		return h.registries(w, r, id)
	}
	return armErr(http.StatusNotFound, "InvalidResourceType", "the resource type of %s is not served by this server", r.URL.Path)
}

// DefaultGroup is the resource group every fresh server has.
const DefaultGroup = "default"

func checkAPIVersion(r *http.Request) error {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return badRequest("MissingApiVersionParameter", "the api-version query parameter is required; supported versions: %s", strings.Join(APIVersions, ", "))
	}
	for _, a := range APIVersions {
		if v == a {
			return nil
		}
	}
	return badRequest("InvalidApiVersionParameter", "api-version %q is not supported; supported versions: %s", v, strings.Join(APIVersions, ", "))
}

// decode reads a JSON body into v with a clear error for the client.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return armErr(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "request body exceeds %d bytes", maxBody)
		}
		if errors.Is(err, io.EOF) {
			return badRequest("InvalidRequestContent", "the request body is empty; send the resource as JSON")
		}
		return badRequest("InvalidRequestContent", "the request body is not valid JSON for this resource: %v", err)
	}
	return nil
}

// listSubscriptions answers GET /subscriptions: this server's one subscription.
func (h *Handler) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return armErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET to list subscriptions")
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": []map[string]string{{
		"id": "/subscriptions/" + h.Subscription, "subscriptionId": h.Subscription, "displayName": "moat", "state": "Enabled",
	}}})
	return nil
}
