package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedTTL is how long a successful password check is remembered.
const verifiedTTL = 5 * time.Minute

// verifiedPasswords remembers recent successful password checks, so a client
// that sends Basic credentials on every token request (docker, crane) costs
// one argon2id check per verifiedTTL instead of one per request. Entries are
// keyed by an HMAC (random per-process key) of the stored hash and the
// password: a changed password changes the stored hash, so old entries never
// match, and nothing readable of the password is kept.
type verifiedPasswords struct {
	once sync.Once
	key  []byte
	mu   sync.Mutex
	m    map[[32]byte]time.Time
}

func (v *verifiedPasswords) sum(hash, pw string) [32]byte {
	v.once.Do(func() {
		v.key = make([]byte, 32)
		_, _ = rand.Read(v.key)
		v.m = map[[32]byte]time.Time{}
	})
	mac := hmac.New(sha256.New, v.key)
	mac.Write([]byte(hash))
	mac.Write([]byte{0})
	mac.Write([]byte(pw))
	var out [32]byte
	copy(out[:], mac.Sum(nil))
	return out
}

func (v *verifiedPasswords) ok(hash, pw string) bool {
	k := v.sum(hash, pw)
	v.mu.Lock()
	defer v.mu.Unlock()
	exp, found := v.m[k]
	return found && time.Now().Before(exp)
}

func (v *verifiedPasswords) add(hash, pw string) {
	k := v.sum(hash, pw)
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.m) >= 10000 {
		clear(v.m) // bounded; rare, and only costs re-checks
	}
	v.m[k] = time.Now().Add(verifiedTTL)
}
