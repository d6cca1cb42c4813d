package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// mintToken signs a registry token with the signing key of the (stopped)
// server whose data is in dataDir: the claims of template, changed by edit.
// It is the one place the e2e tests use moat's own packages: a token that is
// validly signed yet expired (or not yet valid) cannot be had over HTTP.
func mintToken(t *testing.T, dataDir, template string, edit func(*token.RegistryClaims)) string {
	t.Helper()
	parts := strings.Split(template, ".")
	if len(parts) != 3 {
		t.Fatalf("template is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c token.RegistryClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("template claims: %v", err)
	}
	edit(&c)
	store, err := sqlite.Open(filepath.Join(dataDir, "meta.db"))
	if err != nil {
		t.Fatalf("opening the stopped server's metadata: %v", err)
	}
	defer store.Close()
	keys, err := token.OpenKeys(context.Background(), store)
	if err != nil {
		t.Fatalf("loading the server's signing keys: %v", err)
	}
	// The key that signs must be the one that signed the template.
	var hdr struct {
		KID string `json:"kid"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &hdr) != nil {
		t.Fatalf("template header is not JSON")
	}
	raw, err := keys.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		KID string `json:"kid"`
	}
	b, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if json.Unmarshal(b, &got) != nil || got.KID != hdr.KID {
		t.Fatalf("minted with key %q, but the server signed with %q", got.KID, hdr.KID)
	}
	return raw
}
