// Package sdk checks that the official Azure SDK for Go, pointed at moat over
// TLS, manages registries: the ARM shapes, status codes and polling match.
package sdk

//lint:file-ignore SA1019 azidentity deprecates UsernamePasswordCredential, but the clients that use it must keep working against moat

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerregistry/armcontainerregistry"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/server"
	"github.com/moat-registry/moat/internal/tlsauto"
)

// startTLS runs a moat server with a --tls-auto certificate and returns its
// URL, subscription and a client that trusts only moat's CA.
func startTLS(t *testing.T) (string, *server.Server, *http.Client) {
	t.Helper()
	addr, srv, pool, _ := serveTLS(t, "")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return "https://" + addr, srv, client
}

// serveTLS runs a moat server over TLS (a --tls-auto certificate, with
// *.suffix when suffix is set: host-style login servers) on a free loopback
// port, and returns its address, the pool of its CA and the CA's file.
func serveTLS(t *testing.T, suffix string) (string, *server.Server, *x509.CertPool, string) {
	t.Helper()
	t.Setenv("MOAT_ADMIN_PASSWORD", adminPassword)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	files, err := tlsauto.Ensure(filepath.Join(dir, "tls"), tlsauto.Names([]string{addr}, suffix))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.TLSCert, cfg.TLSKey, cfg.LoginServerSuffix = dir, files.Cert, files.Key, suffix
	cfg.Listeners = []config.Listener{{Name: "default", Address: addr, Kind: config.KindPublic}}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, func([]net.Addr) { close(ready) }) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	}
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return addr, srv, pool, files.CA
}

const adminPassword = "sdk-admin-password-1"

// armSetup starts a TLS server and signs in as its administrator through
// azidentity: the URL, the server, an HTTP client trusting it, and the
// credential and options of ARM clients.
func armSetup(t *testing.T) (string, *server.Server, *http.Client, azcore.TokenCredential, *arm.ClientOptions) {
	t.Helper()
	url, srv, httpClient := startTLS(t)
	moatCloud := cloud.Configuration{
		ActiveDirectoryAuthorityHost: url + "/identity/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: url, Audience: url},
		}}
	// azidentity signs in at moat's own Entra-compatible authority.
	cred, err := azidentity.NewUsernamePasswordCredential(srv.Tenant(), "moat-sdk-test", "admin", adminPassword,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: moatCloud, Transport: httpClient},
			DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud:     moatCloud,
		Transport: httpClient,
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}}
	return url, srv, httpClient, cred, opts
}

func TestRegistryLifecycleWithARMSDK(t *testing.T) {
	_, srv, _, cred, opts := armSetup(t)
	regs, err := armcontainerregistry.NewRegistriesClient(srv.Subscription(), cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const rg, name = "default", "sdkregistry"

	poller, err := regs.BeginCreate(ctx, rg, name, armcontainerregistry.Registry{
		Location: to.Ptr("local"),
		SKU:      &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNamePremium)},
	}, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	created, err := poller.PollUntilDone(ctx, &pollOptions)
	if err != nil {
		t.Fatalf("create poll: %v", err)
	}
	if *created.Name != name || *created.SKU.Name != armcontainerregistry.SKUNamePremium || created.Properties.LoginServer == nil {
		t.Fatalf("created: %+v", created)
	}
	if got := *created.Properties.NetworkRuleSet.DefaultAction; got != armcontainerregistry.DefaultActionAllow {
		t.Fatalf("default action %s, want Allow", got)
	}

	upd, err := regs.BeginUpdate(ctx, rg, name, armcontainerregistry.RegistryUpdateParameters{
		Properties: &armcontainerregistry.RegistryPropertiesUpdateParameters{
			NetworkRuleSet: &armcontainerregistry.NetworkRuleSet{
				DefaultAction: to.Ptr(armcontainerregistry.DefaultActionDeny),
				IPRules:       []*armcontainerregistry.IPRule{{IPAddressOrRange: to.Ptr("16.17.18.0/24"), Action: to.Ptr(armcontainerregistry.ActionAllow)}},
			},
			PublicNetworkAccess:      to.Ptr(armcontainerregistry.PublicNetworkAccessDisabled),
			NetworkRuleBypassOptions: to.Ptr(armcontainerregistry.NetworkRuleBypassOptionsNone),
		},
	}, nil)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if _, err := upd.PollUntilDone(ctx, &pollOptions); err != nil {
		t.Fatalf("update poll: %v", err)
	}
	got, err := regs.Get(ctx, rg, name, nil)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	p := got.Properties
	if *p.NetworkRuleSet.DefaultAction != armcontainerregistry.DefaultActionDeny || len(p.NetworkRuleSet.IPRules) != 1 ||
		*p.NetworkRuleSet.IPRules[0].IPAddressOrRange != "16.17.18.0/24" ||
		*p.PublicNetworkAccess != armcontainerregistry.PublicNetworkAccessDisabled ||
		*p.NetworkRuleBypassOptions != armcontainerregistry.NetworkRuleBypassOptionsNone {
		t.Fatalf("after update: %+v %+v", p, p.NetworkRuleSet)
	}

	// A bad rule comes back as an ARM error the SDK understands.
	_, err = regs.BeginUpdate(ctx, rg, name, armcontainerregistry.RegistryUpdateParameters{
		Properties: &armcontainerregistry.RegistryPropertiesUpdateParameters{NetworkRuleSet: &armcontainerregistry.NetworkRuleSet{
			DefaultAction: to.Ptr(armcontainerregistry.DefaultActionDeny),
			IPRules:       []*armcontainerregistry.IPRule{{IPAddressOrRange: to.Ptr("10.0.0.0/8")}},
		}},
	}, nil)
	var respErr *azcore.ResponseError
	if !asResponseError(err, &respErr) || respErr.StatusCode != http.StatusBadRequest || respErr.ErrorCode != "InvalidIpRule" {
		t.Fatalf("private IP rule: %v", err)
	}

	pager := regs.NewListByResourceGroupPager(rg, nil)
	page, err := pager.NextPage(ctx)
	if err != nil || len(page.Value) != 1 || *page.Value[0].Name != name {
		t.Fatalf("list: %+v %v", page.Value, err)
	}

	del, err := regs.BeginDelete(ctx, rg, name, nil)
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := del.PollUntilDone(ctx, &pollOptions); err != nil {
		t.Fatalf("delete poll: %v", err)
	}
	if _, err := regs.Get(ctx, rg, name, nil); !asResponseError(err, &respErr) || respErr.StatusCode != http.StatusNotFound {
		t.Fatalf("get after delete: %v", err)
	}
}
