// Package portal is moat's web portal: server-rendered pages (html/template,
// embedded CSS, no JavaScript needed) for registries, their repositories,
// access control, virtual networks and the Networking page.
//
// The portal keeps no logic of its own about resources: every read and
// change goes through the server's own handlers in-process (the management
// API with the signed-in user's token, the authority for sign-in, the data
// plane for repository contents), so RBAC, validation messages, network
// rules and the audit trail are exactly those of the API and the CLI.
package portal

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/moat-registry/moat/internal/auth/token"
)

// Prefix is where the portal is mounted.
const Prefix = "/portal/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Portal serves the portal. Backend is the server's handler for everything
// else (identity, management API, data plane); Keys verify session tokens.
type Portal struct {
	Backend      http.Handler
	Keys         *token.Keys
	Tenant       string
	Subscription string
	pages        map[string]*template.Template
	mux          *http.ServeMux
}

// New returns the portal, ready to be mounted at [Prefix].
func New(backend http.Handler, keys *token.Keys, tenant, subscription string) *Portal {
	p := &Portal{Backend: backend, Keys: keys, Tenant: tenant, Subscription: subscription, pages: map[string]*template.Template{}}
	for _, name := range []string{"signin", "registries", "overview", "repositories", "access", "networking", "vnets", "message"} {
		p.pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	static, _ := fs.Sub(staticFS, "static")
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"static/{file}", func(w http.ResponseWriter, r *http.Request) {
		// Only the stylesheet(s); anything else (directories, names that are
		// no valid path) is not found rather than an error of the file server.
		if name := r.PathValue("file"); fs.ValidPath(name) && strings.HasSuffix(name, ".css") {
			http.ServeFileFS(w, r, static, name)
			return
		}
		http.NotFound(w, r)
	})
	m.HandleFunc("GET "+Prefix+"signin", func(w http.ResponseWriter, r *http.Request) { p.signInForm(w, r, http.StatusOK, "", "") })
	m.HandleFunc("POST "+Prefix+"signin", p.signIn)
	m.HandleFunc("POST "+Prefix+"signout", p.auth(p.signOut))
	m.HandleFunc("GET "+Prefix+"{$}", p.auth(p.registries))
	m.HandleFunc("POST "+Prefix+"registries", p.auth(p.createRegistry))
	m.HandleFunc("GET "+Prefix+"vnets", p.auth(p.vnets))
	m.HandleFunc("POST "+Prefix+"vnets", p.auth(p.createVNet))
	reg := Prefix + "registries/{group}/{name}"
	m.HandleFunc("GET "+reg, p.auth(p.overview))
	m.HandleFunc("GET "+reg+"/repositories", p.auth(p.repositories))
	m.HandleFunc("POST "+reg+"/repositories/locks", p.auth(p.changeLocks))
	m.HandleFunc("GET "+reg+"/access", p.auth(p.access))
	m.HandleFunc("POST "+reg+"/access/{action}", p.auth(p.changeAccess))
	m.HandleFunc("GET "+reg+"/networking", p.auth(p.networking))
	m.HandleFunc("POST "+reg+"/networking/{action}", p.auth(p.changeNetworking))
	m.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		p.message(w, http.StatusNotFound, "Not found", "There is no portal page at "+r.URL.Path+". Start at the registry list.")
	})
	p.mux = m
	return p
}

func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	p.mux.ServeHTTP(w, r)
}

// auth runs h for a signed-in user. Without a session, a page asks to sign
// in (and comes back afterwards); a POST without the session's anti-forgery
// token is refused with 403.
func (p *Portal) auth(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := p.sessionOf(r)
		if !ok {
			if r.Method != http.MethodGet {
				p.message(w, http.StatusUnauthorized, "Signed out", "Your session has ended. Sign in again, then repeat what you were doing.")
				return
			}
			http.Redirect(w, r, Prefix+"signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if !checkCSRF(r, s.CSRF) {
				p.forbidden(w, "This form was not sent by a page of this portal in your session (its security token is missing or stale), so nothing was changed. Reload the page and try again.")
				return
			}
		}
		h(w, r, s)
	}
}

// page is what every template gets.
type page struct {
	Title  string
	User   string
	CSRF   string
	Group  string // the registry pages' resource group and registry name
	Name   string
	Tab    string
	Notice string
	Errors map[string]string // field -> message, shown next to the field
	Form   url.Values        // the values the person typed, shown again after an error
	Data   any
}

func newPage(s *session, title string) *page {
	return &page{Title: title, User: s.User, CSRF: s.CSRF, Errors: map[string]string{}, Form: url.Values{}}
}

var funcs = template.FuncMap{
	"prefix": func() string { return Prefix },
	"esc":    url.PathEscape,
	"query":  url.QueryEscape,
	"list":   func(xs ...string) []string { return xs },
	"bytes":  humanBytes,
	"last":   lastSegment,
	"group":  groupOf,
	// field splits "id:Label" (a form field of a generated list).
	"field": func(s string) struct{ ID, Label string } {
		id, label, _ := strings.Cut(s, ":")
		return struct{ ID, Label string }{id, label}
	},
}

// humanBytes is a size in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (p *Portal) render(w http.ResponseWriter, status int, name string, pg *page) {
	var b strings.Builder
	if err := p.pages[name].Execute(&b, pg); err != nil {
		slog.Error("portal: rendering a page", "page", name, "err", err)
		http.Error(w, "the page could not be shown; see the server log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// message shows a page with one message (errors, refusals).
func (p *Portal) message(w http.ResponseWriter, status int, title, text string) {
	p.render(w, status, "message", &page{Title: title, Notice: text})
}

func (p *Portal) forbidden(w http.ResponseWriter, text string) {
	p.message(w, http.StatusForbidden, "Request refused", text)
}

// failed shows an error of the management API that concerns no one field
// (not found, not authorised, ...) with its status and message.
func (p *Portal) failed(w http.ResponseWriter, err error) {
	var e *apiError
	if errors.As(err, &e) {
		p.message(w, e.Status, http.StatusText(e.Status), e.Message)
		return
	}
	slog.Error("portal: a request failed", "err", err)
	p.message(w, http.StatusBadGateway, "Something went wrong", "The request could not be completed; retry, and see the server log if it persists.")
}

// done redirects after a successful change (POST, redirect, GET), with a
// notice chosen from a fixed list.
func done(w http.ResponseWriter, r *http.Request, to, notice string) {
	http.Redirect(w, r, to+"?done="+url.QueryEscape(notice), http.StatusSeeOther)
}

// notices are the texts a done= parameter may show (never the parameter itself).
var notices = map[string]string{
	"created":   "Registry created.",
	"access":    "Public network access saved.",
	"ip-add":    "Address range added.",
	"ip-remove": "Address range removed.",
	"vnet-add":  "Virtual network rule added.",
	"vnet-rem":  "Virtual network rule removed.",
	"bypass":    "Exception saved.",
	"approve":   "Private endpoint connection approved.",
	"reject":    "Private endpoint connection rejected.",
	"role-add":  "Role assignment added.",
	"role-rem":  "Role assignment removed.",
	"vnet-made": "Virtual network created.",
	"locks":     "Lock state saved.",
}

func noticeOf(r *http.Request) string { return notices[r.URL.Query().Get("done")] }
