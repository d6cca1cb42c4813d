package scopemap

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Password names: a token has up to two, so one can be renewed while
// clients still use the other.
const (
	Password1 = "password1"
	Password2 = "password2"
)

// Password is one of a token's passwords as stored: its argon2id hash
// (internal/identity), never the password.
type Password struct {
	Name    string     `json:"name"`
	Hash    string     `json:"hash"`
	Created time.Time  `json:"created"`
	Expiry  *time.Time `json:"expiry,omitempty"`
}

// Expired reports whether the password has expired at now.
func (p Password) Expired(now time.Time) bool { return p.Expiry != nil && !now.Before(*p.Expiry) }

// Token is what the data plane needs of a registry token: whether it is
// enabled, its passwords and its scope map's actions.
type Token struct {
	Name string
	// UID is given when the token is created: a token deleted and created
	// again under the same name has another, so old stamps do not match.
	UID       string
	Enabled   bool
	Passwords []Password
	// Actions are the actions of its scope map (none when that is gone).
	Actions []Action
}

// Stamp is the credential stamp of one of the token's passwords
// (token.RegistryClaims.Credential): regenerating or deleting that password,
// or re-creating the token, changes it, so that every refresh and access
// token issued from it stops working.
func (t *Token) Stamp(p Password) string {
	sum := sha256.Sum256([]byte(t.UID + "\x00" + p.Name + "\x00" + p.Hash))
	return hex.EncodeToString(sum[:12])
}

// Current finds the password of stamp, if it is still the token's and unexpired.
func (t *Token) Current(stamp string, now time.Time) (Password, bool) {
	for _, p := range t.Passwords {
		if stamp != "" && t.Stamp(p) == stamp && !p.Expired(now) {
			return p, true
		}
	}
	return Password{}, false
}
