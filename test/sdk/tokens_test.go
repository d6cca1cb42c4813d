package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerregistry/armcontainerregistry"
)

// TestTokensWithARMSDK: scope maps, tokens and generateCredentials through
// armcontainerregistry, and the generated password signing in at the token
// endpoint with exactly the scope map's actions.
func TestTokensWithARMSDK(t *testing.T) {
	url, srv, httpClient, cred, opts := armSetup(t)
	ctx := context.Background()
	const rg, reg = "default", "sdktokens"
	factory, err := armcontainerregistry.NewClientFactory(srv.Subscription(), cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	regs, maps, toks := factory.NewRegistriesClient(), factory.NewScopeMapsClient(), factory.NewTokensClient()
	p, err := regs.BeginCreate(ctx, rg, reg, armcontainerregistry.Registry{Location: to.Ptr("local"),
		SKU: &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNamePremium)}}, nil)
	must(t, err, "create registry")
	_, err = p.PollUntilDone(ctx, &pollOptions)
	must(t, err, "create registry poll")

	sp, err := maps.BeginCreate(ctx, rg, reg, "hello-rw", armcontainerregistry.ScopeMap{Properties: &armcontainerregistry.ScopeMapProperties{
		Actions:     to.SliceOfPtrs("repositories/hello/content/read", "repositories/hello/content/write"),
		Description: to.Ptr("read and write hello")}}, nil)
	must(t, err, "create scope map")
	sm, err := sp.PollUntilDone(ctx, &pollOptions)
	must(t, err, "create scope map poll")
	if *sm.Properties.Type != "UserDefined" || len(sm.Properties.Actions) != 2 || *sm.Properties.ProvisioningState != armcontainerregistry.ProvisioningStateSucceeded {
		t.Fatalf("scope map: %+v", sm.Properties)
	}
	var names []string
	for pager := maps.NewListPager(rg, reg, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		must(t, err, "list scope maps")
		for _, m := range page.Value {
			names = append(names, *m.Name)
		}
	}
	if strings.Join(names, " ") != "_repositories_admin _repositories_pull _repositories_pull_metadata_read _repositories_push _repositories_push_metadata_write hello-rw" {
		t.Errorf("scope maps: %v", names)
	}

	tp, err := toks.BeginCreate(ctx, rg, reg, "sdk-token", armcontainerregistry.Token{Properties: &armcontainerregistry.TokenProperties{
		ScopeMapID: sm.ID, Status: to.Ptr(armcontainerregistry.TokenStatusEnabled)}}, nil)
	must(t, err, "create token")
	tok, err := tp.PollUntilDone(ctx, &pollOptions)
	must(t, err, "create token poll")
	if *tok.Properties.ScopeMapID != *sm.ID || *tok.Properties.Status != armcontainerregistry.TokenStatusEnabled {
		t.Fatalf("token: %+v", tok.Properties)
	}

	expiry := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	gp, err := regs.BeginGenerateCredentials(ctx, rg, reg, armcontainerregistry.GenerateCredentialsParameters{
		TokenID: tok.ID, Name: to.Ptr(armcontainerregistry.TokenPasswordNamePassword1), Expiry: &expiry}, nil)
	must(t, err, "generateCredentials")
	creds, err := gp.PollUntilDone(ctx, &pollOptions)
	must(t, err, "generateCredentials poll")
	if *creds.Username != "sdk-token" || len(creds.Passwords) != 1 || *creds.Passwords[0].Name != armcontainerregistry.TokenPasswordNamePassword1 ||
		!creds.Passwords[0].Expiry.Equal(expiry) || len(*creds.Passwords[0].Value) < 32 {
		t.Fatalf("credentials: %+v %+v", creds.GenerateCredentialsResult, creds.Passwords[0])
	}
	got, err := toks.Get(ctx, rg, reg, "sdk-token", nil)
	must(t, err, "get token")
	if pws := got.Properties.Credentials.Passwords; len(pws) != 1 || pws[0].Value != nil || !pws[0].Expiry.Equal(expiry) {
		t.Fatalf("token's passwords as shown: %+v", pws)
	}

	// The password signs in; the grant is what the scope map allows.
	signIn := func(pw string, scope string) (int, []string) {
		q := neturl.Values{"service": {strings.TrimPrefix(url, "https://")}, "scope": {scope}}
		req, _ := http.NewRequest("GET", url+"/oauth2/token?"+q.Encode(), nil)
		req.SetBasicAuth("sdk-token", pw)
		resp, err := httpClient.Do(req)
		must(t, err, "token request")
		defer resp.Body.Close()
		var a struct {
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&a) != nil {
			return resp.StatusCode, nil
		}
		parts := strings.Split(a.AccessToken, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims struct {
			Access []struct {
				Name    string   `json:"name"`
				Actions []string `json:"actions"`
			} `json:"access"`
		}
		_ = json.Unmarshal(raw, &claims)
		var out []string
		for _, e := range claims.Access {
			out = append(out, e.Name+":"+strings.Join(e.Actions, ","))
		}
		return resp.StatusCode, out
	}
	pw := *creds.Passwords[0].Value
	if st, g := signIn(pw, "repository:"+reg+"/hello:pull,push,delete"); st != http.StatusOK || strings.Join(g, " ") != reg+"/hello:pull,push" {
		t.Errorf("sign-in: %d %v, want %s/hello:pull,push", st, g, reg)
	}
	if st, g := signIn(pw, "repository:"+reg+"/other:pull"); st != http.StatusOK || len(g) != 0 {
		t.Errorf("another repository: %d %v, want nothing granted", st, g)
	}

	up, err := toks.BeginUpdate(ctx, rg, reg, "sdk-token", armcontainerregistry.TokenUpdateParameters{Properties: &armcontainerregistry.TokenUpdateProperties{
		Status: to.Ptr(armcontainerregistry.TokenStatusDisabled)}}, nil)
	must(t, err, "disable token")
	disabled, err := up.PollUntilDone(ctx, &pollOptions)
	must(t, err, "disable token poll")
	if *disabled.Properties.Status != armcontainerregistry.TokenStatusDisabled {
		t.Fatalf("after disabling: %+v", disabled.Properties)
	}
	if st, _ := signIn(pw, "repository:"+reg+"/hello:pull"); st != http.StatusUnauthorized {
		t.Errorf("disabled token signed in: %d", st)
	}

	dp, err := toks.BeginDelete(ctx, rg, reg, "sdk-token", nil)
	must(t, err, "delete token")
	_, err = dp.PollUntilDone(ctx, &pollOptions)
	must(t, err, "delete token poll")
	_, err = maps.BeginDelete(ctx, rg, reg, "_repositories_pull", nil)
	if err == nil || !strings.Contains(err.Error(), "ScopeMapReadOnly") {
		t.Errorf("deleting a built-in scope map: %v", err)
	}
}
