package mgmt

import "time"

// RegistryResource is the ARM shape of a registry (Microsoft.ContainerRegistry/registries).
type RegistryResource struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	Location   string             `json:"location"`
	Tags       map[string]string  `json:"tags,omitempty"`
	SKU        SKU                `json:"sku"`
	Properties RegistryProperties `json:"properties"`
	SystemData *SystemData        `json:"systemData,omitempty"`
}

type SKU struct {
	Name string `json:"name"`
	Tier string `json:"tier,omitempty"`
}

type SystemData struct {
	CreatedAt time.Time `json:"createdAt"`
}

// RegistryProperties are the registry's properties (SPEC section 2). The
// writable ones are stored; the read-only ones are filled in on output.
type RegistryProperties struct {
	LoginServer                      string          `json:"loginServer,omitempty"`
	CreationDate                     *time.Time      `json:"creationDate,omitempty"`
	ProvisioningState                string          `json:"provisioningState,omitempty"`
	AdminUserEnabled                 *bool           `json:"adminUserEnabled,omitempty"`
	AnonymousPullEnabled             *bool           `json:"anonymousPullEnabled,omitempty"`
	PublicNetworkAccess              string          `json:"publicNetworkAccess,omitempty"`
	NetworkRuleSet                   *NetworkRuleSet `json:"networkRuleSet,omitempty"`
	NetworkRuleBypassOptions         string          `json:"networkRuleBypassOptions,omitempty"`
	NetworkRuleBypassAllowedForTasks *bool           `json:"networkRuleBypassAllowedForTasks,omitempty"`
	DataEndpointEnabled              *bool           `json:"dataEndpointEnabled,omitempty"`
	PrivateEndpointConnections       []any           `json:"privateEndpointConnections,omitempty"`
}

type NetworkRuleSet struct {
	DefaultAction       string               `json:"defaultAction"`
	IPRules             []IPRule             `json:"ipRules"`
	VirtualNetworkRules []VirtualNetworkRule `json:"virtualNetworkRules"`
}

type IPRule struct {
	Action string `json:"action,omitempty"`
	Value  string `json:"value"`
}

type VirtualNetworkRule struct {
	Action string `json:"action,omitempty"`
	ID     string `json:"virtualNetworkSubnetResourceId"`
}

func ptr[T any](v T) *T { return &v }

// withDefaults fills unset writable properties with their SPEC 2 defaults.
func (p RegistryProperties) withDefaults() RegistryProperties {
	def := func(b **bool) {
		if *b == nil {
			*b = ptr(false)
		}
	}
	def(&p.AdminUserEnabled)
	def(&p.AnonymousPullEnabled)
	def(&p.NetworkRuleBypassAllowedForTasks)
	def(&p.DataEndpointEnabled)
	if p.PublicNetworkAccess == "" {
		p.PublicNetworkAccess = "Enabled"
	}
	if p.NetworkRuleBypassOptions == "" {
		p.NetworkRuleBypassOptions = "AzureServices"
	}
	if p.NetworkRuleSet == nil {
		p.NetworkRuleSet = &NetworkRuleSet{DefaultAction: "Allow"}
	}
	if p.NetworkRuleSet.IPRules == nil {
		p.NetworkRuleSet.IPRules = []IPRule{}
	}
	if p.NetworkRuleSet.VirtualNetworkRules == nil {
		p.NetworkRuleSet.VirtualNetworkRules = []VirtualNetworkRule{}
	}
	return p
}

// stored strips the read-only properties before the properties are saved.
func (p RegistryProperties) stored() RegistryProperties {
	p.LoginServer, p.CreationDate, p.ProvisioningState, p.PrivateEndpointConnections = "", nil, "", nil
	return p
}
