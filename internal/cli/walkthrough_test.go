package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// walkthrough runs CLI command lines, written as a user types them into a
// shell, against a real server, and logs each one with what it printed so
// that the test log reads like the walkthrough it follows.
type walkthrough struct {
	t *testing.T
}

// exec runs one command line ("moat ..."), which may be continued over lines
// with a backslash as in the seed.
func (w *walkthrough) exec(line string) (string, string, int) {
	w.t.Helper()
	return w.execIn(line, "")
}

// execIn is exec with what the user types at a prompt.
func (w *walkthrough) execIn(line, stdin string) (string, string, int) {
	w.t.Helper()
	args := walkWords(w.t, line)
	if len(args) == 0 || args[0] != "moat" {
		w.t.Fatalf("not a moat command: %q", line)
	}
	var out, errb bytes.Buffer
	code := run(args[1:], strings.NewReader(stdin), &out, &errb)
	w.t.Logf("$ %s", line)
	if stdin != "" {
		w.t.Logf("(typed at the prompt: %q)", stdin)
	}
	if out.Len() > 0 {
		w.t.Logf("%s", strings.TrimSuffix(out.String(), "\n"))
	}
	if errb.Len() > 0 {
		w.t.Logf("%s", strings.TrimSuffix(errb.String(), "\n"))
	}
	if code != 0 {
		w.t.Logf("(exit status %d)", code)
	}
	return out.String(), errb.String(), code
}

// ok runs line, which must exit 0 with nothing on stderr, and returns stdout.
func (w *walkthrough) ok(line string) string {
	w.t.Helper()
	out, errOut, code := w.exec(line)
	if code != 0 || errOut != "" {
		w.t.Fatalf("%s: exit %d, stderr %q", line, code, errOut)
	}
	return out
}

// okWarn runs line, which must exit 0 and warn exactly warning.
func (w *walkthrough) okWarn(line, warning string) string {
	w.t.Helper()
	out, errOut, code := w.exec(line)
	if code != 0 || errOut != "WARNING: "+warning+"\n" {
		w.t.Fatalf("%s: exit %d, stderr %q; want the warning %q", line, code, errOut, warning)
	}
	return out
}

// json runs line, which must succeed, and decodes what it printed.
func (w *walkthrough) json(line string) object {
	w.t.Helper()
	out := w.ok(line)
	var v object
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		w.t.Fatalf("%s: output is not a JSON object: %v\n%s", line, err, out)
	}
	return v
}

// fails runs line, which must exit 1 with the one line "ERROR: " + want.
func (w *walkthrough) fails(line, want string) {
	w.t.Helper()
	out, errOut, code := w.exec(line)
	if code != 1 || out != "" || errOut != "ERROR: "+want+"\n" {
		w.t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and %q", line, code, out, errOut, "ERROR: "+want)
	}
}

// rules checks the registry's network rule set as `moat acr show` and
// `moat acr network-rule list` print it.
func (w *walkthrough) rules(defaultAction string, ipRules, subnets []string) {
	w.t.Helper()
	want := object{"defaultAction": defaultAction, "ipRules": walkIPRules(ipRules...), "virtualNetworkRules": walkSubnetRules(subnets...)}
	if got := w.json(`moat acr show --name myContainerRegistry --query networkRuleSet`); !walkSame(got, want) {
		w.t.Errorf("networkRuleSet = %s\nwant %s", walkJSON(got), walkJSON(want))
	}
	delete(want, "defaultAction")
	if got := w.json(`moat acr network-rule list --name mycontainerregistry`); !walkSame(got, want) {
		w.t.Errorf("network-rule list = %s\nwant %s", walkJSON(got), walkJSON(want))
	}
}

// pull sends the first request of `docker pull <login server>/hello-world:v1`
// from this host (127.0.0.1, a public client) and checks the status: 403
// with the DENIED body of SPEC 4 when the network rules refuse it.
func (w *walkthrough) pull(s *realServer, status int) {
	w.t.Helper()
	path := "/v2/mycontainerregistry/hello-world/manifests/v1"
	w.t.Logf("$ docker pull %s/mycontainerregistry/hello-world:v1   # GET %s", s.host, path)
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	w.t.Logf("%s %s", resp.Status, bytes.TrimSpace(body))
	if resp.StatusCode != status {
		w.t.Errorf("GET %s: %s, want %d", path, resp.Status, status)
	}
	if status == http.StatusForbidden && !strings.Contains(string(body), `"code":"DENIED"`) ||
		status == http.StatusForbidden && !strings.Contains(string(body), "client with IP '127.0.0.1' is not allowed access") {
		w.t.Errorf("GET %s: body %s", path, body)
	}
}

