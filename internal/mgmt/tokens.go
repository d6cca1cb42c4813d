package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/scopemap"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Token is a registry token as ARM serves it. Its passwords are shown
// without their values, which only generateCredentials answers.
type Token struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Properties TokenProperties `json:"properties"`
}

// TokenProperties are a token's properties.
type TokenProperties struct {
	CreationDate      time.Time         `json:"creationDate"`
	ProvisioningState string            `json:"provisioningState"`
	ScopeMapID        string            `json:"scopeMapId"`
	Status            string            `json:"status"`
	Credentials       *TokenCredentials `json:"credentials,omitempty"`
}

// TokenCredentials are a token's passwords (certificates: none in moat).
type TokenCredentials struct {
	Certificates []json.RawMessage `json:"certificates"`
	Passwords    []TokenPassword   `json:"passwords"`
}

// TokenPassword is one password as ARM shows it; Value only in the answer
// of generateCredentials.
type TokenPassword struct {
	CreationTime *time.Time `json:"creationTime,omitempty"`
	Expiry       *time.Time `json:"expiry,omitempty"`
	Name         string     `json:"name"`
	Value        string     `json:"value,omitempty"`
}

// Token statuses, as ACR spells them.
const (
	tokenEnabled  = "enabled"
	tokenDisabled = "disabled"
)

// tokenDoc is a token as stored: the served token, its identity and its
// password hashes (argon2id).
type tokenDoc struct {
	Token
	UID         string              `json:"uid"`
	RegistryUID string              `json:"registryUid"`
	Secrets     []scopemap.Password `json:"secrets,omitempty"`
}

func tokenKey(regID, name string) string { return regID + "/tokens/" + strings.ToLower(name) }

var tokens = &kind[tokenDoc]{
	typ: typeToken, what: "token",
	parent: registryParent,
	load: func(c *call) (tokenDoc, int64, bool, error) {
		return loadDoc[tokenDoc](c, tokenKey(c.parentID, c.id.Name()))
	},
	list: func(c *call) ([]listed[tokenDoc], error) {
		return listDocs(c, typeToken, c.parentID+"/tokens/", func(t *tokenDoc) string { return t.ID })
	},
	render: func(_ *call, t tokenDoc, _ int64) (any, error) { return renderToken(t), nil },
	put:    putToken,
	remove: func(c *call, t tokenDoc) error {
		if err := c.h.Meta.DeleteResource(c.ctx, tokenKey(c.parentID, t.Name)); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		return nil
	},
}

// renderToken is the token as served: its passwords' names and dates.
func renderToken(t tokenDoc) Token {
	out := t.Token
	creds := &TokenCredentials{Certificates: []json.RawMessage{}, Passwords: []TokenPassword{}}
	for _, s := range t.Secrets {
		created := s.Created
		creds.Passwords = append(creds.Passwords, TokenPassword{Name: s.Name, CreationTime: &created, Expiry: s.Expiry})
	}
	out.Properties.Credentials = creds
	return out
}

func putToken(c *call, cur *tokenDoc, version int64, body []byte) (tokenDoc, int64, error) {
	var in Token
	if err := decodeBody(body, &in); err != nil {
		return tokenDoc{}, 0, err
	}
	name := c.id.Name()
	reg, err := c.h.getRegistry(c.ctx, c.id.ResourceGroup, c.id.Names[0])
	if err != nil {
		return tokenDoc{}, 0, err
	}
	t := tokenDoc{Token: Token{ID: c.parentID + "/tokens/" + name, Name: name, Type: typeToken}, UID: uuid.NewString(), RegistryUID: reg.UID}
	t.Properties.CreationDate = time.Now().UTC()
	if cur != nil {
		t.ID, t.Name, t.UID, t.Properties.CreationDate, t.Secrets = cur.ID, cur.Name, cur.UID, cur.Properties.CreationDate, cur.Secrets
	} else if !validChildName(name, false) {
		return t, 0, badRequest("InvalidResourceName", "token name %q is invalid: 5-50 letters, digits and '-'", name)
	}
	if t.Properties.Status, err = enum("properties.status", cmpOr(in.Properties.Status, tokenEnabled), tokenEnabled, tokenDisabled); err != nil {
		return t, 0, err
	}
	if t.Properties.ScopeMapID, err = c.h.checkScopeMapID(c, in.Properties.ScopeMapID); err != nil {
		return t, 0, err
	}
	if cr := in.Properties.Credentials; cr != nil {
		if len(cr.Certificates) > 0 {
			return t, 0, badRequest("CertificatesNotSupported", "moat tokens have passwords only (properties.credentials.certificates must be empty); generate them with moat acr token credential generate")
		}
		if cr.Passwords != nil {
			if t.Secrets, err = keepPasswords(t.Secrets, cr.Passwords, name); err != nil {
				return t, 0, err
			}
		}
	}
	t.Properties.ProvisioningState = "Succeeded"
	v, err := c.h.save(c.ctx, tokenKey(c.parentID, name), typeToken, t, version)
	return t, v, err
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// keepPasswords: a token's credentials.passwords list the passwords it
// keeps (az acr token credential delete sends the others' names left
// out); a password is made by generateCredentials only.
func keepPasswords(cur []scopemap.Password, in []TokenPassword, token string) ([]scopemap.Password, error) {
	var out []scopemap.Password
	for _, p := range in {
		i := passwordIndex(cur, p.Name)
		if i < 0 {
			return nil, badRequest("InvalidParameter", "token %s has no password named %q: passwords are made by generateCredentials (moat acr token credential generate --name %s --password1)", token, p.Name, token)
		}
		out = append(out, cur[i])
	}
	return out, nil
}

func passwordIndex(ps []scopemap.Password, name string) int {
	for i, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return i
		}
	}
	return -1
}

