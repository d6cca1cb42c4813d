package portal

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/moat-registry/moat/internal/model"
)

type vnetsData struct {
	VNets  []model.VirtualNetwork
	Groups []string
}

// vnets lists the virtual networks and their subnets, with their service
// endpoints, and offers to create one.
func (p *Portal) vnets(w http.ResponseWriter, r *http.Request, s *session) {
	pg := newPage(s, "Virtual networks")
	pg.Tab, pg.Notice = "vnets", noticeOf(r)
	for k, v := range map[string]string{"group": "default", "prefix": "10.0.0.0/16", "subnet": "default", "subnet-prefix": "10.0.0.0/24", "endpoint": "on"} {
		pg.Form.Set(k, v)
	}
	p.showVNets(w, r, s, http.StatusOK, pg)
}

func (p *Portal) showVNets(w http.ResponseWriter, r *http.Request, s *session, status int, pg *page) {
	d := &vnetsData{}
	var list struct{ Value []model.VirtualNetwork }
	if _, err := p.api(r, s, http.MethodGet, p.sub()+"/providers/Microsoft.Network/virtualNetworks", "", nil, &list); err != nil {
		p.failed(w, err)
		return
	}
	d.VNets = list.Value
	var err error
	if d.Groups, err = p.groupNames(r, s); err != nil {
		p.failed(w, err)
		return
	}
	pg.Data = d
	p.render(w, status, "vnets", pg)
}

// createVNet creates a virtual network with one subnet (PUT).
func (p *Portal) createVNet(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	pg := newPage(s, "Virtual networks")
	pg.Tab, pg.Form = "vnets", f
	name, group := strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("group"))
	if name == "" {
		pg.Errors["name"] = "Enter a name for the virtual network."
		p.showVNets(w, r, s, http.StatusBadRequest, pg)
		return
	}
	sn := model.Subnet{Name: strings.TrimSpace(f.Get("subnet")), Properties: model.SubnetProperties{
		AddressPrefix: strings.TrimSpace(f.Get("subnet-prefix")), ServiceEndpoints: []model.ServiceEndpoint{}}}
	if f.Get("endpoint") == "on" {
		sn.Properties.ServiceEndpoints = append(sn.Properties.ServiceEndpoints, model.ServiceEndpoint{Service: "Microsoft.ContainerRegistry"})
	}
	body := map[string]any{"location": "local", "properties": map[string]any{
		"addressSpace": model.AddressSpace{AddressPrefixes: []string{strings.TrimSpace(f.Get("prefix"))}},
		"subnets":      []model.Subnet{sn}}}
	path := p.sub() + "/resourceGroups/" + url.PathEscape(group) + "/providers/Microsoft.Network/virtualNetworks/" + url.PathEscape(name)
	if _, err := p.api(r, s, http.MethodPut, path, "", body, nil); err != nil {
		if !fieldError(pg, err, "name", map[string]string{"subnet": "subnet-prefix", "address": "prefix", "resource group": "group"}) {
			p.failed(w, err)
			return
		}
		p.showVNets(w, r, s, http.StatusBadRequest, pg)
		return
	}
	done(w, r, Prefix+"vnets", "vnet-made")
}
