package portal

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/moat-registry/moat/internal/auth/regauth"
	"github.com/moat-registry/moat/internal/model"
)

// Bounds of what one page reads from the data plane.
const (
	maxRepos = 200
	maxTags  = 100
)

// manifestTypes are the manifest media types the portal accepts.
var manifestTypes = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// contents is what the data plane shows of a registry.
type contents struct {
	Repositories []repoRow
	Size         int64 // bytes of the distinct blobs the tagged manifests name
	Repo         string
	Tags         []tagRow
	Error        string // a data-plane refusal other than the network's
	// withLocks: read the lock state too (the repositories page; locks.go).
	withLocks bool
	RepoLocks *attrs // the selected repository's
}

type repoRow struct {
	Name  string
	Tags  int
	Locks attrs
}

type tagRow struct {
	Tag, Digest, MediaType string
	Size                   int64
	Referrers              []referrer
	Locks                  attrs
}

type referrer struct{ ArtifactType, Digest string }

// denial is the network's refusal of the viewer's own address.
type denial struct {
	Message  string // the data plane's 403 message
	Reason   string // the decision's reason, from the what-if for this very request
	ClientIP string
}

// dataPlane reads a registry's data plane as the viewer: the registry token
// flow of 'moat acr login' (exchange the session's identity token, then ask
// for scoped access tokens), every request carrying the viewer's network
// identity, so the network rules decide exactly as for the viewer's docker.
type dataPlane struct {
	p       *Portal
	r       *http.Request
	host    string // the login server's host
	service string // the login server
	prefix  string // "<registry>/" in path style
	refresh string
}

type dpError struct {
	status        int
	code, message string
}

func (e *dpError) Error() string { return e.message }

func readDPError(rec *httptest.ResponseRecorder) *dpError {
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	e := &dpError{status: rec.Code, message: fmt.Sprintf("the registry answered %d %s", rec.Code, http.StatusText(rec.Code))}
	if len(body.Errors) > 0 {
		e.code, e.message = body.Errors[0].Code, body.Errors[0].Message
	}
	return e
}

func (p *Portal) dataPlane(r *http.Request, s *session, reg *model.RegistryResource) (*dataPlane, error) {
	ls := reg.Properties.LoginServer
	d := &dataPlane{p: p, r: r, host: ls, service: ls}
	if host, name, ok := strings.Cut(ls, "/"); ok {
		d.host, d.prefix = host, name+"/"
	}
	rec := p.form(r, d.host, "/oauth2/exchange", nil, url.Values{"grant_type": {"access_token"}, "service": {ls}, "access_token": {s.Token}})
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if rec.Code != http.StatusOK {
		return nil, readDPError(rec)
	}
	if err := readJSON(rec, &out); err != nil {
		return nil, err
	}
	d.refresh = out.RefreshToken
	return d, nil
}

