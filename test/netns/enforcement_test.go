package netns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/network/netguard"
)

// Addresses of the listeners of the moat server in the standard topology.
var (
	pubAddr  = netip.AddrPortFrom(MoatPublicIP, 5000)      // public listener, lb trusted
	vnetAddr = netip.AddrPortFrom(MoatVNetIP, 5001)        // virtual-network listener (ingress)
	peAddr   = netip.AddrPortFrom(PrivateEndpointIP, 5001) // virtual-network listener on the PE's IP
)

// Internet2 is a second internet client that no IP rule names.
const Internet2 = "internet2"

var Internet2IP = netip.MustParseAddr("16.17.18.77")

// loginSuffix makes host-style addressing available (<registry>.moat.test)
// next to path style on IP addresses, so that a `docker login`-style GET /v2/
// addresses a registry.
const loginSuffix = "moat.test"

// TestNetworkEnforcement reproduces the network-access walkthroughs end to
// end: a real moat server in the moat namespace with a public listener
// (trusting the lb host as a proxy) and a virtual-network listener (on the
// ingress address and on the private endpoint's address), configured with
// the moat CLI, and real clients (crane, raw HTTP with X-Forwarded-For and
// PROXY headers) in the client namespaces. Every change is checked with the
// very next request: no sleeps, no retries.
func TestNetworkEnforcement(t *testing.T) {
	Require(t) // skips with "needs root to create network namespaces" when not root
	crane := findCrane(t)
	begin := time.Now()

	spec := StandardSpec()
	spec.Hosts = append(spec.Hosts, HostSpec{Name: Internet2, NICs: []NIC{{Segment: "internet",
		Addrs: []netip.Prefix{netip.PrefixFrom(Internet2IP, 32)}, Routes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}}})
	n := New(t, spec)
	bin := moatBinary(t)

	public := listenerSpec{Name: "internet", Address: pubAddr.String(), Kind: "public", TrustedProxies: []string{LBIP.String() + "/32"}}
	// Clients reach host-style names on port 80 (corp-http below), not on the
	// public listener's port: the suffix says so, and login servers have no port.
	srv := startMoat(t, n.Host(Moat), bin, loginSuffix+":80", []listenerSpec{public}, pubAddr.String(), n.Host(Internet))
	// The virtual-network listeners name the network by ID, which needs the
	// server's subscription: add them now and reload (SIGHUP).
	vnetID := "/subscriptions/" + srv.sub + "/resourceGroups/default/providers/Microsoft.Network/virtualNetworks/corp"
	listeners := []listenerSpec{public,
		{Name: "corp", Address: vnetAddr.String(), Kind: "virtualNetwork", VirtualNetwork: vnetID},
		{Name: "corp-pe", Address: peAddr.String(), Kind: "virtualNetwork", VirtualNetwork: vnetID},
		// Host-style login servers (<registry>.moat.test) are on port 80.
		{Name: "corp-http", Address: netip.AddrPortFrom(MoatVNetIP, 80).String(), Kind: "virtualNetwork", VirtualNetwork: vnetID}}
	srv.reload(t, listeners)
	for _, a := range []netip.AddrPort{vnetAddr, peAddr} {
		if st, body := httpGet(t, n.Host(CorpA), a.String(), "/v2/", "", nil); st != http.StatusUnauthorized {
			t.Fatalf("after the reload, GET http://%s/v2/ from corp-a: %d %s, want 401", a, st, body)
		}
	}

	e := &enforcement{srv: srv, n: n, digests: map[string]string{}}
	e.setUp(t, crane)

	allow := func(reason, path string) expect { return expect{Allow: true, Reason: reason, Path: path} }
	deny := func(reason, path string) expect { return expect{Allow: false, Reason: reason, Path: path} }
	const (
		pub = "public"
		se  = "serviceEndpoint"
		pe  = "privateEndpoint"
	)
	corpA := netIdentity{IP: CorpAIP.String(), Subnet: e.subnetA}
	corpAPublic := netIdentity{IP: CorpAIP.String()}
	corpB := netIdentity{IP: CorpBIP.String()}
	peClient := netIdentity{IP: PEClientIP.String()}
	internet := netIdentity{IP: InternetIP.String()}
	internet2 := netIdentity{IP: Internet2IP.String()}
	lb := netIdentity{IP: LBIP.String()}
	reg1, reg2 := e.reg1, e.reg2
	xff := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }
	src := func(a netip.Addr) netip.AddrPort { return netip.AddrPortFrom(a, 40123) }

	ok := t.Run("0 open by default", func(t *testing.T) {
		e.pull(t, "0", CorpA, vnetAddr, reg1, corpA, allow("default-allow", se))
		e.pull(t, "0", CorpB, vnetAddr, reg1, corpB, allow("default-allow", pub))
		e.pull(t, "0", PEClient, vnetAddr, reg1, peClient, allow("default-allow", pub))
		e.pull(t, "0", Internet, pubAddr, reg1, internet, allow("default-allow", pub))
		e.pull(t, "0", Internet2, pubAddr, reg1, internet2, allow("default-allow", pub))
	})
	if !ok {
		t.Fatal("the open registry is not reachable: the scenarios would prove nothing")
	}

	t.Run("1 default Deny + subnet rule", func(t *testing.T) {
		srv.cli(t, "acr", "update", "--name", reg1, "--default-action", "Deny", "--output", "none")
		srv.cli(t, "acr", "network-rule", "add", "--name", reg1, "--subnet", e.subnetA, "--output", "none")
		e.pull(t, "1", CorpA, vnetAddr, reg1, corpA, allow("virtual-network-rule", se))
		e.login(t, "1", CorpA, vnetAddr, reg1, corpA, allow("virtual-network-rule", se))
		e.pull(t, "1", CorpB, vnetAddr, reg1, corpB, deny("no-matching-rule", pub))
		e.push(t, "1", CorpA, vnetAddr, reg1, corpA, allow("virtual-network-rule", se))
		e.push(t, "1", CorpB, vnetAddr, reg1, corpB, deny("no-matching-rule", pub))
		e.token(t, "1", CorpB, vnetAddr, "", nil, nil, reg1, corpB, deny("no-matching-rule", pub))
		e.login(t, "1", CorpB, vnetAddr, reg1, corpB, deny("no-matching-rule", pub))
		// The subnet's identity exists only on the virtual-network listener.
		e.pull(t, "1", CorpA, pubAddr, reg1, corpAPublic, deny("no-matching-rule", pub))
		e.pull(t, "1", PEClient, vnetAddr, reg1, peClient, deny("no-matching-rule", pub))
		// The path-style catalog lists only registries the client may reach.
		e.catalog(t, "1", CorpA, vnetAddr, reg1, true)
		e.catalog(t, "1", CorpB, vnetAddr, reg1, false)
		e.pull(t, "1", Internet, pubAddr, reg1, internet, deny("no-matching-rule", pub))
	})

	t.Run("1b moat acr login, host style", func(t *testing.T) {
		// <reg1>.moat.test resolves to the virtual-network listener on port 80.
		e.acrLogin(t, "1b", CorpA, reg1, corpA, allow("virtual-network-rule", se))
		e.pullRef(t, "1b", CorpA, "crane "+reg1+"."+loginSuffix, reg1+"."+loginSuffix+"/app:v1", reg1, corpA, allow("virtual-network-rule", se))
		e.acrLogin(t, "1b", CorpB, reg1, corpB, deny("no-matching-rule", pub))
		// Without credentials: refused before authentication all the same.
		e.pullRef(t, "1b", CorpB, "crane "+reg1+"."+loginSuffix, reg1+"."+loginSuffix+"/app:v1", reg1, corpB, deny("no-matching-rule", pub))
	})

	t.Run("2 IP rule", func(t *testing.T) {
		srv.cli(t, "acr", "network-rule", "add", "--name", reg1, "--ip-address", InternetIP.String(), "--output", "none")
		e.pull(t, "2", Internet, pubAddr, reg1, internet, allow("ip-rule", pub))
		e.pull(t, "2", Internet2, pubAddr, reg1, internet2, deny("no-matching-rule", pub))
		e.token(t, "2", Internet2, pubAddr, "", nil, nil, reg1, internet2, deny("no-matching-rule", pub))
		e.pull(t, "2", CorpA, vnetAddr, reg1, corpA, allow("virtual-network-rule", se))
		e.pull(t, "2", CorpB, vnetAddr, reg1, corpB, deny("no-matching-rule", pub))
	})

	t.Run("3 proxies and spoofing", func(t *testing.T) {
		// lb is a trusted proxy of the public listener.
		e.token(t, "3", LB, pubAddr, "no header", nil, nil, reg1, lb, deny("no-matching-rule", pub))
		e.token(t, "3", LB, pubAddr, "XFF 16.17.18.19", nil, xff(InternetIP.String()), reg1, internet, allow("ip-rule", pub))
		e.token(t, "3", LB, pubAddr, "XFF 16.17.18.77", nil, xff(Internet2IP.String()), reg1, internet2, deny("no-matching-rule", pub))
		// A client's own claim, left of what the proxy appended, gains nothing.
		e.token(t, "3", LB, pubAddr, "XFF 16.17.18.19, 16.17.18.77", nil, xff(InternetIP.String()+", "+Internet2IP.String()), reg1, internet2, deny("no-matching-rule", pub))
		e.token(t, "3", LB, pubAddr, "PROXY v1 16.17.18.19", proxyV1(src(InternetIP), pubAddr), nil, reg1, internet, allow("ip-rule", pub))
		e.token(t, "3", LB, pubAddr, "PROXY v2 16.17.18.19", proxyV2(src(InternetIP), pubAddr), nil, reg1, internet, allow("ip-rule", pub))
		e.token(t, "3", LB, pubAddr, "PROXY v1 16.17.18.77", proxyV1(src(Internet2IP), pubAddr), nil, reg1, internet2, deny("no-matching-rule", pub))
		e.token(t, "3", LB, pubAddr, "PROXY v2 16.17.18.77", proxyV2(src(Internet2IP), pubAddr), nil, reg1, internet2, deny("no-matching-rule", pub))
		// Untrusted peers: X-Forwarded-For is ignored, a PROXY header closes the connection.
		e.token(t, "3", Internet2, pubAddr, "forged XFF 16.17.18.19", nil, xff(InternetIP.String()), reg1, internet2, deny("no-matching-rule", pub))
		e.token(t, "3", CorpB, pubAddr, "forged XFF 16.17.18.19", nil, xff(InternetIP.String()), reg1, corpB, deny("no-matching-rule", pub))
		e.token(t, "3", CorpB, vnetAddr, "forged XFF 10.77.1.10", nil, xff(CorpAIP.String()), reg1, corpB, deny("no-matching-rule", pub))
		e.closed(t, "3", Internet2, pubAddr, "forged PROXY v1 16.17.18.19", proxyV1(src(InternetIP), pubAddr), reg1)
		e.closed(t, "3", Internet2, pubAddr, "forged PROXY v2 16.17.18.19", proxyV2(src(InternetIP), pubAddr), reg1)
		e.closed(t, "3", CorpB, vnetAddr, "forged PROXY v1 10.77.1.10", proxyV1(src(CorpAIP), vnetAddr), reg1)
		e.closed(t, "3", CorpB, vnetAddr, "forged PROXY v2 10.77.1.10", proxyV2(src(CorpAIP), vnetAddr), reg1)
		// The real clients behind the forged headers are unaffected.
		e.pull(t, "3", Internet, pubAddr, reg1, internet, allow("ip-rule", pub))
	})

	t.Run("3b listener reload changes the trusted proxies", func(t *testing.T) {
		untrusted := public
		untrusted.TrustedProxies = nil
		corpListeners := listeners[1:]
		// A connection that lb opened with a PROXY header while it was trusted...
		rc := dialRaw(t, n.Host(LB), pubAddr.String(), proxyV1(src(InternetIP), pubAddr))
		e.expectResponse(t, "3b", LB, "token "+pubAddr.String()+" PROXY v1 16.17.18.19, kept open", reg1, internet, allow("ip-rule", pub),
			rc.do(tokenRequest(pubAddr.String(), reg1, "app", "admin", srv.password, nil)), http.StatusOK)
		srv.reload(t, append([]listenerSpec{untrusted}, corpListeners...))
		// ...has no identity for its next request once lb is no longer trusted (fail closed).
		r := rc.do(tokenRequest(pubAddr.String(), reg1, "app", "admin", srv.password, nil))
		var body struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		if r.Status != http.StatusForbidden || json.Unmarshal([]byte(r.Body), &body) != nil || len(body.Errors) != 1 ||
			body.Errors[0].Code != "DENIED" || strings.Contains(body.Errors[0].Message, InternetIP.String()) {
			t.Errorf("3b: lb: next request on the PROXY connection after lb stopped being trusted: %s, want 403 DENIED (fail closed, not as %s)", r, InternetIP)
		}
		e.rows = append(e.rows, tableRow{Scenario: "3b", Client: LB, Via: "token " + pubAddr.String() + " same PROXY conn after reload",
			Registry: reg1, Expected: "deny (no-network-identity)", Observed: fmt.Sprint(r.Status), WhatIf: "-"})
		e.expectDenial(reg1, denialKey{Reason: "no-network-identity"})
		e.token(t, "3b", LB, pubAddr, "XFF 16.17.18.19 (lb untrusted)", nil, xff(InternetIP.String()), reg1, lb, deny("no-matching-rule", pub))
		e.closed(t, "3b", LB, pubAddr, "PROXY v1 16.17.18.19 (lb untrusted)", proxyV1(src(InternetIP), pubAddr), reg1)
		srv.reload(t, listeners)
		e.token(t, "3b", LB, pubAddr, "XFF 16.17.18.19 (lb trusted again)", nil, xff(InternetIP.String()), reg1, internet, allow("ip-rule", pub))
	})

	t.Run("4 restore default access", func(t *testing.T) {
		// Each removal is in force for the next request...
		srv.cli(t, "acr", "network-rule", "remove", "--name", reg1, "--subnet", e.subnetA, "--output", "none")
		e.pull(t, "4", CorpA, vnetAddr, reg1, corpA, deny("no-matching-rule", se))
		srv.cli(t, "acr", "network-rule", "remove", "--name", reg1, "--ip-address", InternetIP.String(), "--output", "none")
		e.pull(t, "4", Internet, pubAddr, reg1, internet, deny("no-matching-rule", pub))
		var rules struct {
			IPRules             []json.RawMessage `json:"ipRules"`
			VirtualNetworkRules []json.RawMessage `json:"virtualNetworkRules"`
		}
		srv.cliJSON(t, &rules, "acr", "network-rule", "list", "--name", reg1)
		if len(rules.IPRules)+len(rules.VirtualNetworkRules) != 0 {
			t.Errorf("network-rule list after removing both rules: %+v", rules)
		}
		// ...and so is default Allow.
		srv.cli(t, "acr", "update", "--name", reg1, "--default-action", "Allow", "--output", "none")
		e.pull(t, "4", CorpA, vnetAddr, reg1, corpA, allow("default-allow", se))
		e.pull(t, "4", CorpB, vnetAddr, reg1, corpB, allow("default-allow", pub))
		e.pull(t, "4", PEClient, vnetAddr, reg1, peClient, allow("default-allow", pub))
		e.pull(t, "4", Internet, pubAddr, reg1, internet, allow("default-allow", pub))
		e.pull(t, "4", Internet2, pubAddr, reg1, internet2, allow("default-allow", pub))
		e.token(t, "4", LB, pubAddr, "no header", nil, nil, reg1, lb, allow("default-allow", pub))
	})

	t.Run("5 private endpoint, public access disabled", func(t *testing.T) {
		regID := srv.cliTSV(t, "id", "acr", "show", "--name", reg2)
		srv.cli(t, "network", "private-endpoint", "create", "--name", "pe1", "--vnet-name", "corp", "--subnet", "pe",
			"--private-connection-resource-id", regID, "--group-id", "registry", "--connection-name", "conn1",
			"--ip-address", PrivateEndpointIP.String(), "--output", "none")
		e.peID = srv.cliTSV(t, "id", "network", "private-endpoint", "show", "--name", "pe1")
		var conns []struct { // flattened, as az prints it
			Name  string `json:"name"`
			State struct {
				Status string `json:"status"`
			} `json:"privateLinkServiceConnectionState"`
		}
		srv.cliJSON(t, &conns, "acr", "private-endpoint-connection", "list", "--registry-name", reg2)
		if len(conns) != 1 || !strings.EqualFold(conns[0].State.Status, "Approved") {
			t.Fatalf("private endpoint connections of %s: %+v, want one Approved (the creator may write the registry)", reg2, conns)
		}
		peClientPE := netIdentity{IP: PEClientIP.String(), PE: e.peID}
		corpAPE := netIdentity{IP: CorpAIP.String(), PE: e.peID}
		// A registry cannot have private endpoints and virtual-network rules at once.
		if out, err := srv.cliRaw(nil, "acr", "network-rule", "add", "--name", reg2, "--subnet", e.subnetA); err == nil {
			t.Errorf("adding a virtual-network rule to %s, which has a private endpoint, succeeded:\n%s", reg2, out)
		} else if !strings.Contains(strings.ToLower(out), "private endpoint") {
			t.Errorf("refusal of a virtual-network rule next to a private endpoint does not say why:\n%s", out)
		}

		e.pull(t, "5", PEClient, peAddr, reg2, peClientPE, allow("private-endpoint", pe))
		srv.cli(t, "acr", "update", "--name", reg2, "--public-network-enabled", "false", "--output", "none")
		e.pull(t, "5", PEClient, peAddr, reg2, peClientPE, allow("private-endpoint", pe))
		e.pull(t, "5", CorpA, peAddr, reg2, corpAPE, allow("private-endpoint", pe))
		e.pull(t, "5", CorpA, vnetAddr, reg2, corpA, deny("public-access-disabled", se))
		e.pull(t, "5", PEClient, vnetAddr, reg2, peClient, deny("public-access-disabled", pub))
		e.pull(t, "5", Internet, pubAddr, reg2, internet, deny("public-access-disabled", pub))
		e.token(t, "5", LB, pubAddr, "XFF 16.17.18.19", nil, xff(InternetIP.String()), reg2, internet, deny("public-access-disabled", pub))
		// The endpoint leads to its own registry only.
		e.pull(t, "5", PEClient, peAddr, reg1, peClientPE, deny("private-endpoint-not-approved", pe))

		conn := conns[0].Name
		srv.cli(t, "acr", "private-endpoint-connection", "reject", "--registry-name", reg2, "--name", conn,
			"--description", "netns test", "--output", "none")
		e.pull(t, "5", PEClient, peAddr, reg2, peClientPE, deny("private-endpoint-not-approved", pe))
		e.login(t, "5", PEClient, peAddr, reg2, peClientPE, deny("private-endpoint-not-approved", pe))
		e.pull(t, "5", Internet, pubAddr, reg2, internet, deny("public-access-disabled", pub))
	})

	t.Run("6 service endpoint removed", func(t *testing.T) {
		// (1) again on reg1, which has no private endpoint.
		srv.cli(t, "acr", "update", "--name", reg1, "--default-action", "Deny", "--output", "none")
		srv.cli(t, "acr", "network-rule", "add", "--name", reg1, "--subnet", e.subnetA, "--output", "none")
		e.pull(t, "6", CorpA, vnetAddr, reg1, corpA, allow("virtual-network-rule", se))
		e.pull(t, "6", CorpB, vnetAddr, reg1, corpB, deny("no-matching-rule", pub))

		// And the other half of the exclusivity rule.
		regID := srv.cliTSV(t, "id", "acr", "show", "--name", reg1)
		if out, err := srv.cliRaw(nil, "network", "private-endpoint", "create", "--name", "pe2", "--vnet-name", "corp", "--subnet", "pe",
			"--private-connection-resource-id", regID, "--group-id", "registry", "--connection-name", "conn2",
			"--ip-address", "10.77.3.5"); err == nil {
			t.Errorf("a private endpoint to %s, which has a virtual-network rule, was created:\n%s", reg1, out)
		}

		// corp-a, allowed, holds a connection and a token, and reads the
		// manifest and the layer with them...
		rc := dialRaw(t, n.Host(CorpA), vnetAddr.String(), nil)
		tok := e.tokenOn(t, rc, vnetAddr, reg1)
		manifestPath := "/v2/" + reg1 + "/app/manifests/v1"
		r := rc.do(dataGet(vnetAddr, manifestPath, tok))
		var man struct {
			Layers []struct {
				Digest string `json:"digest"`
			} `json:"layers"`
		}
		if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &man) != nil || len(man.Layers) != 1 {
			t.Fatalf("6: corp-a: GET %s with a token: %s", manifestPath, r)
		}
		blobPath := "/v2/" + reg1 + "/app/blobs/" + man.Layers[0].Digest
		e.expectResponse(t, "6", CorpA, "GET blob (token, kept conn)", reg1, corpA, allow("virtual-network-rule", se),
			rc.do(dataGet(vnetAddr, blobPath, tok)), http.StatusOK)

		srv.cli(t, "network", "vnet", "subnet", "update", "--vnet-name", "corp", "--name", "a", "--service-endpoints", "", "--output", "none")
		// ...but neither gets it past the gate on the very next request.
		e.expectResponse(t, "6", CorpA, "GET manifest (same token, same conn)", reg1, corpA, deny("no-matching-rule", pub),
			rc.do(dataGet(vnetAddr, manifestPath, tok)), http.StatusOK)
		e.expectResponse(t, "6", CorpA, "GET blob (same token, same conn)", reg1, corpA, deny("no-matching-rule", pub),
			rc.do(dataGet(vnetAddr, blobPath, tok)), http.StatusOK)
		e.pull(t, "6", CorpA, vnetAddr, reg1, corpA, deny("no-matching-rule", pub))
		e.login(t, "6", CorpA, vnetAddr, reg1, corpA, deny("no-matching-rule", pub))
		if got := srv.cliTSV(t, "virtualNetworkRules[].virtualNetworkResourceId", "acr", "network-rule", "list", "--name", reg1); !strings.EqualFold(got, e.subnetA) {
			t.Errorf("the subnet rule must stay after its service endpoint is removed; network-rule list shows %q", got)
		}
		srv.cli(t, "network", "vnet", "subnet", "update", "--vnet-name", "corp", "--name", "a",
			"--service-endpoints", "Microsoft.ContainerRegistry", "--output", "none")
		e.pull(t, "6", CorpA, vnetAddr, reg1, corpA, allow("virtual-network-rule", se))
	})

	t.Run("6b same address space, another virtual network", func(t *testing.T) {
		// corp2 reuses corp's addresses; the listener is bound to corp, so
		// nothing of corp2 may match its traffic.
		srv.cli(t, "network", "vnet", "create", "--name", "corp2", "--address-prefixes", VNet.String(),
			"--subnet-name", "a", "--subnet-prefixes", SubnetA.String(), "--output", "none")
		srv.cli(t, "network", "vnet", "subnet", "create", "--vnet-name", "corp2", "--name", "pe", "--address-prefixes", PESubnet.String(), "--output", "none")
		srv.cli(t, "network", "vnet", "subnet", "update", "--vnet-name", "corp2", "--name", "a",
			"--service-endpoints", "Microsoft.ContainerRegistry", "--output", "none")
		subnetA2 := srv.cliTSV(t, "id", "network", "vnet", "subnet", "show", "--vnet-name", "corp2", "--name", "a")
		srv.cli(t, "acr", "network-rule", "add", "--name", reg1, "--subnet", subnetA2, "--output", "none")
		srv.cli(t, "acr", "network-rule", "remove", "--name", reg1, "--subnet", e.subnetA, "--output", "none")
		e.pull(t, "6b", CorpA, vnetAddr, reg1, corpA, deny("no-matching-rule", se))

		// A private endpoint of corp2 at the same IP as corp's pe1.
		reg3 := e.reg3
		regID := srv.cliTSV(t, "id", "acr", "show", "--name", reg3)
		srv.cli(t, "network", "private-endpoint", "create", "--name", "pe3", "--vnet-name", "corp2", "--subnet", "pe",
			"--private-connection-resource-id", regID, "--group-id", "registry", "--connection-name", "conn3",
			"--ip-address", PrivateEndpointIP.String(), "--output", "none")
		srv.cli(t, "acr", "update", "--name", reg3, "--public-network-enabled", "false", "--output", "none")
		// pe-client dials 10.77.3.4 in corp: that is pe1 (rejected, and not reg3's).
		e.pull(t, "6b", PEClient, peAddr, reg3, netIdentity{IP: PEClientIP.String(), PE: e.peID}, deny("private-endpoint-not-approved", pe))
	})

	// Restart the server (at the top level: the new process belongs to the
	// whole test), right after a denial that only this moment produces.
	srv.cli(t, "acr", "network-rule", "add", "--name", reg1, "--ip-address", InternetIP.String(), "--output", "none")
	lastDenial := denialKey{IP: CorpBIP.String(), Path: "public", Reason: "public-access-disabled"}
	t.Run("8a denial just before a graceful restart", func(t *testing.T) {
		e.token(t, "8", CorpB, vnetAddr, "", nil, nil, e.reg3, corpB, deny("public-access-disabled", pub))
	})
	srv.restart(t)
	t.Run("8b after the restart; private endpoint deleted, then re-requested", func(t *testing.T) {
		// A graceful restart keeps every denial recorded before it.
		var got []denial
		srv.cliJSON(t, &got, "acr", "network-rule", "denials", "--name", e.reg3, "--since", "1h")
		if !slices.ContainsFunc(got, func(d denial) bool { return d.ClientIP == lastDenial.IP && d.Reason == lastDenial.Reason }) {
			t.Errorf("the denial of %s on %s made just before the server's graceful restart (SIGTERM) is not in the audit after it: denials lists %+v", lastDenial.IP, e.reg3, got)
		}

		// The very first requests after the start obey the stored configuration.
		peClientPE := netIdentity{IP: PEClientIP.String(), PE: e.peID}
		e.pull(t, "8", CorpB, vnetAddr, reg1, corpB, deny("no-matching-rule", pub))
		e.pull(t, "8", PEClient, peAddr, reg2, peClientPE, deny("private-endpoint-not-approved", pe))
		e.pull(t, "8", Internet, pubAddr, reg2, internet, deny("public-access-disabled", pub))
		e.pull(t, "8", Internet2, pubAddr, reg1, internet2, deny("no-matching-rule", pub))
		e.pull(t, "8", Internet, pubAddr, reg1, internet, allow("ip-rule", pub))
		e.token(t, "8", LB, pubAddr, "XFF 16.17.18.19", nil, xff(InternetIP.String()), reg1, internet, allow("ip-rule", pub))

		srv.cli(t, "network", "private-endpoint", "delete", "--name", "pe1", "--output", "none")
		if got := srv.cliTSV(t, "length(@)", "acr", "private-endpoint-connection", "list", "--registry-name", reg2); got != "0" {
			t.Errorf("%s still has %s private endpoint connections after its endpoint was deleted", reg2, got)
		}
		// 10.77.3.4 is no longer a private endpoint: traffic to it is public
		// traffic from a private address.
		e.pull(t, "8", PEClient, peAddr, reg2, peClient, deny("public-access-disabled", pub))

		// A new endpoint at the same address, by manual request: Pending
		// until the owner approves it, and usable on the next request after.
		regID := srv.cliTSV(t, "id", "acr", "show", "--name", reg2)
		srv.cli(t, "network", "private-endpoint", "create", "--name", "pe1b", "--vnet-name", "corp", "--subnet", "pe",
			"--private-connection-resource-id", regID, "--group-id", "registry", "--connection-name", "conn1b",
			"--ip-address", PrivateEndpointIP.String(), "--manual-request", "true", "--request-message", "netns test", "--output", "none")
		pe1b := netIdentity{IP: PEClientIP.String(), PE: srv.cliTSV(t, "id", "network", "private-endpoint", "show", "--name", "pe1b")}
		conn := srv.cliTSV(t, "[0].name", "acr", "private-endpoint-connection", "list", "--registry-name", reg2)
		if st := srv.cliTSV(t, "privateLinkServiceConnectionState.status", "acr", "private-endpoint-connection", "show",
			"--registry-name", reg2, "--name", conn); st != "Pending" {
			t.Errorf("a manual-request private endpoint connection is %q, want Pending", st)
		}
		e.pull(t, "8", PEClient, peAddr, reg2, pe1b, deny("private-endpoint-not-approved", pe))
		srv.cli(t, "acr", "private-endpoint-connection", "approve", "--registry-name", reg2, "--name", conn, "--output", "none")
		e.pull(t, "8", PEClient, peAddr, reg2, pe1b, allow("private-endpoint", pe))
	})

	t.Run("9 denial audit (the what-if ran with every check)", func(t *testing.T) {
		for _, reg := range []string{reg1, reg2, e.reg3} {
			var got []denial
			srv.cliJSON(t, &got, "acr", "network-rule", "denials", "--name", reg, "--since", "1h")
			e.checkDenials(t, reg, got)
		}
	})

	if strings.Contains(srv.proc.Output(), srv.password) {
		t.Error("the server's output contains the administrator password")
	}
	label := map[string]string{reg1: "reg1", reg2: "reg2", e.reg3: "reg3"}
	for i := range e.rows {
		e.rows[i].Registry = label[e.rows[i].Registry]
	}
	t.Logf("network enforcement, %d checks in %s (reg1 = %s: subnet and IP rules; reg2 = %s: private endpoint; reg3 = %s: endpoint in corp2):\n%s",
		len(e.rows), time.Since(begin).Round(time.Millisecond), reg1, reg2, e.reg3, formatTable(e.rows))
}

