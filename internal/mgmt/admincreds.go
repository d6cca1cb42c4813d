package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// A registry's admin user: the user name is the registry's name, with two
// passwords (password, password2) so that one can be renewed while clients
// use the other. The passwords are generated the first time they are needed
// after the admin user is enabled, and stored apart from the registry (as
// the resource <registry ID>/adminCredentials), so that they never appear in
// the registry's own document. They are bound to the registry's creation
// time: a registry created again under the same name gets new passwords.

// AdminCredentialsType is the resource type of a registry's admin passwords.
const AdminCredentialsType = "moat/registryAdminCredentials"

// Actions of the admin user endpoints; Owner and Contributor have them.
const (
	actionListCredentials      = "Microsoft.ContainerRegistry/registries/listCredentials/action"
	actionRegenerateCredential = "Microsoft.ContainerRegistry/registries/regenerateCredential/action"
)

// adminPasswordNames are the names of the two passwords, in order.
var adminPasswordNames = []string{"password", "password2"}

// adminCredsDoc is the stored document.
type adminCredsDoc struct {
	// Registry is the registry's resource ID; RegistryCreated its creation
	// time in microseconds since the epoch.
	Registry        string          `json:"registry"`
	RegistryCreated int64           `json:"registryCreated"`
	Passwords       []adminPassword `json:"passwords"`
}

type adminPassword struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// registryCredentials is the answer of listCredentials and regenerateCredential.
type registryCredentials struct {
	Username  string          `json:"username"`
	Passwords []adminPassword `json:"passwords"`
}

func adminCredsID(reg *meta.Registry) string {
	return resid.RegistryID(reg.Subscription, reg.ResourceGroup, reg.Name) + "/adminCredentials"
}

// adminEnabled reads a registry's adminUserEnabled.
func adminEnabled(reg *meta.Registry) bool {
	var p struct {
		AdminUserEnabled *bool `json:"adminUserEnabled"`
	}
	return len(reg.Properties) > 0 && json.Unmarshal(reg.Properties, &p) == nil && p.AdminUserEnabled != nil && *p.AdminUserEnabled
}

// loadAdminCreds returns the stored passwords of reg and their version; ok
// is false when there are none for this incarnation of the registry.
func loadAdminCreds(ctx context.Context, store meta.Resources, reg *meta.Registry) (doc adminCredsDoc, version int64, ok bool, err error) {
	r, err := store.GetResource(ctx, adminCredsID(reg))
	if errors.Is(err, meta.ErrNotFound) {
		return doc, 0, false, nil
	}
	if err != nil {
		return doc, 0, false, err
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		// A corrupt document grants nothing; it is replaced on the next write.
		return adminCredsDoc{}, r.Version, false, nil
	}
	valid := doc.RegistryCreated == reg.CreatedAt.UnixMicro() && len(doc.Passwords) == len(adminPasswordNames)
	for _, p := range doc.Passwords {
		valid = valid && p.Value != ""
	}
	return doc, r.Version, valid, nil
}

func newAdminCreds(reg *meta.Registry) adminCredsDoc {
	doc := adminCredsDoc{Registry: resid.RegistryID(reg.Subscription, reg.ResourceGroup, reg.Name), RegistryCreated: reg.CreatedAt.UnixMicro()}
	for _, n := range adminPasswordNames {
		doc.Passwords = append(doc.Passwords, adminPassword{Name: n, Value: identity.NewSecret()})
	}
	return doc
}

// AdminCreds gives the data plane the admin passwords of registries
// (regauth.AdminCredentials).
type AdminCreds struct {
	Meta meta.Resources
}

// AdminPasswords returns reg's admin passwords while its admin user is
// enabled; none when it is disabled or no password was generated yet.
func (a *AdminCreds) AdminPasswords(ctx context.Context, reg *meta.Registry) ([]string, error) {
	if reg == nil || !adminEnabled(reg) {
		return nil, nil
	}
	doc, _, ok, err := loadAdminCreds(ctx, a.Meta, reg)
	if err != nil || !ok {
		return nil, err
	}
	out := make([]string, 0, len(doc.Passwords))
	for _, p := range doc.Passwords {
		out = append(out, p.Value)
	}
	return out, nil
}

// adminCredentials serves POST .../registries/{r}/listCredentials and
// POST .../registries/{r}/regenerateCredential {"name": "password"|"password2"}.
func (h *Handler) adminCredentials(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	op := id.Types[len(id.Types)-1]
	regenerate := strings.EqualFold(op, "regenerateCredential")
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, op+" (use POST)")
	}
	ctx := r.Context()
	reg, err := h.getRegistry(ctx, id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	which := ""
	if regenerate {
		var in struct {
			Name string `json:"name"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		for _, n := range adminPasswordNames {
			if strings.EqualFold(in.Name, n) {
				which = n
			}
		}
		if which == "" {
			return badRequest("InvalidPasswordName", "name %q is invalid: use password or password2 (--password-name)", in.Name)
		}
	}
	if !adminEnabled(reg) {
		return badRequest("AdminUserDisabled", "admin user is disabled; enable it with moat acr update --name %s --admin-enabled true", reg.Name)
	}
	for attempt := 0; ; attempt++ {
		doc, version, ok, err := loadAdminCreds(ctx, h.Meta, reg)
		if err != nil {
			return err
		}
		if ok && which == "" {
			return writeCredentials(w, reg, doc)
		}
		if !ok {
			doc = newAdminCreds(reg)
		} else {
			for i := range doc.Passwords {
				if doc.Passwords[i].Name == which {
					doc.Passwords[i].Value = identity.NewSecret()
				}
			}
		}
		_, err = h.save(ctx, adminCredsID(reg), AdminCredentialsType, doc, version)
		var conflict *Error
		if errors.As(err, &conflict) && conflict.Status == http.StatusConflict && attempt < 3 {
			// Another request generated or renewed them meanwhile: start again from what it stored.
			time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		return writeCredentials(w, reg, doc)
	}
}

func writeCredentials(w http.ResponseWriter, reg *meta.Registry, doc adminCredsDoc) error {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, registryCredentials{Username: reg.Name, Passwords: doc.Passwords})
	return nil
}
