package regauth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/audit/audittest"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/target"
)

// TestTokenRequestsAreRecorded (issue 17 item 2): the token service records
// its requests itself: an anonymous token (no principal: the trail
// aggregates those), a sign-in that failed (the name presented, and no
// token event), a sign-in and the token it got.
func TestTokenRequestsAreRecorded(t *testing.T) {
	svc := newService(t)
	rec := &audittest.Recorder{}
	svc.Audit = rec
	alice, _ := svc.Dir.Find(identity.KindUser, "alice")
	get := func(user, pw string) {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:5000/oauth2/token?service=127.0.0.1:5000&scope=repository:regone/app:pull", nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		target.Middleware(svc.Index, svc).ServeHTTP(httptest.NewRecorder(), req)
	}
	get("", "")
	get("alice", "wrong")
	get("alice", "alice-password")
	type ev struct{ typ, outcome, grant, principal string }
	wantEvs := []ev{
		{audit.TypeToken, audit.Success, "anonymous", ""},
		{audit.TypeSignIn, audit.Failure, "basic", "alice"},
		{audit.TypeSignIn, audit.Success, "basic", alice.ID},
		{audit.TypeToken, audit.Success, "basic", alice.ID},
	}
	got := rec.Take()
	if len(got) != len(wantEvs) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(wantEvs), got)
	}
	for i, g := range got {
		if (ev{g.Type, g.Outcome, g.Grant, g.Principal}) != wantEvs[i] || g.Registry != "regone" {
			t.Errorf("event %d: %+v, want %+v", i, g, wantEvs[i])
		}
	}
	if got[1].Detail == "" {
		t.Errorf("the failed sign-in says nothing: %+v", got[1])
	}
}