// token asks the token endpoint for a pull token with the refresh token
// that `moat acr login` wrote (what docker does next) and checks the status.
func (w *walkthrough) token(s *realServer, refresh string, status int) {
	w.t.Helper()
	scope := "repository:mycontainerregistry/hello-world:pull"
	w.t.Logf("$ docker pull ...   # POST /oauth2/token grant_type=refresh_token scope=%s", scope)
	form := url.Values{"grant_type": {"refresh_token"}, "service": {s.host}, "scope": {scope}, "refresh_token": {refresh}}
	resp, err := http.PostForm(s.base+"/oauth2/token", form)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if status == http.StatusOK {
		body = []byte("(a token)")
	}
	w.t.Logf("%s %s", resp.Status, bytes.TrimSpace(body))
	if resp.StatusCode != status {
		w.t.Errorf("POST /oauth2/token: %s, want %d", resp.Status, status)
	}
}

// denied checks that the registry's denial audit names this host.
func (w *walkthrough) denied() {
	w.t.Helper()
	out := w.ok(`moat acr network-rule denials --name mycontainerregistry --query "[].{ip: clientIp, reason: reason}" --output tsv`)
	if !strings.Contains(out, "127.0.0.1\tno-matching-rule\n") {
		w.t.Errorf("denials: %q", out)
	}
}

// check asks the server for the access decision of a client (line is the
// `moat acr network-rule check` command) and checks decision, reason and
// matched rule.
func (w *walkthrough) check(line, decision, reason, rule string) {
	w.t.Helper()
	got := w.json(line)
	if str(got, "decision") != decision || str(got, "reason") != reason || str(got, "matchedRule") != rule {
		w.t.Errorf("%s: decision %q, reason %q, rule %q; want %q, %q, %q", line,
			str(got, "decision"), str(got, "reason"), str(got, "matchedRule"), decision, reason, rule)
	}
}

// walkStr is str with list indexes ("0") in the path.
func walkStr(v any, path ...string) string {
	s, _ := walk(v, path...).(string)
	return s
}

