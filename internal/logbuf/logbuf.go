// Package logbuf batches log output: with a request log line per request, a
// write system call per line was 14% of the CPU of a manifest HEAD. Lines are
// appended to a buffer and written together every interval, or at once when
// the buffer is full, so a line waits at most one interval.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// flushAt is the buffer size that is written without waiting for the tick.
const flushAt = 64 << 10

// Writer is an io.Writer that batches writes to out. Each Write is kept
// whole (slog handlers write one line per call), so lines never interleave.
type Writer struct {
	mu     sync.Mutex
	out    io.Writer
	buf    []byte
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// New starts a Writer that flushes to out every interval; Close flushes the rest.
func New(out io.Writer, interval time.Duration) *Writer {
	w := &Writer{out: out, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop(interval)
	return w
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.Flush()
		}
	}
}

// Write buffers p. A full buffer is written before Write returns, which is
// also the back-pressure when out is slow.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= flushAt {
		w.flushLocked()
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
}

func (w *Writer) flushLocked() {
	if len(w.buf) == 0 {
		return
	}
	_, _ = w.out.Write(w.buf) // nowhere to report a failing log output
	if cap(w.buf) > 4*flushAt {
		w.buf = nil // a burst does not pin its peak buffer
	} else {
		w.buf = w.buf[:0]
	}
}

// Close stops the ticker and writes what is left; later writes go straight through.
func (w *Writer) Close() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	w.buf, w.closed = nil, true
	return nil
}
