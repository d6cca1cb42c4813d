package ratelimit

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// maxPeek is how much of a form body PeekForm reads; sign-in forms are small.
const maxPeek = 64 << 10

// PeekForm returns the urlencoded form of a POST without consuming it: the
// handler still reads the whole body itself, with its own limits and errors.
// Anything else gives an empty form.
func PeekForm(r *http.Request) url.Values {
	if r.Method != http.MethodPost || r.Body == nil {
		return url.Values{}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return url.Values{}
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxPeek))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil {
		return url.Values{}
	}
	v, _ := url.ParseQuery(string(buf))
	if v == nil {
		v = url.Values{}
	}
	return v
}
