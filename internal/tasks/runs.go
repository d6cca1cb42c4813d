package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-registry/moat/internal/meta"
)

// Resource types.
const (
	TaskType = "Microsoft.ContainerRegistry/registries/tasks"
	RunType  = "Microsoft.ContainerRegistry/registries/taskRuns"
)

// Run statuses.
const (
	Queued    = "Queued"
	Running   = "Running"
	Succeeded = "Succeeded"
	Failed    = "Failed"
)

// RestartMessage ends the log of a run that a restart interrupted.
const RestartMessage = "interrupted by a server restart"

// maxLog bounds a run's stored log.
const maxLog = 256 << 10

// Run is a taskRun resource.
type Run struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Properties RunProperties `json:"properties"`
}

// RunProperties are a run's status and log.
type RunProperties struct {
	RunID        string     `json:"runId"`
	Task         string     `json:"task,omitempty"` // task name
	TaskID       string     `json:"taskId,omitempty"`
	RunType      string     `json:"runType"` // QuickRun for task runs started by hand
	Status       string     `json:"status"`
	CreateTime   time.Time  `json:"createTime"`
	StartTime    *time.Time `json:"startTime,omitempty"`
	FinishTime   *time.Time `json:"finishTime,omitempty"`
	ErrorMessage string     `json:"errorMessage,omitempty"`
	Log          string     `json:"log"`
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
		if err := json.Unmarshal(r.Body, &run); err != nil {
			continue
		}
		if run.Properties.Status != Queued && run.Properties.Status != Running {
			continue
		}
		run.Properties.Status = Failed
		run.Properties.ErrorMessage = RestartMessage
		run.Properties.FinishTime = &now
		run.Properties.Log += now.Format(time.RFC3339) + " " + RestartMessage + "\n"
		body, _ := json.Marshal(run)
		if err := s.Meta.PutResource(ctx, &meta.Resource{ID: r.ID, Type: RunType, Body: body, Version: r.Version}); err != nil {
			return fmt.Errorf("run %s: %w", r.ID, err)
		}
	}
	return nil
}

// Create stores a new queued run under registry (its resource ID) with the
// next run ID (ca1, ca2, ...).
func (s *Service) Create(ctx context.Context, registryID, task, taskID string) (*Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, err := s.Meta.ListResources(ctx, RunType, registryID+"/taskRuns/")
	if err != nil {
		return nil, err
	}
	n := len(rs) + 1
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("ca%d", n+i)
		run := &Run{ID: registryID + "/taskRuns/" + id, Name: id, Type: RunType, Properties: RunProperties{
			RunID: id, Task: task, TaskID: taskID, RunType: "QuickRun", Status: Queued, CreateTime: time.Now().UTC()}}
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

// List lists the runs of a registry (newest first), optionally of one task.
func (s *Service) List(ctx context.Context, registryID, task string) ([]*Run, error) {
	rs, err := s.Meta.ListResources(ctx, RunType, registryID+"/taskRuns/")
	if err != nil {
		return nil, err
	}
	out := []*Run{}
	for _, r := range rs {
		var run Run
		if json.Unmarshal(r.Body, &run) == nil && (task == "" || strings.EqualFold(run.Properties.Task, task)) {
			out = append(out, &run)
		}
	}
	// newest first
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// runLog accumulates a run's log and stores progress.
type runLog struct {
	s   *Service
	id  string
	mu  sync.Mutex
	run *Run
}

func (l *runLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := time.Now().UTC().Format("2006-01-02T15:04:05Z") + " " + fmt.Sprintf(format, args...) + "\n"
	if len(l.run.Properties.Log)+len(line) <= maxLog {
		l.run.Properties.Log += line
	}
}

// store writes the run's current state (the run is written only by its runner).
func (l *runLog) store(ctx context.Context) error {
	l.mu.Lock()
	body, _ := json.Marshal(l.run)
	l.mu.Unlock()
	r, err := l.s.Meta.GetResource(ctx, l.id)
	if err != nil {
		return err
	}
	return l.s.Meta.PutResource(ctx, &meta.Resource{ID: l.id, Type: RunType, Body: body, Version: r.Version})
}

// Start executes a run in the background.
func (s *Service) Start(run *Run, job Job) {
	s.init()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.sem <- struct{}{}
		defer func() { <-s.sem }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		s.execute(ctx, run, job)
	}()
}

// Wait waits for the runs started so far (tests, shutdown).
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) execute(ctx context.Context, run *Run, job Job) {
	l := &runLog{s: s, id: run.ID, run: run}
	now := time.Now().UTC()
	run.Properties.Status, run.Properties.StartTime = Running, &now
	l.printf("run %s of task %s started", run.Properties.RunID, run.Properties.Task)
	if err := l.store(ctx); err != nil {
		slog.Error("storing a task run", "run", run.ID, "err", err)
		return
	}
	err := s.steps(ctx, job, run.Properties.RunID, l.printf)
	end := time.Now().UTC()
	l.mu.Lock()
	run.Properties.FinishTime = &end
	if err != nil {
		run.Properties.Status, run.Properties.ErrorMessage = Failed, err.Error()
	} else {
		run.Properties.Status = Succeeded
	}
	l.mu.Unlock()
	if err != nil {
		l.printf("run failed: %v", err)
	} else {
		l.printf("run succeeded")
	}
	if err := l.store(context.Background()); err != nil {
		slog.Error("storing a task run", "run", run.ID, "err", err)
	}
}

