package mgmt

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/tasks"
)

// tasksKind is a registry's tasks: an encoded task file, credentials for
// other registries and identities (docs/tasks.md). As ACR does, creating
// one answers 200.
var tasksKind = &kind[Task]{
	typ: typeTask, what: "task", shape: taskShape, created: http.StatusOK,
	parent: registryParent,
	load: func(c *call) (Task, int64, bool, error) {
		return loadDoc[Task](c, c.parentID+"/tasks/"+c.id.Name())
	},
	list: func(c *call) ([]listed[Task], error) {
		return listDocs(c, typeTask, c.parentID+"/tasks/", func(t *Task) string { return t.ID })
	},
	render: renderTask,
	put:    putTask,
	remove: func(c *call, t Task) error { return c.h.forget(c.ctx, t.ID) },
}

func renderTask(c *call, t Task, _ int64) (any, error) {
	var err error
	t.Identity, err = c.h.taskIdentityOf(c.ctx, t.ID)
	if t.Properties.Timeout == 0 { // stored before timeouts were kept
		t.Properties.Timeout = defaultTaskTimeout
	}
	if t.Properties.CreationDate != nil {
		t.SystemData = &SystemData{CreatedAt: *t.Properties.CreationDate}
	}
	return t, err
}

// taskInput is a task as a PUT sends it: what Task keeps, and the triggers
// moat refuses to keep (it runs tasks when asked only).
type taskInput struct {
	Task
	Properties struct {
		TaskProperties
		Trigger *struct {
			TimerTriggers  []triggerStatus `json:"timerTriggers"`
			SourceTriggers []triggerStatus `json:"sourceTriggers"`
		} `json:"trigger"`
	} `json:"properties"`
}

type triggerStatus struct {
	Status string `json:"status"`
}

func putTask(c *call, cur *Task, version int64, body []byte) (Task, int64, error) {
	var in taskInput
	if err := decodeBody(body, &in); err != nil {
		return Task{}, 0, err
	}
	name := c.id.Name()
	tid := c.parentID + "/tasks/" + name
	t := Task{ID: tid, Name: name, Type: typeTask, Location: c.h.location(in.Location)}
	now := time.Now().UTC()
	t.Properties.CreationDate = &now
	if cur != nil {
		t.ID, t.Name, t.Location, t.Properties.CreationDate = cur.ID, cur.Name, cur.Location, cur.Properties.CreationDate
	} else if !validGroupName(name) || len(name) < 5 || len(name) > 50 {
		return t, 0, badRequest("InvalidResourceName", "task name %q is invalid: 5-50 letters, digits, '-' and '_'", name)
	}
	p, err := checkTaskProperties(in)
	if err != nil {
		return t, 0, err
	}
	t.Tags, p.CreationDate, p.ProvisioningState = in.Tags, t.Properties.CreationDate, "Succeeded"
	t.Properties = p
	ident, err := c.h.checkIdentity(c.ctx, tid, in.Identity)
	if err != nil {
		return t, 0, err
	}
	if p.Credentials != nil {
		if err := c.h.checkCredentials(c.ctx, tid, p.Credentials, ident); err != nil {
			return t, 0, err
		}
	}
	if in.Identity != nil || cur == nil {
		if ident == nil {
			ident = &identityRequest{} // a new task without an identity
		}
		if err := c.h.applyTaskIdentity(c.ctx, c.parentID, tid, name, ident); err != nil {
			return t, 0, err
		}
	}
	v, err := c.h.save(c.ctx, tid, typeTask, t, version)
	return t, v, err
}

// checkTaskProperties checks and canonicalises what a task is to have.
func checkTaskProperties(in taskInput) (TaskProperties, error) {
	p := in.Properties.TaskProperties
	var err error
	if p.Status == "" {
		p.Status = "Enabled"
	}
	if p.Status, err = enum("properties.status", p.Status, "Enabled", "Disabled"); err != nil {
		return p, err
	}
	if p.Timeout == 0 {
		p.Timeout = defaultTaskTimeout
	}
	if p.Timeout < minTaskTimeout || p.Timeout > maxTaskTimeout {
		return p, badRequest("InvalidParameter", "properties.timeout %d is invalid: use %d to %d seconds", p.Timeout, minTaskTimeout, maxTaskTimeout)
	}
	if p.IsSystemTask {
		return p, badRequest("InvalidParameter", "moat has no system tasks (isSystemTask); create a task with a task file")
	}
	if tr := in.Properties.Trigger; tr != nil {
		for _, t := range append(tr.TimerTriggers, tr.SourceTriggers...) {
			if !strings.EqualFold(t.Status, "Disabled") {
				return p, badRequest("TriggerNotSupported", "moat runs a task when asked (az acr task run, moat acr task run): it has no timer or source-code triggers; leave out --schedule and give --context /dev/null")
			}
		}
	}
	if err := checkStep(p.Step); err != nil {
		return p, err
	}
	p.Step = &TaskStep{Type: "EncodedTask", EncodedTaskContent: p.Step.EncodedTaskContent, Values: []any{}, BaseImageDependencies: []any{}}
	return p, checkTaskCredentials(p.Credentials)
}

func checkStep(s *TaskStep) error {
	if s == nil || s.EncodedTaskContent == "" {
		return badRequest("InvalidTaskStep", "a task needs properties.step (type EncodedTask) with encodedTaskContent: the task file (docs/tasks.md), base64-encoded (az acr task create --file task.yaml --context /dev/null)")
	}
	if s.Type != "" && s.Type != "EncodedTask" {
		return badRequest("InvalidTaskStep", "step type %q is not supported: moat runs task files given in the task (EncodedTask: az acr task create --file task.yaml --context /dev/null)", s.Type)
	}
	if s.ContextPath != "" || len(s.Values) > 0 {
		return badRequest("InvalidTaskStep", "a task step takes no source context or values in moat: give --context /dev/null and put the values in the task file")
	}
	raw, err := base64.StdEncoding.DecodeString(s.EncodedTaskContent)
	if err != nil {
		return badRequest("InvalidTaskStep", "step.encodedTaskContent must be the task file, base64-encoded")
	}
	if _, err := tasks.ParseFile(raw); err != nil {
		return badRequest("InvalidTaskStep", "%v", err)
	}
	return nil
}

// checkTaskCredentials canonicalises the login servers and keeps the
// identity credentials moat supports.
func checkTaskCredentials(c *TaskCredentials) error {
	if c == nil {
		return nil
	}
	if s := c.SourceRegistry; s != nil && s.LoginMode != "" && !strings.EqualFold(s.LoginMode, "Default") {
		return badRequest("InvalidCredentials", "sourceRegistry.loginMode %q is not supported: a task always reaches its own registry with its run token (Default)", s.LoginMode)
	}
	out := map[string]*CustomRegistryCredential{}
	for ls, cr := range c.CustomRegistries {
		if cr == nil {
			continue
		}
		ls = strings.ToLower(strings.TrimSuffix(ls, "/"))
		if len(cr.UserName) > 0 && string(cr.UserName) != "null" || len(cr.Password) > 0 && string(cr.Password) != "null" {
			return badRequest("InvalidCredentials", "credentials for %s: moat tasks use identities, not user names and passwords; use --use-identity [system] or a user-assigned identity's client ID", ls)
		}
		if cr.Identity == "" {
			return badRequest("InvalidCredentials", "credentials for %s need an identity: [system] or a user-assigned identity's client ID", ls)
		}
		out[ls] = &CustomRegistryCredential{Identity: cr.Identity}
	}
	c.CustomRegistries = out
	return nil
}
