package mgmt

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/moat-registry/moat/internal/resid"
)

// A kind is one ARM resource type that the generic handler (crud.go) serves:
// list, GET, PUT, PATCH and DELETE with ARM's ETags, preconditions and status
// codes, synchronously (no long-running operations: a write answers the
// resource, provisioningState Succeeded). A kind says only what differs
// between types: where its resources live, how one is checked and stored,
// what a GET shows, what deleting one removes. The routes table (routes.go)
// maps a type's path to its kind and to what the caller needs (checked before
// anything is looked up); docs/arm-resources.md says how to add one.
//
// S is the stored form of one resource.
type kind[S any] struct {
	typ  string // the ARM type, e.g. Microsoft.Network/virtualNetworks
	what string // what messages call one: "virtual network"
	// shape is the members that vary by api-version (shapes.go).
	shape shape
	// created is the status of a PUT that creates: 201, or 200 where the
	// provider answers that (ACR tasks).
	created int
	// parent fails unless the resource's parent exists (nil: the resource
	// group, which the router checked).
	parent func(c *call) error
	// load reads the resource the path names; ok is false when there is none.
	load func(c *call) (s S, version int64, ok bool, err error)
	// list reads the collection the path names, each with its ID; the
	// handler keeps the ones the caller may read.
	list func(c *call) ([]listed[S], error)
	// render is the resource as served, in the newest shape.
	render func(c *call, s S, version int64) (any, error)
	// put checks a PUT's body (or a PATCH's merged result), applies it and
	// stores it; cur is nil when the resource is being created.
	put func(c *call, cur *S, version int64, body []byte) (S, int64, error)
	// remove deletes an existing resource and what lives through it.
	remove func(c *call, s S) error
	// noPatch: PATCH is not served (405).
	noPatch bool
	// notFoundCode is the error code of a missing resource (default ResourceNotFound).
	notFoundCode string
	// removed answers a DELETE with the deleted resource (role assignments).
	removed bool
	// listAll: the route's check of the list covers every element (role
	// assignments: the read right at a scope shows the ones inherited there).
	listAll bool
}

// listed is one element of a list and its resource ID.
type listed[S any] struct {
	id      string
	s       S
	version int64
}

// call is one request to a kind.
type call struct {
	h   *Handler
	r   *http.Request
	ctx context.Context
	id  resid.ID
	// scope and name address a resource outside resid's grammar (a role
	// assignment at any scope).
	scope, name string
	apiVersion  string
	// parentID and parentName are the parent resource's ID and name as
	// created, once the kind's parent check found it.
	parentID, parentName string
}

func newCall(h *Handler, r *http.Request, id resid.ID) *call {
	return &call{h: h, r: r, ctx: r.Context(), id: id, apiVersion: r.URL.Query().Get("api-version")}
}

// collection reports whether the path names a collection.
func (c *call) collection() bool {
	if c.scope != "" {
		return c.name == ""
	}
	return c.id.IsCollection()
}

// resourceName is the last name of the path.
func (c *call) resourceName() string {
	if c.scope != "" {
		return c.name
	}
	return c.id.Name()
}

// decodeBody decodes a checked request body into v.
func decodeBody(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("InvalidRequestContent", "the request body is not valid JSON for this resource: %v", err)
	}
	return nil
}
