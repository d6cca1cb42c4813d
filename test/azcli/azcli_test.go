package azcli

import "testing"

// TestAzureCLISeeds runs every scenario of testdata/seeds.yaml with the real
// az, once signed in as a service principal and once as a user, each
// scenario on a fresh server (the account checks of logins.both in the first
// one). The two kinds of sign-in run in parallel.
func TestAzureCLISeeds(t *testing.T) {
	requireTools(t)
	s := loadScript(t)
	for _, kind := range []string{"servicePrincipal", "user"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			login := s.Logins.User
			if kind == "servicePrincipal" {
				login = s.Logins.ServicePrincipal
			}
			for i, sc := range s.Scenarios {
				t.Run(sc.Name, func(t *testing.T) {
					r := newRunner(t, startMoat(t), kind)
					steps := login
					if i == 0 { // the account checks once per kind of sign-in
						steps = append(append([]step{}, login...), s.Logins.Both...)
					}
					for _, st := range steps {
						r.run(st, true)
					}
					for _, st := range sc.Steps {
						r.run(st, false)
					}
				})
			}
		})
	}
}