// token asks for an access token with the scopes.
func (d *dataPlane) token(scopes ...string) (string, error) {
	q := url.Values{"service": {d.service}, "scope": scopes}
	cred := base64.StdEncoding.EncodeToString([]byte(regauth.ZeroUser + ":" + d.refresh))
	rec := d.p.call(d.r, http.MethodGet, d.host, "/oauth2/token?"+q.Encode(), http.Header{"Authorization": {"Basic " + cred}}, nil)
	if rec.Code != http.StatusOK {
		return "", readDPError(rec)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	return out.AccessToken, readJSON(rec, &out)
}

// get reads a data-plane path (after /v2/<prefix>) into out.
func (d *dataPlane) get(tok, path, accept string, out any) (http.Header, error) {
	h := http.Header{"Authorization": {"Bearer " + tok}}
	if accept != "" {
		h.Set("Accept", accept)
	}
	rec := d.p.call(d.r, http.MethodGet, d.host, "/v2/"+d.prefix+path, h, nil)
	if rec.Code != http.StatusOK {
		return nil, readDPError(rec)
	}
	return rec.Header(), readJSON(rec, out)
}

// readContents reads the repositories (and the tags of repo, if given). A
// network refusal is returned as a denial, with the reason.
func (p *Portal) readContents(r *http.Request, s *session, reg *model.RegistryResource, repo string, withLocks bool) (*contents, *denial) {
	c := &contents{Repo: repo, withLocks: withLocks}
	err := p.walk(r, s, reg, c)
	if e, ok := err.(*dpError); ok && e.code == "DENIED" && e.status == http.StatusForbidden && strings.Contains(e.message, "not allowed access") {
		return nil, p.explainDenial(r, s, reg, e.message)
	}
	if err != nil {
		c.Error = err.Error()
	}
	return c, nil
}

func (p *Portal) walk(r *http.Request, s *session, reg *model.RegistryResource, c *contents) error {
	d, err := p.dataPlane(r, s, reg)
	if err != nil {
		return err
	}
	tok, err := d.token("registry:catalog:*")
	if err != nil {
		return err
	}
	var cat struct{ Repositories []string }
	if _, err := d.get(tok, fmt.Sprintf("_catalog?n=%d", maxRepos), "", &cat); err != nil {
		return err
	}
	if c.Repo != "" && c.withLocks && !slices.Contains(cat.Repositories, c.Repo) {
		// Asked for by name: an unlisted repository (list lock), or none;
		// its tag list tells which.
		cat.Repositories = append(cat.Repositories, c.Repo)
	}
	if len(cat.Repositories) == 0 {
		return nil
	}
	scopes := make([]string, len(cat.Repositories))
	for i, name := range cat.Repositories {
		scopes[i] = "repository:" + d.prefix + name + ":pull"
	}
	if tok, err = d.token(scopes...); err != nil {
		return err
	}
	blobs := map[string]int64{}
	for _, name := range cat.Repositories {
		var tags struct{ Tags []string }
		if _, err := d.get(tok, name+fmt.Sprintf("/tags/list?n=%d", maxTags), "", &tags); err != nil {
			return err
		}
		c.Repositories = append(c.Repositories, repoRow{Name: name, Tags: len(tags.Tags)})
		for _, tag := range tags.Tags {
			row, err := d.manifest(tok, name, tag, blobs, name == c.Repo)
			if err != nil {
				return err
			}
			if name == c.Repo {
				c.Tags = append(c.Tags, row)
			}
		}
	}
	for _, n := range blobs {
		c.Size += n
	}
	sort.Slice(c.Tags, func(i, j int) bool { return c.Tags[i].Tag < c.Tags[j].Tag })
	if c.withLocks {
		return d.readLocks(c)
	}
	return nil
}

type descriptor struct {
	MediaType    string `json:"mediaType"`
	ArtifactType string `json:"artifactType"`
	Digest       string `json:"digest"`
	Size         int64  `json:"size"`
}

// manifest reads one tag: digest, media type, size (config and layers of an
// image; the child manifests of an index), and its referrers when asked.
func (d *dataPlane) manifest(tok, repo, tag string, blobs map[string]int64, referrers bool) (tagRow, error) {
	var m struct {
		MediaType string       `json:"mediaType"`
		Config    *descriptor  `json:"config"`
		Layers    []descriptor `json:"layers"`
		Manifests []descriptor `json:"manifests"`
	}
	h, err := d.get(tok, repo+"/manifests/"+url.PathEscape(tag), manifestTypes, &m)
	if err != nil {
		return tagRow{}, err
	}
	row := tagRow{Tag: tag, Digest: h.Get("Docker-Content-Digest"), MediaType: h.Get("Content-Type")}
	parts := append(m.Layers, m.Manifests...)
	if m.Config != nil {
		parts = append(parts, *m.Config)
	}
	for _, p := range parts {
		row.Size += p.Size
		blobs[p.Digest] = p.Size
	}
	if referrers && row.Digest != "" {
		var idx struct{ Manifests []descriptor }
		if _, err := d.get(tok, repo+"/referrers/"+row.Digest, "application/vnd.oci.image.index.v1+json", &idx); err != nil {
			return row, err
		}
		for _, x := range idx.Manifests {
			row.Referrers = append(row.Referrers, referrer{ArtifactType: x.ArtifactType, Digest: x.Digest})
		}
	}
	return row, nil
}

// explainDenial adds the reason of the decision for this very request (the
// what-if of checkNetworkAccess with caller=true: same identity, same rules).
func (p *Portal) explainDenial(r *http.Request, s *session, reg *model.RegistryResource, msg string) *denial {
	d := &denial{Message: msg}
	var res checkResult
	if _, err := p.api(r, s, http.MethodPost, reg.ID+"/checkNetworkAccess", "", map[string]bool{"caller": true}, &res); err == nil {
		d.Reason, d.ClientIP = res.Reason, res.ClientIP
	}
	return d
}

// repositories lists the repositories and the selected one's tags.
func (p *Portal) repositories(w http.ResponseWriter, r *http.Request, s *session) {
	pg, reg, ok := p.registryPage(w, r, s, "repositories")
	if !ok {
		return
	}
	d := &overviewData{Reg: reg}
	d.Contents, d.Denied = p.readContents(r, s, reg, r.URL.Query().Get("repo"), true)
	pg.Data = d
	p.render(w, http.StatusOK, "repositories", pg)
}
