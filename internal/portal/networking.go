package portal

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netguard"
)

// checkResult is the answer of checkNetworkAccess.
type checkResult struct {
	Decision    string `json:"decision"`
	Reason      string `json:"reason"`
	MatchedRule string `json:"matchedRule"`
	Path        string `json:"path"`
	ClientIP    string `json:"clientIp"`
	Note        string `json:"note"`
}

type networkingData struct {
	Reg     *model.RegistryResource
	Mode    string // all, selected or disabled
	Rules   model.NetworkRuleSet
	Trusted bool
	Tasks   bool // networkRuleBypassAllowedForTasks
	Subnets []subnetRow
	Check   *checkResult
	Denials []netguard.Denial
	Premium bool
	Preview *impact
}

// impact is the answer of simulateNetworkRuleSet: what a change would do to
// the remembered traffic, shown before it is saved.
type impact struct {
	Days         int            `json:"days"`
	Sources      int            `json:"sources"`
	NewlyDenied  []impactSource `json:"newlyDenied"`
	NewlyAllowed []impactSource `json:"newlyAllowed"`
}

type impactSource struct {
	ClientIP        string    `json:"clientIp"`
	Subnet          string    `json:"subnet"`
	PrivateEndpoint string    `json:"privateEndpoint"`
	Principal       string    `json:"principal"`
	Requests        int64     `json:"requests"`
	LastSeen        time.Time `json:"lastSeen"`
	Proposed        struct {
		Reason string `json:"reason"`
	} `json:"proposed"`
}

type subnetRow struct {
	ID, VNet, Name, Prefix string
	Endpoint               bool // has the Microsoft.ContainerRegistry service endpoint
}

// accessMode is the portal's three-way choice, from the two properties it stands for.
func accessMode(p model.RegistryProperties) string {
	switch {
	case strings.EqualFold(p.PublicNetworkAccess, "Disabled"):
		return "disabled"
	case p.NetworkRuleSet != nil && strings.EqualFold(p.NetworkRuleSet.DefaultAction, "Deny"):
		return "selected"
	}
	return "all"
}

func (p *Portal) networking(w http.ResponseWriter, r *http.Request, s *session) {
	pg, reg, ok := p.registryPage(w, r, s, "networking")
	if !ok {
		return
	}
	q := r.URL.Query()
	if ip, subnet := strings.TrimSpace(q.Get("check-ip")), strings.TrimSpace(q.Get("check-subnet")); ip != "" || subnet != "" {
		pg.Form.Set("check-ip", ip)
		pg.Form.Set("check-subnet", subnet)
		var res checkResult
		if _, err := p.api(r, s, http.MethodPost, reg.ID+"/checkNetworkAccess", "", map[string]string{"ipAddress": ip, "subnet": subnet}, &res); err != nil {
			if !fieldError(pg, err, "check-ip", map[string]string{"subnet": "check-subnet"}) {
				p.failed(w, err)
				return
			}
		} else {
			pg.Data = &res
		}
	}
	p.showNetworking(w, r, s, http.StatusOK, pg, reg)
}

func (p *Portal) showNetworking(w http.ResponseWriter, r *http.Request, s *session, status int, pg *page, reg *model.RegistryResource) {
	props := reg.Properties.WithDefaults()
	d := &networkingData{Reg: reg, Mode: accessMode(props), Rules: *props.NetworkRuleSet,
		Trusted: props.NetworkRuleBypassOptions == "AzureServices", Tasks: props.NetworkRuleBypassAllowedForTasks != nil && *props.NetworkRuleBypassAllowedForTasks,
		Premium: strings.EqualFold(reg.SKU.Name, "Premium")}
	switch v := pg.Data.(type) {
	case *checkResult:
		d.Check = v
	case *impact:
		d.Preview = v
	}
	var vnets struct{ Value []model.VirtualNetwork }
	if _, err := p.api(r, s, http.MethodGet, p.sub()+"/providers/Microsoft.Network/virtualNetworks", "", nil, &vnets); err != nil {
		p.failed(w, err)
		return
	}
	d.Subnets = subnetRows(vnets.Value)
	var denials struct{ Value []netguard.Denial }
	if _, err := p.api(r, s, http.MethodGet, reg.ID+"/networkRuleDenials", "", nil, &denials); err != nil {
		p.failed(w, err)
		return
	}
	d.Denials = denials.Value
	pg.Data = d
	p.render(w, status, "networking", pg)
}

