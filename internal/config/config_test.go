package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs, func(k string) string { return env[k] })
}

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "moat.yaml")
	os.WriteFile(file, []byte("dataDir: /from/file\nloginServerSuffix: file.example\nlisteners:\n  - name: internet\n    address: \":443\"\n    kind: public\n"), 0o600)

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

func TestDefaults(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil || c.DataDir != "moat-data" || c.Listeners[0].Address != DefaultListen || c.Listeners[0].Kind != KindPublic {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestGCSettings(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil || c.GCInterval() != DefaultGCInterval || c.GCGrace() != DefaultGCGrace || c.UploadExpiry() != DefaultUploadExpiry {
		t.Fatalf("defaults: %v %v %v %v", c.GCInterval(), c.GCGrace(), c.UploadExpiry(), err)
	}
	file := filepath.Join(t.TempDir(), "moat.yaml")
	os.WriteFile(file, []byte("gc:\n  interval: 30m\n  grace: 2h\nlimits:\n  uploadExpiry: 48h\n"), 0o600)
	c, err = load(t, []string{"--config", file, "--gc-interval", "0"}, map[string]string{"MOAT_GC_GRACE": "10m"})
	if err != nil || c.GCInterval() != 0 || c.GCGrace() != 10*time.Minute || c.UploadExpiry() != 48*time.Hour {
		t.Fatalf("file, env and flag: %v %v %v %v", c.GCInterval(), c.GCGrace(), c.UploadExpiry(), err)
	}
	if _, err := load(t, []string{"--upload-expiry", "soon"}, nil); err == nil || !strings.Contains(err.Error(), "limits.uploadExpiry") {
		t.Fatalf("bad --upload-expiry: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	dir := t.TempDir()
	for name, yml := range map[string]string{
		"unknown field": "dataDri: x\n",
		"bad address":   "listeners:\n  - address: nope\n",
		"bad kind":      "listeners:\n  - address: :1\n    kind: private\n",
		"vnet no id":    "listeners:\n  - address: :1\n    kind: virtualNetwork\n",
		"bad proxy":     "listeners:\n  - address: :1\n    trustedProxies: [\"10.0.0.1\"]\n",
		"tls half":      "tlsCert: /x.pem\n",
		"gc interval":   "gc:\n  interval: hourly\n",
		"gc grace < 0":  "gc:\n  grace: -1h\n",
		"upload expiry": "limits:\n  uploadExpiry: 1d\n",
		"suffix url":    "loginServerSuffix: https://moat.test\n",
		"suffix port":   "loginServerSuffix: moat.test:http\n",
	} {
		f := filepath.Join(dir, "c.yaml")
		os.WriteFile(f, []byte(yml), 0o600)
		if _, err := load(t, []string{"--config", f}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestS3(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil || c.S3.Bucket != "" {
		t.Fatalf("default must be the filesystem: %+v %v", c.S3, err)
	}
	file := filepath.Join(t.TempDir(), "moat.yaml")
	os.WriteFile(file, []byte("s3:\n  bucket: from-file\n  endpoint: http://minio:9000\n  pathStyle: true\n  prefix: a/\n"), 0o600)
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

func TestPublicURL(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{PublicURL: "https://moat.example.com:8443/"}, "https://moat.example.com:8443"},
		{Config{}, "http://127.0.0.1:5000"},
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
		c := Config{PublicURL: bad}
		if err := c.Validate(); err == nil {
			t.Errorf("public URL %q accepted", bad)
		}
	}
}
