package cli

import (
	"io"
	"log/slog"
)

// setupLogging makes the server's default logger: JSON or text (--log-format,
// MOAT_LOG_FORMAT) on w. Request lines come from the server's observer.
func setupLogging(format string, w io.Writer) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	slog.SetDefault(slog.New(h))
}
