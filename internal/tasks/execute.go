package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

// runLog accumulates a run's log and stores its progress.
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

// update changes the run's properties under the log's lock.
func (l *runLog) update(f func(p *RunProperties)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.run.Properties)
	now := time.Now().UTC()
	l.run.Properties.LastUpdatedTime = &now
}

// store writes the run's current state (the run is written only by its
// runner), so that its log link shows the progress.
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

// Start executes a run in the background, within the job's timeout.
func (s *Service) Start(run *Run, job Job) {
	s.init()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.sem <- struct{}{}
		defer func() { <-s.sem }()
		if job.Timeout <= 0 {
			job.Timeout = time.Hour
		}
		ctx, cancel := context.WithTimeout(context.Background(), job.Timeout)
		defer cancel()
		s.execute(ctx, run, job)
	}()
}

// Wait waits for the runs started so far (tests, shutdown).
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) execute(ctx context.Context, run *Run, job Job) {
	l := &runLog{s: s, id: run.ID, run: run}
	l.update(func(p *RunProperties) {
		now := time.Now().UTC()
		p.Status, p.StartTime = Running, &now
	})
	l.printf("run %s of task %s started", run.Properties.RunID, run.Properties.Task)
	if err := l.store(ctx); err != nil {
		slog.Error("storing a task run", "run", run.ID, "err", err)
		return
	}
	err := s.steps(ctx, job, l)
	// The last line, as ACR's runner writes it.
	took := time.Since(*run.Properties.StartTime).Round(time.Second)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		l.printf("Run ID: %s timed out after %v", run.Properties.RunID, job.Timeout)
	case err != nil:
		l.printf("Run ID: %s failed after %v. Error: %v", run.Properties.RunID, took, err)
	default:
		l.printf("Run ID: %s was successful after %v", run.Properties.RunID, took)
	}
	l.update(func(p *RunProperties) {
		end := time.Now().UTC()
		p.FinishTime = &end
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			p.Status, p.RunErrorMessage = Timeout, "the run did not finish within the task's timeout"
		case err != nil:
			p.Status, p.RunErrorMessage = Failed, err.Error()
		default:
			p.Status = Succeeded
		}
	})
	if err := l.store(context.Background()); err != nil {
		slog.Error("storing a task run", "run", run.ID, "err", err)
	}
}

// steps runs the task file's steps in order, storing the run after each.
func (s *Service) steps(ctx context.Context, job Job, l *runLog) error {
	e, err := s.endpoint()
	if err != nil {
		return err
	}
	runID := l.run.Properties.RunID
	c := NewClient(e, job.authorizers())
	for i, st := range job.File.Steps {
		l.printf("step %d: %s", i+1, st.Cmd)
		if err := step(ctx, c, job, runID, st, l); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		if err := l.store(ctx); err != nil {
			return err
		}
	}
	return nil
}

// authorizers gives the runner the task's identity for the login servers
// its credentials name; others are reached anonymously.
func (job Job) authorizers() func(Ref) Authorizer {
	ids := map[string]*ManagedIdentity{}
	var mu sync.Mutex
	return func(r Ref) Authorizer {
		mu.Lock()
		defer mu.Unlock()
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
	}
}

func step(ctx context.Context, c *Client, job Job, runID string, st Step, l *runLog) error {
	switch st.Cmd {
	case "copy", "tag":
		src, err := ParseRef(Expand(st.From, job.Registry, runID))
		if err != nil {
			return err
		}
		dst, err := ParseRef(Expand(st.To, job.Registry, runID))
		if err != nil {
			return err
		}
		l.printf("%s %s -> %s", st.Cmd, src, dst)
		d, err := c.Copy(ctx, src, dst, l.printf)
		if err != nil {
			return fmt.Errorf("%s %s -> %s: %w", st.Cmd, src, dst, err)
		}
		l.printf("pushed %s (%s)", dst, d)
		l.update(func(p *RunProperties) {
			p.OutputImages = append(p.OutputImages, ImageDescriptor{Registry: dst.Host, Repository: dst.Repo, Tag: dst.Tag, Digest: d})
		})
	case "delete":
		r, err := ParseRef(Expand(st.Ref, job.Registry, runID))
		if err != nil {
			return err
		}
		if err := c.Delete(ctx, r); err != nil {
			return fmt.Errorf("delete %s: %w", r, err)
		}
		l.printf("deleted %s", r)
	}
	return nil
}

// SetEndpoint tells the runner where this server's public listener is.
func (s *Service) SetEndpoint(e Endpoint) { s.self.Store(&e) }

func (s *Service) endpoint() (Endpoint, error) {
	if e := s.self.Load(); e != nil && e.Addr != "" {
		return *e, nil
	}
	return Endpoint{}, errors.New("the runner does not know this server's public listener address")
}
