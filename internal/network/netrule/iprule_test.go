package netrule

import (
	"strings"
	"testing"
)

func TestParseIPRule(t *testing.T) {
	ok := map[string]string{
		"16.17.18.19":         "16.17.18.19",
		"16.17.18.19/32":      "16.17.18.19",
		"16.17.18.0/24":       "16.17.18.0/24",
		" 16.17.18.0/24 ":     "16.17.18.0/24",
		"2001:db8::/48":       "2001:db8::/48",
		"2001:4860::8888":     "2001:4860::8888",
		"::ffff:16.17.18.19":  "16.17.18.19",
		"8.0.0.0/7":           "8.0.0.0/7",
		"11.0.0.0/8":          "11.0.0.0/8",
		"172.32.0.0/16":       "172.32.0.0/16",
		"2606:4700::/32":      "2606:4700::/32",
		"::ffff:16.0.0.0/104": "16.0.0.0/8",
	}
	for in, want := range ok {
		p, err := ParseIPRule(in)
		if err != nil {
			t.Errorf("%q refused: %v", in, err)
			continue
		}
		if got := FormatIPRule(p); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
	bad := map[string]string{
		"10.1.2.3":       "private",
		"192.168.0.0/16": "private",
		"172.20.0.0/16":  "private",
		"8.0.0.0/5":      "covers",
		"0.0.0.0/0":      "--default-action Allow",
		"::/0":           "--default-action Allow",
		"127.0.0.1":      "loopback",
		"169.254.1.1":    "link-local",
		"224.0.0.1":      "multicast",
		"0.0.0.0":        "unspecified",
		"::1":            "loopback",
		"fd00::1":        "private",
		"fe80::1":        "link-local",
		"16.17.18.19/24": "canonical prefix is 16.17.18.0/24",
		"1.2.3":          "not a valid",
		"1.2.3.4/33":     "not a valid",
		"":               "not a valid",
		"fe80::1%eth0":   "zone",
	}
	for in, want := range bad {
		_, err := ParseIPRule(in)
		if err == nil {
			t.Errorf("%q accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q does not mention %q", in, err, want)
		}
	}
}

func FuzzParseIPRule(f *testing.F) {
	for _, s := range []string{"16.17.18.19", "16.17.18.0/24", "10.0.0.0/8", "::/0", "2001:db8::/48", "::ffff:1.2.3.4/120"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseIPRule(s)
		if err != nil {
			return
		}
		if p.Masked() != p || p.Addr().Is4In6() {
			t.Fatalf("%q accepted as non-canonical %s", s, p)
		}
		for _, r := range refused {
			if r.prefix.Addr().Is4() == p.Addr().Is4() && r.prefix.Overlaps(p) {
				t.Fatalf("%q accepted but overlaps %s", s, r.prefix)
			}
		}
		again, err := ParseIPRule(FormatIPRule(p))
		if err != nil || again != p {
			t.Fatalf("%q: formatted %q does not parse back (%v)", s, FormatIPRule(p), err)
		}
	})
}
