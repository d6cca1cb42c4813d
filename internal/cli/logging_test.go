package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/logbuf"
	"github.com/moat-registry/moat/internal/reqlog"
	"github.com/moat-registry/moat/internal/server"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// batchedText sets up text logging to a batching writer that flushes only
// when told (or closed), for the test's duration.
func batchedText(t *testing.T) (*lockedBuf, *logbuf.Writer) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	out := &lockedBuf{}
	w := logbuf.New(out, time.Hour)
	t.Cleanup(func() { w.Close() })
	setupLogging(config.LogText, w)
	return out, w
}

// Request lines wait for the batch; any other line is written at once.
func TestLoggingFlushesAllButRequestLines(t *testing.T) {
	out, _ := batchedText(t)
	slog.Info(server.RequestLogMessage, "path", "/v2/")
	if out.String() != "" {
		t.Fatalf("a request line was written before the flush: %q", out.String())
	}
	slog.With("k", "v").Info("listeners reloaded")
	if s := out.String(); !strings.Contains(s, "path=/v2/") || !strings.Contains(s, "listeners reloaded") {
		t.Fatalf("an operator line did not go out at once (with what was queued): %q", s)
	}
}

// With text output, the server's request lines are written by reqlog itself,
// batched like slog's, in the text handler's form.
func TestLoggingWritesRequestLinesDirectly(t *testing.T) {
	out, w := batchedText(t)
	if _, ok := slog.Default().Handler().(reqlog.Writer); !ok {
		t.Fatal("the text handler does not write request lines itself")
	}
	reqlog.Log(context.Background(), slog.LevelInfo, &reqlog.Line{Method: "HEAD", Path: "/v2/a b", Status: 200})
	reqlog.Log(context.Background(), slog.LevelDebug, &reqlog.Line{Route: "health"})
	if out.String() != "" {
		t.Fatalf("a request line was written before the flush: %q", out.String())
	}
	w.Flush()
	s := out.String()
	if !strings.Contains(s, ` level=INFO msg=request requestId="" method=HEAD path="/v2/a b" route="" registry="" status=200 duration=0s`) ||
		strings.Count(s, "\n") != 1 {
		t.Fatalf("request line: %q", s)
	}
	setupLogging(config.LogJSON, w)
	if _, ok := slog.Default().Handler().(reqlog.Writer); ok {
		t.Fatal("JSON request lines must go through slog's JSON handler")
	}
}
