package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Resource types stored as generic documents.
const (
	typeGroup    = model.TypeGroup
	typeProvider = model.TypeProvider
	typeVNet     = model.TypeVNet
	typeSubnet   = model.TypeSubnet
	typePE       = model.TypePE
	typePEC      = model.TypePEC
)

// load reads the document stored under id into v; ok is false when there is none.
func (h *Handler) load(ctx context.Context, id string, v any) (version int64, ok bool, err error) {
	r, err := h.Meta.GetResource(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return r.Version, true, json.Unmarshal(r.Body, v)
}

// save stores v under id: created when version is 0, else updated if still at version.
func (h *Handler) save(ctx context.Context, id, typ string, v any, version int64) (int64, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	r := &meta.Resource{ID: id, Type: typ, Body: body, Version: version}
	switch err := h.Meta.PutResource(ctx, r); {
	case errors.Is(err, meta.ErrConflict), errors.Is(err, meta.ErrExists):
		return 0, armErr(http.StatusConflict, "Conflict", "%s changed while this request was processed; retry", id)
	case err != nil:
		return 0, err
	}
	return r.Version, nil
}

// list decodes every document of typ under prefix with decode.
func (h *Handler) list(ctx context.Context, typ, prefix string, decode func(raw []byte, version int64) error) error {
	rs, err := h.Meta.ListResources(ctx, typ, prefix)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := decode(r.Body, r.Version); err != nil {
			return err
		}
	}
	return nil
}

func versionTag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// ifMatch checks the If-Match header against the current version (0: absent).
func ifMatch(r *http.Request, version int64) error {
	m := r.Header.Get("If-Match")
	switch {
	case m == "":
		return nil
	case m == "*" && version > 0:
		return nil
	case version > 0 && m == versionTag(version):
		return nil
	}
	return armErr(http.StatusPreconditionFailed, "PreconditionFailed", "If-Match %s does not match the resource's current ETag; read it again and retry", m)
}

// ifNoneMatch refuses a create-only PUT (If-None-Match: *) of an existing resource.
func ifNoneMatch(r *http.Request, exists bool) error {
	if r.Header.Get("If-None-Match") == "*" && exists {
		return armErr(http.StatusPreconditionFailed, "PreconditionFailed", "the resource already exists and If-None-Match is *")
	}
	return nil
}

// writeResource writes v with its ETag.
func writeResource(w http.ResponseWriter, status int, v any, version int64) error {
	if version > 0 {
		w.Header().Set("ETag", versionTag(version))
	}
	writeJSON(w, status, v)
	return nil
}

func methodNotAllowed(r *http.Request, what string) error {
	return armErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "method %s is not supported on %s", r.Method, what)
}

// readableDocs decodes the documents of typ under prefix that the caller may
// read (the body of an ARM list).
func readableDocs[T any](ctx context.Context, h *Handler, typ, prefix string, idOf func(*T) string) ([]T, error) {
	out := []T{}
	err := h.list(ctx, typ, prefix, func(raw []byte, _ int64) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if h.readable(ctx, typ, idOf(&v)) {
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// loadDoc reads the document at id (a kind's load).
func loadDoc[T any](c *call, id string) (T, int64, bool, error) {
	var v T
	version, ok, err := c.h.load(c.ctx, id, &v)
	return v, version, ok, err
}

// listDocs reads the documents of typ under prefix (a kind's list).
func listDocs[T any](c *call, typ, prefix string, idOf func(*T) string) ([]listed[T], error) {
	var out []listed[T]
	err := c.h.list(c.ctx, typ, prefix, func(raw []byte, version int64) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		out = append(out, listed[T]{id: idOf(&v), s: v, version: version})
		return nil
	})
	return out, err
}
