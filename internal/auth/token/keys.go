// Package token signs and verifies every JWT moat issues (identity tokens,
// registry access and refresh tokens) with rotating ES256 keys. It is the one
// token verifier: nothing else parses a moat token.
package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/moat-registry/moat/internal/store/meta"
)

// MaxLifetime bounds every token moat issues except the registry refresh
// tokens of docker login, which live as long as their credential (or
// tokens.offlineLifetime); a retired key keeps verifying for at least this
// long, so rotation never invalidates a token in flight.
const MaxLifetime = 24 * time.Hour

const keyType = "moat/signingKeys"

// storedKey is a signing key as kept in the metadata store.
type storedKey struct {
	KID       string     `json:"kid"`
	PEM       string     `json:"pem"`
	CreatedAt time.Time  `json:"createdAt"`
	RetiredAt *time.Time `json:"retiredAt,omitempty"`
}

type key struct {
	kid     string
	priv    *ecdsa.PrivateKey
	created time.Time
	retired *time.Time
}

type keySet struct {
	signer *key
	byKID  map[string]*key
}

// Keys holds the signing keys: the newest signs, every key not retired for
// longer than its retention (SetRetention; MaxLifetime by default) verifies.
type Keys struct {
	store  meta.Resources
	snap   atomic.Pointer[keySet]
	rotate sync.Mutex
	clock  atomic.Pointer[func() time.Time]
	// retain is how long a retired key keeps verifying; 0 is forever.
	retain atomic.Int64
}

// SetRetention sets how long a retired key keeps verifying: at least
// MaxLifetime, or forever (0) when some tokens live as long as their
// credential. Reload applies it.
func (k *Keys) SetRetention(d time.Duration) {
	if d != 0 {
		d = max(d, MaxLifetime)
	}
	k.retain.Store(int64(d))
}

