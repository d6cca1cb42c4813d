package server

import (
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
)

// recoverPanics turns a handler panic into a logged 500 instead of a dropped
// connection. A panic is always a bug; this only limits the damage.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				slog.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"internal error; see the server log"}]}` + "\n"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// dataPlaneFirst sends a request for a clean /v2/... path straight to v2,
// the handler mux has for every such path, without the mux's pattern
// matching (3 % of a manifest HEAD's CPU in moat serve). Anything else,
// including a path the mux would redirect to its clean form, goes to mux.
// So nothing may be registered on mux under /v2/ but v2.
func dataPlaneFirst(v2 http.Handler, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); strings.HasPrefix(p, "/v2/") && r.Method != http.MethodConnect && cleanPath(p) {
			v2.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// cleanPath says whether p is its own path.Clean, but for a trailing slash
// (as http.ServeMux cleans paths).
func cleanPath(p string) bool {
	c := path.Clean(p)
	return c == p || len(p) == len(c)+1 && p[len(c)] == '/' && p[:len(c)] == c
}