// enforcement holds the state of TestNetworkEnforcement.
type enforcement struct {
	srv        *moatServer
	n          *Net
	clients    map[string]*craneClient
	reg1, reg2 string
	reg3       string            // for the second virtual network's private endpoint
	digests    map[string]string // registry -> manifest digest of app:v1
	layer      string            // the layer tarball pushed with crane append
	subnetA    string
	peID       string
	rows       []tableRow
	denials    map[string]map[denialKey]bool // registry -> denials the clients met
}

// expect is the outcome a client must meet, and what the what-if must say.
type expect struct {
	Allow  bool
	Reason string // the decision's reason (what-if, audit)
	Path   string // the network path the server sees
}

func (x expect) String() string {
	if x.Allow {
		return "allow"
	}
	return "deny (" + x.Reason + ")"
}

type denialKey struct{ IP, Path, Subnet, PE, Reason string }

// setUp creates the virtual network, two Premium registries, the crane
// clients, and pushes app:v1 to both registries.
func (e *enforcement) setUp(t *testing.T, crane string) {
	t.Helper()
	s := e.srv
	e.reg1, e.reg2, e.reg3 = "netnsa"+randomHex(10), "netnsb"+randomHex(10), "netnsc"+randomHex(10)
	s.cli(t, "network", "vnet", "create", "--name", "corp", "--address-prefixes", VNet.String(),
		"--subnet-name", "a", "--subnet-prefixes", SubnetA.String(), "--output", "none")
	for _, sn := range []struct{ name, prefix string }{{"b", SubnetB.String()}, {"c", SubnetC.String()}, {"pe", PESubnet.String()}} {
		s.cli(t, "network", "vnet", "subnet", "create", "--vnet-name", "corp", "--name", sn.name, "--address-prefixes", sn.prefix, "--output", "none")
	}
	s.cli(t, "network", "vnet", "subnet", "update", "--vnet-name", "corp", "--name", "a",
		"--service-endpoints", "Microsoft.ContainerRegistry", "--output", "none")
	e.subnetA = s.cliTSV(t, "id", "network", "vnet", "subnet", "show", "--vnet-name", "corp", "--name", "a")
	for _, reg := range []string{e.reg1, e.reg2, e.reg3} {
		s.cli(t, "acr", "create", "--name", reg, "--sku", "Premium", "--output", "none")
	}
	// The host-style name of reg1, as a private DNS zone of corp would have it.
	e.n.AddName(t, e.reg1+"."+loginSuffix, MoatVNetIP)
	addrs := []string{pubAddr.String(), vnetAddr.String(), peAddr.String()}
	e.clients = map[string]*craneClient{}
	for _, h := range []string{Internet, Internet2, CorpA, CorpB, PEClient} {
		e.clients[h] = newCraneClient(t, e.n.Host(h), crane, "admin", s.password, addrs...)
	}
	layer := layerTar(t)
	e.layer = layer
	for _, reg := range []string{e.reg1, e.reg2, e.reg3} {
		ref := pubAddr.String() + "/" + reg + "/app:v1"
		out, err := e.clients[Internet].run("append", "--insecure", "--oci-empty-base", "-f", layer, "-t", ref)
		if err != nil {
			t.Fatalf("crane append -t %s: %v\n%s", ref, err, out)
		}
		_, d, found := strings.Cut(strings.TrimSpace(out), "@")
		if !found || !strings.HasPrefix(d, "sha256:") {
			t.Fatalf("crane append printed no digest: %q", out)
		}
		e.digests[reg] = d
	}
}