// Now is the time tokens are issued and checked at: the clock set with
// SetClock, else the system's.
func (k *Keys) Now() time.Time {
	if f := k.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// SetClock makes every token issued and checked through k use now (tests
// move it forward instead of waiting for tokens to expire).
func (k *Keys) SetClock(now func() time.Time) { k.clock.Store(&now) }

// OpenKeys loads the keys, creating the first one on a fresh server.
func OpenKeys(ctx context.Context, store meta.Resources) (*Keys, error) {
	k := &Keys{store: store}
	k.SetRetention(MaxLifetime)
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	if k.snap.Load().signer == nil {
		if err := k.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Reload reads the keys from the store (after a change on another node).
func (k *Keys) Reload(ctx context.Context) error {
	rs, err := k.store.ListResources(ctx, keyType, "/moat/signingkeys/")
	if err != nil {
		return err
	}
	set := &keySet{byKID: map[string]*key{}}
	var newest time.Time
	for _, r := range rs {
		var sk storedKey
		if err := json.Unmarshal(r.Body, &sk); err != nil {
			return fmt.Errorf("signing key %s: %w", r.ID, err)
		}
		if retain := time.Duration(k.retain.Load()); sk.RetiredAt != nil && retain > 0 && k.Now().Sub(*sk.RetiredAt) > retain {
			continue
		}
		b, _ := pem.Decode([]byte(sk.PEM))
		if b == nil {
			return fmt.Errorf("signing key %s: no PEM block", sk.KID)
		}
		priv, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", sk.KID, err)
		}
		kk := &key{kid: sk.KID, priv: priv, created: sk.CreatedAt, retired: sk.RetiredAt}
		set.byKID[sk.KID] = kk
		if sk.RetiredAt == nil && sk.CreatedAt.After(newest) {
			set.signer, newest = kk, sk.CreatedAt
		}
	}
	k.snap.Store(set)
	return nil
}

// Rotate makes a new signing key and retires the current one (it keeps
// verifying for the retention).
func (k *Keys) Rotate(ctx context.Context) error {
	k.rotate.Lock()
	defer k.rotate.Unlock()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	now := k.Now().UTC()
	sk := storedKey{KID: hex.EncodeToString(id[:]), PEM: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), CreatedAt: now}
	body, _ := json.Marshal(sk)
	if err := k.store.PutResource(ctx, &meta.Resource{ID: "/moat/signingKeys/" + sk.KID, Type: keyType, Body: body}); err != nil {
		return err
	}
	if old := k.snap.Load(); old != nil && old.signer != nil {
		if err := k.retire(ctx, old.signer.kid, now); err != nil {
			return err
		}
	}
	return k.Reload(ctx)
}

func (k *Keys) retire(ctx context.Context, kid string, at time.Time) error {
	r, err := k.store.GetResource(ctx, "/moat/signingKeys/"+kid)
	if err != nil {
		return err
	}
	var sk storedKey
	if err := json.Unmarshal(r.Body, &sk); err != nil {
		return err
	}
	sk.RetiredAt = &at
	r.Body, _ = json.Marshal(sk)
	return k.store.PutResource(ctx, r)
}

// Sign signs claims with the current key.
func (k *Keys) Sign(claims jwt.Claims) (string, error) {
	s := k.snap.Load().signer
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = s.kid
	return t.SignedString(s.priv)
}

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("invalid token")

// Verify checks a token's signature (ES256 only, by a known key), expiry and
// audience (any of auds), and decodes it into claims.
func (k *Keys) Verify(raw string, claims jwt.Claims, auds ...string) error {
	set := k.snap.Load()
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"ES256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(30 * time.Second),
		jwt.WithTimeFunc(k.Now)}
	var signer *key
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		kk, ok := set.byKID[kid]
		if !ok {
			return nil, fmt.Errorf("unknown signing key %q", kid)
		}
		signer = kk
		return &kk.priv.PublicKey, nil
	}, opts...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := k.retiredMayVerify(signer, claims); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(auds) > 0 {
		got, _ := claims.GetAudience()
		for _, a := range auds {
			for _, g := range got {
				if a == g {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: audience %v is not %v", ErrInvalid, got, auds)
	}
	return nil
}

// CredentialBound is implemented by claims that die with the credential they
// came from (docker login's refresh tokens).
type CredentialBound interface {
	CredentialBound() bool
}

// retiredMayVerify keeps rotation meaningful while retired keys are retained
// for credential-bound tokens: a key retired more than MaxLifetime ago (no
// other token it signed can still be valid) verifies only credential-bound
// tokens issued before it retired, so a leaked old key cannot mint new
// access tokens.
func (k *Keys) retiredMayVerify(kk *key, claims jwt.Claims) error {
	if kk == nil || kk.retired == nil || k.Now().Sub(*kk.retired) <= MaxLifetime {
		return nil
	}
	if cb, ok := claims.(CredentialBound); !ok || !cb.CredentialBound() {
		return fmt.Errorf("signing key %s retired at %s", kk.kid, kk.retired.Format(time.RFC3339))
	}
	if iat, err := claims.GetIssuedAt(); err != nil || iat == nil || iat.After(*kk.retired) {
		return fmt.Errorf("token issued after its signing key %s retired", kk.kid)
	}
	return nil
}

// JWKS returns the public keys as a JSON Web Key Set.
func (k *Keys) JWKS() map[string]any {
	set := k.snap.Load()
	var keys []map[string]string
	for _, kk := range set.byKID {
		// The uncompressed point: 0x04, then X and Y, 32 bytes each.
		pt, err := kk.priv.PublicKey.Bytes()
		if err != nil || len(pt) != 65 {
			continue // not a P-256 key: OpenKeys makes and loads only those
		}
		keys = append(keys, map[string]string{
			"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kk.kid,
			"x": b64(pt[1:33]), "y": b64(pt[33:]),
		})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i]["kid"] < keys[j]["kid"] })
	return map[string]any{"keys": keys}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// RotationInterval is how long a key signs before a new one takes over.
const RotationInterval = 30 * 24 * time.Hour

// RotateIfDue rotates when the signing key is older than RotationInterval
// (checked periodically by the server; Reload first so that of several nodes
// only one rotates, and the others pick its key up).
func (k *Keys) RotateIfDue(ctx context.Context) (bool, error) {
	if err := k.Reload(ctx); err != nil {
		return false, err
	}
	if s := k.snap.Load().signer; s != nil && k.Now().Sub(s.created) < RotationInterval {
		return false, nil
	}
	return true, k.Rotate(ctx)
}
