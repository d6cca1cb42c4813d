package identity

import (
	"crypto/sha256"
	"encoding/hex"
)

// CredentialStamp identifies the credentials a principal has now: it changes
// whenever a password or secret is set, added or removed. Tokens that must
// not outlive the credential they were issued from (refresh tokens, and the
// access tokens they yield) carry it and are checked against it on every
// use; it is computed once per directory load, so the check is a map lookup
// and a comparison. Disabled principals are refused separately.
func (p *Principal) CredentialStamp() string {
	if p.stamp != "" {
		return p.stamp
	}
	return credentialStamp(p)
}

func credentialStamp(p *Principal) string {
	sum := sha256.New()
	for _, s := range p.Secrets {
		sum.Write([]byte(s.ID + "\x00" + s.Hash + "\x00"))
	}
	return hex.EncodeToString(sum.Sum(nil)[:12])
}

// CurrentCredential reports whether the principal of object ID id exists,
// is enabled and still has the credentials of stamp.
func (d *Directory) CurrentCredential(id, stamp string) (*Principal, bool) {
	p, ok := d.Get(id)
	if !ok || p.Disabled || stamp == "" || p.CredentialStamp() != stamp {
		return nil, false
	}
	return p, true
}