// checkScopeMapID checks a token's scopeMapId: a scope map of the token's
// own registry that exists (a built-in one or one of the registry's), which
// the caller may read (the linked check). It returns the ID as stored.
func (h *Handler) checkScopeMapID(c *call, raw string) (string, error) {
	const field = "properties.scopeMapId"
	if raw == "" {
		return "", badRequest("InvalidParameter", "%s is required: the resource ID of a scope map of this registry (moat acr token create --scope-map NAME, or --repository REPO ACTIONS)", field)
	}
	id, ok := linkedID(raw, nsRegistry, "registries", "scopeMaps")
	if !ok || !strings.EqualFold(strings.TrimSuffix(id, "/scopeMaps/"+lastSegment(id)), c.parentID) {
		return "", badRequest("InvalidParameter", "%s %q must name a scope map of registry %s (%s/scopeMaps/<name>)", field, raw, c.parentName, c.parentID)
	}
	if err := h.requireLinked(c.ctx, field, id, typeScopeMap+"/read"); err != nil {
		return "", err
	}
	name := lastSegment(id)
	if b, ok := scopemap.FindBuiltin(name); ok {
		return c.parentID + "/scopeMaps/" + b.Name, nil
	}
	var sm ScopeMap
	if _, found, err := h.load(c.ctx, scopeMapKey(c.parentID, name), &sm); err != nil {
		return "", err
	} else if !found {
		return "", notFound("scope map %q not found in registry %s; create it first (moat acr scope-map create)", name, c.parentName)
	}
	return sm.ID, nil
}

func lastSegment(id string) string { return id[strings.LastIndexByte(id, '/')+1:] }

// RepositoryTokens gives the data plane a registry's tokens with their
// scope maps' actions (regauth.RepositoryTokens).
type RepositoryTokens struct {
	Meta meta.Resources
}

// RepositoryToken finds reg's token of that name; nil when there is none
// (or the name cannot be a token's).
func (rt *RepositoryTokens) RepositoryToken(ctx context.Context, reg *meta.Registry, name string) (*scopemap.Token, error) {
	if reg == nil || !validChildName(name, false) {
		return nil, nil
	}
	regID := resid.RegistryID(reg.Subscription, reg.ResourceGroup, reg.Name)
	var t tokenDoc
	if ok, err := loadJSON(ctx, rt.Meta, tokenKey(regID, name), &t); err != nil || !ok || t.RegistryUID != reg.UID {
		return nil, err
	}
	out := &scopemap.Token{Name: t.Name, UID: t.UID, Enabled: t.Properties.Status == tokenEnabled, Passwords: t.Secrets}
	smName := lastSegment(t.Properties.ScopeMapID)
	if b, ok := scopemap.FindBuiltin(smName); ok {
		out.Actions = b.Actions
		return out, nil
	}
	var sm ScopeMap
	if ok, err := loadJSON(ctx, rt.Meta, scopeMapKey(regID, smName), &sm); err != nil || !ok {
		return out, err // no scope map: no actions
	}
	out.Actions, _ = scopemap.ParseAll(sm.Properties.Actions)
	return out, nil
}

// loadJSON reads the document at id into v; false when there is none.
func loadJSON(ctx context.Context, store meta.Resources, id string, v any) (bool, error) {
	r, err := store.GetResource(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// A corrupt document grants nothing.
	return json.Unmarshal(r.Body, v) == nil, nil
}
