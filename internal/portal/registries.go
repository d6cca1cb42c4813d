package portal

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/moat-registry/moat/internal/model"
)

func (p *Portal) sub() string { return "/subscriptions/" + p.Subscription }

func (p *Portal) registryPath(group, name string) string {
	return p.sub() + "/resourceGroups/" + url.PathEscape(group) + "/providers/Microsoft.ContainerRegistry/registries/" + url.PathEscape(name)
}

// groupOf is the resource group named in a resource ID.
func groupOf(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return ""
}

// lastSegment is a resource ID's name.
func lastSegment(id string) string { return id[strings.LastIndexByte(id, '/')+1:] }

type registryRow struct {
	model.RegistryResource
	Group string
}

type registriesData struct {
	Registries []registryRow
	Groups     []string
}

// registries is the list of registries and the create form.
func (p *Portal) registries(w http.ResponseWriter, r *http.Request, s *session) {
	pg := newPage(s, "Container registries")
	pg.Notice = noticeOf(r)
	pg.Form.Set("location", "local")
	pg.Form.Set("sku", "Premium")
	pg.Form.Set("group", "default")
	p.showRegistries(w, r, s, http.StatusOK, pg)
}

func (p *Portal) showRegistries(w http.ResponseWriter, r *http.Request, s *session, status int, pg *page) {
	var list struct{ Value []model.RegistryResource }
	if _, err := p.api(r, s, http.MethodGet, p.sub()+"/providers/Microsoft.ContainerRegistry/registries", "", nil, &list); err != nil {
		p.failed(w, err)
		return
	}
	d := &registriesData{}
	var err error
	if d.Groups, err = p.groupNames(r, s); err != nil {
		p.failed(w, err)
		return
	}
	for _, reg := range list.Value {
		d.Registries = append(d.Registries, registryRow{reg, groupOf(reg.ID)})
	}
	sort.Slice(d.Registries, func(i, j int) bool { return d.Registries[i].Name < d.Registries[j].Name })
	pg.Data = d
	p.render(w, status, "registries", pg)
}

// groupNames lists the resource groups (the create forms' choices).
func (p *Portal) groupNames(r *http.Request, s *session) ([]string, error) {
	var groups struct{ Value []model.ResourceGroup }
	if _, err := p.api(r, s, http.MethodGet, p.sub()+"/resourcegroups", "", nil, &groups); err != nil {
		return nil, err
	}
	names := make([]string, len(groups.Value))
	for i, g := range groups.Value {
		names[i] = g.Name
	}
	return names, nil
}

// createRegistry creates a registry with the management API's PUT.
func (p *Portal) createRegistry(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	name, group := strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("group"))
	pg := newPage(s, "Container registries")
	pg.Form = f
	switch {
	case name == "":
		pg.Errors["name"] = "Enter a registry name (5-50 letters and digits)."
	case group == "":
		pg.Errors["group"] = "Choose a resource group."
	}
	if len(pg.Errors) == 0 {
		body := map[string]any{"location": f.Get("location"), "sku": map[string]string{"name": f.Get("sku")}}
		_, err := p.api(r, s, http.MethodPut, p.registryPath(group, name), "", body, nil)
		if err == nil {
			done(w, r, Prefix+"registries/"+url.PathEscape(group)+"/"+url.PathEscape(name), "created")
			return
		}
		if !fieldError(pg, err, "name", map[string]string{"sku": "sku", "location": "location", "resource group": "group"}) {
			p.failed(w, err)
			return
		}
	}
	p.showRegistries(w, r, s, http.StatusBadRequest, pg)
}

// fieldError puts a validation message of the API (a 4xx other than not
// authorised) next to the field it concerns: the first field whose keyword
// the message mentions, else def. It reports false for other errors.
func fieldError(pg *page, err error, def string, keywords map[string]string) bool {
	var e *apiError
	if !errors.As(err, &e) || e.Status >= 500 || e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return false
	}
	field := def
	msg := strings.ToLower(e.Message)
	for _, k := range sortedKeys(keywords) {
		if strings.Contains(msg, k) {
			field = keywords[k]
			break
		}
	}
	pg.Errors[field] = e.Message
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// registryPage reads the registry a page is about.
func (p *Portal) registryPage(w http.ResponseWriter, r *http.Request, s *session, tab string) (*page, *model.RegistryResource, bool) {
	group, name := r.PathValue("group"), r.PathValue("name")
	var reg model.RegistryResource
	if _, err := p.api(r, s, http.MethodGet, p.registryPath(group, name), "", nil, &reg); err != nil {
		p.failed(w, err)
		return nil, nil, false
	}
	pg := newPage(s, reg.Name)
	pg.Group, pg.Name, pg.Tab, pg.Notice = group, reg.Name, tab, noticeOf(r)
	return pg, &reg, true
}

// afterChange ends a registry page's POST: on success, back to the page with
// the notice; on a validation error of the API, the page again with the
// message next to its field (show renders it); otherwise the error page.
func (p *Portal) afterChange(w http.ResponseWriter, r *http.Request, s *session, err error, back, notice, tab, field string,
	keywords map[string]string, show func(*page, *model.RegistryResource)) {
	if err == nil {
		done(w, r, back, notice)
		return
	}
	pg, reg, ok := p.registryPage(w, r, s, tab)
	if !ok {
		return
	}
	pg.Form = r.PostForm
	if !fieldError(pg, err, field, keywords) {
		p.failed(w, err)
		return
	}
	show(pg, reg)
}

type overviewData struct {
	Reg      *model.RegistryResource
	Host     string // the login server's host (docker login)
	Server   string // this server's URL (moat login --server)
	Contents *contents
	Denied   *denial
}

// overview shows the registry's essentials and how to log in.
func (p *Portal) overview(w http.ResponseWriter, r *http.Request, s *session) {
	pg, reg, ok := p.registryPage(w, r, s, "overview")
	if !ok {
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	d := &overviewData{Reg: reg, Host: strings.SplitN(reg.Properties.LoginServer, "/", 2)[0], Server: scheme + "://" + r.Host}
	d.Contents, d.Denied = p.readContents(r, s, reg, "", false)
	pg.Data = d
	p.render(w, http.StatusOK, "overview", pg)
}