// SetEndpoint tells the runner where this server's public listener is.
func (s *Service) SetEndpoint(e Endpoint) { s.self.Store(&e) }

func (s *Service) endpoint() (Endpoint, error) {
	if e := s.self.Load(); e != nil && e.Addr != "" {
		return *e, nil
	}
	return Endpoint{}, errors.New("the runner does not know this server's public listener address")
}

func (s *Service) steps(ctx context.Context, job Job, runID string, logf func(string, ...any)) error {
	e, err := s.endpoint()
	if err != nil {
		return err
	}
	ids := map[string]*ManagedIdentity{}
	c := NewClient(e, func(r Ref) Authorizer {
		full := r.Host + "/" + r.Repo
		for ls, clientID := range job.Credentials {
			ls = strings.ToLower(ls)
			if job.Secret != "" && (r.Host == ls || strings.HasPrefix(full, ls+"/")) {
				if ids[clientID] == nil {
					ids[clientID] = &ManagedIdentity{Secret: job.Secret, ClientID: clientID}
				}
				return ids[clientID]
			}
		}
		return nil
	})
	for i, st := range job.File.Steps {
		logf("step %d: %s", i+1, st.Cmd)
		switch st.Cmd {
		case "copy", "tag":
			src, err := ParseRef(Expand(st.From, job.Registry, runID))
			if err != nil {
				return fmt.Errorf("step %d: %v", i+1, err)
			}
			dst, err := ParseRef(Expand(st.To, job.Registry, runID))
			if err != nil {
				return fmt.Errorf("step %d: %v", i+1, err)
			}
			logf("%s %s -> %s", st.Cmd, src, dst)
			d, err := c.Copy(ctx, src, dst, logf)
			if err != nil {
				return fmt.Errorf("step %d (%s %s -> %s): %w", i+1, st.Cmd, src, dst, err)
			}
			logf("pushed %s (%s)", dst, d)
		case "delete":
			r, err := ParseRef(Expand(st.Ref, job.Registry, runID))
			if err != nil {
				return fmt.Errorf("step %d: %v", i+1, err)
			}
			if err := c.Delete(ctx, r); err != nil {
				return fmt.Errorf("step %d (delete %s): %w", i+1, r, err)
			}
			logf("deleted %s", r)
		}
	}
	return nil
}

// ImportOptions are the options of a registry import.
type ImportOptions struct {
	// Force overwrites existing target tags; without it an existing target
	// tag fails the import before anything is copied.
	Force bool
	// Referrers also copies the referrers of the copied manifests.
	Referrers bool
}

// ImportResult is what an import copied.
type ImportResult struct {
	Digest    string
	Referrers []string // digests of the referrers copied (Referrers only)
}

// Import copies src to each of dsts with tokens from mint (registry import).
func (s *Service) Import(ctx context.Context, src Ref, dsts []Ref, opts ImportOptions, mint Minted) (*ImportResult, error) {
	e, err := s.endpoint()
	if err != nil {
		return nil, err
	}
	c := NewClient(e, func(Ref) Authorizer { return mint })
	if !opts.Force {
		for _, d := range dsts {
			ok, err := c.Exists(ctx, d)
			if err != nil {
				return nil, err
			}
			if ok {
				return nil, &ConflictError{Target: d.String()}
			}
		}
	}
	res := &ImportResult{}
	for i, d := range dsts {
		// The referrers are copied by digest, so once into each repository.
		refs := opts.Referrers && !sameRepoBefore(dsts[:i], d)
		digest, copied, err := c.CopyWith(ctx, src, d, CopyOptions{Referrers: refs}, func(string, ...any) {})
		if err != nil {
			return nil, err
		}
		res.Digest = digest
		res.Referrers = append(res.Referrers, copied...)
	}
	if opts.Referrers && res.Referrers == nil {
		res.Referrers = []string{}
	}
	return res, nil
}

func sameRepoBefore(before []Ref, d Ref) bool {
	for _, b := range before {
		if b.Host == d.Host && b.Repo == d.Repo {
			return true
		}
	}
	return false
}

// ConflictError: the import target exists and the mode is NoForce.
type ConflictError struct{ Target string }

func (e *ConflictError) Error() string {
	return "the target tag " + e.Target + " already exists; use mode Force (--force) to overwrite it"
}
