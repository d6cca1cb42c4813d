// Package errcode is the one table of OCI distribution error codes: each code is
// registered once with its HTTP status, handlers return *Error values, and
// Write renders them. Nothing else in moat writes an OCI error body.
package errcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/store"
	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Code is an OCI error code together with its HTTP status and default message.
type Code struct {
	Name    string
	Status  int
	Message string
}

// The codes of the OCI distribution specification (section "Error Codes"),
// plus the few moat needs beyond it.
var (
	BlobUnknown         = Code{"BLOB_UNKNOWN", http.StatusNotFound, "blob unknown to registry"}
	BlobUploadInvalid   = Code{"BLOB_UPLOAD_INVALID", http.StatusBadRequest, "blob upload invalid"}
	BlobUploadUnknown   = Code{"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound, "blob upload unknown to registry"}
	DigestInvalid       = Code{"DIGEST_INVALID", http.StatusBadRequest, "provided digest did not match uploaded content"}
	ManifestBlobUnknown = Code{"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest, "manifest references a manifest or blob unknown to registry"}
	ManifestInvalid     = Code{"MANIFEST_INVALID", http.StatusBadRequest, "manifest invalid"}
	ManifestUnknown     = Code{"MANIFEST_UNKNOWN", http.StatusNotFound, "manifest unknown to registry"}
	NameInvalid         = Code{"NAME_INVALID", http.StatusBadRequest, "invalid repository name"}
	NameUnknown         = Code{"NAME_UNKNOWN", http.StatusNotFound, "repository name not known to registry"}
	SizeInvalid         = Code{"SIZE_INVALID", http.StatusBadRequest, "provided length did not match content length"}
	Unauthorized        = Code{"UNAUTHORIZED", http.StatusUnauthorized, "authentication required"}
	Denied              = Code{"DENIED", http.StatusForbidden, "requested access to the resource is denied"}
	Unsupported         = Code{"UNSUPPORTED", http.StatusMethodNotAllowed, "the operation is unsupported"}
	TooManyRequests     = Code{"TOOMANYREQUESTS", http.StatusTooManyRequests, "too many requests"}
	// RangeInvalid is BLOB_UPLOAD_INVALID with 416: a chunk that does not start
	// where the upload ends. Clients read the Range header to resume.
	RangeInvalid      = Code{"BLOB_UPLOAD_INVALID", http.StatusRequestedRangeNotSatisfiable, "requested range not satisfiable"}
	ManifestTooLarge  = Code{"MANIFEST_INVALID", http.StatusRequestEntityTooLarge, "manifest too large"}
	PaginationInvalid = Code{"PAGINATION_NUMBER_INVALID", http.StatusBadRequest, "invalid number of results requested"}
	RouteUnknown      = Code{"UNSUPPORTED", http.StatusNotFound, "no such endpoint"}
	// RequestInvalid: a request whose parameters cannot be read (400).
	RequestInvalid = Code{"UNSUPPORTED", http.StatusBadRequest, "the request cannot be read"}
	Internal       = Code{"UNKNOWN", http.StatusInternalServerError, "internal error"}
	Unavailable    = Code{"UNAVAILABLE", http.StatusServiceUnavailable, "service unavailable, try again later"}
	// StorageFull: the disk under the blob or metadata store is full (507).
	StorageFull = Code{"UNAVAILABLE", http.StatusInsufficientStorage, "the registry's storage is full"}
	// TagUnknown: ACR's answer for a tag that does not exist (/acr/v1/).
	TagUnknown = Code{"TAG_UNKNOWN", http.StatusNotFound, "the specified tag does not exist"}
	// BodyInvalid: a request body that cannot be read (/acr/v1/ PATCH).
	BodyInvalid = Code{"BODY_INVALID", http.StatusBadRequest, "the request body is invalid"}
	// Disallowed: a changeable attribute (a lock) refuses the operation;
	// ACR's code, status and message.
	Disallowed = Code{"REGISTRY_DISALLOWED_OPERATION", http.StatusMethodNotAllowed, "The operation is disallowed on this registry, repository or image."}
)

// Locked returns the answer to an operation a lock refused (a
// meta.LockedError in err), saying which lock and how to lift it; nil if err
// is no such refusal.
func Locked(err error) *Error {
	var le *meta.LockedError
	if !errors.As(err, &le) {
		return nil
	}
	what := le.Kind + " " + le.Name
	if le.Kind != meta.KindRepository {
		what += " in repository " + le.Repository
	}
	msg := strings.TrimSuffix(Disallowed.Message, ".")
	return New(Disallowed, "%s: %s has %s false. To allow it: %s", msg, what, le.Attribute, le.Unlock())
}

// FromStore maps an error of the metadata or blob store: not found to
// notFound with the message given, a lock's refusal to Disallowed, a
// cancelled request as it is, anything else to an internal error.
func FromStore(err error, notFound Code, format string, args ...any) error {
	switch {
	case errors.Is(err, meta.ErrNotFound) || errors.Is(err, blob.ErrNotFound):
		return New(notFound, format, args...)
	case errors.Is(err, context.Canceled):
		return err
	}
	if e := Locked(err); e != nil {
		return e
	}
	return Wrap(Internal, err, "")
}

// Error is a returned OCI error: a code, a message for the user and optional detail.
type Error struct {
	Code    Code
	Message string
	Detail  any
	// Header is extra response headers (e.g. Range on a 416).
	Header http.Header
	cause  error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code.Name + ": " + e.Message + ": " + e.cause.Error()
	}
	return e.Code.Name + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

// New returns an error of code c with a message formatted from format and args;
// an empty format uses the code's default message.
func New(c Code, format string, args ...any) *Error {
	msg := c.Message
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: c, Message: msg}
}

// Wrap is New for an internal cause that is logged but never shown to the client.
func Wrap(c Code, cause error, format string, args ...any) *Error {
	e := New(c, format, args...)
	e.cause = cause
	return e
}

// WithDetail sets the detail object of e.
func (e *Error) WithDetail(d any) *Error { e.Detail = d; return e }

// WithHeader adds a response header to e.
func (e *Error) WithHeader(k, v string) *Error {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set(k, v)
	return e
}

type body struct {
	Errors []item `json:"errors"`
}

type item struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// Write renders err as an OCI error response. Errors that are not *Error are
// internal: logged with their cause, shown to the client as UNKNOWN. An error
// caused by a store that is unavailable or full is answered as such
// (storeFault): 503 with Retry-After, or 507.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	e := answer(err)
	if e.Code.Status >= 500 {
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	for k, v := range e.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Del("Content-Length")
	w.WriteHeader(e.Code.Status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(body{Errors: []item{{Code: e.Code.Name, Message: e.Message, Detail: e.Detail}}})
}

// Status is the HTTP status Write answers err with.
func Status(err error) int { return answer(err).Code.Status }

// answer is the error Write sends for err.
func answer(err error) *Error {
	var e *Error
	if !errors.As(err, &e) {
		e = Wrap(Internal, err, "")
	}
	if f := storeFault(err); f != nil {
		e = f
	}
	return e
}

// storeFault is what the client is told when a store failed (package store
// classifies), whatever the handler thought failed (a full disk during an
// upload often surfaces as "reading the blob failed"); nil for other errors.
func storeFault(err error) *Error {
	switch store.FaultOf(err) {
	case store.Full:
		return Wrap(StorageFull, err, "the registry's storage is full: nothing was stored; retry after the operator frees space")
	case store.Unavailable:
		return Wrap(Unavailable, err, "the registry's storage cannot be used for the moment; retry in a few seconds").
			WithHeader("Retry-After", store.RetryAfterHeader)
	}
	return nil
}
