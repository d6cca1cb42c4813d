package authority

import (
	"net/url"
	"testing"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/audit/audittest"
)

// TestSignInsAreRecorded (issue 17 item 2): the authority records its
// sign-ins in the audit trail itself, server-wide: a failed one with the
// name presented and the OAuth error, a successful one with the principal.
func TestSignInsAreRecorded(t *testing.T) {
	e := newEnv(t)
	rec := &audittest.Recorder{}
	e.h.SetRecorder(rec)
	for _, pw := range []string{"wrong", alicePW} {
		resp, err := e.srv.Client().PostForm(e.srv.URL+"/identity/"+e.tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"},
			"username": {"alice"}, "password": {pw}, "client_id": {publicClient}, "scope": {mgmtScope}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := rec.Take()
	if len(got) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(got), got)
	}
	bad, good := got[0], got[1]
	if bad.Type != audit.TypeSignIn || bad.Registry != audit.ServerWide || bad.Outcome != audit.Failure || bad.Principal != "alice" ||
		bad.Grant != "password" || bad.Detail != "identity authority: invalid_grant AADSTS50126" {
		t.Errorf("failed sign-in: %+v", bad)
	}
	if good.Type != audit.TypeSignIn || good.Outcome != audit.Success || good.Principal != e.alice.ID || good.PrincipalName != "alice" ||
		len(good.Scopes) != 1 || good.Scopes[0] != mgmtResource {
		t.Errorf("sign-in: %+v", good)
	}
}
