// Package reqlog is the request log line: its fields, and its text form
// written without log/slog's generic record and handler. On a manifest HEAD
// the request line through slog.TextHandler was the largest cost of moat's
// own (9 % of the server's CPU, docs/benchmarks.md); a log handler that
// implements Writer writes it directly.
package reqlog

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Message is the message of the one log line per request.
const Message = "request"

// Line is one request's log line. The query is never logged: it may carry secrets.
type Line struct {
	RequestID   string
	Method      string
	Path        string
	Route       string
	Registry    string
	Status      int
	Duration    time.Duration
	BytesIn     int64
	BytesOut    int64
	ClientIP    string
	NetworkPath string
	Listener    string
	Principal   string
}

// Attrs are the line's fields as slog attributes, in the order they are written.
func (l *Line) Attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("requestId", l.RequestID),
		slog.String("method", l.Method),
		slog.String("path", l.Path),
		slog.String("route", l.Route),
		slog.String("registry", l.Registry),
		slog.Int("status", l.Status),
		slog.Duration("duration", l.Duration),
		slog.Int64("bytesIn", l.BytesIn),
		slog.Int64("bytesOut", l.BytesOut),
		slog.String("clientIp", l.ClientIP),
		slog.String("networkPath", l.NetworkPath),
		slog.String("listener", l.Listener),
		slog.String("principal", l.Principal),
	}
}

// Writer is a log handler that writes request lines itself.
type Writer interface {
	WriteRequest(t time.Time, level slog.Level, l *Line)
}

// Log writes l at level through the default logger: directly when its
// handler is a Writer, else as a slog record with Message and l's Attrs.
func Log(ctx context.Context, level slog.Level, l *Line) {
	h := slog.Default().Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	if w, ok := h.(Writer); ok {
		w.WriteRequest(time.Now(), level, l)
		return
	}
	slog.LogAttrs(ctx, level, Message, l.Attrs()...)
}

// Text is h, with request lines written by AppendText to w, one Write each.
// w must keep concurrent Writes whole (as logbuf.Writer does).
func Text(h slog.Handler, w io.Writer) slog.Handler { return text{h, w} }

type text struct {
	slog.Handler
	w io.Writer
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h text) WriteRequest(t time.Time, level slog.Level, l *Line) {
	b := lineBufs.Get().(*[]byte)
	*b = AppendText((*b)[:0], t, level, l)
	_, _ = h.w.Write(*b)
	lineBufs.Put(b)
}
