package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/apiversion"
)

// Setup is the registry the issue-9 targets are measured on: Premium, and
// with rules, default action Deny, IPRules IP rules and VNetRules
// virtual-network rules, the client allowed only by the last IP rule.
type Setup struct {
	Server    string // moat base URL (management API and authority)
	Username  string // a user who may create registries (the server admin)
	Password  string
	Registry  string
	IPRules   int // 0: default action Allow, no rules
	VNetRules int
	// Extra more registries named <Registry>x0001... with default settings
	// (to measure memory with many registries).
	Extra int
}

// Prepare creates or updates the registry through the management API and
// returns the client address that only its last IP rule allows (invalid
// without rules).
func Prepare(ctx context.Context, s Setup) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}}
	base := strings.TrimSuffix(s.Server, "/")
	call := func(method, path, bearer string, in, out any) error {
		var body io.Reader
		switch v := in.(type) {
		case nil:
		case url.Values:
			body = strings.NewReader(v.Encode())
		default:
			raw, err := json.Marshal(v)
			if err != nil {
				return err
			}
			body = bytes.NewReader(raw)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, body)
		if err != nil {
			return err
		}
		if _, form := in.(url.Values); form {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer drain(resp)
		if resp.StatusCode >= 300 {
			return statusErr(method+" "+path, resp)
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
	var md struct {
		Authentication struct {
			Tenant    string
			Audiences []string
		} `json:"authentication"`
	}
	if err := call(http.MethodGet, "/metadata/endpoints", "", nil, &md); err != nil {
		return netip.Addr{}, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	form := url.Values{"grant_type": {"password"}, "username": {s.Username}, "password": {s.Password},
		"client_id": {"moat-bench"}, "scope": {managementResource(base, md.Authentication.Audiences) + "/.default"}}
	if err := call(http.MethodPost, "/identity/"+url.PathEscape(md.Authentication.Tenant)+"/oauth2/v2.0/token", "", form, &tok); err != nil {
		return netip.Addr{}, fmt.Errorf("signing in as %s: %w", s.Username, err)
	}
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	const v = "?api-version=2025-11-01"
	if err := call(http.MethodGet, "/subscriptions"+v, tok.AccessToken, nil, &subs); err != nil || len(subs.Value) == 0 {
		return netip.Addr{}, fmt.Errorf("listing subscriptions: %v", err)
	}
	rg := "/subscriptions/" + subs.Value[0].SubscriptionID + "/resourceGroups/default/providers/"
	// The registry's virtual-network rules need a version that has them.
	regPath := rg + "Microsoft.ContainerRegistry/registries/" + s.Registry
	regPath += "?api-version=" + apiversion.ForClient(regPath)
	if err := call(http.MethodPut, regPath, tok.AccessToken, map[string]any{"location": "local", "sku": map[string]string{"name": "Premium"}}, nil); err != nil {
		return netip.Addr{}, err
	}
	for i := 1; i <= s.Extra; i++ {
		p := rg + "Microsoft.ContainerRegistry/registries/" + fmt.Sprintf("%sx%04d", s.Registry, i) + v
		if err := call(http.MethodPut, p, tok.AccessToken, map[string]any{"location": "local", "sku": map[string]string{"name": "Premium"}}, nil); err != nil {
			return netip.Addr{}, err
		}
	}
	if s.IPRules <= 0 {
		return netip.Addr{}, nil
	}
	var subnets []any
	vnetRules := []map[string]string{}
	for i := range s.VNetRules {
		name := fmt.Sprintf("s%d", i)
		subnets = append(subnets, map[string]any{"name": name, "properties": map[string]any{
			"addressPrefix":    fmt.Sprintf("10.%d.%d.0/24", i/256, i%256),
			"serviceEndpoints": []map[string]string{{"service": "Microsoft.ContainerRegistry"}}}})
		vnetRules = append(vnetRules, map[string]string{"id": rg + "Microsoft.Network/virtualNetworks/bench/subnets/" + name})
	}
	if len(subnets) > 0 {
		if err := call(http.MethodPut, rg+"Microsoft.Network/virtualNetworks/bench"+v, tok.AccessToken, map[string]any{"location": "local",
			"properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{"10.0.0.0/8"}}, "subnets": subnets}}, nil); err != nil {
			return netip.Addr{}, err
		}
	}
	var ipRules []map[string]string
	for i := range s.IPRules {
		ipRules = append(ipRules, map[string]string{"action": "Allow", "value": fmt.Sprintf("20.%d.%d.0/24", i/256, i%256)})
	}
	if err := call(http.MethodPatch, regPath, tok.AccessToken, map[string]any{"properties": map[string]any{
		"networkRuleSet": map[string]any{"defaultAction": "Deny", "ipRules": ipRules, "virtualNetworkRules": vnetRules}}}, nil); err != nil {
		return netip.Addr{}, err
	}
	last := s.IPRules - 1
	return netip.AddrFrom4([4]byte{20, byte(last / 256), byte(last % 256), 7}), nil
}

// managementResource is the management API's audience the server reports
// (its public URL), else base.
func managementResource(base string, audiences []string) string {
	if len(audiences) > 0 && audiences[0] != "" {
		return strings.TrimRight(audiences[0], "/")
	}
	return base
}
