package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestExpandArgs(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"network", "vnet", "create", "--address-prefixes", "10.0.0.0/16", "10.1.0.0/16", "--name", "v"},
			[]string{"network", "vnet", "create", "--address-prefixes=10.0.0.0/16\x0010.1.0.0/16", "--name", "v"}},
		{[]string{"network", "vnet", "subnet", "update", "--service-endpoints", "", "-n", "s"},
			[]string{"network", "vnet", "subnet", "update", "--service-endpoints=", "-n", "s"}},
		{[]string{"network", "vnet", "create", "--address-prefix", "10.0.0.0/16"},
			[]string{"network", "vnet", "create", "--address-prefix=10.0.0.0/16"}},
		{[]string{"acr", "update", "-n", "r", "--admin-enabled", "false", "--public-network-enabled", "--allow-trusted-services=true"},
			[]string{"acr", "update", "-n", "r", "--admin-enabled=false", "--public-network-enabled", "--allow-trusted-services=true"}},
		// a value that is also a command name stays a value
		{[]string{"acr", "show", "--name", "list", "-o", "table"}, []string{"acr", "show", "--name", "list", "-o", "table"}},
		// the walkthrough's typo "list--name"
		{[]string{"acr", "network-rule", "list--name", "myregistry"}, []string{"acr", "network-rule", "list", "--name", "myregistry"}},
		{[]string{"acr", "list--bogus"}, []string{"acr", "list--bogus"}},
	}
	for _, tt := range tests {
		got, err := expandArgs(NewRoot(nil, nil), tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("expandArgs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range [][]string{
		{"network", "vnet", "create", "--address-prefixes", "--name", "v"},
		{"acr", "update", "--admin-enabled", "maybe"},
	} {
		if _, err := expandArgs(NewRoot(nil, nil), bad); err == nil {
			t.Errorf("expandArgs(%q) accepted", bad)
		}
	}
}

// TestErrors checks that failures exit non-zero with one readable line.
func TestErrors(t *testing.T) {
	f := newFakeARM(t)
	f.on("GET", regID, 404, armError("ResourceNotFound", "registry \"reg1\" not found in resource group \"rg1\""))
	f.on("PATCH", "~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/reg3", 400,
		armError("NetworkRuleNotSupported", "network rules are not supported\nfor the SKU Standard"))
	f.on("GET", "~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/reg3", 200, registryFixture("reg3", "rg1", nil))
	f.on("GET", "~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/reg4", 500, "oops")
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list(registryFixture("reg3", "rg1", nil)))
	tests := []struct{ args, stdin, want string }{
		{"acr show -n reg1 -g rg1", "", `ERROR: (ResourceNotFound) registry "reg1" not found in resource group "rg1"`},
		{"acr update -n reg3 -g rg1 --default-action Deny", "", "ERROR: (NetworkRuleNotSupported) network rules are not supported for the SKU Standard"},
		{"acr show -n reg4 -g rg1", "", "ERROR: GET /subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/reg4: the server answered 500 Internal Server Error"},
		{"acr create --sku Premium", "", "ERROR: the following arguments are required: --name/-n"},
		{"acr create -n r", "", "ERROR: the following arguments are required: --sku"},
		{"acr show -n \"\"", "", "ERROR: the following arguments are required: --name/-n"},
		{"acr create -n reg5 --sku Gold", "", `ERROR: argument --sku: invalid choice "Gold" (choose from Basic, Standard, Premium)`},
		{"acr update -n reg3 --default-action Block", "", `ERROR: argument --default-action: invalid choice "Block" (choose from Allow, Deny)`},
		{"acr update -n reg3 --admin-enabled maybe", "", `ERROR: argument --admin-enabled: invalid choice "maybe" (choose from true, false)`},
		{"acr show -n reg1 extra", "", "ERROR: unrecognized arguments: extra"},
		{"acr show -n reg1 --bogus", "", "ERROR: unknown flag: --bogus"},
		{"acr nosuch", "", `ERROR: unknown command "nosuch" for "moat acr"`},
		{"acr delete -n nothere --yes", "", `ERROR: (ResourceNotFound) registry "nothere" was not found in subscription ` + testSub},
		{"acr private-endpoint-connection list -r nothere", "", `ERROR: (ResourceNotFound) registry "nothere" was not found in subscription`},
		{"acr network-rule add -n reg3 -g rg1", "", "ERROR: usage error: --ip-address ADDRESS | --subnet ID | --subnet NAME --vnet-name NAME"},
		{"acr network-rule add -n reg3 -g rg1 --subnet justaname", "", "ERROR: usage error: --subnet ID | --subnet NAME --vnet-name NAME"},
		{"acr delete -n reg3 -g rg1", "n\n", "ERROR: operation cancelled"},
		{"acr list --query [?", "", `ERROR: --query "[?" is not a valid JMESPath expression`},
		{"acr list -o xml", "", `ERROR: --output "xml": use json`},
		{"acr netwrk-rule", "", `ERROR: unknown command "netwrk-rule" for "moat acr"; did you mean network-rule?`},
		{"network vnet create -n v --subnet-prefixes 10.0.0.0/24", "", "ERROR: usage error: --subnet-name NAME [--subnet-prefixes PREFIXES]"},
		{"network vnet subnet create --vnet-name v -n s", "", "ERROR: the following arguments are required: --address-prefixes"},
		{"network private-endpoint create -n pe -g rg1 --subnet s --vnet-name v --private-connection-resource-id x --connection-name c --ip-config name=a", "",
			"ERROR: argument --ip-config: private-ip-address= is required"},
		{"group create", "", "ERROR: the following arguments are required: --name/-n"},
		{"account set", "", "ERROR: the following arguments are required: --subscription/-s"},
		{"account set -s other", "", `ERROR: subscription "other" (--subscription) was not found on the server`},
		{"acr list --subscription other", "", `ERROR: subscription "other" (--subscription) was not found on the server`},
	}
	for _, tt := range tests {
		out, errOut, code := f.run(tt.stdin, argv(tt.args)...)
		if code == 0 {
			t.Errorf("moat %s: exit 0, stdout %q", tt.args, out)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], tt.want) || tt.stdin == "" && !strings.HasPrefix(lines[0], tt.want) {
			t.Errorf("moat %s: stderr %q, want one line starting %q", tt.args, errOut, tt.want)
		}
	}
	// The prompt's question goes to stderr before the error line.
	_, errOut, _ := f.run("n\n", "acr", "delete", "-n", "reg3", "-g", "rg1")
	if !strings.HasPrefix(errOut, "Are you sure you want to delete the registry 'reg3'") || !strings.HasSuffix(errOut, "ERROR: operation cancelled\n") {
		t.Errorf("prompt: %q", errOut)
	}
	// --only-show-errors drops warnings; --debug logs requests.
	_, errOut, code := f.run("", "acr", "network-rule", "remove", "-n", "reg3", "--ip-address", "8.8.8.8")
	if code != 0 || !strings.HasPrefix(errOut, "WARNING: registry reg3 has no such rule") {
		t.Errorf("warning: %d %q", code, errOut)
	}
	_, errOut, _ = f.run("", "acr", "network-rule", "remove", "-n", "reg3", "--ip-address", "8.8.8.8", "--only-show-errors")
	if errOut != "" {
		t.Errorf("--only-show-errors: %q", errOut)
	}
	_, errOut, _ = f.run("", "acr", "show", "-n", "reg3", "-g", "rg1", "--debug")
	if !strings.Contains(errOut, "DEBUG: GET "+f.srv.URL+"/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/reg3?api-version=2026-03-01-preview -> 200 OK") {
		t.Errorf("--debug: %q", errOut)
	}
	for _, r := range f.requests() {
		if r.Method == "DELETE" {
			t.Errorf("a cancelled delete sent %s", r)
		}
	}
}

