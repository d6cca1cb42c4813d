package mgmt

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/meta"
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
		return h.deleteResource(w, r, exists, tid)
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
