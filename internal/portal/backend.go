package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/moat-registry/moat/internal/apiversion"
)

// apiError is a refusal of the management API (or of the data plane), with
// its message for the person, shown next to the field it concerns.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

// call sends one request to the server's own handler, in-process, as the
// viewer: the request keeps the viewer's context (so its network identity as
// netid determined it), remote address and TLS state, so the management API,
// the authority and the data plane decide exactly as for any other client.
func (p *Portal) call(r *http.Request, method, host, target string, hdr http.Header, body []byte) *httptest.ResponseRecorder {
	req, err := http.NewRequestWithContext(r.Context(), method, "http://"+host+target, bytes.NewReader(body))
	rec := httptest.NewRecorder()
	if err != nil {
		rec.Code = http.StatusBadRequest
		fmt.Fprintf(rec.Body, `{"error":{"code":"InvalidRequest","message":%q}}`, "the address "+target+" is not valid")
		return rec
	}
	req.Host, req.RemoteAddr, req.TLS = host, r.RemoteAddr, r.TLS
	for k, v := range hdr {
		req.Header[k] = v
	}
	p.Backend.ServeHTTP(rec, req)
	return rec
}

// api calls the management API with the signed-in user's token: in (if not
// nil) is sent as JSON, the answer is decoded into out (if not nil). It
// returns the response's ETag.
func (p *Portal) api(r *http.Request, s *session, method, path string, ifMatch string, in, out any) (string, error) {
	var body []byte
	hdr := http.Header{"Authorization": {"Bearer " + s.Token}}
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return "", err
		}
		hdr.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		hdr.Set("If-Match", ifMatch)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	rec := p.call(r, method, r.Host, path+sep+"api-version="+apiversion.ForClient(strings.SplitN(path, "?", 2)[0]), hdr, body)
	if rec.Code >= 300 {
		return "", armError(rec)
	}
	if out != nil && rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			return "", fmt.Errorf("reading the management API's answer to %s %s: %w", method, path, err)
		}
	}
	return rec.Header().Get("ETag"), nil
}

// armError reads the ARM error body {"error":{"code","message"}}.
func armError(rec *httptest.ResponseRecorder) *apiError {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	if e.Error.Message == "" {
		e.Error.Message = fmt.Sprintf("the server answered %d %s", rec.Code, http.StatusText(rec.Code))
	}
	return &apiError{Status: rec.Code, Code: e.Error.Code, Message: e.Error.Message}
}

// modify reads a resource, changes it and writes the change back with
// If-Match, retrying a few times when someone else changed it in between
// (the same read-modify-write as the CLI).
func (p *Portal) modify(r *http.Request, s *session, method, path string, cur any, change func() (any, error)) error {
	for attempt := 0; ; attempt++ {
		etag, err := p.api(r, s, http.MethodGet, path, "", nil, cur)
		if err != nil {
			return err
		}
		body, err := change()
		if err != nil || body == nil {
			return err
		}
		_, err = p.api(r, s, method, path, etag, body, nil)
		if e, ok := err.(*apiError); ok && e.Status == http.StatusPreconditionFailed && etag != "" && attempt < 3 {
			continue
		}
		return err
	}
}

// form posts an application/x-www-form-urlencoded body to the server itself.
func (p *Portal) form(r *http.Request, host, target string, hdr http.Header, v url.Values) *httptest.ResponseRecorder {
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	return p.call(r, http.MethodPost, host, target, hdr, []byte(v.Encode()))
}

// readJSON decodes a successful answer of the authority or the data plane.
func readJSON(rec *httptest.ResponseRecorder, out any) error {
	return json.NewDecoder(io.LimitReader(rec.Body, 8<<20)).Decode(out)
}