func TestCannotReachServer(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"acr", "list", "--server", "http://127.0.0.1:1"}, &out, &errb)
	if code == 0 || !strings.HasPrefix(errb.String(), "ERROR: cannot reach the moat server at http://127.0.0.1:1") || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// TestNoTTY: without --yes and without a terminal, a delete fails like az's.
func TestNoTTY(t *testing.T) {
	f := newFakeARM(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer r.Close()
	var out, errb bytes.Buffer
	code := run([]string{"group", "delete", "-n", "g1", "--server", f.srv.URL}, r, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "no tty is available; pass --yes") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("requests: %v", reqs)
	}
}

func TestAccount(t *testing.T) {
	f := newFakeARM(t)
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list())
	// No default yet: the server's first subscription, shown as the default.
	if out := f.mustRun("account", "show", "--query", "{id: id, name: name, isDefault: isDefault}", "-o", "tsv"); out != testSub+"\tmoat\tTrue\n" {
		t.Errorf("account show: %q", out)
	}
	// az account set --subscription <name or ID>: saved per server.
	if out := f.mustRun("account", "set", "--subscription", "MOAT"); out != "" {
		t.Errorf("account set printed %q", out)
	}
	raw, err := os.ReadFile(filepath.Join(os.Getenv("MOAT_CONFIG_DIR"), "config.json"))
	if err != nil || !strings.Contains(string(raw), f.srv.URL) || !strings.Contains(string(raw), testSub) {
		t.Fatalf("config: %s %v", raw, err)
	}
	f.mustRun("acr", "list")
	f.mustRun("account", "set", "-n", testSub)
	// A saved default the server does not know is an error that says what to do.
	if err := saveConfig(cliConfig{Subscriptions: map[string]string{f.srv.URL: "gone"}}); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := f.run("", "acr", "list")
	if code == 0 || !strings.Contains(errOut, "moat account set") {
		t.Errorf("stale default: %q", errOut)
	}
	f.mustRun("account", "clear")
	f.mustRun("acr", "list")
	if got := f.mustRun("account", "list", "--query", "[].id", "-o", "tsv"); got != testSub+"\n" {
		t.Errorf("account list: %q", got)
	}
}

func TestAccessToken(t *testing.T) {
	f := newFakeARM(t)
	f.on("GET", regID, 200, registryFixture("reg1", "rg1", nil))
	t.Setenv("MOAT_ACCESS_TOKEN", "tok123")
	f.mustRun("acr", "show", "-n", "reg1", "-g", "rg1")
	for _, r := range f.requests() {
		if r.Auth != "Bearer tok123" {
			t.Errorf("%s: Authorization %q", r, r.Auth)
		}
	}
}
