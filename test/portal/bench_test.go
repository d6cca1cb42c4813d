package portal_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkPortalPages compares the portal's pages with the management API
// request they are built on (the baseline), over the real listener: what the
// server-side rendering and the in-process calls cost per page view.
func BenchmarkPortalPages(b *testing.B) {
	e := start(b)
	reg := e.registryID("benchreg1")
	e.api("PUT", reg, map[string]any{"location": "local", "sku": map[string]string{"name": "Premium"}})
	e.push("benchreg1", "hello", "v1")
	c := client(nil)
	base := e.base + "/portal/"
	signInHTTPB(b, c, base)
	get := func(b *testing.B, u string, hdr http.Header) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if hdr != nil {
			req.Header = hdr
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d", u, resp.StatusCode)
		}
	}
	for _, c := range []struct {
		name string
		url  string
		hdr  http.Header
	}{
		{"api-get-registry", e.base + reg + "?api-version=2023-07-01", http.Header{"Authorization": {"Bearer " + e.token}}},
		{"page-overview", base + "registries/default/benchreg1", nil},
		{"page-networking", base + "registries/default/benchreg1/networking", nil},
		{"page-repositories", base + "registries/default/benchreg1/repositories?repo=hello", nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				get(b, c.url, c.hdr)
			}
		})
	}
}

func signInHTTPB(b *testing.B, c *http.Client, base string) {
	_, _, tok := fetch(b, c, base+"signin")
	resp, _ := post(b, c, base+"signin", map[string][]string{"username": {"admin"}, "password": {adminPassword}, "csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("sign-in: %d", resp.StatusCode)
	}
}
