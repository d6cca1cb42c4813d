package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

// Resource types.
const (
	TaskType = "Microsoft.ContainerRegistry/registries/tasks"
	RunType  = "Microsoft.ContainerRegistry/registries/runs"
)

// Run statuses (ACR's RunStatus).
const (
	Queued    = "Queued"
	Running   = "Running"
	Succeeded = "Succeeded"
	Failed    = "Failed"
	Timeout   = "Timeout"
)

// RestartMessage ends the log of a run that a restart interrupted.
const RestartMessage = "interrupted by a server restart"

// maxLog bounds a run's stored log.
const maxLog = 256 << 10

// Run is ACR's run resource (.../registries/{r}/runs/{runId}), as stored:
// Log and TaskID are kept with it and not served (the log is read through
// its log link).
type Run struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Properties RunProperties `json:"properties"`
}

// RunProperties are ACR's RunProperties that moat fills in.
type RunProperties struct {
	RunID              string            `json:"runId"`
	Status             string            `json:"status"`
	LastUpdatedTime    *time.Time        `json:"lastUpdatedTime,omitempty"`
	RunType            string            `json:"runType"` // QuickRun: started by hand
	CreateTime         time.Time         `json:"createTime"`
	StartTime          *time.Time        `json:"startTime,omitempty"`
	FinishTime         *time.Time        `json:"finishTime,omitempty"`
	Task               string            `json:"task,omitempty"` // the task's name
	OutputImages       []ImageDescriptor `json:"outputImages"`
	CustomRegistries   []string          `json:"customRegistries,omitempty"`
	Platform           json.RawMessage   `json:"platform,omitempty"`
	AgentConfiguration json.RawMessage   `json:"agentConfiguration,omitempty"`
	ProvisioningState  string            `json:"provisioningState"`
	RunErrorMessage    string            `json:"runErrorMessage,omitempty"`
	IsArchiveEnabled   bool              `json:"isArchiveEnabled"`

	// Kept, not served: the task's ID, the time the run must end by, the log.
	TaskID   string     `json:"taskId,omitempty"`
	Deadline *time.Time `json:"deadline,omitempty"`
	Log      string     `json:"log,omitempty"`
}

// Served is the run as ACR serves it: without what moat keeps with it.
func (r Run) Served() Run {
	r.Properties.TaskID, r.Properties.Deadline, r.Properties.Log = "", nil, ""
	return r
}

// ImageDescriptor is an image a run pushed.
type ImageDescriptor struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest"`
}

// Finished reports whether the run has ended.
func (r *Run) Finished() bool {
	s := r.Properties.Status
	return s != Queued && s != Running
}

// Job is what a run executes.
type Job struct {
	File *File
	// Registry is the task's login server ($Registry).
	Registry string
	// Secret is the task's instance secret; Credentials maps the login
	// servers (host, or host/registry in path style) that use a task identity
	// to that identity: "" for the system-assigned one, else a user-assigned
	// identity's client ID. Other registries are reached anonymously.
	Secret      string
	Credentials map[string]string
	// Timeout ends the run (status Timeout); 0: an hour.
	Timeout time.Duration
}

// Service keeps runs in the metadata store and executes them.
type Service struct {
	Meta meta.Resources
	self atomic.Pointer[Endpoint]
	sem  chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	mu   sync.Mutex // serialises run creation
}

func (s *Service) init() { s.once.Do(func() { s.sem = make(chan struct{}, 2) }) }

// Recover marks runs that were queued or running when the server stopped as
// failed: they are kept, not lost.
func (s *Service) Recover(ctx context.Context) error {
	rs, err := s.Meta.ListResources(ctx, RunType, "")
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, r := range rs {
		var run Run
		if err := json.Unmarshal(r.Body, &run); err != nil || run.Finished() {
			continue
		}
		run.Properties.Status = Failed
		run.Properties.RunErrorMessage = RestartMessage
		run.Properties.FinishTime, run.Properties.LastUpdatedTime = &now, &now
		run.Properties.Log += now.Format(time.RFC3339) + " " + RestartMessage + "\n"
		body, _ := json.Marshal(run)
		if err := s.Meta.PutResource(ctx, &meta.Resource{ID: r.ID, Type: RunType, Body: body, Version: r.Version}); err != nil {
			return fmt.Errorf("run %s: %w", r.ID, err)
		}
	}
	return nil
}

// Create stores a new queued run of a task under registry (its resource
// ID) with the next run ID (ca1, ca2, ...); p gives the task's name, ID,
// platform and agent configuration.
func (s *Service) Create(ctx context.Context, registryID string, p RunProperties) (*Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, err := s.Meta.ListResources(ctx, RunType, registryID+"/runs/")
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	p.RunType, p.Status, p.CreateTime, p.LastUpdatedTime, p.ProvisioningState = "QuickRun", Queued, now, &now, "Succeeded"
	p.OutputImages = []ImageDescriptor{}
	for i := len(rs) + 1; i < len(rs)+100; i++ {
		p.RunID = fmt.Sprintf("ca%d", i)
		run := &Run{ID: registryID + "/runs/" + p.RunID, Name: p.RunID, Type: RunType, Properties: p}
		body, _ := json.Marshal(run)
		err := s.Meta.PutResource(ctx, &meta.Resource{ID: run.ID, Type: RunType, Body: body})
		if errors.Is(err, meta.ErrExists) {
			continue
		}
		return run, err
	}
	return nil, errors.New("no free run ID")
}

// Get reads a run.
func (s *Service) Get(ctx context.Context, id string) (*Run, bool, error) {
	r, err := s.Meta.GetResource(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	var run Run
	return &run, true, json.Unmarshal(r.Body, &run)
}

// List lists the runs of a registry, newest first.
func (s *Service) List(ctx context.Context, registryID string) ([]*Run, error) {
	rs, err := s.Meta.ListResources(ctx, RunType, registryID+"/runs/")
	if err != nil {
		return nil, err
	}
	out := []*Run{}
	for _, r := range rs {
		var run Run
		if json.Unmarshal(r.Body, &run) == nil {
			out = append(out, &run)
		}
	}
	slices.SortStableFunc(out, func(a, b *Run) int {
		if c := b.Properties.CreateTime.Compare(a.Properties.CreateTime); c != 0 {
			return c
		}
		return runNumber(b.Name) - runNumber(a.Name)
	})
	return out, nil
}

// runNumber is the number in a run ID (ca12: 12).
func runNumber(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "ca"))
	return n
}