// record adds a row to the summary and, for a deny, the denial the audit
// must show; it also asks the what-if about the client's identity and
// checks that it agrees.
func (e *enforcement) record(t *testing.T, scen, client, via, reg string, id netIdentity, want expect, observed string, observedAllow bool) {
	t.Helper()
	w := e.srv.check(t, reg, id)
	whatIf := strings.ToLower(w.Decision) + " (" + w.Reason + ")"
	if !strings.EqualFold(w.Decision, map[bool]string{true: "Allow", false: "Deny"}[want.Allow]) || w.Reason != want.Reason ||
		w.Path != want.Path || w.ClientIP != id.IP {
		t.Errorf("%s %s via %s to %s: what-if (--ip-address %s --subnet %q --private-endpoint %q) says %+v; the client saw %s, want decision %s, reason %s, path %s",
			scen, client, via, reg, id.IP, id.Subnet, id.PE, w, observed, want, want.Reason, want.Path)
	}
	if (w.Decision == "Allow") != observedAllow {
		whatIf += " DISAGREES"
	}
	exp := want.String()
	e.rows = append(e.rows, tableRow{Scenario: scen, Client: client, Via: via, Registry: reg, Expected: exp, Observed: observed, WhatIf: whatIf})
	if !want.Allow {
		k := denialKey{IP: id.IP, Path: want.Path, Reason: want.Reason}
		switch want.Path {
		case "serviceEndpoint":
			k.Subnet = strings.ToLower(id.Subnet)
		case "privateEndpoint":
			k.PE = strings.ToLower(id.PE)
		}
		e.expectDenial(reg, k)
	}
}

