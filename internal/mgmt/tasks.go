package mgmt

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/identity"
	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/rbac"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/tasks"
)

// Trusted-service resources: registry tasks and their runs, registry import
// and machine-learning workspaces (docs/tasks.md).

const (
	typeTask      = tasks.TaskType
	typeRun       = tasks.RunType
	typeWorkspace = "Microsoft.MachineLearningServices/workspaces"
	// typeSecret holds a service instance's secret server-side (never served).
	typeSecret = "moat/instanceSecret"
	// systemIdentity names the task's system-assigned identity in credentials.
	systemIdentity = "[system]"
)

// Task is a registry task resource.
type Task struct {
	ID       string                     `json:"id"`
	Name     string                     `json:"name"`
	Type     string                     `json:"type"`
	Location string                     `json:"location,omitempty"`
	Tags     map[string]string          `json:"tags,omitempty"`
	Identity *ManagedIdentityProperties `json:"identity,omitempty"`
	// Properties follow ACR's task: an encoded task file and credentials.
	Properties TaskProperties `json:"properties"`
}

type TaskProperties struct {
	ProvisioningState string           `json:"provisioningState,omitempty"`
	CreationDate      *time.Time       `json:"creationDate,omitempty"`
	Status            string           `json:"status,omitempty"`
	Step              *TaskStep        `json:"step,omitempty"`
	Credentials       *TaskCredentials `json:"credentials,omitempty"`
}

type TaskStep struct {
	Type               string `json:"type"`
	EncodedTaskContent string `json:"encodedTaskContent"`
}

type TaskCredentials struct {
	// CustomRegistries maps a login server to the identity used for it:
	// "[system]" or a user-assigned identity's client ID.
	CustomRegistries map[string]*CustomRegistryCredential `json:"customRegistries,omitempty"`
}

type CustomRegistryCredential struct {
	Identity string `json:"identity,omitempty"`
}

type instanceSecret struct {
	Secret string `json:"secret"`
}

func secretDocID(owner string) string { return owner + "/instanceSecret" }

func (h *Handler) taskRegistry(ctx context.Context, id resid.ID) (*meta.Registry, string, error) {
	reg, err := h.getRegistry(ctx, id.ResourceGroup, id.Names[0])
	if err != nil {
		return nil, "", err
	}
	return reg, registryIDOf(reg), nil
}

func (h *Handler) tasks(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	_, regID, err := h.taskRegistry(ctx, id)
	if err != nil {
		return err
	}
	if id.IsCollection() {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the task collection")
		}
		out, err := readableDocs(ctx, h, typeTask, regID+"/tasks/", func(t *Task) string { return t.ID })
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	tid := regID + "/tasks/" + id.Name()
	var cur Task
	version, exists, err := h.load(ctx, tid, &cur)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			return notFound("task %q not found in registry %q", id.Name(), id.Names[0])
		}
		return writeResource(w, http.StatusOK, cur, version)
	case http.MethodPut, http.MethodPatch:
		var in Task
		if err := decode(r, &in); err != nil {
			return err
		}
		if err := ifMatch(r, version); err != nil {
			return err
		}
		if !exists && r.Method == http.MethodPatch {
			return notFound("task %q not found in registry %q; create it with PUT", id.Name(), id.Names[0])
		}
		return h.putTask(w, r, regID, tid, id.Name(), &cur, exists, version, &in)
	case http.MethodDelete:
		if !exists {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err := h.forget(ctx, tid); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return methodNotAllowed(r, "a task")
}