func subnetRows(vnets []model.VirtualNetwork) []subnetRow {
	var rows []subnetRow
	for _, v := range vnets {
		for _, sn := range v.Properties.Subnets {
			row := subnetRow{ID: sn.ID, VNet: v.Name, Name: sn.Name, Prefix: sn.Properties.AddressPrefix}
			for _, se := range sn.Properties.ServiceEndpoints {
				row.Endpoint = row.Endpoint || strings.EqualFold(se.Service, "Microsoft.ContainerRegistry")
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// changeNetworking applies one change of the Networking page through the
// management API; a refusal is shown next to the field it concerns.
func (p *Portal) changeNetworking(w http.ResponseWriter, r *http.Request, s *session) {
	group, name, action := r.PathValue("group"), r.PathValue("name"), r.PathValue("action")
	path := p.registryPath(group, name)
	back := Prefix + "registries/" + url.PathEscape(group) + "/" + url.PathEscape(name) + "/networking"
	f := r.PostForm
	// "Preview impact" sends the change to simulateNetworkRuleSet instead of
	// saving it, and shows the answer.
	modify, preview := p.modify, (*impact)(nil)
	if f.Get("preview") == "1" && (action == "access" || action == "ip-add" || action == "ip-remove") {
		modify = func(r *http.Request, s *session, _, path string, cur any, change func() (any, error)) error {
			if _, err := p.api(r, s, http.MethodGet, path, "", nil, cur); err != nil {
				return err
			}
			body, err := change()
			if err != nil || body == nil {
				return err
			}
			preview = &impact{}
			_, err = p.api(r, s, http.MethodPost, path+"/simulateNetworkRuleSet", "", body, preview)
			return err
		}
	}
	var reg model.RegistryResource
	var field, notice string
	var err error
	switch action {
	case "access":
		field, notice = "mode", "access"
		err = modify(r, s, http.MethodPatch, path, &reg, func() (any, error) {
			nrs := *reg.Properties.WithDefaults().NetworkRuleSet
			props := map[string]any{"publicNetworkAccess": "Enabled"}
			switch f.Get("mode") {
			case "all":
				nrs.DefaultAction = "Allow"
			case "selected":
				nrs.DefaultAction = "Deny"
			case "disabled":
				props["publicNetworkAccess"] = "Disabled"
			default:
				return nil, &apiError{Status: http.StatusBadRequest, Message: "Choose All networks, Selected networks or Disabled."}
			}
			if f.Get("mode") != "disabled" && (reg.SKU.Name == "Premium" || nrs.DefaultAction == "Deny") {
				props["networkRuleSet"] = nrs
			}
			return map[string]any{"properties": props}, nil
		})
	case "ip-add", "ip-remove":
		field, notice = "ip", action
		value := strings.TrimSpace(f.Get("ip"))
		rule := model.IPRule{Action: "Allow", Value: value}
		if rule.ExpiresOn, err = expiryChoice(f.Get("expires")); err != nil {
			break
		}
		err = changeRules(modify, r, s, path, &reg, value, "Enter an IP address or a range in CIDR notation, e.g. 203.0.113.0/24.", func(nrs *model.NetworkRuleSet) {
			nrs.IPRules = editRules(nrs.IPRules, action == "ip-add", rule,
				func(x model.IPRule) bool { return x.Value == value })
		})
	case "vnet-add", "vnet-remove":
		field, notice = "subnet", map[string]string{"vnet-add": "vnet-add", "vnet-remove": "vnet-rem"}[action]
		subnet := strings.TrimSpace(f.Get("subnet"))
		err = changeRules(p.modify, r, s, path, &reg, subnet, "Choose a subnet.", func(nrs *model.NetworkRuleSet) {
			nrs.VirtualNetworkRules = editRules(nrs.VirtualNetworkRules, action == "vnet-add", model.VirtualNetworkRule{Action: "Allow", ID: subnet},
				func(x model.VirtualNetworkRule) bool { return strings.EqualFold(x.ID, subnet) })
		})
	case "bypass":
		field, notice = "trusted", "bypass"
		opt := "None"
		if f.Get("trusted") == "on" {
			opt = "AzureServices"
		}
		_, err = p.api(r, s, http.MethodPatch, path, "", map[string]any{"properties": map[string]any{
			"networkRuleBypassOptions": opt, "networkRuleBypassAllowedForTasks": f.Get("tasks") == "on"}}, nil)
	case "approve", "reject":
		field, notice = "connection", action
		status := map[string]string{"approve": model.StatusApproved, "reject": model.StatusRejected}[action]
		pec := path + "/privateEndpointConnections/" + url.PathEscape(f.Get("connection"))
		var cur model.PrivateEndpointConnection
		err = p.modify(r, s, http.MethodPut, pec, &cur, func() (any, error) {
			cur.Properties.PrivateLinkServiceConnectionState = &model.ConnectionState{Status: status,
				Description: strings.TrimSpace(f.Get("description"))}
			return map[string]any{"properties": map[string]any{"privateLinkServiceConnectionState": cur.Properties.PrivateLinkServiceConnectionState}}, nil
		})
	default:
		p.message(w, http.StatusNotFound, "Not found", "The Networking page has no action "+action+".")
		return
	}
	if err == nil && preview != nil {
		pg, cur, ok := p.registryPage(w, r, s, "networking")
		if ok {
			pg.Form, pg.Data = r.PostForm, preview
			p.showNetworking(w, r, s, http.StatusOK, pg, cur)
		}
		return
	}
	p.afterChange(w, r, s, err, back, notice, "networking", field, nil,
		func(pg *page, cur *model.RegistryResource) { p.showNetworking(w, r, s, http.StatusBadRequest, pg, cur) })
}

// expiryChoices are the Firewall form's "Expires" choices.
var expiryChoices = map[string]time.Duration{"": 0, "1h": time.Hour, "8h": 8 * time.Hour, "24h": 24 * time.Hour, "168h": 7 * 24 * time.Hour}

// expiryChoice is the expiresOn of an "Expires" choice (nil: never).
func expiryChoice(v string) (*time.Time, error) {
	d, ok := expiryChoices[v]
	if !ok {
		return nil, &apiError{Status: http.StatusBadRequest, Message: "Choose when the address range expires: never, or after 1 hour, 8 hours, 1 day or 7 days."}
	}
	if d == 0 {
		return nil, nil
	}
	t := time.Now().Add(d).UTC().Truncate(time.Second)
	return &t, nil
}

// modifier is Portal.modify, or its preview.
type modifier func(r *http.Request, s *session, method, path string, cur any, change func() (any, error)) error

// changeRules changes the registry's network rule set (read, change, PATCH);
// value is the rule the form names ("": refused with missing).
func changeRules(modify modifier, r *http.Request, s *session, path string, reg *model.RegistryResource, value, missing string, change func(*model.NetworkRuleSet)) error {
	if value == "" {
		return &apiError{Status: http.StatusBadRequest, Message: missing}
	}
	return modify(r, s, http.MethodPatch, path, reg, func() (any, error) {
		nrs := *reg.Properties.WithDefaults().NetworkRuleSet
		change(&nrs)
		return map[string]any{"properties": map[string]any{"networkRuleSet": nrs}}, nil
	})
}

// editRules adds rule to the list, or removes the rules that are the same.
func editRules[T any](list []T, add bool, rule T, same func(T) bool) []T {
	if add {
		return append(list, rule)
	}
	return removeWhere(list, same)
}

func removeWhere[T any](xs []T, drop func(T) bool) []T {
	out := xs[:0:0]
	for _, x := range xs {
		if !drop(x) {
			out = append(out, x)
		}
	}
	return out
}