// expectDenial notes a denial that the audit of reg must list.
func (e *enforcement) expectDenial(reg string, k denialKey) {
	if e.denials == nil {
		e.denials = map[string]map[denialKey]bool{}
	}
	if e.denials[reg] == nil {
		e.denials[reg] = map[denialKey]bool{}
	}
	e.denials[reg][k] = true
}

// deniedBody is the 403 body of SPEC 4 for a client IP.
func deniedBody(ip string) string {
	return `{"errors":[{"code":"DENIED","message":"client with IP '` + ip + `' is not allowed access. Refer ` + netguard.DocsURL + ` to grant access."}]}`
}

// checkDenied checks an answer against the exact 403 of SPEC 4.
func checkDenied(t *testing.T, what string, status int, body, ip string) bool {
	t.Helper()
	var compact bytes.Buffer
	if status != http.StatusForbidden || json.Compact(&compact, []byte(body)) != nil || compact.String() != deniedBody(ip) {
		t.Errorf("%s: got %d %s\nwant 403 %s", what, status, clip(body), deniedBody(ip))
		return false
	}
	return true
}

// pull runs crane pull of <via>/<reg>/app:v1 (path style) in client's namespace.
func (e *enforcement) pull(t *testing.T, scen, client string, via netip.AddrPort, reg string, id netIdentity, want expect) {
	t.Helper()
	e.pullRef(t, scen, client, "crane "+via.String(), via.String()+"/"+reg+"/app:v1", reg, id, want)
}

