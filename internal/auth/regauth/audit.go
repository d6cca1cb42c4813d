package regauth

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/target"
)

// record writes a token request to the audit trail: on each registry it
// names (server-wide when none), a sign-in event when it presented
// credentials, and a token event unless a presented credential failed
// (that failure is the sign-in's).
func (s *Service) record(r *http.Request, t *target.Target, ev TokenEvent) {
	outcome := audit.Success
	if ev.Err != nil {
		outcome = audit.Failure
	}
	regs := ev.Registries
	if len(regs) == 0 {
		regs = []string{audit.ServerWide}
	}
	for _, reg := range regs {
		e := audit.Event{Registry: reg, Outcome: outcome, Grant: ev.Grant, Principal: ev.Subject}
		if e.Principal == "" {
			e.Principal = ev.User
		}
		if ev.Err != nil {
			e.Detail = audit.OneLine(ev.Err.Error())
		}
		if ev.SignIn() {
			e.Type = audit.TypeSignIn
			s.Audit.Record(r.Context(), e)
		}
		if ev.Endpoint == "token" && (!ev.SignIn() || ev.Err == nil) {
			e.Type, e.Scopes = audit.TypeToken, ev.Requested
			if ev.Err == nil {
				e.Scopes = grantedScopes(t, ev.Granted, reg)
			}
			s.Audit.Record(r.Context(), e)
		}
	}
}

// grantedScopes are the granted scopes on registry regKey.
func grantedScopes(t *target.Target, g []token.Access, regKey string) []string {
	var out []string
	for _, a := range g {
		if a.Type == "repository" {
			if reg, _, _ := t.Split(a.Name); reg == nil || reg.Key != regKey {
				continue
			}
		}
		out = append(out, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	return out
}
