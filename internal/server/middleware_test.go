package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// dataPlaneFirst answers every request as the mux alone would: the same
// handler, status and redirect, for any method and path.
func FuzzDataPlaneFirst(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2", "/v2/a/b/manifests/v1", "/v2//a", "/v2/a/../b", "/v2/./a", "/v2/a/", "/v2/a%2Fb",
		"/v2/a%2e%2e/b", "/v2/../oauth2/token", "/V2/a", "/v2x", "/oauth2/token", "/", "*", "/v2/a//", "/v2/%"} {
		f.Add("GET", s)
		f.Add("CONNECT", s)
	}
	mux := http.NewServeMux()
	for i, p := range []string{"/v2/", "/v2", "/oauth2/", "/acr/v1/", "/subscriptions/", "/healthz"} {
		mux.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(270 + i) }))
	}
	v2, _ := mux.Handler(httptest.NewRequest(http.MethodGet, "/v2/x", nil))
	h := dataPlaneFirst(v2, mux)
	f.Fuzz(func(t *testing.T, method, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !validMethod(method) {
			return
		}
		r := &http.Request{Method: method, URL: u, RequestURI: target, Host: "x", Header: http.Header{}}
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		mux.ServeHTTP(want, r)
		h.ServeHTTP(got, r)
		if got.Code != want.Code || got.Header().Get("Location") != want.Header().Get("Location") {
			t.Fatalf("%s %q: %d %q, the mux %d %q", method, target, got.Code, got.Header().Get("Location"),
				want.Code, want.Header().Get("Location"))
		}
	})
}

func validMethod(m string) bool {
	for _, c := range m {
		if c < '!' || c > '~' {
			return false
		}
	}
	return m != ""
}
