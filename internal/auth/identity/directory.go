// Package identity is moat's directory of principals: users (password),
// service principals (client ID and secrets) and managed identities
// (system-assigned to a resource, or user-assigned), with an in-memory
// snapshot for lookups on the request path.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Kinds of principal.
const (
	KindUser             = "User"
	KindServicePrincipal = "ServicePrincipal"
	KindManagedIdentity  = "ManagedIdentity"
)

// Managed identity assignment types.
const (
	SystemAssigned = "SystemAssigned"
	UserAssigned   = "UserAssigned"
)

const principalType = "moat/principals"

// Principal is a user, service principal or managed identity.
type Principal struct {
	ID          string    `json:"id"` // object ID, a GUID
	Kind        string    `json:"kind"`
	Name        string    `json:"name"` // user principal name, or appId (client ID)
	DisplayName string    `json:"displayName"`
	Secrets     []Secret  `json:"secrets,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	// Managed identities: SystemAssigned or UserAssigned, the resource that
	// owns a system-assigned identity and that resource's type (trusted
	// services are recognised by it).
	Assignment string `json:"assignment,omitempty"`
	Owner      string `json:"owner,omitempty"`
	OwnerType  string `json:"ownerType,omitempty"`
	// Instances whose secret may use this user-assigned identity.
	AttachedTo []string `json:"attachedTo,omitempty"`
	// Disabled principals cannot sign in, and every token issued to them
	// stops working (Microsoft Graph's accountEnabled false).
	Disabled bool `json:"disabled,omitempty"`

	stamp string // CredentialStamp, computed when loaded
}

// Secret is a hashed password or client secret.
type Secret struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"`
	CreatedAt time.Time `json:"createdAt"`
}

// ErrExists: a principal of that name already exists.
var ErrExists = errors.New("identity: already exists")

// ErrNotFound: no such principal.
var ErrNotFound = errors.New("identity: not found")

type snapshot struct {
	byID   map[string]*Principal
	byName map[string]*Principal // kind + ":" + lower(name)
	// instance maps the hash of a service instance's secret to the
	// instance's system-assigned identity.
	instance map[string]*Principal
	all      []*Principal
}

// Directory stores principals and answers lookups from a snapshot.
type Directory struct {
	store  meta.Resources
	snap   atomic.Pointer[snapshot]
	reload sync.Mutex
	// Tenant is the directory's tenant ID.
	Tenant string
	// verified remembers recent successful password checks.
	verified verifiedPasswords
	// checks bounds concurrent password checks (one directory per process).
	checks *checkGate
}

// Open loads the directory.
func Open(ctx context.Context, store meta.Resources, tenant string) (*Directory, error) {
	d := &Directory{store: store, Tenant: tenant, checks: newCheckGate(DefaultPasswordChecks())}
	return d, d.Reload(ctx)
}

func nameKey(kind, name string) string { return kind + ":" + strings.ToLower(name) }

// Reload re-reads the principals.
func (d *Directory) Reload(ctx context.Context) error {
	d.reload.Lock()
	defer d.reload.Unlock()
	rs, err := d.store.ListResources(ctx, principalType, "")
	if err != nil {
		return err
	}
	s := &snapshot{byID: map[string]*Principal{}, byName: map[string]*Principal{}, instance: map[string]*Principal{}}
	for _, r := range rs {
		var p Principal
		if err := json.Unmarshal(r.Body, &p); err != nil {
			// A corrupt record is no principal; it must not keep the rest of
			// the snapshot (a deleted principal) from being replaced.
			slog.Error("skipping a corrupt principal record", "id", r.ID, "err", err)
			continue
		}
		p.stamp = credentialStamp(&p)
		s.byID[strings.ToLower(p.ID)] = &p
		s.byName[nameKey(p.Kind, p.Name)] = &p
		if p.Kind == KindManagedIdentity && p.Assignment == SystemAssigned {
			for _, sec := range p.Secrets {
				s.instance[sec.Hash] = &p
			}
		}
		s.all = append(s.all, &p)
	}
	d.snap.Store(s)
	return nil
}

func principalID(id string) string { return "/moat/principals/" + id }

// Create stores a new principal, assigning its object ID.
func (d *Directory) Create(ctx context.Context, p *Principal) error {
	if _, ok := d.snap.Load().byName[nameKey(p.Kind, p.Name)]; ok {
		return fmt.Errorf("%w: %s %s", ErrExists, p.Kind, p.Name)
	}
	if p.ID == "" {
		p.ID = uuid.NewString()
	}
	p.CreatedAt = time.Now().UTC()
	// The snapshot check above misses a principal of the same name created
	// a moment ago on another node: claiming the name in the store (a create
	// that fails if it exists) settles it in the database.
	claim := &meta.Resource{ID: nameClaimID(p.Kind, p.Name), Type: nameClaimType, Body: json.RawMessage(`"` + p.ID + `"`)}
	if err := d.store.PutResource(ctx, claim); errors.Is(err, meta.ErrExists) {
		return fmt.Errorf("%w: %s %s", ErrExists, p.Kind, p.Name)
	} else if err != nil {
		return err
	}
	if err := d.put(ctx, p, 0); err != nil {
		_ = d.store.DeleteResource(ctx, claim.ID)
		return err
	}
	return d.Reload(ctx)
}

const nameClaimType = "moat/principalNames"

// nameClaimID is the resource that reserves a principal's name; names are
// compared case-insensitively, and escaped so a "/" cannot nest claims.
func nameClaimID(kind, name string) string {
	return "/moat/principalNames/" + kind + "/" + url.PathEscape(strings.ToLower(name))
}

