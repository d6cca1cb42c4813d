package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t testing.TB, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs, func(k string) string { return env[k] })
}

func writeFile(t testing.TB, yml string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(f, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "dataDir: /from/file\nloginServerSuffix: file.example\nlisteners:\n  - name: internet\n    address: \":443\"\n    kind: public\n")

	c, err := load(t, []string{"--config", file}, nil)
	if err != nil || c.DataDir != "/from/file" || c.Listeners[0].Address != ":443" || c.LoginServerSuffix != "file.example" {
		t.Fatalf("file: %+v %v", c, err)
	}
	c, _ = load(t, []string{"--config", file}, map[string]string{"MOAT_DATA_DIR": "/from/env"})
	if c.DataDir != "/from/env" {
		t.Fatalf("env should beat file: %s", c.DataDir)
	}
	c, _ = load(t, []string{"--config", file, "--data-dir", "/from/flag", "--listen", "127.0.0.1:7000"}, map[string]string{"MOAT_DATA_DIR": "/from/env"})
	if c.DataDir != "/from/flag" || len(c.Listeners) != 1 || c.Listeners[0].Address != "127.0.0.1:7000" {
		t.Fatalf("flag should beat env and file: %+v", c)
	}
	c, _ = load(t, nil, map[string]string{"MOAT_CONFIG": file})
	if c.DataDir != "/from/file" {
		t.Fatalf("MOAT_CONFIG: %+v", c)
	}
}

// TestDefaults: Load with nothing set is Default, every value resolved.
func TestDefaults(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load %+v\nDefault %+v", c, Default())
	}
	want := Config{
		DataDir: "moat-data", LogFormat: LogText, AuditRetention: 720 * time.Hour,
		S3:        S3{Region: "us-east-1"},
		Listeners: []Listener{{Name: "default", Address: "127.0.0.1:5000", Kind: KindPublic}},
		Limits: Limits{IPRules: 200, VirtualNetworkRules: 100, PrivateEndpoints: 200, UploadExpiry: 24 * time.Hour,
			TokenRequestsPerSecond: 100, SignInFailures: 20, SignInFailuresPerPrincipal: 60, UploadSessions: 1000},
		TrustedServices: []string{"Microsoft.ContainerRegistry/registries/tasks", "Microsoft.ContainerRegistry/registries",
			"Microsoft.MachineLearningServices/workspaces"},
		GC:     GC{Interval: time.Hour, Grace: time.Hour},
		Tokens: Tokens{AccessLifetime: time.Hour, RefreshLifetime: 3 * time.Hour},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults\n got %+v\nwant %+v", c, want)
	}
}

func TestGCSettings(t *testing.T) {
	file := writeFile(t, "gc:\n  interval: 30m\n  grace: 2h\nlimits:\n  uploadExpiry: 48h\n")
	c, err := load(t, []string{"--config", file, "--gc-interval", "0"}, map[string]string{"MOAT_GC_GRACE": "10m"})
	if err != nil || c.GC.Interval != 0 || c.GC.Grace != 10*time.Minute || c.Limits.UploadExpiry != 48*time.Hour {
		t.Fatalf("file, env and flag: %+v %v", c.GC, err)
	}
	if _, err := load(t, []string{"--upload-expiry", "soon"}, nil); err == nil || !strings.Contains(err.Error(), "limits.uploadExpiry") {
		t.Fatalf("bad --upload-expiry: %v", err)
	}
	c, err = load(t, nil, map[string]string{"MOAT_AUDIT_RETENTION": "48h"})
	if err != nil || c.AuditRetention != 48*time.Hour {
		t.Fatalf("MOAT_AUDIT_RETENTION: %v %v", c.AuditRetention, err)
	}
}

