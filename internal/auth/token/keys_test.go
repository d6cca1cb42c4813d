package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

func newKeys(t *testing.T) *Keys {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	k, err := OpenKeys(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func claims(aud string, ttl time.Duration) *jwt.RegisteredClaims {
	return &jwt.RegisteredClaims{Subject: "u1", Audience: jwt.ClaimStrings{aud}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))}
}

func TestSignVerify(t *testing.T) {
	k := newKeys(t)
	tok, err := k.Sign(claims("reg1", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.RegisteredClaims
	if err := k.Verify(tok, &c, "reg1"); err != nil || c.Subject != "u1" {
		t.Fatalf("verify: %v %+v", err, c)
	}
	if err := k.Verify(tok, &jwt.RegisteredClaims{}, "reg2"); err == nil {
		t.Fatal("token of reg1 accepted for reg2")
	}
	expired, _ := k.Sign(claims("reg1", -time.Hour))
	if err := k.Verify(expired, &jwt.RegisteredClaims{}, "reg1"); err == nil {
		t.Fatal("expired token accepted")
	}
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
	if err := k.Verify(tampered, &jwt.RegisteredClaims{}, "reg1"); err == nil {
		t.Fatal("tampered token accepted")
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims("reg1", time.Minute))
	ns, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err := k.Verify(ns, &jwt.RegisteredClaims{}, "reg1"); err == nil {
		t.Fatal("alg=none accepted")
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("reg1", time.Minute))
	hs.Header["kid"] = k.snap.Load().signer.kid
	hss, _ := hs.SignedString([]byte("secret"))
	if err := k.Verify(hss, &jwt.RegisteredClaims{}, "reg1"); err == nil {
		t.Fatal("HS256 accepted")
	}
}

func TestRotationKeepsOldTokensValid(t *testing.T) {
	k := newKeys(t)
	old, _ := k.Sign(claims("a", time.Minute))
	if err := k.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := k.Verify(old, &jwt.RegisteredClaims{}, "a"); err != nil {
		t.Fatalf("token signed before rotation refused: %v", err)
	}
	fresh, _ := k.Sign(claims("a", time.Minute))
	if jwtKID(t, fresh) == jwtKID(t, old) {
		t.Fatal("rotation did not change the signing key")
	}
	if n := len(k.JWKS()["keys"].([]map[string]string)); n != 2 {
		t.Fatalf("JWKS has %d keys, want 2 (old and new)", n)
	}
}

func jwtKID(t *testing.T, s string) string {
	tok, _, err := jwt.NewParser().ParseUnverified(s, &jwt.RegisteredClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header["kid"].(string)
}

func FuzzVerify(f *testing.F) {
	k, err := OpenKeys(context.Background(), mustStore(f))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := k.Sign(claims("a", time.Minute))
	f.Add(good)
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		var c jwt.RegisteredClaims
		if err := k.Verify(s, &c, "a"); err == nil && s != good {
			// Any other accepted string must still be a token we signed.
			if aud, _ := c.GetAudience(); len(aud) != 1 || aud[0] != "a" {
				t.Fatalf("accepted foreign token %q", s)
			}
		}
	})
}

func mustStore(f *testing.F) *sqlite.Store {
	s, err := sqlite.Open(filepath.Join(f.TempDir(), "m.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	return s
}

func TestRotateIfDue(t *testing.T) {
	k := newKeys(t)
	if rotated, err := k.RotateIfDue(context.Background()); err != nil || rotated {
		t.Fatalf("a fresh key was rotated: %v %v", rotated, err)
	}
	old := k.snap.Load().signer.kid
	// Age the stored key (RotateIfDue reloads from the store).
	r, _ := k.store.GetResource(context.Background(), "/moat/signingKeys/"+old)
	r.Body = []byte(strings.Replace(string(r.Body), `"createdAt":"`, `"createdAt":"2020-01-01T00:00:00Z","x":"`, 1))
	if err := k.store.PutResource(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if rotated, err := k.RotateIfDue(context.Background()); err != nil || !rotated {
		t.Fatalf("an old key was not rotated: %v %v", rotated, err)
	}
	if k.snap.Load().signer.kid == old {
		t.Fatal("signer unchanged")
	}
}

// TestRetention: a key retired longer ago than MaxLifetime stops verifying,
// unless the retention is forever (docker login's refresh tokens live as
// long as their credential, across rotations).
func TestRetention(t *testing.T) {
	ctx := context.Background()
	k := newKeys(t)
	long, _ := k.Sign(claims("a", 10*365*24*time.Hour))
	bound := func(iat time.Time) string {
		raw, _ := k.Sign(&RegistryClaims{Kind: KindRefresh, Credential: "stamp", RegisteredClaims: jwt.RegisteredClaims{
			Audience: jwt.ClaimStrings{"a"}, IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(iat.Add(10 * 365 * 24 * time.Hour))}})
		return raw
	}
	refresh := bound(time.Now().Add(-72 * time.Hour))
	forged := bound(time.Now()) // signed by the old key after it retired
	old := k.snap.Load().signer.kid
	if err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	// Retire the old key two days ago.
	r, _ := k.store.GetResource(ctx, "/moat/signingKeys/"+old)
	var sk storedKey
	if err := json.Unmarshal(r.Body, &sk); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-48 * time.Hour)
	sk.RetiredAt = &at
	r.Body, _ = json.Marshal(sk)
	if err := k.store.PutResource(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := k.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Verify(long, &jwt.RegisteredClaims{}, "a"); err == nil {
		t.Fatal("a key retired two days ago still verifies with the default retention")
	}
	k.SetRetention(0)
	if err := k.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Verify(refresh, &RegistryClaims{}, "a"); err != nil {
		t.Fatalf("a credential-bound refresh token of a retired key, retention forever: %v", err)
	}
	if err := k.Verify(long, &jwt.RegisteredClaims{}, "a"); err == nil {
		t.Fatal("a key retired two days ago verifies a token that is not credential-bound")
	}
	if err := k.Verify(forged, &RegistryClaims{}, "a"); err == nil {
		t.Fatal("a key retired two days ago verifies a refresh token issued after it retired")
	}
	k.SetRetention(time.Hour) // raised to MaxLifetime: still gone after two days
	if err := k.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Verify(refresh, &RegistryClaims{}, "a"); err == nil {
		t.Fatal("retention of an hour kept a key retired two days ago")
	}
}

// TestClock: tokens are checked at the keys' clock.
func TestClock(t *testing.T) {
	k := newKeys(t)
	tok, _ := k.Sign(claims("a", time.Hour))
	k.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	if err := k.Verify(tok, &jwt.RegisteredClaims{}, "a"); err == nil {
		t.Fatal("a token expired by the clock verifies")
	}
}

// TestJWKSIsThePublicKey: each JWK's x and y are the signing key's public
// point (32 bytes each, base64url), so a verifier that reads the set checks
// moat's signatures.
func TestJWKSIsThePublicKey(t *testing.T) {
	k := newKeys(t)
	set := k.snap.Load()
	for _, jwk := range k.JWKS()["keys"].([]map[string]string) {
		kk := set.byKID[jwk["kid"]]
		if kk == nil {
			t.Fatalf("JWKS names key %q, which the set does not hold", jwk["kid"])
		}
		x, errX := base64.RawURLEncoding.DecodeString(jwk["x"])
		y, errY := base64.RawURLEncoding.DecodeString(jwk["y"])
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			t.Fatalf("x %q, y %q: want 32 bytes each, base64url", jwk["x"], jwk["y"])
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatal(err)
		}
		if !pub.Equal(kk.priv.Public()) {
			t.Fatalf("JWK %s is not the public key of its signing key", jwk["kid"])
		}
	}
}