// Update stores changes to an existing principal (e.g. a new secret).
func (d *Directory) Update(ctx context.Context, p *Principal) error {
	r, err := d.store.GetResource(ctx, principalID(p.ID))
	if errors.Is(err, meta.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	if err := d.put(ctx, p, r.Version); err != nil {
		return err
	}
	return d.Reload(ctx)
}

func (d *Directory) put(ctx context.Context, p *Principal, version int64) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	err = d.store.PutResource(ctx, &meta.Resource{ID: principalID(p.ID), Type: principalType, Body: body, Version: version})
	if errors.Is(err, meta.ErrExists) {
		return fmt.Errorf("%w: %s", ErrExists, p.ID)
	}
	return err
}

// Delete removes a principal and frees its name.
func (d *Directory) Delete(ctx context.Context, id string) error {
	p, known := d.Get(id)
	if err := d.store.DeleteResource(ctx, principalID(id)); errors.Is(err, meta.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	if known {
		// Principals created before names were claimed have none: not found is fine.
		if err := d.store.DeleteResource(ctx, nameClaimID(p.Kind, p.Name)); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
	}
	return d.Reload(ctx)
}

// Get finds a principal by object ID. The result must not be modified.
func (d *Directory) Get(id string) (*Principal, bool) {
	p, ok := d.snap.Load().byID[strings.ToLower(id)]
	return p, ok
}

// Find finds a principal by kind and name (UPN or appId).
func (d *Directory) Find(kind, name string) (*Principal, bool) {
	p, ok := d.snap.Load().byName[nameKey(kind, name)]
	return p, ok
}

// List returns the principals of a kind ("" for all).
func (d *Directory) List(kind string) []*Principal {
	var out []*Principal
	for _, p := range d.snap.Load().all {
		if kind == "" || p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// Copy returns a modifiable copy of p.
func Copy(p *Principal) *Principal {
	c := *p
	c.stamp = "" // the copy's secrets may change
	c.Secrets = append([]Secret(nil), p.Secrets...)
	c.AttachedTo = append([]string(nil), p.AttachedTo...)
	return &c
}

// ErrBadCredentials: no such principal, or the password or secret is wrong.
var ErrBadCredentials = errors.New("identity: invalid credentials")

// ErrDisabled: the credentials are right but the principal is disabled.
var ErrDisabled = errors.New("identity: the principal is disabled")

func enabled(p *Principal) (*Principal, error) {
	if p.Disabled {
		return nil, ErrDisabled
	}
	return p, nil
}

// Authenticate checks credentials: a user's password (by UPN) or a service
// principal's client secret (by appId). The returned principal must not be
// modified. Password checks (argon2id) run in one of the directory's few
// slots; when none is free in time it returns ErrBusy without checking.
func (d *Directory) Authenticate(ctx context.Context, kind, name, secret string) (*Principal, error) {
	p, ok := d.Find(kind, name)
	if kind != KindUser {
		if ok && secret != "" {
			for _, s := range p.Secrets {
				if CheckSecret(s.Hash, secret) {
					return enabled(p)
				}
			}
		}
		return nil, ErrBadCredentials
	}
	if !ok || secret == "" {
		// Spend the same work as a real check so timing does not reveal names.
		if err := d.checks.run(ctx, func() { CheckPassword(dummyHash(), secret) }); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	}
	for _, s := range p.Secrets {
		match, err := d.CheckHashed(ctx, s.Hash, secret)
		if err != nil {
			return nil, err
		}
		if match {
			return enabled(p)
		}
	}
	return nil, ErrBadCredentials
}

// CheckHashed compares pw with a HashPassword hash kept outside the
// directory (a registry token's password) as user passwords are checked: in
// one of the directory's password check slots (ErrBusy when none is free in
// time), a success remembered for a few minutes.
func (d *Directory) CheckHashed(ctx context.Context, hash, pw string) (bool, error) {
	if d.verified.ok(hash, pw) {
		return true, nil
	}
	var match bool
	if err := d.checks.run(ctx, func() { match = CheckPassword(hash, pw) }); err != nil {
		return false, err
	}
	if match {
		d.verified.add(hash, pw)
	}
	return match, nil
}

// LimitPasswordChecks sets how many password checks may run at once (n < 1:
// DefaultPasswordChecks). Call it before the directory serves.
func (d *Directory) LimitPasswordChecks(n int) {
	if n < 1 {
		n = DefaultPasswordChecks()
	}
	d.checks = newCheckGate(n)
}

// dummyHash is computed on first use, not at start-up (argon2 takes memory and time).
var dummyHash = sync.OnceValue(func() string { return HashPassword("moat-timing-equaliser") })

// ByInstanceSecret finds the managed identity of a service instance from the
// instance secret it presents at the managed-identity endpoint. clientID
// selects a user-assigned identity attached to that instance instead.
func (d *Directory) ByInstanceSecret(secret, clientID string) (*Principal, bool) {
	// The map key is a hash of a 240-bit random secret: looking it up reveals
	// nothing an attacker could use.
	system, ok := d.snap.Load().instance[HashSecret(secret)]
	if !ok || secret == "" {
		return nil, false
	}
	if clientID == "" {
		return system, true
	}
	ua, ok := d.Find(KindManagedIdentity, clientID)
	if !ok || ua.Assignment != UserAssigned {
		return nil, false
	}
	for _, inst := range ua.AttachedTo {
		if strings.EqualFold(inst, system.Owner) {
			return ua, true
		}
	}
	return nil, false
}
