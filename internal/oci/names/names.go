// Package names validates what clients put in URLs: repository names, tags,
// digests and registry names. Validation is by hand-written scanners rather than
// regular expressions because these run on every request.
package names

import (
	_ "crypto/sha256" // registers the digest algorithms moat verifies
	_ "crypto/sha512"
	"strings"

	"github.com/opencontainers/go-digest"
)

// MaxRepositoryLength bounds a repository name; the OCI spec lets registries
// limit it and clients keep <registry>/<name> under 255.
const MaxRepositoryLength = 255

// ValidRepository reports whether s matches the OCI repository grammar
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*.
// It rejects "..", leading or trailing separators and empty components, so a
// valid name can never escape a directory when used as a path.
func ValidRepository(s string) bool {
	if s == "" || len(s) > MaxRepositoryLength {
		return false
	}
	for comp := range strings.SplitSeq(s, "/") {
		if !validComponent(comp) {
			return false
		}
	}
	return true
}

func validComponent(c string) bool {
	if c == "" || !alnum(c[0]) || !alnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if alnum(c[i]) {
			i++
			continue
		}
		// A separator run: ".", "_", "__" or one or more "-".
		j := i
		switch c[i] {
		case '.':
			j++
		case '_':
			j++
			if j < len(c) && c[j] == '_' {
				j++
			}
		case '-':
			for j < len(c) && c[j] == '-' {
				j++
			}
		default:
			return false
		}
		if j >= len(c) || !alnum(c[j]) {
			return false
		}
		i = j
	}
	return true
}

func alnum(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }

// ValidTag reports whether s matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func ValidTag(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		ok := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
		if i > 0 {
			ok = ok || b == '.' || b == '-'
		}
		if !ok {
			return false
		}
	}
	return true
}

// ParseDigest parses a digest of an algorithm moat can verify (sha256, sha512).
func ParseDigest(s string) (digest.Digest, bool) {
	d := digest.Digest(s)
	if d.Validate() != nil {
		return "", false
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return d, true
	}
	return "", false
}

// LooksLikeDigest tells a digest reference ("algo:hex") from a tag.
func LooksLikeDigest(ref string) bool { return strings.Contains(ref, ":") }

// ValidRegistry reports whether s is a registry name: 5-50 ASCII letters and digits.
func ValidRegistry(s string) bool {
	if len(s) < 5 || len(s) > 50 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9') {
			return false
		}
	}
	return true
}
