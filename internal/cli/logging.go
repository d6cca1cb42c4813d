package cli

import (
	"context"
	"io"
	"log/slog"

	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/reqlog"
	"github.com/moat-registry/moat/internal/server"
)

// setupLogging makes the server's default logger: JSON or text (--log-format,
// MOAT_LOG_FORMAT) on w. Request lines come from the server's observer.
// When w batches lines (logbuf), every line but the request log is written
// out at once: operator messages (errors, "reloaded") are rare and must not
// wait for the next flush.
func setupLogging(format config.LogFormat, w io.Writer) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == config.LogJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	if f, ok := w.(flusher); ok {
		h = flushOthers{h, f}
		if format != config.LogJSON {
			h = reqlog.Text(h, w) // the batching writer keeps concurrent lines whole
		}
	}
	slog.SetDefault(slog.New(h))
}

type flusher interface{ Flush() }

// flushOthers flushes the batched output after any record but a request line.
type flushOthers struct {
	slog.Handler
	f flusher
}

func (h flushOthers) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Message != server.RequestLogMessage {
		h.f.Flush()
	}
	return err
}

func (h flushOthers) WithAttrs(as []slog.Attr) slog.Handler {
	return flushOthers{h.Handler.WithAttrs(as), h.f}
}

func (h flushOthers) WithGroup(name string) slog.Handler {
	return flushOthers{h.Handler.WithGroup(name), h.f}
}
