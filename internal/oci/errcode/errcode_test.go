package errcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/moat-registry/moat/internal/store"
)

// TestWriteStoreFaults: a store's failure is answered by what it means
// (package store), whatever the handler wrapped it in.
func TestWriteStoreFaults(t *testing.T) {
	unavailable := fmt.Errorf("%w: s3: connection refused", store.ErrUnavailable)
	for _, c := range []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{"store unavailable", Wrap(Internal, unavailable, ""), 503, "UNAVAILABLE", store.RetryAfterHeader},
		{"unavailable, not wrapped", unavailable, 503, "UNAVAILABLE", store.RetryAfterHeader},
		{"read-only disk", Wrap(BlobUploadInvalid, &fs.PathError{Op: "write", Err: syscall.EROFS}, "reading the blob failed"), 503, "UNAVAILABLE", store.RetryAfterHeader},
		{"full disk", Wrap(BlobUploadInvalid, &fs.PathError{Op: "write", Err: syscall.ENOSPC}, "reading the blob failed"), 507, "UNAVAILABLE", ""},
		{"other failure", errors.New("constraint failed"), 500, "UNKNOWN", ""},
		{"client error", New(NameUnknown, "repository %s not found", "x"), 404, "NAME_UNKNOWN", ""},
	} {
		w := httptest.NewRecorder()
		Write(w, httptest.NewRequest(http.MethodGet, "/v2/", nil), c.err)
		var body struct{ Errors []struct{ Code string } }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
			t.Fatalf("%s: body %q: %v", c.name, w.Body, err)
		}
		if w.Code != c.status || body.Errors[0].Code != c.code || w.Header().Get("Retry-After") != c.retryAfter {
			t.Errorf("%s: %d %s Retry-After %q, want %d %s %q", c.name, w.Code, body.Errors[0].Code, w.Header().Get("Retry-After"), c.status, c.code, c.retryAfter)
		}
	}
}
