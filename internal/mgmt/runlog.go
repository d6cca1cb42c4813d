package mgmt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/tasks"
)

// A run's log is served the way ACR serves it: listLogSasUrl answers a
// logLink, a read-only SAS URL of an append blob, and the client reads the
// blob (az reads it with the Azure Storage blob API: HEAD for its length and
// its "Complete" metadata, then ranges). moat's blob is its own endpoint:
//
//	https://runlogs.blob.<login-server suffix>[:port]/tasklogs/<registry>/<runId>.log?sv=...&se=...&sig=<token>
//
// The token is signed by the server's keys, names the run, and expires
// shortly after the run must end (a finished run's: in 15 minutes); the link
// gives that run's log and nothing else. The host needs a name and a
// certificate (--tls-auto makes one with it); without a login-server suffix
// the link is on the host the client used (moat's CLI reads either; az needs
// the blob host).

// LogSigner signs and checks log links (the server's token keys).
type LogSigner interface {
	Sign(claims jwt.Claims) (string, error)
	Verify(raw string, claims jwt.Claims, auds ...string) error
}

const (
	logAudience = "moat:run-log"
	logAccount  = "runlogs"
	// RunLogPrefix is the path of log links (the server routes it to RunLog).
	RunLogPrefix = "/tasklogs/"
	logLinkTTL   = 15 * time.Minute
)

type logClaims struct {
	jwt.RegisteredClaims
}

// runLogURL answers POST .../runs/{runId}/listLogSasUrl.
func (h *Handler) runLogURL(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "listLogSasUrl (use POST)")
	}
	if h.LogSigner == nil {
		return armErr(http.StatusNotImplemented, "NotImplemented", "this server serves no run logs")
	}
	c := h.resourceCall(r, id)
	if err := runsKind.parent(c); err != nil {
		return err
	}
	run, _, ok, err := runsKind.load(c)
	if err != nil {
		return err
	}
	if !ok {
		return runsKind.missing(c, "")
	}
	exp := time.Now().Add(logLinkTTL)
	if d := run.Properties.Deadline; !run.Finished() && d != nil && d.Add(logLinkTTL).After(exp) {
		exp = d.Add(logLinkTTL)
	}
	tok, err := h.LogSigner.Sign(logClaims{jwt.RegisteredClaims{Subject: run.ID, Audience: jwt.ClaimStrings{logAudience},
		ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(time.Now())}})
	if err != nil {
		return err
	}
	q := url.Values{"sv": {"2018-11-09"}, "sr": {"b"}, "sp": {"r"}, "se": {exp.UTC().Format(time.RFC3339)}, "sig": {tok}}
	link := fmt.Sprintf("%s://%s%s%s/%s.log?%s", h.scheme(r), h.logHost(r), RunLogPrefix,
		strings.ToLower(c.parentName), run.Name, q.Encode())
	writeJSON(w, http.StatusOK, map[string]any{"logLink": link})
	return nil
}

// logHost is the blob host of run logs: runlogs.blob.<suffix>, with the
// port the login servers carry.
func (h *Handler) logHost(r *http.Request) string {
	if h.ZoneSuffix == "" {
		return r.Host
	}
	return logAccount + ".blob." + h.loginServerSuffix()
}

// RunLog serves a run's log at its log link (GET and HEAD, with Range or
// x-ms-range), as an Azure Storage append blob that carries, once the run
// has ended, the metadata Complete: <status>.
func (h *Handler) RunLog(w http.ResponseWriter, r *http.Request) {
	run, err := h.linkedRun(r)
	if err != nil {
		blobErr(w, err)
		return
	}
	body := []byte(run.Properties.Log)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("x-ms-blob-type", "AppendBlob")
	hdr.Set("x-ms-version", "2018-11-09")
	hdr.Set("Accept-Ranges", "bytes")
	sum := sha256.Sum256(body)
	hdr.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	if t := run.Properties.LastUpdatedTime; t != nil {
		hdr.Set("Last-Modified", t.UTC().Format(http.TimeFormat))
	}
	if run.Finished() {
		hdr.Set("x-ms-meta-Complete", completeStatus(run.Properties.Status))
	}
	start, end, ranged, ok := blobRange(r, len(body))
	switch {
	case !ok:
		hdr.Set("Content-Range", "bytes */"+strconv.Itoa(len(body)))
		blobErr(w, &blobError{http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "the range is not satisfiable"})
		return
	case ranged:
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, len(body)))
		hdr.Set("Content-Length", strconv.Itoa(end-start))
		w.WriteHeader(http.StatusPartialContent)
	default:
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if r.Method == http.MethodGet {
		_, _ = w.Write(body[start:end])
	}
}

// completeStatus is the Complete metadata of a finished run, as az reads it.
func completeStatus(status string) string {
	switch status {
	case tasks.Timeout:
		return "timedout"
	}
	return strings.ToLower(status)
}

type blobError struct {
	status  int
	code    string
	message string
}

func (e *blobError) Error() string { return e.message }

func blobErr(w http.ResponseWriter, err error) {
	be, ok := err.(*blobError)
	if !ok {
		be = &blobError{http.StatusInternalServerError, "InternalError", "the log could not be read; retry"}
	}
	w.Header().Set("x-ms-error-code", be.code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(be.status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s</Message></Error>", be.code, be.message)
}
