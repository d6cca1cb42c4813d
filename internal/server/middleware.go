package server

import (
	"log/slog"
	"net/http"
	"runtime/debug"
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
