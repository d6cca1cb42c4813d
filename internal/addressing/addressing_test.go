package addressing

import (
	"strings"
	"testing"
)

func must(t testing.TB, suffix, port string) Addressing {
	t.Helper()
	a, err := New(suffix, port)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLoginServers(t *testing.T) {
	for _, c := range []struct {
		suffix, port, want string
	}{
		{"moat.test", "443", "reg.moat.test"},
		{"moat.test", "80", "reg.moat.test"},
		{"moat.test", "", "reg.moat.test"},
		{"moat.test", "0", "reg.moat.test"}, // not bound yet
		{"moat.test", "6204", "reg.moat.test:6204"},
		{"Moat.Test:8443", "6204", "reg.moat.test:8443"}, // the suffix's port wins (a balancer in front)
		{"moat.test:443", "6204", "reg.moat.test"},
		{".moat.test", "443", "reg.moat.test"},
	} {
		a := must(t, c.suffix, c.port)
		if got := a.LoginServer("reg"); got != c.want {
			t.Errorf("New(%q, %q).LoginServer = %q, want %q", c.suffix, c.port, got, c.want)
		}
		if got := a.Audience(strings.ToUpper(c.want)); got != c.want {
			t.Errorf("Audience(%q) = %q, want %q", strings.ToUpper(c.want), got, c.want)
		}
		if got := a.LoginServerOn("127.0.0.1:5000", "Reg"); got != c.want {
			t.Errorf("LoginServerOn = %q, want %q", got, c.want)
		}
		if a.Suffix() != "moat.test" {
			t.Errorf("Suffix() = %q: certificates and DNS zones never carry a port", a.Suffix())
		}
	}
	path := must(t, "", "5000")
	if path.HostStyle() || path.LoginServerOn("127.0.0.1:5000", "MyReg") != "127.0.0.1:5000/myreg" || path.Audience("Moat.Test:5000") != "moat.test:5000" {
		t.Fatalf("path style: %+v", path)
	}
}

func TestHostRegistry(t *testing.T) {
	a := must(t, "moat.test", "6204")
	for host, want := range map[string]string{
		"reg.moat.test": "reg", "reg.moat.test:6204": "reg", "REG.Moat.TEST:443": "reg", "reg.moat.test:1": "reg",
		"moat.test": "", "a.b.moat.test": "", ".moat.test": "", "regmoat.test": "", "reg.moat.test.evil": "",
		"127.0.0.1:6204": "", "[::1]:6204": "", "[::1]": "", "": "",
	} {
		got, ok := a.HostRegistry(host)
		if got != want || ok != (want != "") {
			t.Errorf("HostRegistry(%q) = %q %v, want %q", host, got, ok, want)
		}
	}
	if reg, repo := a.Split("reg.moat.test:6204", "team/app"); reg != "reg" || repo != "team/app" {
		t.Errorf("host-style split: %q %q", reg, repo)
	}
	if reg, repo := a.Split("127.0.0.1:6204", "Reg/team/app"); reg != "Reg" || repo != "team/app" {
		t.Errorf("path-style split: %q %q", reg, repo)
	}
}

func TestSplitSuffixRefuses(t *testing.T) {
	for _, bad := range []string{"https://moat.test", "moat.test/x", "*.moat.test", "moat..test", "moat.test:0", "moat.test:99999", "moat.test:x", "-moat.test", "moat_test"} {
		if _, _, err := SplitSuffix(bad); err == nil {
			t.Errorf("SplitSuffix(%q) accepted", bad)
		}
	}
}

// FuzzHostRegistry: whatever a client sends as Host, a host-style match is
// one DNS label in front of the suffix, and its login server matches again.
func FuzzHostRegistry(f *testing.F) {
	for _, s := range []string{"reg.moat.test", "reg.moat.test:6204", "REG.MOAT.TEST", "a.b.moat.test", "[::1]:5000", "moat.test", ".moat.test", "x.moat.test:"} {
		f.Add(s)
	}
	a := must(f, "moat.test", "6204")
	f.Fuzz(func(t *testing.T, host string) {
		reg, ok := a.HostRegistry(host)
		if !ok {
			return
		}
		if reg == "" || strings.ContainsAny(reg, ".:") || reg != strings.ToLower(reg) {
			t.Fatalf("HostRegistry(%q) = %q", host, reg)
		}
		if again, ok := a.HostRegistry(a.LoginServer(reg)); !ok || again != reg {
			t.Fatalf("%q: login server %q matches %q %v", host, a.LoginServer(reg), again, ok)
		}
	})
}
