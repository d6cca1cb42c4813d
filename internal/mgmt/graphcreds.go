package mgmt

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/identity"
)

// Changing a principal's credentials or turning it off, with Microsoft
// Graph's shapes: PATCH a user (passwordProfile, accountEnabled) or service
// principal (accountEnabled), and a service principal's addPassword and
// removePassword. Every such change ends the principal's refresh tokens and
// the tokens issued from them at once (docs/identity.md).

// minPassword is the shortest password a user may be given.
const minPassword = 8

// graphPatch is the body of a PATCH of a user or service principal.
type graphPatch struct {
	DisplayName     *string `json:"displayName"`
	AccountEnabled  *bool   `json:"accountEnabled"`
	PasswordProfile *struct {
		Password string `json:"password"`
	} `json:"passwordProfile"`
}

// passwordCredential is Graph's passwordCredential (secretText only when added).
type passwordCredential struct {
	KeyID         string    `json:"keyId"`
	DisplayName   string    `json:"displayName,omitempty"`
	StartDateTime time.Time `json:"startDateTime"`
	SecretText    string    `json:"secretText,omitempty"`
}

// patchPrincipal serves PATCH /graph/v1.0/users/{id} and servicePrincipals/{id}.
func (h *Handler) patchPrincipal(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in graphPatch
	if err := decode(r, &in); err != nil {
		return err
	}
	c := identity.Copy(p)
	if in.DisplayName != nil {
		c.DisplayName = *in.DisplayName
	}
	if in.AccountEnabled != nil {
		if !*in.AccountEnabled && caller(r.Context()) == p.ID {
			return badRequest("CannotDisableSelf", "you cannot disable your own account")
		}
		c.Disabled = !*in.AccountEnabled
	}
	if pp := in.PasswordProfile; pp != nil {
		if p.Kind != identity.KindUser {
			return badRequest("InvalidParameter", "a service principal has no password profile: add a secret with addPassword (moat ad sp credential reset)")
		}
		if len(pp.Password) < minPassword {
			return badRequest("PasswordTooShort", "the password must be at least %d characters (--password)", minPassword)
		}
		c.Secrets = []identity.Secret{{ID: uuid.NewString(), Hash: identity.HashPassword(pp.Password), CreatedAt: time.Now().UTC()}}
	}
	if err := h.Principals.Update(r.Context(), c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// addPassword serves POST /graph/v1.0/servicePrincipals/{id}/addPassword: a
// new secret, shown once; the existing ones stay.
func (h *Handler) addPassword(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		PasswordCredential struct {
			DisplayName string `json:"displayName"`
		} `json:"passwordCredential"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	secret := identity.NewSecret()
	s := identity.Secret{ID: uuid.NewString(), Hash: identity.HashSecret(secret), CreatedAt: time.Now().UTC()}
	c := identity.Copy(p)
	c.Secrets = append(c.Secrets, s)
	if err := h.Principals.Update(r.Context(), c); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, passwordCredential{KeyID: s.ID, DisplayName: in.PasswordCredential.DisplayName, StartDateTime: s.CreatedAt, SecretText: secret})
	return nil
}

// removePassword serves POST /graph/v1.0/servicePrincipals/{id}/removePassword {"keyId": ...}.
func (h *Handler) removePassword(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		KeyID string `json:"keyId"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	c := identity.Copy(p)
	c.Secrets = c.Secrets[:0]
	for _, s := range p.Secrets {
		if s.ID != in.KeyID {
			c.Secrets = append(c.Secrets, s)
		}
	}
	if len(c.Secrets) == len(p.Secrets) {
		return notFound("service principal %s has no secret with keyId %q", p.Name, in.KeyID)
	}
	if err := h.Principals.Update(r.Context(), c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// passwordCredentials lists a service principal's secrets (never their values).
func passwordCredentials(p *identity.Principal) []passwordCredential {
	out := []passwordCredential{}
	for _, s := range p.Secrets {
		out = append(out, passwordCredential{KeyID: s.ID, StartDateTime: s.CreatedAt})
	}
	return out
}
