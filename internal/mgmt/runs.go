package mgmt

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/tasks"
)

// ACR's run API (containerregistry_build.json, 2018-09-01 and later), as az
// acr task run, list-runs, show-run and logs call it:
//
//	POST .../registries/{r}/scheduleRun           a TaskRunRequest: queue a run of a task
//	GET  .../registries/{r}/runs[?$filter&$top]    the runs, newest first
//	GET  .../registries/{r}/runs/{runId}
//	POST .../registries/{r}/runs/{runId}/listLogSasUrl   the run's log link (runlog.go)
//	POST .../registries/{r}/tasks/{t}/listDetails  the task (moat keeps no secrets in it)

const (
	actionScheduleRun = "Microsoft.ContainerRegistry/registries/scheduleRun/action"
	actionRunLog      = typeRun + "/listLogSasUrl/action"
	actionTaskDetails = typeTask + "/listDetails/action"
)

// runRequest is ACR's RunRequest; moat schedules runs of tasks.
type runRequest struct {
	Type     string `json:"type"`
	TaskID   string `json:"taskId"`
	Override *struct {
		ContextPath string `json:"contextPath"`
		File        string `json:"file"`
		Arguments   []any  `json:"arguments"`
		Values      []any  `json:"values"`
		Target      string `json:"target"`
	} `json:"overrideTaskStepProperties"`
}

func (h *Handler) tasksServed() error {
	if h.Tasks == nil {
		return armErr(http.StatusNotImplemented, "NotImplemented", "this server runs no tasks")
	}
	return nil
}

// scheduleRun queues a run of one of the registry's tasks; it executes in
// the background (its status and log are read from the run).
func (h *Handler) scheduleRun(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "scheduleRun (use POST)")
	}
	if err := h.tasksServed(); err != nil {
		return err
	}
	c := newCall(h, r, id)
	if err := registryParent(c); err != nil {
		return err
	}
	var in runRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if !strings.EqualFold(in.Type, "TaskRunRequest") {
		return badRequest("InvalidParameter", "run request type %q is not supported: moat runs tasks (TaskRunRequest with taskId: az acr task run); create a task for a task file first", in.Type)
	}
	if o := in.Override; o != nil && (o.ContextPath != "" || o.File != "" || o.Target != "" || len(o.Arguments) > 0 || len(o.Values) > 0) {
		return badRequest("InvalidParameter", "a run of a task takes no overrides in moat (context, file, arguments, values, target): change the task instead")
	}
	tid, ok := linkedID(in.TaskID, nsRegistry, "registries", "tasks")
	if !ok || !strings.HasPrefix(strings.ToLower(tid), strings.ToLower(c.parentID)+"/tasks/") {
		return badRequest("InvalidParameter", "taskId %q is not a task of registry %s (%s/tasks/{task})", in.TaskID, c.parentName, c.parentID)
	}
	c.id.Types, c.id.Names = []string{"registries", "tasks"}, []string{c.parentName, tid[strings.LastIndexByte(tid, '/')+1:]}
	t, _, found, err := tasksKind.load(c)
	if err != nil {
		return err
	}
	if !found {
		return badRequest("InvalidParameter", "task %s does not exist", in.TaskID)
	}
	run, err := h.startRun(c, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run.Served())
	return nil
}

// startRun queues and starts a run of task t.
func (h *Handler) startRun(c *call, t Task) (*tasks.Run, error) {
	if t.Properties.Status == "Disabled" {
		return nil, armErr(http.StatusConflict, "TaskDisabled", "task %q is disabled; enable it first (az acr task update --status Enabled)", t.Name)
	}
	job, err := h.taskJob(c.ctx, c.r, c.parentName, t)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().UTC().Add(job.Timeout)
	run, err := h.Tasks.Create(c.ctx, c.parentID, tasks.RunProperties{Task: t.Name, TaskID: t.ID,
		Platform: t.Properties.Platform, AgentConfiguration: t.Properties.AgentConfiguration,
		CustomRegistries: customRegistries(t), Deadline: &deadline})
	if err != nil {
		return nil, err
	}
	h.Tasks.Start(run, job)
	return run, nil
}

func customRegistries(t Task) []string {
	var out []string
	if c := t.Properties.Credentials; c != nil {
		for ls := range c.CustomRegistries {
			out = append(out, ls)
		}
	}
	return out
}

// taskJob is what a run of task t executes: its file, its login server,
// and the identities it uses where.
func (h *Handler) taskJob(ctx context.Context, r *http.Request, registry string, t Task) (tasks.Job, error) {
	raw, _ := base64.StdEncoding.DecodeString(t.Properties.Step.EncodedTaskContent)
	file, err := tasks.ParseFile(raw)
	if err != nil {
		return tasks.Job{}, badRequest("InvalidTaskStep", "%v", err)
	}
	timeout := t.Properties.Timeout
	if timeout == 0 {
		timeout = defaultTaskTimeout
	}
	job := tasks.Job{File: file, Registry: h.LoginServer(r, registry), Credentials: map[string]string{}, Timeout: time.Duration(timeout) * time.Second}
	var sec instanceSecret
	if _, _, err := h.load(ctx, secretDocID(t.ID), &sec); err != nil {
		return job, err
	}
	var doc taskIdentity
	if _, _, err := h.load(ctx, identityDocID(t.ID), &doc); err != nil {
		return job, err
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
	return job, nil
}

// taskDetails answers POST .../tasks/{t}/listDetails: the task with its
// secrets, of which moat keeps none.
func (h *Handler) taskDetails(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "listDetails (use POST)")
	}
	c := h.resourceCall(r, id)
	if err := registryParent(c); err != nil {
		return err
	}
	t, version, ok, err := tasksKind.load(c)
	if err != nil {
		return err
	}
	if !ok {
		return tasksKind.missing(c, "")
	}
	return tasksKind.write(c, w, http.StatusOK, t, version)
}

// resourceCall is a call on the resource an action's path names
// (.../registries/{r}/tasks/{t}/listDetails: the task).
func (h *Handler) resourceCall(r *http.Request, id resid.ID) *call {
	id.Types = id.Types[:len(id.Names)]
	return newCall(h, r, id)
}
