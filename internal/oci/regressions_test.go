package oci_test

// Tests of bugs found while writing this suite. Each fails until the fix
// described beside it is applied to the non-test code.

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestListZeroPage: n=0 asks for an empty page (distribution-spec issue #132:
// an empty result without a Link, which could never converge). writePage in
// lists.go indexes items[n-1] whenever more items exist than n, so with n=0 it
// panics (index -1) on any non-empty tag list or catalog.
// Fix: set the Link header only when n > 0.
func TestListZeroPage(t *testing.T) {
	e := newEnv(t)
	e.pushImage(t, "", "alpha/app", "v1", "x")
	e.pushBlob(t, "", "bravo/app", []byte("x"))
	for _, tc := range []struct{ name, host, path, field string }{
		{"tags path style", "", "/v2/alpha/app/tags/list?n=0", "tags"},
		{"tags host style", "alpha.reg.test", "/v2/app/tags/list?n=0", "tags"},
		{"catalog of all registries", "", "/v2/_catalog?n=0", "repositories"},
		{"catalog of one registry", "", "/v2/alpha/_catalog?n=0", "repositories"},
		{"catalog host style", "alpha.reg.test", "/v2/_catalog?n=0", "repositories"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, next := e.list(t, tc.host, tc.path, tc.field)
			if len(items) != 0 || next != "" {
				t.Errorf("n=0: items %q, next %q; want an empty page without Link", items, next)
			}
		})
	}
}

// TestHostStyleCatalogStaysInRegistry: in host style the Host names the
// registry and every other endpoint stays inside it (/v2/bravo/app on
// alpha.reg.test is alpha's repository "bravo/app"). The catalog does not:
// catalog() in lists.go uses the host's registry only when the path names
// none, so GET /v2/bravo/_catalog with Host alpha.reg.test lists bravo's
// repositories through alpha's login server. The network gate
// (internal/network/netguard, addressed()) checks only the host's registry in host
// style, so this lists bravo past bravo's network rules.
// Fix: on a host-style host, reject a registry in the path that is not the host's.
func TestHostStyleCatalogStaysInRegistry(t *testing.T) {
	e := newEnv(t)
	e.pushBlob(t, "", "bravo/secret-project", []byte("x"))
	r := e.do(t, "GET", "alpha.reg.test", "/v2/bravo/_catalog", nil)
	if r.status == 200 && strings.Contains(string(r.body), "secret-project") {
		t.Errorf("alpha's host lists bravo's repositories: %s", r.desc)
	}
	// Naming the host's own registry stays allowed.
	want(t, e.do(t, "GET", "alpha.reg.test", "/v2/alpha/_catalog", nil), 200)
}

// TestEmptyListsAreArrays: an empty list is [], never null (as the tag list
// and the one-registry catalog already do). allRepositories in lists.go starts
// from a nil slice, so /v2/_catalog past the last repository (or on a server
// with no repositories) answers {"repositories":null}.
// Fix: out := []string{} in allRepositories.
func TestEmptyListsAreArrays(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ host, path string }{
		{"", "/v2/_catalog"}, // no repositories yet
		{"", "/v2/alpha/_catalog"},
		{"alpha.reg.test", "/v2/_catalog"},
	} {
		checkArray(t, e.do(t, "GET", tc.host, tc.path, nil), "repositories")
	}
	e.pushImage(t, "", "alpha/app", "v1", "x")
	checkArray(t, e.do(t, "GET", "", "/v2/_catalog?last=zulu", nil), "repositories")
	checkArray(t, e.do(t, "GET", "", "/v2/alpha/app/tags/list?last=zzz", nil), "tags")
}

func checkArray(t *testing.T, r *response, field string) {
	t.Helper()
	want(t, r, 200)
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil || string(body[field]) != "[]" {
		t.Errorf("want %q: []: %s", field, r.desc)
	}
}
