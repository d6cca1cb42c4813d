package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/authority"
	"github.com/moat-registry/moat/internal/identity"
	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/netid"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/regauth"
	"github.com/moat-registry/moat/internal/reqlog"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/target"
	"github.com/moat-registry/moat/internal/token"
	"github.com/prometheus/client_golang/prometheus"
)

// observer is the one middleware that measures, logs and audits every request.
type observer struct {
	requests *prometheus.CounterVec   // kind, method, status, registry
	latency  *prometheus.HistogramVec // kind, method
	bytesIn  *prometheus.CounterVec   // kind, registry
	bytesOut *prometheus.CounterVec   // kind, registry
	uploads  *prometheus.CounterVec   // event
	tokens   *prometheus.CounterVec   // grant, outcome
	inflight prometheus.Gauge

	log      *audit.Log
	regs     meta.Registries
	dir      *identity.Directory
	idPrefix string
	seq      atomic.Uint64
}

func newObserver(reg prometheus.Registerer, log *audit.Log, regs meta.Registries, dir *identity.Directory) *observer {
	var b [6]byte
	_, _ = rand.Read(b[:])
	o := &observer{log: log, regs: regs, dir: dir, idPrefix: hex.EncodeToString(b[:]) + "-",
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
// the body wrapper and the context node that carries it, so a request costs
// one allocation here.
type reqState struct {
	http.ResponseWriter
	context.Context // the request's context, with the state as a value
	body            io.ReadCloser
	status          int
	in, out         int64
	principal       string // subject of the token or management caller
	id              string
	idHeader        [1]string // the X-Request-Id header's value slice, without its own allocation
}

type stateKey struct{}

// Value makes the state its own context node (one allocation fewer than
// context.WithValue).
func (s *reqState) Value(key any) any {
	if key == (stateKey{}) {
		return s
	}
	return s.Context.Value(key)
}

func stateOf(ctx context.Context) *reqState {
	s, _ := ctx.Value(stateKey{}).(*reqState)
	return s
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

// wrap is the middleware.
func (o *observer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &reqState{ResponseWriter: w, id: o.newID()}
		st.idHeader[0] = st.id
		w.Header()["X-Request-Id"] = st.idHeader[:] // canonical key: as Set, without its work
		if r.Body != nil && r.Body != http.NoBody {
			st.body = r.Body
			r.Body = bodyReader{st}
		}
		t, ok := target.Of(r) // resolved by target.Middleware, outside the observer
		if !ok {
			t = &target.Target{Route: target.Route{Kind: target.KindOther}}
		}
		kind, regKey := labels(t)
		if t.Token != nil {
			st.in = t.Token.BodyBytes // the form was read to resolve the target
		}
		var before json.RawMessage
		cfgID, isCfg := o.configTarget(r, kind)
		if isCfg {
			before = o.networkSettings(r.Context(), cfgID)
		}
		st.Context = r.Context()
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
		o.requests.WithLabelValues(kind, mc, status, regKey).Inc()
		o.latency.WithLabelValues(kind, mc).Observe(d.Seconds())
		if st.in > 0 {
			o.bytesIn.WithLabelValues(kind, regKey).Add(float64(st.in))
		}
		if st.out > 0 {
			o.bytesOut.WithLabelValues(kind, regKey).Add(float64(st.out))
		}
		id, _ := netid.From(r.Context())
		o.uploadEvent(t.Kind, r.Method, st.status)
		if o.log != nil {
			o.contentEvent(r, st, id, t, regKey)
			if isCfg && st.status < 300 {
				o.configEvent(r, st, id, cfgID, before)
			}
		}
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

func (o *observer) principalName(id string) string {
	if o.dir == nil || id == "" {
		return ""
	}
	if p, ok := o.dir.Get(id); ok {
		return p.Name
	}
	return ""
}

func base(st *reqState, id netid.Identity, regKey, typ, outcome string) audit.Event {
	e := audit.Event{Time: time.Now(), Registry: regKey, Type: typ, Outcome: outcome, RequestID: st.id, NetworkPath: string(id.Path)}
	if id.ClientIP.IsValid() {
		e.ClientIP = id.ClientIP.String()
	}
	return e
}

// contentEvent audits manifest pushes, pulls and deletes.
func (o *observer) contentEvent(r *http.Request, st *reqState, id netid.Identity, t *target.Target, regKey string) {
	if t.Kind != target.KindManifest || regKey == "" {
		return
	}
	var typ string
	switch r.Method {
	case http.MethodGet:
		typ = audit.TypePull
	case http.MethodPut:
		typ = audit.TypePush
	case http.MethodDelete:
		typ = audit.TypeDelete
	default:
		return
	}
	outcome := audit.Success
	if st.status >= 300 {
		outcome = audit.Failure
		if (st.status == http.StatusUnauthorized || st.status == http.StatusForbidden) && st.principal == "" {
			// The anonymous first try of every client before it fetches a
			// token, or a network denial (audited as a denial by netguard).
			return
		}
	}
	e := base(st, id, regKey, typ, outcome)
	e.Principal, e.PrincipalName = st.principal, o.principalName(st.principal)
	e.Repository, e.Reference = t.Repo, t.Ref
	e.Digest = st.Header().Get("Docker-Content-Digest")
	if outcome == audit.Failure {
		e.Detail = "HTTP " + statusText[st.status%600]
	}
	o.log.Record(e)
}

// configTarget says whether the request may change a registry's settings.
func (o *observer) configTarget(r *http.Request, kind string) (resid.ID, bool) {
	if kind != "management" || (r.Method != http.MethodPut && r.Method != http.MethodPatch && r.Method != http.MethodDelete) {
		return resid.ID{}, false
	}
	id, err := resid.Parse(r.URL.Path)
	if err != nil || !id.Is("Microsoft.ContainerRegistry", "registries") || id.IsCollection() || len(id.Names) == 0 {
		return resid.ID{}, false
	}
	return id, true
}

// networkSettings are a registry's network settings (null when it does not exist).
func (o *observer) networkSettings(ctx context.Context, id resid.ID) json.RawMessage {
	reg, err := o.regs.GetRegistry(ctx, strings.ToLower(id.Names[len(id.Names)-1]))
	if err != nil {
		return json.RawMessage("null")
	}
	var p struct {
		NetworkRuleSet           json.RawMessage `json:"networkRuleSet,omitempty"`
		PublicNetworkAccess      json.RawMessage `json:"publicNetworkAccess,omitempty"`
		NetworkRuleBypassOptions json.RawMessage `json:"networkRuleBypassOptions,omitempty"`
	}
	_ = json.Unmarshal(reg.Properties, &p)
	b, _ := json.Marshal(p)
	return b
}

func (o *observer) configEvent(r *http.Request, st *reqState, id netid.Identity, rid resid.ID, before json.RawMessage) {
	after := o.networkSettings(r.Context(), rid)
	if bytes.Equal(before, after) {
		return
	}
	key := strings.ToLower(rid.Names[len(rid.Names)-1])
	e := base(st, id, key, audit.TypeConfig, audit.Success)
	e.Principal, e.PrincipalName = st.principal, o.principalName(st.principal)
	e.Detail = r.Method + " registry network settings"
	e.Before, e.After = before, after
	o.log.Record(e)
}

// TokenRequest counts and audits token requests (regauth.Observer).
func (o *observer) TokenRequest(r *http.Request, ev regauth.TokenEvent) {
	outcome, metric := audit.Success, "issued"
	if ev.Err != nil {
		outcome, metric = audit.Failure, "failed"
	}
	o.tokens.WithLabelValues(ev.Grant, metric).Inc()
	st := stateOf(r.Context())
	if st == nil {
		return
	}
	if ev.Subject != "" {
		st.principal = ev.Subject
	}
	if o.log == nil {
		return
	}
	id, _ := netid.From(r.Context())
	regs := ev.Registries
	if len(regs) == 0 {
		regs = []string{audit.ServerWide}
	}
	for _, reg := range regs {
		mk := func(typ string) audit.Event {
			e := base(st, id, reg, typ, outcome)
			e.Grant = ev.Grant
			e.Principal = ev.Subject
			if e.Principal == "" {
				e.Principal = ev.User
			}
			e.PrincipalName = o.principalName(ev.Subject)
			if ev.Err != nil {
				e.Detail = oneLine(ev.Err.Error())
			}
			return e
		}
		if ev.SignIn() {
			o.log.Record(mk(audit.TypeSignIn))
		}
		if ev.Endpoint == "token" && (!ev.SignIn() || ev.Err == nil) {
			e := mk(audit.TypeToken)
			if ev.Err == nil {
				e.Scopes = grantedScopes(r, ev.Granted, reg)
			} else {
				e.Scopes = ev.Requested
			}
			o.log.Record(e)
		}
	}
}

// grantedScopes are the granted scopes on registry regKey.
func grantedScopes(r *http.Request, g []token.Access, regKey string) []string {
	t, ok := target.Of(r)
	if !ok {
		return nil
	}
	var out []string
	for _, a := range g {
		if a.Type == "repository" {
			if reg, _, _ := t.Split(a.Name); reg == nil || reg.Key != regKey {
				continue
			}
		}
		out = append(out, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	return out
}

func oneLine(s string) string {
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.Join(strings.Fields(s), " ")
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

// SignIn audits a sign-in at the identity authority (authority.Recorder):
// server-wide events of type signin, with the grant, the principal (or the
// name presented on failure) and the resource asked for.
func (o *observer) SignIn(r *http.Request, ev authority.SignIn) {
	if ev.PrincipalID != "" && !ev.Failed() {
		setPrincipal(r.Context(), ev.PrincipalID)
	}
	if o.log == nil {
		return
	}
	st := stateOf(r.Context())
	if st == nil {
		st = &reqState{}
	}
	id, _ := netid.From(r.Context())
	outcome := audit.Success
	if ev.Failed() {
		outcome = audit.Failure
	}
	e := base(st, id, audit.ServerWide, audit.TypeSignIn, outcome)
	e.Grant = ev.Grant
	e.Principal, e.PrincipalName = ev.PrincipalID, ev.PrincipalName
	if e.Principal == "" {
		e.Principal = ev.PrincipalName
	}
	if ev.Resource != "" {
		e.Scopes = []string{ev.Resource}
	}
	e.Detail = "identity authority"
	if ev.Failed() {
		e.Detail += ": " + oneLine(ev.Error)
	}
	o.log.Record(e)
}
