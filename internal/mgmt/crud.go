package mgmt

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/resid"
)

// The generic handler of a kind (kind.go): ARM's contract, once for every type.
//
//	GET collection  200 {"value": [...]}: the elements the caller may read
//	GET             200 and ETag; 404 when missing (HEAD: 204 or 404)
//	PUT             201 created (or the kind's created status), 200 replaced;
//	                If-Match (412 unless it matches), If-None-Match: * (412 if it exists)
//	PATCH           200; a JSON merge patch of the resource as GET shows it,
//	                then checked and stored as that PUT; 404 when missing; If-Match
//	DELETE          200 deleted (with what lives through it), 204 when missing; If-Match
//
// Every answer is in the request's api-version's shape (shapes.go).

// serve is the route handler of a kind.
func (k *kind[S]) serve(h *Handler, w http.ResponseWriter, r *http.Request, id resid.ID) error {
	return k.serveCall(newCall(h, r, id), w)
}

func (k *kind[S]) serveCall(c *call, w http.ResponseWriter) error {
	if k.parent != nil {
		if err := k.parent(c); err != nil {
			return err
		}
	}
	if c.collection() {
		if c.r.Method != http.MethodGet {
			return methodNotAllowed(c.r, "the "+k.what+" collection")
		}
		return k.serveList(c, w)
	}
	cur, version, ok, err := k.load(c)
	if err != nil {
		return err
	}
	switch c.r.Method {
	case http.MethodGet:
		if !ok {
			return k.missing(c, "")
		}
		return k.write(c, w, http.StatusOK, cur, version)
	case http.MethodHead: // ARM's check of existence
		if !ok {
			return k.missing(c, "")
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPut:
		if k.put == nil {
			break
		}
		if err := preconditions(c.r, version, ok); err != nil {
			return err
		}
		body, err := readObject(c.r)
		if err != nil {
			return err
		}
		return k.replace(c, w, cur, version, ok, body)
	case http.MethodPatch:
		if k.noPatch || k.put == nil {
			break
		}
		if !ok {
			return k.missing(c, "; create it with PUT")
		}
		if err := ifMatch(c.r, version); err != nil {
			return err
		}
		patch, err := readObject(c.r)
		if err != nil {
			return err
		}
		base, err := k.view(c, cur, version)
		if err != nil {
			return err
		}
		return k.replace(c, w, cur, version, true, mergePatch(base, patch).(map[string]any))
	case http.MethodDelete:
		if k.remove == nil {
			break
		}
		return k.delete(c, w, cur, version, ok)
	}
	return methodNotAllowed(c.r, "a "+k.what)
}

func preconditions(r *http.Request, version int64, exists bool) error {
	if err := ifMatch(r, version); err != nil {
		return err
	}
	return ifNoneMatch(r, exists)
}

// replace stores body as the whole resource (a PUT, or a PATCH's result):
// members the request's api-version lacks keep their stored values.
func (k *kind[S]) replace(c *call, w http.ResponseWriter, cur S, version int64, exists bool, body map[string]any) error {
	if err := k.shape.check(body, c.apiVersion, k.what); err != nil {
		return err
	}
	var prev *S
	if exists {
		stored, err := k.full(c, cur, version)
		if err != nil {
			return err
		}
		k.shape.keep(body, stored, c.apiVersion)
		prev = &cur
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	s, v, err := k.put(c, prev, version, raw)
	if err != nil {
		return err
	}
	if err := c.h.Index.Reload(c.ctx); err != nil {
		return err
	}
	status := http.StatusOK
	if !exists {
		status = k.created
		if status == 0 {
			status = http.StatusCreated
		}
	}
	return k.write(c, w, status, s, v)
}

func (k *kind[S]) delete(c *call, w http.ResponseWriter, cur S, version int64, exists bool) error {
	if !exists {
		w.WriteHeader(http.StatusNoContent) // ARM: deleting what is not there succeeds
		return nil
	}
	if err := ifMatch(c.r, version); err != nil {
		return err
	}
	var gone map[string]any
	if k.removed {
		var err error
		if gone, err = k.view(c, cur, version); err != nil {
			return err
		}
	}
	if err := k.remove(c, cur); err != nil {
		return err
	}
	if err := c.h.Index.Reload(c.ctx); err != nil {
		return err
	}
	if gone != nil {
		writeJSON(w, http.StatusOK, gone)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (k *kind[S]) serveList(c *call, w http.ResponseWriter) error {
	items, err := k.list(c)
	if err != nil {
		return err
	}
	out := []any{}
	for _, it := range items {
		if !k.listAll && !c.h.readable(c.ctx, k.typ, it.id) {
			continue
		}
		doc, err := k.view(c, it.s, it.version)
		if err != nil {
			return err
		}
		out = append(out, doc)
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// write answers one resource with its ETag.
func (k *kind[S]) write(c *call, w http.ResponseWriter, status int, s S, version int64) error {
	doc, err := k.view(c, s, version)
	if err != nil {
		return err
	}
	return writeResource(w, status, doc, version)
}

// view is s as a GET in the request's api-version shows it.
func (k *kind[S]) view(c *call, s S, version int64) (map[string]any, error) {
	doc, err := k.full(c, s, version)
	if err == nil {
		k.shape.show(doc, c.apiVersion)
	}
	return doc, err
}

// full is s as served in the newest shape.
func (k *kind[S]) full(c *call, s S, version int64) (map[string]any, error) {
	v, err := k.render(c, s, version)
	if err != nil {
		return nil, err
	}
	return toObject(v)
}

func (k *kind[S]) missing(c *call, hint string) error {
	code := k.notFoundCode
	if code == "" {
		code = "ResourceNotFound"
	}
	return armErr(http.StatusNotFound, code, "%s %q not found in %s%s", k.what, c.resourceName(), parentOf(c), hint)
}

// parentOf names the parent of the resource a call names, for messages.
func parentOf(c *call) string {
	switch {
	case c.scope != "":
		return "scope " + c.scope
	case len(c.id.Names) >= 2:
		return fmt.Sprintf("%s %q", singular(c.id.Types[len(c.id.Types)-2]), c.id.Names[len(c.id.Names)-2])
	}
	return fmt.Sprintf("resource group %q", c.id.ResourceGroup)
}

var singulars = map[string]string{"registries": "registry", "virtualnetworks": "virtual network"}

func singular(typ string) string {
	if s, ok := singulars[strings.ToLower(typ)]; ok {
		return s
	}
	return typ
}