// TestLimits: in the file 0 is the default and -1 no limit (resolved as 0).
func TestLimits(t *testing.T) {
	file := writeFile(t, "limits:\n  ipRules: 0\n  virtualNetworkRules: 7\n  tokenRequestsPerSecond: -1\n  uploadSessions: 0\n  signInFailures: 5\n")
	c, err := load(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if l.IPRules != 200 || l.VirtualNetworkRules != 7 || l.TokenRequestsPerSecond != 0 || l.UploadSessions != 1000 || l.SignInFailures != 5 || l.SignInFailuresPerPrincipal != 60 {
		t.Fatalf("limits: %+v", l)
	}
}

// TestErrorsSayWhatToWrite: a bad value is refused naming its setting (key,
// flag, variable) and saying what to write.
func TestErrorsSayWhatToWrite(t *testing.T) {
	for _, c := range []struct {
		yml  string
		args []string
		env  map[string]string
		want []string
	}{
		{yml: "gc:\n  interval: hourly\n", want: []string{"line 2", "gc.interval / --gc-interval / MOAT_GC_INTERVAL", "such as 1h or 30m"}},
		{env: map[string]string{"MOAT_AUDIT_RETENTION": "30d"}, want: []string{"auditRetention / --audit-retention / MOAT_AUDIT_RETENTION", `"30d"`, "duration"}},
		{env: map[string]string{"MOAT_AUDIT_RETENTION": "0"}, want: []string{"MOAT_AUDIT_RETENTION", "longer than 0, e.g. 720h"}},
		{args: []string{"--log-format", "yaml"}, want: []string{"--log-format", "json or text"}},
		{yml: "limits:\n  ipRules: -1\n", want: []string{"line 2", "limits.ipRules", "positive number (0 for the default, 200)"}},
		{yml: "limits:\n  uploadSessions: many\n", want: []string{"limits.uploadSessions", "-1 for no limit"}},
		{yml: "listeners:\n  - address: :1\n    kind: private\n", want: []string{"line 3", "kind", "public or virtualNetwork"}},
		{yml: "listeners:\n  - address: :1\n    trustedProxies: [\"10.0.0.1\"]\n", want: []string{"trustedProxies", "CIDR prefix such as 192.0.2.10/32"}},
		{yml: "dataDri: x\n", want: []string{"line 1", `"dataDri" is not a setting`, "README.md"}},
		{yml: "gc:\n  interval: 1h\n  interval: 2h\n", want: []string{"line 3", "gc.interval is set twice"}},
		{yml: "tlsAuto: maybe\n", want: []string{"tlsAuto", "true or false"}},
	} {
		args := c.args
		if c.yml != "" {
			args = append(args, "--config", writeFile(t, c.yml))
		}
		_, err := load(t, args, c.env)
		if err == nil {
			t.Errorf("%q %v %v: accepted", c.yml, c.args, c.env)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %v %v: %q does not say %q", c.yml, c.args, c.env, err, w)
			}
		}
	}
}

