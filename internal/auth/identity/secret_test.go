package identity

import (
	"strings"
	"testing"
)

// TestNewSecretNoLeadingDash: a secret is given on command lines
// (az login --service-principal -u ID -p SECRET); az's argument parser takes
// a value that begins with "-" for an option and fails.
func TestNewSecretNoLeadingDash(t *testing.T) {
	for i := 0; i < 3000; i++ {
		s := NewSecret()
		if strings.HasPrefix(s, "-") || len(s) != 40 {
			t.Fatalf("secret %q: must be 40 characters and not begin with '-'", s)
		}
	}
}