func (h *Handler) putTask(w http.ResponseWriter, r *http.Request, regID, tid, name string, cur *Task, exists bool, version int64, in *Task) error {
	ctx := r.Context()
	if !exists {
		if !validGroupName(name) || len(name) < 5 || len(name) > 50 {
			return badRequest("InvalidResourceName", "task name %q is invalid: 5-50 letters, digits, '-' and '_'", name)
		}
		now := time.Now().UTC()
		*cur = Task{ID: tid, Name: name, Type: typeTask, Location: h.location(in.Location),
			Properties: TaskProperties{ProvisioningState: "Succeeded", CreationDate: &now, Status: "Enabled"}}
	}
	if in.Tags != nil {
		cur.Tags = in.Tags
	}
	if in.Properties.Status != "" {
		cur.Properties.Status = in.Properties.Status
	}
	if s := in.Properties.Step; s != nil {
		raw, err := base64.StdEncoding.DecodeString(s.EncodedTaskContent)
		if err != nil {
			return badRequest("InvalidTaskStep", "step.encodedTaskContent must be the task file, base64-encoded")
		}
		if _, err := tasks.ParseFile(raw); err != nil {
			return badRequest("InvalidTaskStep", "%v", err)
		}
		cur.Properties.Step = &TaskStep{Type: "EncodedTask", EncodedTaskContent: s.EncodedTaskContent}
	}
	if cur.Properties.Step == nil {
		return badRequest("InvalidTaskStep", "a task needs properties.step.encodedTaskContent: the task file (docs/tasks.md), base64-encoded")
	}
	ident, err := h.checkIdentity(ctx, tid, in.Identity)
	if err != nil {
		return err
	}
	if c := in.Properties.Credentials; c != nil {
		if err := h.checkCredentials(ctx, tid, c, ident); err != nil {
			return err
		}
		if r.Method == http.MethodPut || cur.Properties.Credentials == nil {
			cur.Properties.Credentials = &TaskCredentials{CustomRegistries: map[string]*CustomRegistryCredential{}}
		}
		for ls, cr := range c.CustomRegistries {
			ls = strings.ToLower(strings.TrimSuffix(ls, "/"))
			if cr == nil {
				delete(cur.Properties.Credentials.CustomRegistries, ls)
				continue
			}
			if cr.Identity == "" {
				return badRequest("InvalidCredentials", "credentials for %s need an identity: [system] or a user-assigned identity's client ID", ls)
			}
			cur.Properties.Credentials.CustomRegistries[ls] = &CustomRegistryCredential{Identity: cr.Identity}
		}
	}
	if in.Identity != nil || !exists {
		if ident == nil {
			ident = &identityRequest{} // a new task without an identity
		}
		if err := h.applyTaskIdentity(ctx, regID, tid, name, ident); err != nil {
			return err
		}
	}
	idp, err := h.taskIdentityOf(ctx, tid)
	if err != nil {
		return err
	}
	cur.Identity = idp
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
	}
	v, err := h.save(ctx, tid, typeTask, cur, version)
	if err != nil {
		return err
	}
	return writeResource(w, status, cur, v)
}

// applyTaskIdentity gives a task its instance principal (created with the
// task: an instance secret kept for the runner, AcrPush and AcrDelete on its
// own registry, as ACR's run token has), which is the task's system-assigned
// identity when one is asked for and hidden otherwise, and attaches the
// user-assigned identities asked for (checked by checkIdentity).
func (h *Handler) applyTaskIdentity(ctx context.Context, regID, tid, name string, req *identityRequest) error {
	var doc taskIdentity
	version, _, err := h.load(ctx, identityDocID(tid), &doc)
	if err != nil {
		return err
	}
	if doc.SystemPrincipal == "" {
		secret := identity.NewSecret()
		p := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), DisplayName: name,
			Assignment: identity.SystemAssigned, Owner: tid, OwnerType: typeTask,
			Secrets: []identity.Secret{{ID: "instance", Hash: identity.HashSecret(secret), CreatedAt: time.Now().UTC()}}}
		if err := h.Principals.Create(ctx, p); err != nil {
			return err
		}
		if _, err := h.save(ctx, secretDocID(tid), typeSecret, instanceSecret{Secret: secret}, 0); err != nil {
			return err
		}
		doc.SystemPrincipal = p.ID
		for _, role := range runTokenRoles {
			if err := h.assignRole(ctx, p.ID, regID, role); err != nil {
				return err
			}
		}
	} else if !req.system && !doc.SystemDisabled {
		// Like removing a system-assigned identity in the cloud: the roles it
		// was given go with it; the hidden instance keeps its run token.
		if err := h.keepRunToken(ctx, doc.SystemPrincipal, regID); err != nil {
			return err
		}
	}
	if err := h.attachUserIdentities(ctx, tid, &doc.registryIdentity, req.uids); err != nil {
		return err
	}
	doc.SystemDisabled = !req.system
	_, err = h.save(ctx, identityDocID(tid), "moat/resourceIdentity", doc, version)
	return err
}

