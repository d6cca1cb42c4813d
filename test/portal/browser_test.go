package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// browser starts a fresh headless chromium (its own profile directory).
func browser(t *testing.T) context.Context {
	t.Helper()
	// Not t.TempDir: Chromium's helper processes may still write the profile
	// for a moment after the browser is gone, and t.TempDir fails the test
	// when it cannot remove it. This one is removed once they are done.
	profile, err := os.MkdirTemp("", "moat-portal-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelT()
		cancelB()
		cancelA()
		for i := 0; os.RemoveAll(profile) != nil && i < 50; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// run runs browser actions, failing the test with what was being done.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(step, actions...); err != nil {
		var loc, body string
		_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Text("main", &body, chromedp.ByQuery))
		t.Fatalf("%s (at %s): %v\npage: %s", what, loc, err, body)
	}
}

// text reads the text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	run(t, ctx, "reading "+sel, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return s
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	var png []byte
	run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(filepath.Join(dir, "portal-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signInWith fills the sign-in form the portal redirects to.
func signInWith(t *testing.T, ctx context.Context, base, user, pw string) {
	t.Helper()
	run(t, ctx, "sign in",
		chromedp.Navigate(base+"/portal/"),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", user, chromedp.ByID),
		chromedp.SendKeys("#password", pw, chromedp.ByID),
		chromedp.Submit("#password", chromedp.ByID),
		chromedp.WaitVisible("#create-h", chromedp.ByID))
}

// waitNotice waits until the page's notice (shown after a change) says want:
// the page before the change may show another notice.
// clearNotice removes the notice a previous action left, so that the next
// waitNotice waits for the answer to the next submit, not the last one.
func clearNotice() chromedp.Action {
	return chromedp.Evaluate(`document.querySelectorAll(".notice").forEach(n => n.remove())`, nil)
}

func waitNotice(want string) chromedp.Action {
	js := `(document.querySelector(".notice") || {textContent: ""}).textContent.includes(` + strconv.Quote(want) + `)`
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for {
			var ok bool
			if err := chromedp.Evaluate(js, &ok).Do(ctx); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("no notice saying %q: %w", want, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

func expectContains(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("%s: %q does not contain %q", what, got, want)
	}
}

// TestPortalNetworking walks the Networking page as a person would and reads
// every change back through the management API.
func TestPortalNetworking(t *testing.T) {
	e := start(t)
	ctx := browser(t)
	shots := screenshotDir(t)
	// Set up through the API what the portal only picks from: a virtual
	// network with a service-endpoint subnet and a subnet for private endpoints.
	e.api("PUT", e.group()+"/providers/Microsoft.Network/virtualNetworks/corp", map[string]any{"location": "local",
		"properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{"10.20.0.0/16"}},
			"subnets": []any{
				map[string]any{"name": "apps", "properties": map[string]any{"addressPrefix": "10.20.1.0/24",
					"serviceEndpoints": []any{map[string]any{"service": "Microsoft.ContainerRegistry"}}}},
				map[string]any{"name": "endpoints", "properties": map[string]any{"addressPrefix": "10.20.2.0/24"}}}}})

	signInWith(t, ctx, e.base, "admin", adminPassword)
	run(t, ctx, "create a Premium registry",
		chromedp.SendKeys("#name", "portalweb", chromedp.ByID),
		chromedp.SetValue("#sku", "Premium", chromedp.ByID),
		chromedp.Submit("#name", chromedp.ByID),
		chromedp.WaitVisible("#ess-h", chromedp.ByID))
	expectContains(t, "after create", text(t, ctx, ".notice"), "Registry created")
	screenshot(t, ctx, shots, "overview")
	run(t, ctx, "registry list", chromedp.Navigate(e.base+"/portal/"), chromedp.WaitVisible("#create-h", chromedp.ByID))
	screenshot(t, ctx, shots, "registries")

	// Repositories and tags, read through the data plane while every
	// network may reach the registry.
	digest := e.push("portalweb", "hello", "v1")
	run(t, ctx, "repositories and tags",
		chromedp.Navigate(e.base+"/portal/registries/default/portalweb/repositories?repo=hello"), chromedp.WaitVisible("#tags-h", chromedp.ByID))
	tags := text(t, ctx, "#tags")
	for _, want := range []string{"v1", digest, "application/vnd.oci.image.manifest.v1+json", "application/spdx+json", "KiB"} {
		expectContains(t, "tags of hello", tags, want)
	}
	screenshot(t, ctx, shots, "repositories")
	run(t, ctx, "overview with content", chromedp.Navigate(e.base+"/portal/registries/default/portalweb"), chromedp.WaitVisible("#ess-h", chromedp.ByID))
	expectContains(t, "overview", text(t, ctx, "dl.facts"), "Repositories\n1")

	// The exception off, so that the page has it to turn on.
	reg := e.registryID("portalweb")
	e.api("PATCH", reg, map[string]any{"properties": map[string]any{"networkRuleBypassOptions": "None"}})

	net := e.base + "/portal/registries/default/portalweb/networking"
	// Before saving Selected networks, its impact on the traffic so far:
	// this host (the push above, the portal's reads) would be cut off.
	run(t, ctx, "preview Selected networks",
		chromedp.Navigate(net), chromedp.WaitVisible("#pna-h", chromedp.ByID),
		chromedp.Click(`input[name=mode][value=selected]`, chromedp.ByQuery),
		chromedp.Click("#preview-access", chromedp.ByID), chromedp.WaitVisible("#impact", chromedp.ByID))
	preview := text(t, ctx, "#impact")
	for _, want := range []string{"Not saved", "would newly deny", "Denied", "127.0.0.1", "no-matching-rule"} {
		expectContains(t, "impact preview", preview, want)
	}
	if got := dig(e.api("GET", reg, nil), "properties", "networkRuleSet", "defaultAction"); got != "Allow" {
		t.Fatalf("the preview saved the change: default action %v", got)
	}
	screenshot(t, ctx, shots, "networking-preview")
	run(t, ctx, "switch to Selected networks",
		chromedp.Navigate(net), chromedp.WaitVisible("#pna-h", chromedp.ByID),
		chromedp.Click(`input[name=mode][value=selected]`, chromedp.ByQuery),
		chromedp.Click("#save-access", chromedp.ByID), waitNotice("Public network access saved"))

	run(t, ctx, "add an address range",
		chromedp.Navigate(net), chromedp.WaitVisible("#ip", chromedp.ByID),
		chromedp.SendKeys("#ip", "203.0.113.0/24", chromedp.ByID),
		chromedp.Click("#add-ip", chromedp.ByID), waitNotice("Address range added"))

	run(t, ctx, "add an address range that expires in 8 hours",
		chromedp.Navigate(net), chromedp.WaitVisible("#ip", chromedp.ByID), clearNotice(),
		chromedp.SendKeys("#ip", "20.30.40.0/24", chromedp.ByID),
		chromedp.SetValue("#ip-expires", "8h", chromedp.ByID),
		chromedp.Click("#add-ip", chromedp.ByID), waitNotice("Address range added"))
	var expiring map[string]any
	for _, r := range dig(e.api("GET", e.registryID("portalweb"), nil), "properties", "networkRuleSet", "ipRules").([]any) {
		if m := r.(map[string]any); m["value"] == "20.30.40.0/24" {
			expiring = m
		}
	}
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(expiring["expiresOn"]))
	if err != nil || time.Until(exp) > 8*time.Hour || time.Until(exp) < 8*time.Hour-5*time.Minute {
		t.Fatalf("the rule added with Expires after 8 hours: %v", expiring)
	}
	expectContains(t, "firewall list", text(t, ctx, "ul.rules"), "20.30.40.0/24\nexpires "+exp.UTC().Format("2006-01-02 15:04 UTC"))
	run(t, ctx, "remove the expiring range", clearNotice(),
		chromedp.Click(`button[aria-label="Remove address range 20.30.40.0/24"]`, chromedp.ByQuery), waitNotice("removed"))

	run(t, ctx, "add a private range (refused)",
		chromedp.SendKeys("#ip", "10.9.0.0/16", chromedp.ByID),
		chromedp.Click("#add-ip", chromedp.ByID), chromedp.WaitVisible("#ip-error", chromedp.ByID))
	expectContains(t, "bad range message", text(t, ctx, "#ip-error"), "private range")
	var described string
	run(t, ctx, "error tied to the field", chromedp.AttributeValue("#ip", "aria-describedby", &described, nil, chromedp.ByID))
	expectContains(t, "aria-describedby", described, "ip-error")
	screenshot(t, ctx, shots, "networking-error")

	run(t, ctx, "add the subnet",
		chromedp.Navigate(net), chromedp.WaitVisible("#subnet", chromedp.ByID),
		chromedp.SetValue("#subnet", e.subnetID("corp", "apps"), chromedp.ByID),
		chromedp.Click("#add-subnet", chromedp.ByID), waitNotice("Virtual network rule added"))
	rule := dig(e.api("GET", reg, nil), "properties", "networkRuleSet", "virtualNetworkRules", 0, "virtualNetworkSubnetResourceId")
	if s, _ := rule.(string); !strings.EqualFold(s, e.subnetID("corp", "apps")) {
		t.Fatalf("virtual network rule after adding it in the portal: %v", rule)
	}
	screenshot(t, ctx, shots, "networking-subnet")
	// A registry uses either virtual network rules or private endpoints:
	// remove the rule, then a private endpoint asks for manual approval.
	run(t, ctx, "remove the subnet",
		chromedp.Click(`button[aria-label^="Remove virtual network rule"]`, chromedp.ByQuery),
		waitNotice("Virtual network rule removed"))
	e.api("PUT", e.group()+"/providers/Microsoft.Network/privateEndpoints/pe1", map[string]any{"location": "local",
		"properties": map[string]any{"subnet": map[string]any{"id": e.subnetID("corp", "endpoints")},
			"manualPrivateLinkServiceConnections": []any{map[string]any{"name": "conn",
				"properties": map[string]any{"privateLinkServiceId": reg, "groupIds": []string{"registry"}}}}}})

	run(t, ctx, "turn on the trusted-services exception and the tasks bypass",
		chromedp.Navigate(net), chromedp.WaitVisible("#trusted", chromedp.ByID),
		chromedp.Click("#trusted", chromedp.ByID), chromedp.Click("#tasks", chromedp.ByID),
		chromedp.Click("#save-bypass", chromedp.ByID), waitNotice("Exception saved"))

	expectContains(t, "pending connection", text(t, ctx, ".state-Pending"), "Pending")
	run(t, ctx, "approve the private endpoint connection",
		chromedp.Navigate(net), chromedp.WaitVisible("#pe-h", chromedp.ByID),
		chromedp.Click(`button[aria-label^="Approve"]`, chromedp.ByQuery), waitNotice("approved"))
	expectContains(t, "approved state", text(t, ctx, ".state-Approved"), "Approved")

	run(t, ctx, "check access",
		chromedp.SendKeys("#check-ip", "203.0.113.7", chromedp.ByID),
		chromedp.Click("#check", chromedp.ByID), chromedp.WaitVisible("#check-result", chromedp.ByID))
	expectContains(t, "check allowed", text(t, ctx, "#check-result"), "Allow")
	run(t, ctx, "check a denied address",
		chromedp.Navigate(net+"?check-ip=198.51.100.1"), chromedp.WaitVisible("#check-result", chromedp.ByID))
	expectContains(t, "check denied", text(t, ctx, "#check-result"), "Deny")

	// The browser comes from 127.0.0.1, which the rules now leave out: the
	// repository view shows the data plane's denial and its reason.
	run(t, ctx, "repositories (denied)",
		chromedp.Navigate(e.base+"/portal/registries/default/portalweb/repositories"), chromedp.WaitVisible(".denied", chromedp.ByQuery))
	denied := text(t, ctx, ".denied")
	expectContains(t, "denial", denied, "not allowed access")
	expectContains(t, "denial reason", denied, "127.0.0.1")
	screenshot(t, ctx, shots, "repositories-denied")

	// The denial reaches the audit within its flush interval (5 s) and is
	// listed under Recent denials.
	for deadline := time.Now().Add(30 * time.Second); ; {
		run(t, ctx, "recent denials", chromedp.Navigate(net+"?check-ip=203.0.113.7"), chromedp.WaitVisible("#dn-h", chromedp.ByID))
		if strings.Contains(text(t, ctx, "#denials"), "127.0.0.1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the portal's denied read is not under Recent denials: %s", text(t, ctx, "#denials"))
		}
		time.Sleep(time.Second)
	}
	screenshot(t, ctx, shots, "networking")
	run(t, ctx, "phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(net), chromedp.WaitVisible("#pna-h", chromedp.ByID))
	screenshot(t, ctx, shots, "networking-phone")
	run(t, ctx, "laptop width", chromedp.EmulateViewport(1280, 900))

	// The same state, read back through the management API.
	got := e.api("GET", reg, nil)
	props := got["properties"]
	for what, want := range map[string]any{
		"defaultAction":                    dig(props, "networkRuleSet", "defaultAction") == "Deny",
		"publicNetworkAccess":              dig(props, "publicNetworkAccess") == "Enabled",
		"ipRule":                           dig(props, "networkRuleSet", "ipRules", 0, "value") == "203.0.113.0/24",
		"one ipRule":                       len(dig(props, "networkRuleSet", "ipRules").([]any)) == 1,
		"vnetRule removed":                 len(dig(props, "networkRuleSet", "virtualNetworkRules").([]any)) == 0,
		"networkRuleBypassOptions":         dig(props, "networkRuleBypassOptions") == "AzureServices",
		"networkRuleBypassAllowedForTasks": dig(props, "networkRuleBypassAllowedForTasks") == true,
		"connection approved":              dig(props, "privateEndpointConnections", 0, "properties", "privateLinkServiceConnectionState", "status") == "Approved",
	} {
		if want != true {
			t.Errorf("%s: not as set in the portal; registry: %v", what, props)
		}
	}
	// And through the CLI, as an operator would check it.
	var rules struct {
		IPRules []struct {
			IPAddressOrRange string `json:"ipAddressOrRange"`
		} `json:"ipRules"`
	}
	if err := json.Unmarshal([]byte(e.cli(t, "acr", "network-rule", "list", "--name", "portalweb")), &rules); err != nil ||
		len(rules.IPRules) != 1 || rules.IPRules[0].IPAddressOrRange != "203.0.113.0/24" {
		t.Errorf("moat acr network-rule list after the portal's changes: %+v (%v), want the one range 203.0.113.0/24", rules, err)
	}
	for query, want := range map[string]string{
		"networkRuleSet.defaultAction": "Deny",
		"networkRuleBypassOptions":     "AzureServices",
		"privateEndpointConnections[0].privateLinkServiceConnectionState.status": "Approved",
	} {
		if got := strings.TrimSpace(e.cli(t, "acr", "show", "--name", "portalweb", "--query", query, "-o", "tsv")); got != want {
			t.Errorf("moat acr show --query %s: %q, want %q", query, got, want)
		}
	}

	// Access control: grant a new user AcrPush on the registry, refuse an
	// unknown assignee with the API's message, remove the grant.
	e.api("POST", "/graph/v1.0/users", map[string]any{"userPrincipalName": "dev@example.com", "passwordProfile": map[string]string{"password": "dev-pw-12345"}})
	access := e.base + "/portal/registries/default/portalweb/access"
	run(t, ctx, "add a role assignment",
		chromedp.Navigate(access), chromedp.WaitVisible("#assignee", chromedp.ByID),
		chromedp.SendKeys("#assignee", "dev@example.com", chromedp.ByID),
		chromedp.SetValue("#role", "AcrPush", chromedp.ByID),
		chromedp.Submit("#assignee", chromedp.ByID), waitNotice("Role assignment added"))
	expectContains(t, "inherited Owner", text(t, ctx, "table"), "inherited from /subscriptions/")
	screenshot(t, ctx, shots, "access")
	if n := e.assignments(reg, "AcrPush"); n != 1 {
		t.Fatalf("AcrPush assignments on the registry after adding one in the portal: %d", n)
	}
	run(t, ctx, "unknown assignee",
		chromedp.SendKeys("#assignee", "nobody-here", chromedp.ByID),
		chromedp.Submit("#assignee", chromedp.ByID), chromedp.WaitVisible("#assignee-error", chromedp.ByID))
	expectContains(t, "unknown assignee", text(t, ctx, "#assignee-error"), "does not exist")
	run(t, ctx, "remove the role assignment",
		chromedp.Navigate(access), chromedp.WaitVisible("#assignee", chromedp.ByID),
		chromedp.Click(`button[aria-label^="Remove AcrPush"]`, chromedp.ByQuery), chromedp.WaitVisible(".notice", chromedp.ByQuery))
	if n := e.assignments(reg, "AcrPush"); n != 0 {
		t.Fatalf("AcrPush assignments on the registry after removing it in the portal: %d", n)
	}
	run(t, ctx, "virtual networks", chromedp.Navigate(e.base+"/portal/vnets"), chromedp.WaitVisible("#vl-h", chromedp.ByID))
	expectContains(t, "vnets page", text(t, ctx, "table"), "Microsoft.ContainerRegistry")
	screenshot(t, ctx, shots, "vnets")
}

// TestPortalWithoutJavaScript: with script execution disabled in the
// browser, signing in and changing a rule still work (plain form posts).
func TestPortalWithoutJavaScript(t *testing.T) {
	e := start(t)
	ctx := browser(t)
	e.api("PUT", e.registryID("nojsreg1"), map[string]any{"location": "local", "sku": map[string]string{"name": "Premium"}})
	run(t, ctx, "disable JavaScript", emulation.SetScriptExecutionDisabled(true))
	signInWith(t, ctx, e.base, "admin", adminPassword)
	run(t, ctx, "add an address range without JavaScript",
		chromedp.Navigate(e.base+"/portal/registries/default/nojsreg1/networking"), chromedp.WaitVisible("#ip", chromedp.ByID),
		chromedp.SendKeys("#ip", "198.51.100.0/24", chromedp.ByID),
		chromedp.Click("#add-ip", chromedp.ByID), chromedp.WaitVisible(".notice", chromedp.ByQuery))
	got := e.api("GET", e.registryID("nojsreg1"), nil)
	if v := dig(got, "properties", "networkRuleSet", "ipRules", 0, "value"); v != "198.51.100.0/24" {
		t.Fatalf("ip rule after a post without JavaScript: %v", v)
	}
}
