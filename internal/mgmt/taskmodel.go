package mgmt

import (
	"encoding/json"
	"time"

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

// Task is ACR's task resource (containerregistry_build.json, Task), with the
// properties moat keeps.
type Task struct {
	ID         string                     `json:"id"`
	Name       string                     `json:"name"`
	Type       string                     `json:"type"`
	Location   string                     `json:"location,omitempty"`
	Tags       map[string]string          `json:"tags,omitempty"`
	Identity   *ManagedIdentityProperties `json:"identity,omitempty"`
	SystemData *SystemData                `json:"systemData,omitempty"`
	Properties TaskProperties             `json:"properties"`
}

type TaskProperties struct {
	ProvisioningState string     `json:"provisioningState,omitempty"`
	CreationDate      *time.Time `json:"creationDate,omitempty"`
	Status            string     `json:"status,omitempty"` // Enabled or Disabled
	// Platform and AgentConfiguration are kept as given and copied to each
	// run (moat's steps copy every platform of an image).
	Platform           json.RawMessage  `json:"platform,omitempty"`
	AgentConfiguration json.RawMessage  `json:"agentConfiguration,omitempty"`
	Timeout            int              `json:"timeout,omitempty"` // seconds
	Step               *TaskStep        `json:"step,omitempty"`
	Credentials        *TaskCredentials `json:"credentials,omitempty"`
	IsSystemTask       bool             `json:"isSystemTask"`
}

// TaskStep is an EncodedTask step: the task file, base64-encoded.
type TaskStep struct {
	Type                  string `json:"type"`
	EncodedTaskContent    string `json:"encodedTaskContent"`
	ContextPath           string `json:"contextPath,omitempty"`
	Values                []any  `json:"values"`
	BaseImageDependencies []any  `json:"baseImageDependencies"`
}

type TaskCredentials struct {
	SourceRegistry *SourceRegistryCredentials `json:"sourceRegistry,omitempty"`
	// CustomRegistries maps a login server to the identity used for it:
	// "[system]" or a user-assigned identity's client ID.
	CustomRegistries map[string]*CustomRegistryCredential `json:"customRegistries,omitempty"`
}

type SourceRegistryCredentials struct {
	LoginMode string `json:"loginMode,omitempty"`
}

type CustomRegistryCredential struct {
	Identity string          `json:"identity,omitempty"`
	UserName json.RawMessage `json:"userName,omitempty"`
	Password json.RawMessage `json:"password,omitempty"`
}

// Task timeouts (seconds), as ACR bounds them.
const (
	defaultTaskTimeout = 3600
	minTaskTimeout     = 300
	maxTaskTimeout     = 28800
)

type instanceSecret struct {
	Secret string `json:"secret"`
}

func secretDocID(owner string) string { return owner + "/instanceSecret" }