// pullRef runs crane pull of ref, an image of reg, in client's namespace.
func (e *enforcement) pullRef(t *testing.T, scen, client, label, ref, reg string, id netIdentity, want expect) {
	t.Helper()
	digest, out, err := e.clients[client].pull(t, ref)
	observed := "pulled"
	switch {
	case want.Allow && err != nil:
		observed = "FAILED"
		t.Errorf("%s: %s: crane pull %s: %v, want the image\n%s", scen, client, ref, err, out)
	case want.Allow && digest != e.digests[reg]:
		observed = "WRONG IMAGE"
		t.Errorf("%s: %s: crane pull %s gave manifest %s, want %s", scen, client, ref, digest, e.digests[reg])
	case !want.Allow && err == nil:
		observed = "PULLED"
		t.Errorf("%s: %s: crane pull %s succeeded, want 403 DENIED for %s", scen, client, ref, id.IP)
	case !want.Allow:
		observed = "403"
		msg := "DENIED: client with IP '" + id.IP + "' is not allowed access"
		if !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, msg) {
			observed = "WRONG ERROR"
			t.Errorf("%s: %s: crane pull %s failed, but not with 403 %q:\n%s", scen, client, ref, msg, out)
		}
	}
	e.record(t, scen, client, label, reg, id, want, observed, observed == "pulled" || observed == "WRONG IMAGE")
}

