package mgmt_test

import (
	"net/http"
	"testing"
)

// TestPreconditionsOnEveryType: every resource type honours If-Match on
// PUT, PATCH and DELETE and If-None-Match: * on PUT, with ARM's 412, and a
// refused request changes nothing (the per-type copies had drifted: DELETE
// without If-Match on groups, subnets, identities and tasks; no
// If-None-Match on identities, tasks and workspaces).
func TestPreconditionsOnEveryType(t *testing.T) {
	a := newAuthzEnv(t)
	e := &env{srv: a.srv}
	as := []string{"X-Principal", a.admin}
	a.as(a.admin, http.StatusCreated, "PUT", rgPath("pre"), obj{"location": "local"})
	a.as(a.admin, http.StatusCreated, "PUT", regPathIn("pre", "prereg"), registryBody("Premium", nil))
	a.as(a.admin, http.StatusCreated, "PUT", vnetPathIn("pre", "prenet"), vnetBody([]string{"10.0.0.0/16"}, namedSubnet("s1", "10.0.1.0/24")))
	cases := []struct {
		what, path string
		body       obj
		patch      bool
	}{
		{"resource group", rgPath("pre2"), obj{"location": "local"}, true},
		{"registry", regPathIn("pre", "prereg2"), registryBody("Premium", nil), true},
		{"task", taskPathIn("pre", "prereg", "pretask"), taskBody(nil, nil), true},
		{"virtual network", vnetPathIn("pre", "prenet2"), vnetBody([]string{"10.0.0.0/16"}), true},
		{"subnet", subnetPathIn("pre", "prenet", "s2"), subnetBody("10.0.2.0/24"), true},
		{"user-assigned identity", uaiPathIn("pre", "preuai"), obj{"location": "local"}, true},
		{"workspace", wsPathIn("pre", "prews"), obj{"location": "local"}, true},
	}
	for _, c := range cases {
		// A create-only PUT creates; again, it is refused.
		status, m, hdr := e.doH(t, "PUT", c.path, c.body, append(as, "If-None-Match", "*")...)
		if status >= 300 {
			t.Fatalf("%s: create with If-None-Match: *: %d %v", c.what, status, m)
		}
		etag := hdr.Get("ETag")
		if etag == "" {
			t.Errorf("%s: no ETag", c.what)
		}
		status, m = e.do(t, "PUT", c.path, c.body, append(as, "If-None-Match", "*")...)
		wantErr(t, status, m, http.StatusPreconditionFailed, "PreconditionFailed")
		for _, method := range []string{"PUT", "PATCH", "DELETE"} {
			if method == "PATCH" && !c.patch {
				continue
			}
			body := any(c.body)
			if method == "PATCH" {
				body = obj{"tags": obj{"k": "v"}}
			} else if method == "DELETE" {
				body = nil
			}
			status, m = e.do(t, method, c.path, body, append(as, "If-Match", `"999999"`)...)
			wantErr(t, status, m, http.StatusPreconditionFailed, "PreconditionFailed")
		}
		if status, m, hdr = e.doH(t, "GET", c.path, nil, as...); status != http.StatusOK || hdr.Get("ETag") != etag {
			t.Errorf("%s: after refused writes: %d ETag %s, want 200 and the ETag %s unchanged: %v", c.what, status, hdr.Get("ETag"), etag, m)
		}
		// With the current ETag, DELETE deletes; then it is not there (204).
		e.must(t, http.StatusOK, "DELETE", c.path, nil, append(as, "If-Match", etag)...)
		e.must(t, http.StatusNoContent, "DELETE", c.path, nil, as...)
	}
	// HEAD of a resource group is ARM's check of existence.
	e.must(t, http.StatusNoContent, "HEAD", rgPath("default"), nil, as...)
	if status, _ := e.do(t, "HEAD", rgPath("nogroup"), nil, as...); status != http.StatusNotFound {
		t.Errorf("HEAD of a missing group: %d, want 404", status)
	}
}