// runTokenRoles are the roles a task's instance has on its own registry.
var runTokenRoles = []string{"AcrPush", "AcrDelete"}

// keepRunToken deletes a task instance's role assignments other than its run
// token on its own registry.
func (h *Handler) keepRunToken(ctx context.Context, principal, regID string) error {
	as, err := h.assignmentsWhere(ctx, "", func(a rbac.Assignment) bool {
		if !strings.EqualFold(a.Properties.PrincipalID, principal) {
			return false
		}
		role, _ := a.Role()
		return !strings.EqualFold(strings.TrimRight(a.Properties.Scope, "/"), regID) || !slices.Contains(runTokenRoles, role.Name)
	})
	if err != nil {
		return err
	}
	return h.deleteAssignments(ctx, as)
}

// checkCredentials accepts credentials that name "[system]" or the client ID
// of a user-assigned identity the task has after this request (ident, or
// else the ones attached now): attaching it needed the assign right.
func (h *Handler) checkCredentials(ctx context.Context, tid string, c *TaskCredentials, ident *identityRequest) error {
	var uids []string
	if ident != nil {
		uids = ident.uids
	} else {
		var doc registryIdentity
		if _, _, err := h.load(ctx, identityDocID(tid), &doc); err != nil {
			return err
		}
		uids = doc.UserAssigned
	}
	clients := map[string]bool{}
	for _, uid := range uids {
		var u UserAssignedIdentity
		if _, ok, err := h.load(ctx, uid, &u); err != nil {
			return err
		} else if ok {
			clients[strings.ToLower(u.Properties.ClientID)] = true
		}
	}
	for ls, cr := range c.CustomRegistries {
		if cr == nil || cr.Identity == "" || strings.EqualFold(cr.Identity, systemIdentity) || clients[strings.ToLower(cr.Identity)] {
			continue
		}
		return badRequest("InvalidCredentials", "the identity %q for %s is not a user-assigned identity attached to this task: attach it first (identity.userAssignedIdentities, which needs %s on it) and name it by its client ID, or use [system]",
			cr.Identity, ls, rbac.ActionAssignIdentity)
	}
	return nil
}

// taskIdentity is a task's identity document: the instance's principal
// always exists (it holds the instance secret); SystemDisabled hides it when
// the task was not given a system-assigned identity.
type taskIdentity struct {
	registryIdentity
	SystemDisabled bool `json:"systemDisabled,omitempty"`
}

func (h *Handler) taskIdentityOf(ctx context.Context, tid string) (*ManagedIdentityProperties, error) {
	var doc taskIdentity
	if _, _, err := h.load(ctx, identityDocID(tid), &doc); err != nil {
		return nil, err
	}
	out, err := h.identityOf(ctx, tid)
	if err != nil || out == nil || !doc.SystemDisabled {
		return out, err
	}
	out.PrincipalID = ""
	out.Type = strings.TrimPrefix(strings.TrimPrefix(out.Type, "SystemAssigned"), ", ")
	if out.Type == "" {
		return nil, nil
	}
	return out, nil
}

func userIdentities(in *ManagedIdentityProperties) map[string]*UserIdentity {
	if in == nil {
		return nil
	}
	return in.UserAssignedIdentities
}