// acrLogin signs client in to moat (as the administrator, through the
// virtual-network listener: management calls are not subject to registry
// network rules) and runs `moat acr login --name reg`, which exchanges the
// session's token at the registry's host-style login server
// (<reg>.moat.test, port 80 on the virtual-network listener) and writes the
// client's Docker config.
func (e *enforcement) acrLogin(t *testing.T, scen, client, reg string, id netIdentity, want expect) {
	t.Helper()
	c := e.clients[client]
	server := "http://" + vnetAddr.String()
	help, err := c.moat(e.srv.bin, server, nil, "login", "--help")
	if err != nil {
		t.Fatalf("this moat has no `moat login`: %v\n%s", err, help)
	}
	args, stdin := loginArgs(help, server, e.srv.password)
	if out, err := c.moat(e.srv.bin, server, stdin, args...); err != nil {
		t.Fatalf("%s: %s: moat login: %v\n%s", scen, client, err, out)
	}
	out, err := c.moat(e.srv.bin, server, nil, "acr", "login", "--name", reg)
	loginServer := reg + "." + loginSuffix
	observed := "Login Succeeded"
	switch {
	case want.Allow && (err != nil || !strings.Contains(out, "Login Succeeded")):
		observed = "FAILED"
		t.Errorf("%s: %s: moat acr login --name %s: %v, want Login Succeeded\n%s", scen, client, reg, err, out)
	case want.Allow:
		b, _ := os.ReadFile(filepath.Join(c.home, ".docker", "config.json"))
		var cfg struct {
			Auths map[string]map[string]string `json:"auths"`
		}
		if json.Unmarshal(b, &cfg) != nil || cfg.Auths[loginServer]["identitytoken"] == "" {
			t.Errorf("%s: %s: moat acr login --name %s wrote no identitytoken for %s in the Docker config:\n%s", scen, client, reg, loginServer, b)
		}
	case err == nil:
		observed = "LOGGED IN"
		t.Errorf("%s: %s: moat acr login --name %s succeeded, want DENIED for %s\n%s", scen, client, reg, id.IP, out)
	default:
		observed = "DENIED"
		if msg := "DENIED: client with IP '" + id.IP + "' is not allowed access"; !strings.Contains(out, msg) {
			observed = "WRONG ERROR"
			t.Errorf("%s: %s: moat acr login --name %s failed, but not with %q:\n%s", scen, client, reg, msg, out)
		}
	}
	e.record(t, scen, client, "moat acr login "+loginServer, reg, id, want, observed, observed == "Login Succeeded")
}

