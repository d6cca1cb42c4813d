package names_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/opencontainers/go-digest"
)

// The grammars of the OCI distribution spec, as regular expressions: the
// hand-written scanners must agree with them exactly.
var (
	repositoryRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE        = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	digestRE     = regexp.MustCompile(`^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`)
)

var (
	sha256Hex = strings.Repeat("ab", 32)
	sha512Hex = strings.Repeat("cd", 64)
)

func TestValidRepository(t *testing.T) {
	for s, want := range map[string]bool{
		"a": true, "app": true, "team/app": true, "a.b": true, "a_b": true, "a__b": true, "a---b": true,
		"a/b/c/d": true, "0/9": true, strings.Repeat("a", 255): true,
		"": false, "A": false, "a/": false, "/a": false, "a//b": false, "..": false, "a/../b": false,
		"./a": false, "a..b": false, "a___b": false, "a.-b": false, "-a": false, "a-": false, "a b": false,
		strings.Repeat("a", 256): false, "a/.b": false, "a\x00": false, "ä": false,
	} {
		if got := names.ValidRepository(s); got != want {
			t.Errorf("ValidRepository(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzValidRepository(f *testing.F) {
	for _, s := range []string{"a", "team/app", "a.b_c__d-e--f", "a/../b", "A", "a//b", "a/", "/a",
		"a___b", "a.-b", strings.Repeat("ab/", 85), strings.Repeat("a", 255) + "a", "a/./b", "x\xffy"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := names.ValidRepository(s)
		if want := len(s) <= names.MaxRepositoryLength && repositoryRE.MatchString(s); ok != want {
			t.Fatalf("ValidRepository(%q) = %v, the grammar says %v", s, ok, want)
		}
		if !ok {
			return
		}
		if strings.Contains(s, "..") || strings.Contains(s, "//") || strings.HasPrefix(s, "/") ||
			strings.HasSuffix(s, "/") || strings.ToLower(s) != s || strings.ContainsAny(s, "\\\x00 :@") {
			t.Fatalf("ValidRepository accepted %q", s)
		}
		for _, seg := range strings.Split(s, "/") {
			if seg == "." || seg == ".." || seg == "" {
				t.Fatalf("ValidRepository accepted %q with segment %q", s, seg)
			}
		}
	})
}

func FuzzValidTag(f *testing.F) {
	for _, s := range []string{"latest", "v1.0", "_x", "A-b_c.d", ".x", "-x", "", "a:b", "a/b",
		strings.Repeat("t", 128), strings.Repeat("t", 129), "sha256:" + sha256Hex} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := names.ValidTag(s)
		if want := tagRE.MatchString(s); ok != want {
			t.Fatalf("ValidTag(%q) = %v, the grammar says %v", s, ok, want)
		}
		if ok && (names.LooksLikeDigest(s) || strings.ContainsAny(s, "/:@") || len(s) > 128) {
			t.Fatalf("ValidTag accepted %q", s)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{"sha256:" + sha256Hex, "sha512:" + sha512Hex, "sha256:" + strings.ToUpper(sha256Hex),
		"sha384:" + strings.Repeat("a", 96), "sha256:" + sha256Hex[1:], "sha512:" + sha256Hex, "md5:abc",
		"sha256:", ":" + sha256Hex, "sha256+b64:" + sha256Hex, "sha256:" + sha256Hex + "\n", "sha256" + sha256Hex} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := names.ParseDigest(s)
		if want := digestRE.MatchString(s); ok != want {
			t.Fatalf("ParseDigest(%q) = %v, want %v", s, ok, want)
		}
		if !ok {
			if d != "" {
				t.Fatalf("ParseDigest(%q) rejected but returned %q", s, d)
			}
			return
		}
		if d.String() != s {
			t.Fatalf("ParseDigest(%q).String() = %q", s, d)
		}
		if d2, ok2 := names.ParseDigest(d.String()); !ok2 || d2 != d {
			t.Fatalf("round trip of %q: %q %v", s, d2, ok2)
		}
		switch alg := d.Algorithm(); alg {
		case digest.SHA256, digest.SHA512:
			if len(d.Encoded()) != alg.Size()*2 || d.Validate() != nil {
				t.Fatalf("%q: %d hex digits for %s", s, len(d.Encoded()), alg)
			}
		default:
			t.Fatalf("%q: algorithm %s", s, alg)
		}
		if !names.LooksLikeDigest(s) || names.ValidTag(s) {
			t.Fatalf("digest %q would be taken for a tag", s)
		}
	})
}
