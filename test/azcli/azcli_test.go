package azcli

import "testing"

// TestAzureCLISeeds runs every scenario of testdata/seeds.yaml with the real
// az, once signed in as a service principal and once as a user, each
// scenario on a fresh server. The two kinds of sign-in run in parallel.
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
			login = append(append([]step{}, login...), s.Logins.Both...)
			for _, sc := range s.Scenarios {
				t.Run(sc.Name, func(t *testing.T) {
					r := newRunner(t, startMoat(t), kind)
					for _, st := range login {
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