// token sends docker's token request for reg through via, from client, with
// an optional PROXY header and extra headers: allowed, it must give a token
// (200); denied, the exact 403.
func (e *enforcement) token(t *testing.T, scen, client string, via netip.AddrPort, how string, preface []byte, header http.Header, reg string, id netIdentity, want expect) {
	t.Helper()
	r := exchange(e.n.Host(client), via.String(), preface, tokenRequest(via.String(), reg, "app", "admin", e.srv.password, header))
	label := "token " + via.String()
	if how != "" {
		label += " " + how
	}
	observed := fmt.Sprint(r.Status)
	if r.Status == 0 {
		observed = r.String()
	}
	what := fmt.Sprintf("%s: %s: GET /oauth2/token via %s %s", scen, client, via, how)
	if want.Allow {
		var tok struct {
			Token       string `json:"token"`
			AccessToken string `json:"access_token"`
		}
		if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &tok) != nil || tok.Token+tok.AccessToken == "" {
			t.Errorf("%s: %s, want 200 with a token", what, r)
		}
	} else {
		checkDenied(t, what, r.Status, r.Body, id.IP)
	}
	e.record(t, scen, client, label, reg, id, want, observed, r.Status == http.StatusOK)
}

// login is what `docker login <reg>.<suffix>` sends first: GET /v2/ with the
// registry's host-style name. Allowed: 401 with a Bearer challenge (network
// rules never replace authentication); denied: the exact 403.
func (e *enforcement) login(t *testing.T, scen, client string, via netip.AddrPort, reg string, id netIdentity, want expect) {
	t.Helper()
	host := reg + "." + loginSuffix + ":" + fmt.Sprint(via.Port())
	req, _ := http.NewRequest(http.MethodGet, "http://"+via.String()+"/v2/", nil)
	req.Host = host
	r := exchange(e.n.Host(client), via.String(), nil, req)
	what := fmt.Sprintf("%s: %s: login (GET /v2/, Host %s) via %s", scen, client, host, via)
	if want.Allow {
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s: %s, want 401 with a Bearer challenge", what, r)
		}
	} else {
		checkDenied(t, what, r.Status, r.Body, id.IP)
	}
	observed := fmt.Sprint(r.Status)
	if r.Status == 0 {
		observed = r.String()
	}
	e.record(t, scen, client, "login "+via.String(), reg, id, want, observed, r.Status == http.StatusUnauthorized)
}

// closed sends a token request behind a PROXY header from a peer that is not
// a trusted proxy: the server must close the connection without answering.
func (e *enforcement) closed(t *testing.T, scen, client string, via netip.AddrPort, how string, preface []byte, reg string) {
	t.Helper()
	r := exchange(e.n.Host(client), via.String(), preface, tokenRequest(via.String(), reg, "app", "admin", e.srv.password, nil))
	observed := "closed"
	if !r.Closed {
		observed = r.String()
		t.Errorf("%s: %s: token request via %s behind a %s from an untrusted peer: %s, want the connection closed", scen, client, via, how, r)
	}
	e.rows = append(e.rows, tableRow{Scenario: scen, Client: client, Via: "token " + via.String() + " " + how, Registry: reg,
		Expected: "closed", Observed: observed, WhatIf: "-"})
}

