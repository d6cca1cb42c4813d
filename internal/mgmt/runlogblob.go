package mgmt

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/moat-registry/moat/internal/tasks"
)

// linkedRun checks a log link (the request's sig and path) and reads its run.
func (h *Handler) linkedRun(r *http.Request) (*tasks.Run, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil, &blobError{http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "a run's log is read with GET or HEAD"}
	}
	denied := &blobError{http.StatusForbidden, "AuthenticationFailed", "the log link is invalid or expired; ask for a new one (az acr task logs)"}
	sig := r.URL.Query().Get("sig")
	if h.LogSigner == nil || h.Tasks == nil || sig == "" || len(sig) > 4096 {
		return nil, denied
	}
	var claims logClaims
	if err := h.LogSigner.Verify(sig, &claims, logAudience); err != nil {
		return nil, denied
	}
	// The path must name the run the token names.
	i := strings.LastIndex(strings.ToLower(claims.Subject), "/registries/")
	if i < 0 {
		return nil, denied
	}
	reg, runID, ok := strings.Cut(claims.Subject[i+len("/registries/"):], "/runs/")
	if !ok || !strings.EqualFold(r.URL.Path, RunLogPrefix+reg+"/"+runID+".log") {
		return nil, denied
	}
	run, found, err := h.Tasks.Get(r.Context(), claims.Subject)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, &blobError{http.StatusNotFound, "BlobNotFound", "the run no longer exists"}
	}
	return run, nil
}

// blobRange is the byte range [start, end) of a body of size bytes that the
// request asks for (x-ms-range, else Range: bytes=a-b or bytes=a-); ranged is
// false without one, ok false when it cannot be served (416).
func blobRange(r *http.Request, size int) (start, end int, ranged, ok bool) {
	spec := r.Header.Get("x-ms-range")
	if spec == "" {
		spec = r.Header.Get("Range")
	}
	if spec == "" {
		return 0, size, false, true
	}
	from, to, found := strings.Cut(strings.TrimPrefix(strings.TrimSpace(spec), "bytes="), "-")
	a, errA := strconv.Atoi(from)
	if !found || errA != nil || a < 0 || a >= size || !strings.HasPrefix(strings.TrimSpace(spec), "bytes=") {
		return 0, 0, true, false
	}
	end = size
	if to != "" {
		b, err := strconv.Atoi(to)
		if err != nil || b < a {
			return 0, 0, true, false
		}
		end = min(b+1, size)
	}
	return a, end, true, true
}