func TestInvalid(t *testing.T) {
	for name, yml := range map[string]string{
		"unknown field":    "dataDri: x\n",
		"unknown listener": "listeners:\n  - address: :1\n    kinds: public\n",
		"bad address":      "listeners:\n  - address: nope\n",
		"bad kind":         "listeners:\n  - address: :1\n    kind: private\n",
		"vnet no id":       "listeners:\n  - address: :1\n    kind: virtualNetwork\n",
		"bad proxy":        "listeners:\n  - address: :1\n    trustedProxies: [\"10.0.0.1\"]\n",
		"same name":        "listeners:\n  - {name: a, address: \":1\"}\n  - {name: a, address: \":2\"}\n",
		"tls half":         "tlsCert: /x.pem\n",
		"gc interval":      "gc:\n  interval: hourly\n",
		"gc grace < 0":     "gc:\n  grace: -1h\n",
		"upload expiry":    "limits:\n  uploadExpiry: 1d\n",
		"suffix url":       "loginServerSuffix: https://moat.test\n",
		"suffix port":      "loginServerSuffix: moat.test:http\n",
		"gc not a map":     "gc: 1h\n",
		"list not a list":  "trustedServices: x\n",
		"not a mapping":    "- a\n- b\n",
	} {
		if _, err := load(t, []string{"--config", writeFile(t, yml)}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestListeners(t *testing.T) {
	c, err := load(t, []string{"--config", writeFile(t, "listeners: []\n")}, nil)
	if err != nil || !reflect.DeepEqual(c.Listeners, Default().Listeners) {
		t.Fatalf("an empty list is the default listener: %+v %v", c.Listeners, err)
	}
	file := writeFile(t, `listeners:
  - address: ":443"
    trustedProxies: ["192.0.2.10/32", "2001:db8::/64"]
  - name: corp
    address: 10.77.0.1:443
    kind: virtualNetwork
    virtualNetwork: /subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/corp
trustedServices: [Microsoft.ContainerRegistry/registries/tasks]
`)
	c, err = load(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{Name: "listener1", Address: ":443", Kind: KindPublic, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("2001:db8::/64")}},
		{Name: "corp", Address: "10.77.0.1:443", Kind: KindVirtualNetwork, VirtualNetwork: "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/corp"},
	}
	if !reflect.DeepEqual(c.Listeners, want) || len(c.TrustedServices) != 1 {
		t.Fatalf("got %+v %v", c.Listeners, c.TrustedServices)
	}
}

func TestS3(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil || c.S3.Bucket != "" {
		t.Fatalf("default must be the filesystem: %+v %v", c.S3, err)
	}
	file := writeFile(t, "s3:\n  bucket: from-file\n  endpoint: http://minio:9000\n  pathStyle: true\n  prefix: a/\n")
	c, err = load(t, []string{"--config", file, "--s3-region", "eu-west-1"}, map[string]string{
		"MOAT_S3_BUCKET": "from-env", "MOAT_S3_ACCESS_KEY": "ak", "MOAT_S3_SECRET_KEY": "sk",
	})
	want := S3{Endpoint: "http://minio:9000", Region: "eu-west-1", Bucket: "from-env", Prefix: "a/", PathStyle: true, AccessKey: "ak", SecretKey: "sk"}
	if err != nil || c.S3 != want {
		t.Fatalf("got %+v %v, want %+v", c.S3, err, want)
	}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"no bucket":        {[]string{"--s3-endpoint", "http://minio:9000"}, nil},
		"endpoint no url":  {[]string{"--s3-bucket", "b", "--s3-endpoint", "minio:9000"}, nil},
		"creds in url":     {[]string{"--s3-bucket", "b", "--s3-endpoint", "http://k:s@minio:9000"}, nil},
		"half credentials": {[]string{"--s3-bucket", "b"}, map[string]string{"MOAT_S3_ACCESS_KEY": "ak"}},
		"bad path style":   {[]string{"--s3-bucket", "b"}, map[string]string{"MOAT_S3_PATH_STYLE": "yes"}},
	} {
		if _, err := load(t, tc.args, tc.env); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestValidateInCode: a Config built in code from Default validates; one
// built from nothing does not (its durations and limits are zero).
func TestValidateInCode(t *testing.T) {
	c := Default()
	c.DataDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (&Config{DataDir: "x"}).Validate(); err == nil {
		t.Fatal("a Config without defaults validated")
	}
}

// TestFlagHelp: every flag's help names its variable and its default.
func TestFlagHelp(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	Flags(fs)
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		help := fs.Lookup(s.flag).Usage
		if !strings.Contains(help, s.env) || s.def != "" && !strings.Contains(help, "default "+s.def) {
			t.Errorf("--%s: %q", s.flag, help)
		}
	}
}

func TestPublicURL(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{PublicURL: "https://moat.example.com:8443/"}, "https://moat.example.com:8443"},
		{Default(), "http://127.0.0.1:5000"},
		{Config{Listeners: []Listener{{Address: "0.0.0.0:443", Kind: KindPublic}}, TLSAuto: true}, "https://localhost"},
		{Config{Listeners: []Listener{{Address: ":8080"}}}, "http://localhost:8080"},
		{Config{Listeners: []Listener{{Address: "10.0.0.1:443", Kind: KindVirtualNetwork}, {Address: "[2001:db8::1]:443", Kind: KindPublic}}, TLSCert: "c"}, "https://[2001:db8::1]"},
		{Config{Listeners: []Listener{{Address: "moat.test:6204", Kind: KindPublic}}, TLSCert: "c"}, "https://moat.test:6204"},
	} {
		if got := c.cfg.PublicURLOrDefault(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cfg, got, c.want)
		}
	}
	for _, bad := range []string{"moat.example.com", "ftp://x", "https://x/path", "https://u:p@x", "https://x?q=1"} {
		_, err := load(t, []string{"--public-url", bad}, nil)
		if err == nil || !strings.Contains(err.Error(), "publicURL / --public-url / MOAT_PUBLIC_URL") {
			t.Errorf("public URL %q: %v", bad, err)
		}
	}
}