// assignRole gives a principal a built-in role at scope.
func (h *Handler) assignRole(ctx context.Context, principal, scope, roleName string) error {
	role, _ := rbac.RoleByName(roleName)
	name := uuid.NewString()
	id := scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
	a := rbac.Assignment{ID: id, Name: name, Type: rbac.AssignmentType, Properties: rbac.AssignmentProperties{
		RoleDefinitionID: rbac.RoleDefinitionID(h.Subscription, role), RoleDefinitionName: role.Name,
		PrincipalID: principal, PrincipalType: identity.KindManagedIdentity, Scope: scope}}
	if _, err := h.save(ctx, id, rbac.AssignmentType, a, 0); err != nil {
		return err
	}
	return h.reloadRoles(ctx)
}

// runTask is POST .../tasks/{t}/run: a queued run, executed in the background.
func (h *Handler) runTask(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "run (use POST)")
	}
	if h.Tasks == nil {
		return armErr(http.StatusNotImplemented, "NotImplemented", "this server runs no tasks")
	}
	reg, regID, err := h.taskRegistry(ctx, id)
	if err != nil {
		return err
	}
	tid := regID + "/tasks/" + id.Names[1]
	var t Task
	if _, ok, err := h.load(ctx, tid, &t); err != nil {
		return err
	} else if !ok {
		return notFound("task %q not found in registry %q", id.Names[1], reg.Name)
	}
	if t.Properties.Status == "Disabled" {
		return armErr(http.StatusConflict, "TaskDisabled", "task %q is disabled", t.Name)
	}
	raw, _ := base64.StdEncoding.DecodeString(t.Properties.Step.EncodedTaskContent)
	file, err := tasks.ParseFile(raw)
	if err != nil {
		return badRequest("InvalidTaskStep", "%v", err)
	}
	job := tasks.Job{File: file, Registry: h.LoginServer(r, reg.Name), Credentials: map[string]string{}}
	var sec instanceSecret
	if _, _, err := h.load(ctx, secretDocID(tid), &sec); err != nil {
		return err
	}
	var doc taskIdentity
	if _, _, err := h.load(ctx, identityDocID(tid), &doc); err != nil {
		return err
	}
	job.Secret = sec.Secret
	// The task's own registry: the instance's principal has AcrPush and
	// AcrDelete there, whatever identity the task was given (ACR's run token).
	job.Credentials[strings.ToLower(job.Registry)] = ""
	if c := t.Properties.Credentials; c != nil {
		for ls, cr := range c.CustomRegistries {
			if strings.EqualFold(cr.Identity, systemIdentity) {
				if doc.SystemDisabled {
					continue // no system identity: the runner goes anonymous
				}
				job.Credentials[ls] = ""
			} else {
				job.Credentials[ls] = cr.Identity
			}
		}
	}
	run, err := h.Tasks.Create(ctx, regID, t.Name, tid)
	if err != nil {
		return err
	}
	h.Tasks.Start(run, job)
	writeJSON(w, http.StatusOK, run)
	return nil
}

// taskRuns lists and shows runs: GET .../taskRuns[?task=NAME], GET .../taskRuns/{id}.
func (h *Handler) taskRuns(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "task runs")
	}
	if h.Tasks == nil {
		return armErr(http.StatusNotImplemented, "NotImplemented", "this server runs no tasks")
	}
	_, regID, err := h.taskRegistry(ctx, id)
	if err != nil {
		return err
	}
	if id.IsCollection() {
		runs, err := h.Tasks.List(ctx, regID, r.URL.Query().Get("task"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": runs})
		return nil
	}
	run, ok, err := h.Tasks.Get(ctx, regID+"/taskRuns/"+id.Name())
	if err != nil {
		return err
	}
	if !ok {
		return notFound("run %q not found in registry %q", id.Name(), id.Names[0])
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}
