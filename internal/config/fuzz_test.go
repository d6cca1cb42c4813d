package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoadFile: an operator's file never panics or hangs the loader, and
// what it accepts is valid and loads the same again.
func FuzzLoadFile(f *testing.F) {
	for _, seed := range []string{
		readmeExample(f),
		"dataDir: /var/lib/moat\ngc:\n  interval: 30m\n  grace: 0\nlimits:\n  ipRules: 0\n  tokenRequestsPerSecond: -1\n  uploadExpiry: 48h\n",
		"listeners:\n  - address: :1\n    kind: virtualNetwork\n    virtualNetwork: /x\n    trustedProxies: [\"::ffff:10.0.0.0/104\"]\n",
		"base: &b {address: \":1\"}\nlisteners: [*b, *b]\n",
		"listeners:\n  - &l {name: a, address: \":1\"}\n  - *l\n",
		"tlsAuto: yes\ns3:\n  bucket: b\n  pathStyle: on\n",
		"logFormat: json\nauditRetention: 1h\ntrustedServices: []\n",
		"gc:\n  interval: 1h\n  interval: 2h\n",
		"ipSets:\n  ci-runners: [203.0.113.0/24, \"2600:1f18::/32\"]\n  Build.Agents: [198.51.100.7/32]\n", "ipSets: {a: [10.0.0.0/8]}\n",
		"---\n...\n", "~\n", "- a\n", "gc: 1h\n", "a: &a [*a]\n",
	} {
		f.Add([]byte(seed))
	}
	env := func(string) string { return "" }
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := loadFrom(nil, env, "moat.yaml", raw)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted a configuration that does not validate: %v", err)
		}
		again, err := loadFrom(nil, env, "moat.yaml", raw)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("loads differently the second time: %v", err)
		}
	})
}

// readmeExample is the YAML example of README.md's configuration section.
func readmeExample(t testing.TB) string {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(raw), "```yaml\n")
	example, _, closed := strings.Cut(example, "```")
	if !ok || !closed {
		t.Fatal("README.md has no yaml example")
	}
	return example
}