func TestTokenLifetimes(t *testing.T) {
	c, err := load(t, []string{"--config", writeFile(t, "tokens:\n  refreshLifetime: 2h\n  offlineLifetime: 720h\n")}, map[string]string{"MOAT_TOKEN_ACCESS_LIFETIME": "2m"})
	if err != nil || c.Tokens != (Tokens{AccessLifetime: 2 * time.Minute, RefreshLifetime: 2 * time.Hour, OfflineLifetime: 720 * time.Hour}) {
		t.Fatalf("%+v %v", c.Tokens, err)
	}
	for env, want := range map[string]string{"MOAT_TOKEN_ACCESS_LIFETIME": "at most 24h", "MOAT_TOKEN_REFRESH_LIFETIME": "longer than 0"} {
		v := map[string]string{"MOAT_TOKEN_ACCESS_LIFETIME": "25h", "MOAT_TOKEN_REFRESH_LIFETIME": "0"}[env]
		if _, err := load(t, nil, map[string]string{env: v}); err == nil || !strings.Contains(err.Error(), env) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%s: %v", env, v, err)
		}
	}
}

// TestIPSets: ipSets maps set names to public prefixes; a bad name, a
// private or malformed prefix, an empty set, names that differ only in case
// or a value of the wrong shape are refused with the line and what to write.
func TestIPSets(t *testing.T) {
	c, err := load(t, []string{"--config", writeFile(t, "ipSets:\n  ci-runners: [203.0.113.0/24, \"2600:1f18::/32\"]\n  Build.Agents: [198.51.100.7/32]\n")}, nil)
	want := map[string][]netip.Prefix{
		"ci-runners":   {netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2600:1f18::/32")},
		"Build.Agents": {netip.MustParsePrefix("198.51.100.7/32")},
	}
	if err != nil || !reflect.DeepEqual(c.IPSets, want) {
		t.Fatalf("ipSets: %v, %v", c.IPSets, err)
	}
	for yml, hint := range map[string]string{
		"ipSets: [a]\n":                                              "mapping of set names",
		"ipSets:\n  ci: 203.0.113.0/24\n":                            "line 2: ipSets ci: must be a list",
		"ipSets:\n  ci: [203.0.113.7]\n":                             "must be a CIDR prefix",
		"ipSets:\n  ci: [10.0.0.0/8]\n":                              "RFC 1918",
		"ipSets:\n  ci: []\n":                                        "at least one prefix",
		"ipSets:\n  1ci: [203.0.113.0/24]\n":                         "not a valid set name",
		"ipSets:\n  ci: [203.0.113.0/24]\n  CI: [198.51.100.0/24]\n": "differ only in case",
	} {
		if _, err := load(t, []string{"--config", writeFile(t, yml)}, nil); err == nil || !strings.Contains(err.Error(), hint) {
			t.Errorf("%q: %v, want an error saying %q", yml, err, hint)
		}
	}
}
