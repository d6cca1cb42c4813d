package mgmt

import (
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/scopemap"
	"github.com/moat-registry/moat/internal/resid"
)

// actionGenerateCredentials makes a token's passwords; Owner and Contributor have it.
const actionGenerateCredentials = registryType + "/generateCredentials/action"

// generateCredentialsRequest is ACR's GenerateCredentialsParameters.
type generateCredentialsRequest struct {
	TokenID string `json:"tokenId"`
	Name    string `json:"name"`
	Expiry  string `json:"expiry"`
}

// generateCredentials serves POST .../registries/{r}/generateCredentials:
// new values for one password of a token (name), or both, each valid until
// expiry (none: forever). The values are answered once and stored only as
// argon2id hashes; every token issued from a password replaced stops
// working at once (its credential stamp changes).
func (h *Handler) generateCredentials(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "generateCredentials (use POST)")
	}
	var in generateCredentialsRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	c := newCall(h, r, id)
	if err := registryParent(c); err != nil {
		return err
	}
	tid, ok := linkedID(in.TokenID, nsRegistry, "registries", "tokens")
	if !ok || !strings.EqualFold(strings.TrimSuffix(tid, "/tokens/"+lastSegment(tid)), c.parentID) {
		return badRequest("InvalidParameter", "tokenId %q must name a token of registry %s (%s/tokens/<name>)", in.TokenID, c.parentName, c.parentID)
	}
	names := []string{scopemap.Password1, scopemap.Password2}
	if in.Name != "" {
		n, err := enum("name", in.Name, scopemap.Password1, scopemap.Password2)
		if err != nil {
			return err
		}
		names = []string{n}
	}
	now := time.Now().UTC().Truncate(time.Second)
	expiry, err := parseExpiry(in.Expiry, now)
	if err != nil {
		return err
	}
	var t tokenDoc
	version, found, err := h.load(r.Context(), tokenKey(c.parentID, lastSegment(tid)), &t)
	if err != nil {
		return err
	}
	if !found {
		return notFound("token %q not found in registry %s", lastSegment(tid), c.parentName)
	}
	out := registryCredentialsOf(t.Name)
	for _, n := range names {
		value := identity.NewSecret()
		p := scopemap.Password{Name: n, Hash: identity.HashPassword(value), Created: now, Expiry: expiry}
		if i := passwordIndex(t.Secrets, n); i >= 0 {
			t.Secrets[i] = p
		} else {
			t.Secrets = append(t.Secrets, p)
		}
		out.Passwords = append(out.Passwords, TokenPassword{Name: n, Value: value, CreationTime: &now, Expiry: expiry})
	}
	if _, err := h.save(r.Context(), tokenKey(c.parentID, t.Name), typeToken, t, version); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// generatedCredentials is ACR's GenerateCredentialsResult.
type generatedCredentials struct {
	Username  string          `json:"username"`
	Passwords []TokenPassword `json:"passwords"`
}

func registryCredentialsOf(user string) generatedCredentials {
	return generatedCredentials{Username: user, Passwords: []TokenPassword{}}
}

// parseExpiry reads an expiry: RFC 3339, or a date and time without a zone
// (UTC), as az and the SDKs send them; it must lie in the future.
func parseExpiry(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, badRequest("InvalidParameter", "expiry %q is not a date and time: use RFC 3339, e.g. 2030-01-31T00:00:00Z (--expiration), or --expiration-in-days", s)
	}
	if !t.After(now) {
		return nil, badRequest("InvalidParameter", "expiry %s is in the past", t.UTC().Format(time.RFC3339))
	}
	t = t.UTC()
	return &t, nil
}
