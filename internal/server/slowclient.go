package server

import (
	"io"
	"net/http"
	"time"
)

// Slow clients. Headers must arrive within the server's ReadHeaderTimeout
// (10 s) and idle connections close after IdleTimeout. Bodies have no total
// deadline (a multi-GiB blob may take hours on a slow link) but must keep
// moving: every read or write of a body gets a deadline of at most
// bodyStall from now, and no later than the time by which the transfer
// would have reached minBodyRate on average after a grace period. A
// slowloris client trickling bytes is cut off; a slow but steady one is not.
// (Variables so that tests can shorten them.)
var (
	bodyStall         = time.Minute
	bodyGrace         = time.Minute
	minBodyRate int64 = 1 << 10 // bytes per second, averaged over the whole body
)

// pace computes the deadline of the next read or write of a body. Its clock
// starts at the first read or write: a response may follow a long upload.
type pace struct {
	start time.Time
	n     int64 // bytes moved so far
}

func (p *pace) deadline(now time.Time) time.Time {
	if p.start.IsZero() {
		p.start = now
	}
	byRate := p.start.Add(bodyGrace + time.Duration(float64(p.n)/float64(minBodyRate)*float64(time.Second)))
	if stall := now.Add(bodyStall); stall.Before(byRate) {
		return stall
	}
	return byRate
}

// paceBodies puts request and response bodies under the deadlines above.
func paceBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &pacedBody{ReadCloser: r.Body, rc: rc}
		}
		// The connection carries the previous request's write deadline: a
		// fresh one for what the server writes without pacedWriter (an
		// interim 100 Continue, refreshed at the body's first read). Every
		// paced write sets its own. (A listener's connection skips a deadline
		// at most a second later than the one in force: netid.)
		_ = rc.SetWriteDeadline(time.Now().Add(bodyStall))
		next.ServeHTTP(&pacedWriter{ResponseWriter: w, rc: rc}, r)
		// The server flushes the buffered end of the response after the
		// handler returns: bound that write too.
		_ = rc.SetWriteDeadline(time.Now().Add(bodyStall))
	})
}

type pacedBody struct {
	io.ReadCloser
	rc *http.ResponseController
	p  pace
}

func (b *pacedBody) Read(buf []byte) (int, error) {
	now := time.Now()
	if b.p.start.IsZero() {
		_ = b.rc.SetWriteDeadline(now.Add(bodyStall)) // for a 100 Continue the first read sends
	}
	_ = b.rc.SetReadDeadline(b.p.deadline(now)) // unsupported (tests' recorders): no deadline
	n, err := b.ReadCloser.Read(buf)
	b.p.n += int64(n)
	if err == io.EOF {
		// Done with the body: the server's background read that watches for
		// the client going away must not time out while the handler works
		// (that would cancel the request's context).
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

type pacedWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	p  pace
}

func (w *pacedWriter) Write(buf []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(w.p.deadline(time.Now()))
	n, err := w.ResponseWriter.Write(buf)
	w.p.n += int64(n)
	return n, err
}

// paceChunk is how much ReadFrom sends under one deadline. The chunks go to
// the connection's own ReadFrom as one io.LimitedReader over the source (a
// LimitedReader from io.CopyN is unwrapped, not nested), which is the shape
// that keeps sendfile for blob files.
const paceChunk = 4 << 20

func (w *pacedWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, src)
	}
	limit := int64(-1) // none
	if lr, ok := src.(*io.LimitedReader); ok {
		src, limit = lr.R, lr.N
		defer func() { lr.N = limit }()
	}
	var total int64
	for limit != 0 {
		chunk := int64(paceChunk)
		if limit > 0 {
			chunk = min(chunk, limit)
		}
		_ = w.rc.SetWriteDeadline(w.p.deadline(time.Now()))
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: chunk})
		total += n
		w.p.n += n
		if limit > 0 {
			limit -= n
		}
		if err != nil || n < chunk {
			return total, err
		}
	}
	return total, nil
}

func (w *pacedWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		_ = w.rc.SetWriteDeadline(w.p.deadline(time.Now()))
		f.Flush()
	}
}

func (w *pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
