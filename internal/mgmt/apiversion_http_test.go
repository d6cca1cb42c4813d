package mgmt_test

import (
	"net/http"
	"testing"
)

func TestAPIVersion(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "apiver", "Basic")
	e.createVNet(t, "apivnet")
	sp := "/subscriptions/" + sub
	for _, path := range []string{regPath("apiver"), rgPath("default"), sp, "/subscriptions", "/tenants", vnetPath("apivnet")} {
		status, m := e.do(t, "GET", path+"?api-version=", nil)
		wantErr(t, status, m, 400, "MissingApiVersionParameter", "(?api-version=) is required")
		status, m = e.do(t, "GET", path+"?x=1&api-version=", nil)
		wantErr(t, status, m, 400, "MissingApiVersionParameter")
		// moat's own clients' versions work everywhere.
		for _, v := range []string{"2019-05-01", "2021-08-01-preview", "2023-07-01", "2025-11-01"} {
			e.must(t, http.StatusOK, "GET", path+"?api-version="+v, nil)
		}
	}
	// Every version the provider published, and only those.
	for _, c := range []struct {
		path string
		ok   []string
		bad  string
		code string
		hint string
	}{
		{regPath("apiver"), []string{"2017-03-01", "2017-10-01", "2019-12-01-preview", "2022-02-01-preview", "2025-06-01-preview"}, "2018-09-01",
			"NoRegisteredProviderFound", "No registered resource provider found for location 'local' and API version '2018-09-01' for type 'registries'. The supported api-versions are '2026-03-01-preview, 2026-01-01-preview, 2025-11-01, 2025-06-01-preview,"},
		{rgPath("default"), []string{"2015-11-01", "2021-04-01", "2025-04-01"}, "2019-11-01",
			"InvalidApiVersionParameter", "The api-version '2019-11-01' is invalid. The supported versions are '2025-11-01,2025-04-01,2025-03-01,"},
		{sp, []string{"2016-06-01", "2019-11-01", "2022-12-01"}, "2021-04-01", "InvalidApiVersionParameter", "2022-12-01,2021-08-01-preview,2021-01-01,"},
		{"/tenants", []string{"2019-11-01"}, "2020-06-01", "InvalidApiVersionParameter", "The api-version '2020-06-01' is invalid"},
		{vnetPath("apivnet"), []string{"2015-06-15", "2022-01-01", "2024-07-01"}, "2022-02-01-preview", "NoRegisteredProviderFound", "for type 'virtualNetworks'"},
		{vnetPath("apivnet") + "/subnets", []string{"2022-01-01"}, "2099-01-01", "NoRegisteredProviderFound", "for type 'virtualNetworks/subnets'"},
		{regPath("apiver") + "/tasks", []string{"2019-06-01-preview", "2025-03-01-preview"}, "2022-12-01", "NoRegisteredProviderFound", "for type 'registries/tasks'. The supported api-versions are '2025-11-01, 2025-03-01-preview, 2023-07-01, 2021-08-01-preview, 2019-06-01-preview, 2019-05-01, 2019-04-01, 2018-09-01, 2018-02-01-preview'"},
	} {
		for _, v := range c.ok {
			e.must(t, http.StatusOK, "GET", c.path+"?api-version="+v, nil)
		}
		status, m := e.do(t, "GET", c.path+"?api-version="+c.bad, nil)
		wantErr(t, status, m, 400, c.code, c.hint)
	}
	// The echoed version is bounded and printable.
	status, m := e.do(t, "GET", regPath("apiver")+"?api-version=%0axxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", nil)
	wantErr(t, status, m, 400, "NoRegisteredProviderFound", "API version '?xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'")
	// Checked before the body: a PUT without api-version changes nothing.
	status, m = e.do(t, "PUT", regPath("apiver2")+"?api-version=", registryBody("Basic", nil))
	wantErr(t, status, m, 400, "MissingApiVersionParameter")
	e.must(t, http.StatusNotFound, "GET", regPath("apiver2"), nil)
}
