package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/store/meta"
)

// AdminUser is the administrator created on first start.
const AdminUser = "admin"

// bootstrapAdmin creates the administrator on a fresh server, as Owner of the
// subscription. Its password is MOAT_ADMIN_PASSWORD when set, else generated,
// printed once and written to <data-dir>/admin-password (mode 0600).
func (s *Server) bootstrapAdmin(ctx context.Context) error {
	if _, ok := s.dir.Find(identity.KindUser, AdminUser); ok {
		return nil
	}
	pw, generated := os.Getenv("MOAT_ADMIN_PASSWORD"), false
	if pw == "" {
		pw, generated = identity.NewSecret(), true
	}
	// The administrator's ID (and its role assignment's name) derive from the
	// subscription, so when several nodes start on one empty database at once
	// exactly one creates them and the others find them.
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("moat:administrator:"+s.subscription))
	admin := &identity.Principal{ID: id.String(), Kind: identity.KindUser, Name: AdminUser, DisplayName: "Administrator",
		Secrets: []identity.Secret{{ID: uuid.NewString(), Hash: identity.HashPassword(pw)}}}
	created := true
	if err := s.dir.Create(ctx, admin); errors.Is(err, identity.ErrExists) {
		created = false // another node got there first; still make sure of the role below
		if err := s.dir.Reload(ctx); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	owner, _ := rbac.RoleByName("Owner")
	scope := "/subscriptions/" + s.subscription
	name := uuid.NewSHA1(id, []byte("Owner")).String()
	as := rbac.Assignment{ID: scope + "/providers/Microsoft.Authorization/roleAssignments/" + name, Name: name, Type: rbac.AssignmentType,
		Properties: rbac.AssignmentProperties{RoleDefinitionID: rbac.RoleDefinitionID(s.subscription, owner), RoleDefinitionName: owner.Name,
			PrincipalID: admin.ID, PrincipalType: identity.KindUser, Scope: scope}}
	if err := putJSON(ctx, s.meta, as.ID, rbac.AssignmentType, as); err != nil && !errors.Is(err, meta.ErrExists) {
		return err
	}
	if err := s.authz.Reload(ctx); err != nil {
		return err
	}
	if !created {
		return nil
	}
	if !generated {
		s.Notices = append(s.Notices, "created administrator 'admin' with the password from MOAT_ADMIN_PASSWORD")
		return nil
	}
	file := filepath.Join(s.cfg.DataDir, "admin-password")
	if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the administrator password: %w", err)
	}
	s.Notices = append(s.Notices, strings.Join([]string{
		"created administrator 'admin'; its password (shown once) is: " + pw,
		"  it is also in " + file + " (readable only by you); sign in with: moat login -u admin -p <password>",
	}, "\n"))
	return nil
}

func putJSON(ctx context.Context, store meta.Resources, id, typ string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return store.PutResource(ctx, &meta.Resource{ID: id, Type: typ, Body: body})
}
