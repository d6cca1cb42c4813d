package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/moat-registry/moat/internal/model"
)

// Locks: a repository's or tag's changeable attributes (ACR's
// changeableAttributes), read and changed through the registry's own API,
// /acr/v1/, with the viewer's registry token (metadata_read to show them,
// metadata_write to change them), so the token service decides as for az.

// attrs are changeable attributes as /acr/v1/ answers them.
type attrs struct {
	DeleteEnabled bool `json:"deleteEnabled"`
	WriteEnabled  bool `json:"writeEnabled"`
	ReadEnabled   bool `json:"readEnabled"`
	ListEnabled   bool `json:"listEnabled"`
}

// Summary names what the attributes forbid, "none" when nothing.
func (a attrs) Summary() string {
	var out []string
	for _, f := range []struct {
		on   bool
		name string
	}{{a.WriteEnabled, "write"}, {a.DeleteEnabled, "delete"}, {a.ReadEnabled, "read"}, {a.ListEnabled, "list"}} {
		if !f.on {
			out = append(out, f.name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return "no " + strings.Join(out, ", no ")
}

// acr calls /acr/v1/<prefix><path> on the registry.
func (d *dataPlane) acr(tok, method, path string, body, out any) error {
	var raw []byte
	h := http.Header{"Authorization": {"Bearer " + tok}}
	if body != nil {
		raw, _ = json.Marshal(body)
		h.Set("Content-Type", "application/json")
	}
	rec := d.p.call(d.r, method, d.host, "/acr/v1/"+d.prefix+path, h, raw)
	if rec.Code >= 300 {
		return readDPError(rec)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(out)
}

// readLocks adds the lock state to c: of every repository listed, and of
// the selected repository's tags.
func (d *dataPlane) readLocks(c *contents) error {
	if len(c.Repositories) == 0 {
		return nil
	}
	scopes := make([]string, len(c.Repositories))
	for i, r := range c.Repositories {
		scopes[i] = "repository:" + d.prefix + r.Name + ":metadata_read"
	}
	tok, err := d.token(scopes...)
	if err != nil {
		return err
	}
	for i := range c.Repositories {
		var repo struct{ ChangeableAttributes attrs }
		if err := d.acr(tok, http.MethodGet, c.Repositories[i].Name, nil, &repo); err != nil {
			return err
		}
		c.Repositories[i].Locks = repo.ChangeableAttributes
		if c.Repositories[i].Name == c.Repo {
			c.RepoLocks = &c.Repositories[i].Locks
		}
	}
	if c.Repo == "" {
		return nil
	}
	var tags struct {
		Tags []struct {
			Name                 string
			ChangeableAttributes attrs
		}
	}
	if err := d.acr(tok, http.MethodGet, fmt.Sprintf("%s/_tags?n=%d", c.Repo, maxTags), nil, &tags); err != nil {
		return err
	}
	for _, t := range tags.Tags {
		for i := range c.Tags {
			if c.Tags[i].Tag == t.Name {
				c.Tags[i].Locks = t.ChangeableAttributes
			}
		}
	}
	return nil
}

// changeLocks saves the lock state of a repository, or of one of its tags
// (form: repo, tag, and the checkboxes delete, write, read, list).
func (p *Portal) changeLocks(w http.ResponseWriter, r *http.Request, s *session) {
	group, name := r.PathValue("group"), r.PathValue("name")
	f := r.PostForm
	repo, tag := strings.TrimSpace(f.Get("repo")), strings.TrimSpace(f.Get("tag"))
	var reg model.RegistryResource
	if _, err := p.api(r, s, http.MethodGet, p.registryPath(group, name), "", nil, &reg); err != nil {
		p.failed(w, err)
		return
	}
	if repo == "" {
		p.message(w, http.StatusBadRequest, "Bad Request", "Choose a repository first.")
		return
	}
	want := attrs{DeleteEnabled: f.Get("delete") == "on", WriteEnabled: f.Get("write") == "on", ReadEnabled: f.Get("read") == "on", ListEnabled: f.Get("list") == "on"}
	d, err := p.dataPlane(r, s, &reg)
	if err == nil {
		var tok string
		if tok, err = d.token("repository:" + d.prefix + repo + ":metadata_write"); err == nil {
			path := repo
			if tag != "" {
				path += "/_tags/" + tag
			}
			err = d.acr(tok, http.MethodPatch, path, want, nil)
		}
	}
	if e, ok := err.(*dpError); ok {
		p.message(w, e.status, http.StatusText(e.status), "The registry refused to change the lock state: "+e.message)
		return
	} else if err != nil {
		p.failed(w, err)
		return
	}
	back := Prefix + "registries/" + url.PathEscape(group) + "/" + url.PathEscape(name) + "/repositories"
	http.Redirect(w, r, back+"?repo="+url.QueryEscape(repo)+"&done=locks", http.StatusSeeOther)
}
