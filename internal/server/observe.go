package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/moat-registry/moat/internal/auth/regauth"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/promcache"
	"github.com/moat-registry/moat/internal/reqlog"
	"github.com/moat-registry/moat/internal/target"
	"github.com/prometheus/client_golang/prometheus"
)

// observer is the one middleware that measures and logs every request. It
// audits nothing: the packages where events happen record them (audit.go).
type observer struct {
	requests *prometheus.CounterVec   // kind, method, status, registry
	latency  *prometheus.HistogramVec // kind, method
	bytesIn  *prometheus.CounterVec   // kind, registry
	bytesOut *prometheus.CounterVec   // kind, registry
	uploads  *prometheus.CounterVec   // event
	tokens   *prometheus.CounterVec   // grant, outcome
	inflight prometheus.Gauge

	idPrefix string
	seq      atomic.Uint64
	series   *promcache.Cache[metricKey, requestMetrics]
}

// metricKey names one request's series (labels looked up once: promcache).
type metricKey struct {
	kind   target.Kind
	method string // class
	status string
	reg    string
}

type requestMetrics struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func (o *observer) metrics(k metricKey) requestMetrics {
	kind := k.kind.String()
	return requestMetrics{requests: o.requests.WithLabelValues(kind, k.method, k.status, k.reg),
		latency: o.latency.WithLabelValues(kind, k.method)}
}

func newObserver(reg prometheus.Registerer) *observer {
	var b [6]byte
	_, _ = rand.Read(b[:])
	o := &observer{idPrefix: hex.EncodeToString(b[:]) + "-",
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_http_requests_total",
			Help: "HTTP requests by route kind, method class (read, write, delete, other), status and registry."},
			[]string{"route", "method", "status", "registry"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "moat_http_request_duration_seconds",
			Help:    "HTTP request latency by route kind and method class.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}},
			[]string{"route", "method"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_http_request_bytes_total",
			Help: "Request body bytes received by route kind and registry."}, []string{"route", "registry"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_http_response_bytes_total",
			Help: "Response body bytes sent by route kind and registry."}, []string{"route", "registry"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_upload_sessions_total",
			Help: "Blob upload sessions by event (started, committed, cancelled, mounted)."}, []string{"event"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_token_requests_total",
			Help: "Registry token requests by grant and outcome (issued, failed)."}, []string{"grant", "outcome"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "moat_http_requests_in_flight",
			Help: "Requests being served."}),
	}
	o.series = promcache.New(o.metrics)
	reg.MustRegister(o.requests, o.latency, o.bytesIn, o.bytesOut, o.uploads, o.tokens, o.inflight)
	for _, e := range []string{"started", "committed", "cancelled", "mounted"} {
		o.uploads.WithLabelValues(e)
	}
	return o
}

// statusText are the status labels, precomputed so that labelling allocates nothing.
var statusText = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return
}()

func methodClass(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead:
		return "read"
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return "write"
	case http.MethodDelete:
		return "delete"
	}
	return "other"
}

// reqState is one request's observation; it is also the response writer,
// the body wrapper and the context node that carries it and the request's
// target, so a request costs one allocation and one request copy here.
type reqState struct {
	http.ResponseWriter
	target.Node // the request's context, with its target
	body        io.ReadCloser
	status      int
	in, out     int64
	principal   string // subject of the token or management caller
	id          string
	idHeader    [1]string // the X-Request-Id header's value slice, without its own allocation
}

type stateKey struct{}

// Value makes the state its own context node (one allocation fewer than
// context.WithValue).
func (s *reqState) Value(key any) any {
	if key == (stateKey{}) {
		return s
	}
	return s.Node.Value(key)
}

func stateOf(ctx context.Context) *reqState {
	s, _ := ctx.Value(stateKey{}).(*reqState)
	return s
}

// principalOf is who the request spoke for ("" anonymous), once served.
func principalOf(ctx context.Context) string {
	if s := stateOf(ctx); s != nil {
		return s.principal
	}
	return ""
}

// setPrincipal records who the request speaks for (called by the gates).
func setPrincipal(ctx context.Context, p string) {
	if s := stateOf(ctx); s != nil {
		s.principal = p
	}
}

func (s *reqState) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *reqState) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.out += int64(n)
	return n, err
}

// ReadFrom keeps the sendfile path of blob downloads.
func (s *reqState) ReadFrom(r io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(s.ResponseWriter, r)
	}
	s.out += n
	return n, err
}

func (s *reqState) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *reqState) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *reqState) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	s.in += int64(n)
	return n, err
}

func (s *reqState) Close() error { return s.body.Close() }

// bodyReader lets the request body be counted without a second allocation.
type bodyReader struct{ *reqState }

func (b bodyReader) Read(p []byte) (int, error) { return b.reqState.Read(p) }
func (b bodyReader) Close() error               { return b.reqState.Close() }