// walk is the value at path, with list indexes ("0") in it (nil if none).
func walk(v any, path ...string) any {
	for _, k := range path {
		switch c := v.(type) {
		case object:
			v = c[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func walkIPRules(values ...string) []any {
	out := []any{}
	for _, v := range values {
		out = append(out, object{"action": "Allow", "ipAddressOrRange": v})
	}
	return out
}

func walkSubnetRules(ids ...string) []any {
	out := []any{}
	for _, id := range ids {
		out = append(out, object{"action": "Allow", "virtualNetworkResourceId": id, "virtualNetworkSubnetResourceId": id})
	}
	return out
}

// walkSame compares two values as JSON.
func walkSame(a, b any) bool {
	var x, y any
	_ = json.Unmarshal([]byte(walkJSON(a)), &x)
	_ = json.Unmarshal([]byte(walkJSON(b)), &y)
	return reflect.DeepEqual(x, y)
}

func walkJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// walkWords splits a command line as sh does for the simple lines of the
// walkthroughs: blanks separate words, '...' and "..." quote, and a
// backslash-newline continues the line.
func walkWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line) && line[i+1] == '\n':
			i++
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '"' || c == '\'':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				t.Fatalf("unterminated quote in %q", line)
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestSeedWalkthroughs runs the three CLI walkthroughs of
// shared/seeds/004 (restrict a registry to a subnet, restrict it to an IP
// address, restore default access) command for command with moat in place of
// az, against a real in-process server that requires sign-in. `az vm create`
// becomes `moat network vnet create` of the network az would create for the
// VM (myDockerVMVNET with subnet myDockerVMSubnet). Placeholders such as
// <subnet-resource-id> are replaced by what an earlier command printed.
func TestSeedWalkthroughs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	s := startServer(t)
	s.as("admin")
	t.Setenv("MOAT_SERVER", s.base) // so that the commands run exactly as printed
	if !s.authOn {
		t.Fatal("the server does not require sign-in for the management API")
	}
	w := &walkthrough{t: t}

	t.Log("## Sign in (the management API requires it)")
	w.fails(`moat group create --name myResourceGroup --location westus`,
		"not signed in to the moat server at "+s.base+": run 'moat login --server "+s.base+" -u USER -p PASSWORD' (or 'moat login --service-principal -u APPID -p SECRET')")
	login := w.ok(`moat login -u admin -p admin-password-1`)
	var subs []object
	if err := json.Unmarshal([]byte(login), &subs); err != nil || len(subs) == 0 {
		t.Fatalf("login printed %q: %v", login, err)
	}
	sub := str(subs[0], "id")
	if str(subs[0], "user", "name") != "admin" || sub == "" {
		t.Fatalf("login: %s", login)
	}

	t.Log("## Prerequisites: register the resource provider in the subscription of the virtual network")
	if out := w.ok(`moat account set --subscription ` + sub); out != "" {
		t.Errorf("account set printed %q", out)
	}
	if out := w.ok(`moat provider register --namespace Microsoft.ContainerRegistry`); out != "" {
		t.Errorf("provider register printed %q", out)
	}
	if out := w.ok(`moat provider show --namespace Microsoft.ContainerRegistry --query registrationState --output tsv`); out != "Registered\n" {
		t.Errorf("provider show: %q", out)
	}

	t.Log("## A resource group, a Premium registry in it, and the network of the VM (az vm create)")
	group := w.json(`moat group create --name myResourceGroup --location westus`)
	if str(group, "name") != "myResourceGroup" || str(group, "location") != "westus" ||
		str(group, "properties", "provisioningState") != "Succeeded" ||
		str(group, "id") != "/subscriptions/"+sub+"/resourceGroups/myResourceGroup" {
		t.Errorf("group create: %s", walkJSON(group))
	}
	reg := w.json(`moat acr create --resource-group myResourceGroup --name myContainerRegistry --sku Premium`)
	if str(reg, "name") != "myContainerRegistry" || str(reg, "sku", "name") != "Premium" || str(reg, "location") != "westus" ||
		str(reg, "resourceGroup") != "myResourceGroup" || str(reg, "provisioningState") != "Succeeded" ||
		str(reg, "publicNetworkAccess") != "Enabled" || str(reg, "loginServer") != s.host+"/mycontainerregistry" {
		t.Errorf("acr create: %s", walkJSON(reg))
	}
	w.rules("Allow", nil, nil)

	vnet := w.json(`moat network vnet create \
    --resource-group myResourceGroup \
    --name myDockerVMVNET \
    --subnet-name myDockerVMSubnet`)
	if !walkSame(dig(vnet, "newVNet", "addressSpace", "addressPrefixes"), []any{"10.0.0.0/16"}) ||
		str(vnet, "newVNet", "name") != "myDockerVMVNET" || str(vnet, "newVNet", "location") != "westus" ||
		walkStr(vnet, "newVNet", "subnets", "0", "name") != "myDockerVMSubnet" ||
		walkStr(vnet, "newVNet", "subnets", "0", "addressPrefix") != "10.0.0.0/24" {
		t.Errorf("vnet create: %s", walkJSON(vnet))
	}

	t.Log("# Walkthrough 1: allow access from a virtual network (CLI)")
	t.Log("## Add a service endpoint to a subnet")
	out := w.ok(`moat network vnet list --resource-group myResourceGroup --query "[].{Name: name, Subnet: subnets[0].name}"`)
	if want := "[\n  {\n    \"Name\": \"myDockerVMVNET\",\n    \"Subnet\": \"myDockerVMSubnet\"\n  }\n]\n"; out != want {
		t.Errorf("vnet list printed\n%s\nwant (the seed's output)\n%s", out, want)
	}

	// Before the service endpoint exists, the subnet cannot be given a rule:
	// the exact sentence of SPEC 2. (A user who skips the subnet update.)
	t.Log("## (Aside) adding the subnet rule before the subnet has the service endpoint is refused")
	subnetID := strings.TrimSuffix(w.ok(`moat network vnet subnet show \
  --name myDockerVMSubnet \
  --vnet-name myDockerVMVNET \
  --resource-group myResourceGroup \
  --query "id" \
  --output tsv`), "\n")
	if want := "/subscriptions/" + sub + "/resourceGroups/myResourceGroup/providers/Microsoft.Network/virtualNetworks/myDockerVMVNET/subnets/myDockerVMSubnet"; subnetID != want {
		t.Fatalf("subnet ID %q, want %q", subnetID, want)
	}
	w.fails(`moat acr network-rule add --name mycontainerregistry --subnet `+subnetID,
		"(NetworkRuleValidationError) Subnets myDockerVMSubnet of virtual network myDockerVMVNET do not have ServiceEndpoints for Microsoft.ContainerRegistry resources configured. "+
			"Add Microsoft.ContainerRegistry to subnet's ServiceEndpoints collection before trying to ACL Microsoft.ContainerRegistry resources to these subnets.")
	w.rules("Allow", nil, nil)

	subnet := w.json(`moat network vnet subnet update \
  --name myDockerVMSubnet \
  --vnet-name myDockerVMVNET \
  --resource-group myResourceGroup \
  --service-endpoints Microsoft.ContainerRegistry`)
	if str(subnet, "id") != subnetID || walkStr(subnet, "serviceEndpoints", "0", "service") != "Microsoft.ContainerRegistry" ||
		len(listOf(dig(subnet, "serviceEndpoints"))) != 1 || str(subnet, "addressPrefix") != "10.0.0.0/24" {
		t.Errorf("subnet update: %s", walkJSON(subnet))
	}
	out = w.ok(`moat network vnet subnet show \
  --name myDockerVMSubnet \
  --vnet-name myDockerVMVNET \
  --resource-group myResourceGroup \
  --query "id" \
  --output tsv`)
	if out != subnetID+"\n" {
		t.Errorf("subnet show printed %q, want %q", out, subnetID+"\n")
	}

	// Who may reach the registry before it is locked down: everyone.
	vmInSubnet := `moat acr network-rule check --name mycontainerregistry --subnet ` + subnetID + ` --ip-address 10.0.0.4`
	vmPublicIP := `moat acr network-rule check --name mycontainerregistry --ip-address 16.17.18.19`
	otherHost := `moat acr network-rule check --name mycontainerregistry --ip-address 16.17.18.20`
	w.check(vmInSubnet, "Allow", "default-allow", "")
	w.check(vmPublicIP, "Allow", "default-allow", "")
	w.check(otherHost, "Allow", "default-allow", "")

	t.Log("## Change default network access to registry")
	reg = w.json(`moat acr update --name myContainerRegistry --default-action Deny`)
	if str(reg, "name") != "myContainerRegistry" || str(reg, "networkRuleSet", "defaultAction") != "Deny" {
		t.Errorf("acr update: %s", walkJSON(reg))
	}
	w.rules("Deny", nil, nil)
	w.check(vmInSubnet, "Deny", "no-matching-rule", "")
	w.check(vmPublicIP, "Deny", "no-matching-rule", "")

	t.Log("## Add network rule to registry")
	added := w.json(`moat acr network-rule add --name mycontainerregistry --subnet ` + subnetID)
	wantChange := object{"name": "myContainerRegistry", "provisioningState": "Succeeded",
		"networkRuleSet": object{"defaultAction": "Deny", "ipRules": walkIPRules(), "virtualNetworkRules": walkSubnetRules(subnetID)}}
	if !walkSame(added, wantChange) {
		t.Errorf("network-rule add = %s\nwant %s", walkJSON(added), walkJSON(wantChange))
	}
	w.rules("Deny", nil, []string{subnetID})
	w.check(vmInSubnet, "Allow", "virtual-network-rule", subnetID)
	w.check(vmPublicIP, "Deny", "no-matching-rule", "")
	// Adding it again changes nothing.
	if again := w.json(`moat acr network-rule add --name mycontainerregistry --subnet ` + subnetID); !walkSame(again, wantChange) {
		t.Errorf("network-rule add again = %s", walkJSON(again))
	}

	t.Log("## Verify access to the registry: from this host, which is neither in the subnet nor has an IP rule")
	// az acr login ends with docker login, which the seed says another host
	// cannot do (403): moat acr login's exchange names the registry's login
	// server, so the network gate refuses it already there.
	if _, errOut, code := w.exec(`moat acr login --name mycontainerregistry`); code == 0 || !strings.Contains(errOut, "DENIED: client with IP '127.0.0.1' is not allowed access") {
		t.Errorf("acr login from a denied host: exit %d, %q", code, errOut)
	}
	w.pull(s, http.StatusForbidden)
	w.denied()

	t.Log("# Walkthrough 2: allow access from an IP address (CLI)")
	t.Log("## Change default network access to registry")
	reg = w.json(`moat acr update --name myContainerRegistry --default-action Deny`)
	if str(reg, "networkRuleSet", "defaultAction") != "Deny" || !walkSame(dig(reg, "networkRuleSet", "virtualNetworkRules"), walkSubnetRules(subnetID)) {
		t.Errorf("acr update (again): %s", walkJSON(reg))
	}
	w.rules("Deny", nil, []string{subnetID})

	t.Log("## Remove network rule from registry")
	// Remove service endpoint
	subnet = w.json(`moat network vnet subnet update \
  --name myDockerVMSubnet \
  --vnet-name myDockerVMVNET \
  --resource-group myResourceGroup \
  --service-endpoints ""`)
	if len(listOf(dig(subnet, "serviceEndpoints"))) != 0 {
		t.Errorf("subnet update --service-endpoints \"\": %s", walkJSON(subnet))
	}
	// SPEC 2: the rule stays, but the subnet's traffic no longer carries its identity.
	w.rules("Deny", nil, []string{subnetID})
	w.check(vmInSubnet, "Deny", "no-matching-rule", "")
	// Remove network rule
	removed := w.json(`moat acr network-rule remove --name mycontainerregistry --subnet ` + subnetID)
	wantChange = object{"name": "myContainerRegistry", "provisioningState": "Succeeded",
		"networkRuleSet": object{"defaultAction": "Deny", "ipRules": walkIPRules(), "virtualNetworkRules": walkSubnetRules()}}
	if !walkSame(removed, wantChange) {
		t.Errorf("network-rule remove = %s\nwant %s", walkJSON(removed), walkJSON(wantChange))
	}
	w.rules("Deny", nil, nil)

	t.Log("## Add network rule to registry")
	added = w.json(`moat acr network-rule add --name mycontainerregistry --ip-address 16.17.18.19`)
	wantChange = object{"name": "myContainerRegistry", "provisioningState": "Succeeded",
		"networkRuleSet": object{"defaultAction": "Deny", "ipRules": walkIPRules("16.17.18.19"), "virtualNetworkRules": walkSubnetRules()}}
	if !walkSame(added, wantChange) {
		t.Errorf("network-rule add = %s\nwant %s", walkJSON(added), walkJSON(wantChange))
	}
	w.rules("Deny", []string{"16.17.18.19"}, nil)
	w.check(vmPublicIP, "Allow", "ip-rule", "16.17.18.19")
	w.check(otherHost, "Deny", "no-matching-rule", "")
	w.check(vmInSubnet, "Deny", "no-matching-rule", "")
	t.Log("## Verify access to the registry: this host still has no rule")
	w.pull(s, http.StatusForbidden)

	t.Log("# Walkthrough 3: restore default registry access (CLI)")
	t.Log("## Remove network rules")
	// The seed's own spelling, "list--name", and the corrected one.
	for _, line := range []string{`moat acr network-rule list--name mycontainerregistry`, `moat acr network-rule list --name mycontainerregistry`} {
		listed := w.json(line)
		if want := (object{"ipRules": walkIPRules("16.17.18.19"), "virtualNetworkRules": walkSubnetRules()}); !walkSame(listed, want) {
			t.Errorf("%s = %s\nwant %s", line, walkJSON(listed), walkJSON(want))
		}
	}
	// Remove a rule that allows access for a subnet: the subnet rule went
	// in walkthrough 2, so there is nothing to remove.
	out = w.okWarn(`moat acr network-rule remove \
  --name mycontainerregistry \
  --subnet `+subnetID, "registry myContainerRegistry has no such rule; nothing was removed")
	var unchanged object
	if err := json.Unmarshal([]byte(out), &unchanged); err != nil || !walkSame(unchanged, wantChange) {
		t.Errorf("network-rule remove of an absent rule = %s (%v)\nwant %s", out, err, walkJSON(wantChange))
	}
	// The seed breaks the subnet ID over two lines ("--subnet /subscriptions/ \
	// xxxxxxxx-..."): pasted as printed, a shell passes two words, which is
	// refused (as az refuses it) and changes nothing.
	broken := strings.Replace(subnetID, "/subscriptions/", "/subscriptions/ \\\n  ", 1)
	w.fails(`moat acr network-rule remove \
  --name mycontainerregistry \
  --subnet `+broken, "unrecognized arguments: "+strings.TrimPrefix(subnetID, "/subscriptions/"))
	w.rules("Deny", []string{"16.17.18.19"}, nil)
	// Remove a rule that allows access for an IP address or CIDR range (the
	// value that network-rule list printed).
	removed = w.json(`moat acr network-rule remove \
  --name mycontainerregistry \
  --ip-address 16.17.18.19`)
	wantChange = object{"name": "myContainerRegistry", "provisioningState": "Succeeded",
		"networkRuleSet": object{"defaultAction": "Deny", "ipRules": walkIPRules(), "virtualNetworkRules": walkSubnetRules()}}
	if !walkSame(removed, wantChange) {
		t.Errorf("network-rule remove = %s\nwant %s", walkJSON(removed), walkJSON(wantChange))
	}
	w.rules("Deny", nil, nil)
	w.check(vmPublicIP, "Deny", "no-matching-rule", "")

	t.Log("## Allow access")
	reg = w.json(`moat acr update --name myContainerRegistry --default-action Allow`)
	if str(reg, "networkRuleSet", "defaultAction") != "Allow" {
		t.Errorf("acr update: %s", walkJSON(reg))
	}
	w.rules("Allow", nil, nil)
	w.check(vmInSubnet, "Allow", "default-allow", "")
	w.check(vmPublicIP, "Allow", "default-allow", "")
	w.check(otherHost, "Allow", "default-allow", "")
	if out := w.ok(`moat acr login --name mycontainerregistry`); out != "Login Succeeded\n" {
		t.Errorf("acr login after restoring access: %q", out)
	}
	w.token(s, s.identityToken(), http.StatusOK)
	w.pull(s, http.StatusUnauthorized) // past the network gate: the usual auth challenge

	t.Log("# A Standard registry cannot deny by default (network rules are Premium only)")
	std := w.json(`moat acr create --resource-group myResourceGroup --name myStandardRegistry --sku Standard`)
	if str(std, "sku", "name") != "Standard" {
		t.Errorf("acr create: %s", walkJSON(std))
	}
	w.fails(`moat acr update --name myStandardRegistry --default-action Deny`,
		"(NetworkRuleNotSupported) network rules (default action Deny, IP rules, virtual-network rules) are not supported for the SKU Standard; "+
			"use the Premium SKU (moat acr update --name <registry> --sku Premium), or remove the rules and set --default-action Allow first")
	if out := w.ok(`moat acr show --name myStandardRegistry --query networkRuleSet.defaultAction --output tsv`); out != "Allow\n" {
		t.Errorf("Standard registry after the refused update: %q", out)
	}

	t.Log("# Clean up resources")
	// The seed's command asks for confirmation; answering n keeps everything.
	out, errOut, code := w.execIn(`moat group delete --name myResourceGroup`, "n\n")
	if code != 1 || out != "" || errOut != "Are you sure you want to delete the resource group 'myResourceGroup' and all its resources? (y/n): ERROR: operation cancelled\n" {
		t.Errorf("group delete answered n: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out := w.ok(`moat group exists --name myResourceGroup`); out != "true\n" {
		t.Errorf("group exists after a cancelled delete: %q", out)
	}
	if out := w.ok(`moat group delete --name myResourceGroup --yes`); out != "" {
		t.Errorf("group delete printed %q", out)
	}
	if out := w.ok(`moat group exists --name myResourceGroup`); out != "false\n" {
		t.Errorf("group exists after delete: %q", out)
	}
	if out := w.ok(`moat acr list --query "[].name" --output tsv`); out != "" {
		t.Errorf("registries left after group delete: %q", out)
	}
	if out := w.ok(`moat network vnet list --query "[].name" --output tsv`); out != "" {
		t.Errorf("virtual networks left after group delete: %q", out)
	}
	w.fails(`moat acr show --name myContainerRegistry`,
		`(ResourceNotFound) registry "myContainerRegistry" was not found in subscription `+sub+"; `moat acr list` shows the registries")
}
