package portal

import (
	"errors"
	"net/http"
	"testing"

	"github.com/moat-registry/moat/internal/model"
)

func TestAccessMode(t *testing.T) {
	for _, c := range []struct {
		props model.RegistryProperties
		want  string
	}{
		{model.RegistryProperties{}, "all"},
		{model.RegistryProperties{PublicNetworkAccess: "Enabled", NetworkRuleSet: &model.NetworkRuleSet{DefaultAction: "Deny"}}, "selected"},
		{model.RegistryProperties{PublicNetworkAccess: "Disabled", NetworkRuleSet: &model.NetworkRuleSet{DefaultAction: "Deny"}}, "disabled"},
		{model.RegistryProperties{PublicNetworkAccess: "Enabled", NetworkRuleSet: &model.NetworkRuleSet{DefaultAction: "Allow"}}, "all"},
	} {
		if got := accessMode(c.props); got != c.want {
			t.Errorf("accessMode(%+v) = %s, want %s", c.props, got, c.want)
		}
	}
}

func TestFieldError(t *testing.T) {
	keywords := map[string]string{"sku": "sku", "resource group": "group"}
	for _, c := range []struct {
		err       error
		ok        bool
		field, in string
	}{
		{&apiError{Status: 400, Message: `sku.name "Gold" is invalid`}, true, "sku", ""},
		{&apiError{Status: 404, Message: `resource group "x" not found`}, true, "group", ""},
		{&apiError{Status: 400, Message: `registry name "x" is invalid`}, true, "name", ""},
		{&apiError{Status: 403, Message: "not authorised"}, false, "", ""},
		{&apiError{Status: 500, Message: "failed"}, false, "", ""},
		{errors.New("not an API error"), false, "", ""},
	} {
		pg := &page{Errors: map[string]string{}}
		ok := fieldError(pg, c.err, "name", keywords)
		if ok != c.ok || ok && pg.Errors[c.field] != c.err.Error() {
			t.Errorf("fieldError(%v) = %v, errors %v; want %v on %q", c.err, ok, pg.Errors, c.ok, c.field)
		}
	}
}

func TestCSRFBoundToSession(t *testing.T) {
	a, b := csrfFor("token-a"), csrfFor("token-b")
	if a == b || a != csrfFor("token-a") || len(a) < 40 {
		t.Fatalf("csrf tokens: %q %q", a, b)
	}
	req, _ := http.NewRequest(http.MethodPost, "/", nil)
	req.PostForm = map[string][]string{"csrf": {a}}
	if !checkCSRF(req, a) || checkCSRF(req, b) {
		t.Fatal("checkCSRF accepts only the session's token")
	}
	req.PostForm = map[string][]string{}
	if checkCSRF(req, "") {
		t.Fatal("an empty token matched an empty expectation")
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 52133: "50.9 KiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %s, want %s", n, got, want)
		}
	}
}