// checkDenials compares a registry's denial audit with the denials its
// clients met: the same sources, paths, subnets, private endpoints and
// reasons, no more and no fewer.
func (e *enforcement) checkDenials(t *testing.T, reg string, got []denial) {
	t.Helper()
	seen := map[denialKey]int64{}
	for _, d := range got {
		k := denialKey{IP: d.ClientIP, Path: d.Path, Subnet: strings.ToLower(d.Subnet), PE: strings.ToLower(d.PrivateEndpoint), Reason: d.Reason}
		seen[k] += d.Count
		if d.Count < 1 || d.Route == "" {
			t.Errorf("denial record of %s without count or route: %+v", reg, d)
		}
	}
	want := e.denials[reg]
	var missing, extra, lines []string
	for k := range want {
		if seen[k] == 0 {
			missing = append(missing, fmt.Sprintf("%+v", k))
		}
	}
	for k, c := range seen {
		if !want[k] {
			extra = append(extra, fmt.Sprintf("%+v", k))
		}
		lines = append(lines, fmt.Sprintf("  %-12s %-16s %-18s %s%s (%d)", k.IP, k.Path, k.Reason, k.Subnet, k.PE, c))
	}
	sort.Strings(lines)
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("moat acr network-rule denials --name %s lacks denials the clients met:\n  %s", reg, strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("moat acr network-rule denials --name %s lists denials no client met:\n  %s", reg, strings.Join(extra, "\n  "))
	}
	t.Logf("denials of %s (source, path, reason, subnet/endpoint, count):\n%s", reg, strings.Join(lines, "\n"))
}

// expectResponse checks an answer that the test got itself: allowed, the
// status okStatus; denied, the exact 403. It records the row.
func (e *enforcement) expectResponse(t *testing.T, scen, client, label, reg string, id netIdentity, want expect, r response, okStatus int) {
	t.Helper()
	what := fmt.Sprintf("%s: %s: %s (%s)", scen, client, label, reg)
	if want.Allow {
		if r.Status != okStatus {
			t.Errorf("%s: %s, want %d", what, r, okStatus)
		}
	} else {
		checkDenied(t, what, r.Status, r.Body, id.IP)
	}
	observed := fmt.Sprint(r.Status)
	if r.Status == 0 {
		observed = r.String()
	}
	e.record(t, scen, client, label, reg, id, want, observed, r.Status == okStatus)
}

// dataGet is GET http://via/v2/<path> with a bearer token.
func dataGet(via netip.AddrPort, path, token string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "http://"+via.String()+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	return req
}

// tokenOn fetches a pull token for reg on an open connection.
func (e *enforcement) tokenOn(t *testing.T, rc *rawConn, via netip.AddrPort, reg string) string {
	t.Helper()
	r := rc.do(tokenRequest(via.String(), reg, "app", "admin", e.srv.password, nil))
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &tok) != nil || tok.Token+tok.AccessToken == "" {
		t.Fatalf("token for %s via %s: %s, want 200 with a token", reg, via, r)
	}
	if tok.Token != "" {
		return tok.Token
	}
	return tok.AccessToken
}

// catalog reads GET /v2/_catalog (path style: every registry's repositories
// as <registry>/<repository>) with a catalog token, and checks whether reg's
// repository is listed.
func (e *enforcement) catalog(t *testing.T, scen, client string, via netip.AddrPort, reg string, listed bool) {
	t.Helper()
	rc := dialRaw(t, e.n.Host(client), via.String(), nil)
	req := tokenRequest(via.String(), reg, "app", "admin", e.srv.password, nil)
	q := req.URL.Query()
	q.Set("scope", "registry:catalog:*")
	req.URL.RawQuery = q.Encode()
	r := rc.do(req)
	var tok struct {
		Token string `json:"token"`
	}
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &tok) != nil || tok.Token == "" {
		t.Fatalf("%s: %s: catalog token via %s: %s", scen, client, via, r)
	}
	r = rc.do(dataGet(via, "/v2/_catalog?n=1000", tok.Token))
	var cat struct {
		Repositories []string `json:"repositories"`
	}
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &cat) != nil {
		t.Fatalf("%s: %s: GET /v2/_catalog via %s: %s", scen, client, via, r)
	}
	got := slices.Contains(cat.Repositories, reg+"/app")
	if got != listed {
		t.Errorf("%s: %s: GET /v2/_catalog via %s lists %s/app: %v, want %v (%v)", scen, client, via, reg, got, listed, cat.Repositories)
	}
	exp := map[bool]string{true: "listed", false: "not listed"}
	e.rows = append(e.rows, tableRow{Scenario: scen, Client: client, Via: "catalog " + via.String(), Registry: reg,
		Expected: exp[listed], Observed: exp[got], WhatIf: "-"})
}

// push runs crane append (a push of a new one-layer image) to
// <via>/<reg>/app:pushed-<client> from client's namespace.
func (e *enforcement) push(t *testing.T, scen, client string, via netip.AddrPort, reg string, id netIdentity, want expect) {
	t.Helper()
	ref := via.String() + "/" + reg + "/app:pushed-" + client
	out, err := e.clients[client].run("append", "--verbose", "--insecure", "--oci-empty-base", "-f", e.layer, "-t", ref)
	observed := "pushed"
	switch {
	case want.Allow && err != nil:
		observed = "FAILED"
		t.Errorf("%s: %s: crane append -t %s: %v, want the push to succeed\n%s", scen, client, ref, err, out)
	case !want.Allow && err == nil:
		observed = "PUSHED"
		t.Errorf("%s: %s: crane append -t %s succeeded, want 403 DENIED for %s", scen, client, ref, id.IP)
	case !want.Allow:
		observed = "403"
		msg := "DENIED: client with IP '" + id.IP + "' is not allowed access"
		if !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, msg) {
			observed = "WRONG ERROR"
			t.Errorf("%s: %s: crane append -t %s failed, but not with 403 %q:\n%s", scen, client, ref, msg, out)
		}
	}
	e.record(t, scen, client, "crane push "+via.String(), reg, id, want, observed, observed == "pushed")
}