func (o *observer) newID() string {
	var b [32]byte
	n := copy(b[:], o.idPrefix)
	return string(strconv.AppendUint(b[:n], o.seq.Add(1), 36))
}

// labels are the route kind and the registry of a request's target, as
// metric labels: the registry only when it exists (so that labels stay
// bounded whatever names clients send), and only for routes about one.
func labels(t *target.Target) (kind, regKey string) {
	kind = t.Kind.String()
	switch {
	case t.Registry == nil, t.Kind.TokenEndpoint(), t.Kind == target.KindInvalid && !t.HostStyle:
		return kind, ""
	}
	return kind, t.Registry.Key
}

// wrap is the middleware: it resolves each request's target (as
// target.Middleware does), then measures and logs the request.
func (o *observer) wrap(index target.Snapshots, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &reqState{ResponseWriter: w, id: o.newID()}
		st.idHeader[0] = st.id
		w.Header()["X-Request-Id"] = st.idHeader[:] // canonical key: as Set, without its work
		t := st.Resolve(w, r, index.Load())         // before the body is wrapped: it reads a token form
		if r.Body != nil && r.Body != http.NoBody {
			st.body = r.Body
			r.Body = bodyReader{st}
		}
		kind, regKey := labels(t)
		if t.Token != nil {
			st.in = t.Token.BodyBytes // the form was read to resolve the target
		}
		r = r.WithContext(st)
		o.inflight.Inc()
		next.ServeHTTP(st, r)
		o.inflight.Dec()
		if st.status == 0 {
			st.status = http.StatusOK
		}
		d := time.Since(start)
		mc := methodClass(r.Method)
		status := "other"
		if st.status > 0 && st.status < len(statusText) {
			status = statusText[st.status]
		}
		m := o.series.Get(metricKey{t.Kind, mc, status, regKey})
		m.requests.Inc()
		m.latency.Observe(d.Seconds())
		if st.in > 0 {
			o.bytesIn.WithLabelValues(kind, regKey).Add(float64(st.in))
		}
		if st.out > 0 {
			o.bytesOut.WithLabelValues(kind, regKey).Add(float64(st.out))
		}
		id, _ := netid.From(r.Context())
		o.uploadEvent(t.Kind, r.Method, st.status)
		o.logRequest(r, st, id, kind, regKey, d)
	})
}

// RequestLogMessage is the message of the one log line per request.
const RequestLogMessage = reqlog.Message

func (o *observer) logRequest(r *http.Request, st *reqState, id netid.Identity, kind, regKey string, d time.Duration) {
	level := slog.LevelInfo
	if kind == "health" {
		level = slog.LevelDebug
	}
	l := reqlog.Line{RequestID: st.id, Method: r.Method, Path: r.URL.Path, Route: kind, Registry: regKey,
		Status: st.status, Duration: d, BytesIn: st.in, BytesOut: st.out,
		NetworkPath: string(id.Path), Listener: id.Listener, Principal: st.principal}
	if id.ClientIP.IsValid() {
		l.ClientIP = id.ClientIP.String()
	}
	reqlog.Log(r.Context(), level, &l)
}

func (o *observer) uploadEvent(k target.Kind, method string, status int) {
	switch {
	case k == target.KindUploadStart && method == http.MethodPost && status == http.StatusAccepted:
		o.uploads.WithLabelValues("started").Inc()
	case k == target.KindUploadStart && method == http.MethodPost && status == http.StatusCreated:
		o.uploads.WithLabelValues("mounted").Inc()
	case k == target.KindUpload && method == http.MethodPut && status == http.StatusCreated:
		o.uploads.WithLabelValues("committed").Inc()
	case k == target.KindUpload && method == http.MethodDelete && status == http.StatusNoContent:
		o.uploads.WithLabelValues("cancelled").Inc()
	}
}

// TokenRequest counts token requests (regauth.Observer) and names the
// request's principal in its log line.
func (o *observer) TokenRequest(r *http.Request, ev regauth.TokenEvent) {
	metric := "issued"
	if ev.Err != nil {
		metric = "failed"
	}
	o.tokens.WithLabelValues(ev.Grant, metric).Inc()
	if ev.Subject != "" {
		setPrincipal(r.Context(), ev.Subject)
	}
}

// principalGate records the subject of data-plane tokens for logs and audit.
type principalGate struct{ oci.Gate }

func (g principalGate) Authorize(r *http.Request, needs []token.Access) (string, error) {
	sub, err := g.Gate.Authorize(r, needs)
	if sub != "" {
		setPrincipal(r.Context(), sub)
	}
	return sub, err
}

// principalAuth records the management caller for logs and audit.
type principalAuth struct{ mgmt.Authenticator }

func (a principalAuth) Principal(r *http.Request) (string, error) {
	p, err := a.Authenticator.Principal(r)
	if err == nil {
		setPrincipal(r.Context(), p)
	}
	return p, err
}
