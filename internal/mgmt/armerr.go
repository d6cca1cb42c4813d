package mgmt

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/moat-registry/moat/internal/store"
)

// Error is a management API error, rendered as the ARM error body
// {"error":{"code":...,"message":...}}. The message says what to do.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func armErr(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *Error {
	return armErr(http.StatusBadRequest, code, format, args...)
}

func notFound(format string, args ...any) *Error {
	return armErr(http.StatusNotFound, "ResourceNotFound", format, args...)
}

func writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		slog.ErrorContext(r.Context(), "management request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = armErr(http.StatusInternalServerError, "InternalServerError", "the request failed on the server; retry, and see the server log if it persists")
		switch store.FaultOf(err) {
		case store.Full:
			e = armErr(http.StatusInsufficientStorage, "InsufficientStorage", "the server's storage is full: nothing was changed; retry after the operator frees space")
		case store.Unavailable:
			e = armErr(http.StatusServiceUnavailable, "ServiceUnavailable", "the server's storage cannot be used for the moment; retry in a few seconds")
			w.Header().Set("Retry-After", store.RetryAfterHeader)
		}
	}
	writeJSON(w, e.Status, map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
