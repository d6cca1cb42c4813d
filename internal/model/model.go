// Package model holds the ARM resource shapes moat stores and serves
// (registries, virtual networks, private endpoints and their connections),
// shared by the management API and the network policy.
package model

import (
	"encoding/json"
	"time"
)

// RegistryResource is the ARM shape of a registry (Microsoft.ContainerRegistry/registries).
type RegistryResource struct {
	ID         string                     `json:"id"`
	Name       string                     `json:"name"`
	Type       string                     `json:"type"`
	Location   string                     `json:"location"`
	Tags       map[string]string          `json:"tags,omitempty"`
	SKU        SKU                        `json:"sku"`
	Properties RegistryProperties         `json:"properties"`
	Identity   *ManagedIdentityProperties `json:"identity,omitempty"`
	SystemData *SystemData                `json:"systemData,omitempty"`
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
	LoginServer                      string                      `json:"loginServer,omitempty"`
	CreationDate                     *time.Time                  `json:"creationDate,omitempty"`
	ProvisioningState                string                      `json:"provisioningState,omitempty"`
	AdminUserEnabled                 *bool                       `json:"adminUserEnabled,omitempty"`
	AnonymousPullEnabled             *bool                       `json:"anonymousPullEnabled,omitempty"`
	PublicNetworkAccess              string                      `json:"publicNetworkAccess,omitempty"`
	NetworkRuleSet                   *NetworkRuleSet             `json:"networkRuleSet,omitempty"`
	NetworkRuleBypassOptions         string                      `json:"networkRuleBypassOptions,omitempty"`
	NetworkRuleBypassAllowedForTasks *bool                       `json:"networkRuleBypassAllowedForTasks,omitempty"`
	DataEndpointEnabled              *bool                       `json:"dataEndpointEnabled,omitempty"`
	PrivateEndpointConnections       []PrivateEndpointConnection `json:"privateEndpointConnections"` // read-only: [] when none
	Policies                         *Policies                   `json:"policies,omitempty"`
	// StagedNetworkAccess is a network configuration decided in shadow
	// beside the enforced one, until promoted or discarded (staged.go).
	StagedNetworkAccess *NetworkAccess `json:"stagedNetworkAccess,omitempty"`
}

// Policies are a registry's policies; moat implements the retention policy.
type Policies struct {
	RetentionPolicy *RetentionPolicy `json:"retentionPolicy,omitempty"`
}

// RetentionPolicy: when enabled, garbage collection deletes untagged
// manifests pushed more than Days days ago, and the blob links no manifest of
// the repository references (docs/gc.md).
type RetentionPolicy struct {
	Days            int        `json:"days"`
	Status          string     `json:"status"` // enabled or disabled
	LastUpdatedTime *time.Time `json:"lastUpdatedTime,omitempty"`
}

// Retention returns the registry's retention policy if it is enabled.
func (p RegistryProperties) Retention() (days int, enabled bool) {
	if p.Policies == nil || p.Policies.RetentionPolicy == nil {
		return 0, false
	}
	rp := p.Policies.RetentionPolicy
	return rp.Days, rp.Status == "enabled"
}

type NetworkRuleSet struct {
	DefaultAction       string               `json:"defaultAction"`
	IPRules             []IPRule             `json:"ipRules"`
	VirtualNetworkRules []VirtualNetworkRule `json:"virtualNetworkRules"`
}

// IPRule is an IP rule: Value is an address or CIDR prefix. ExpiresOn, when
// set, is when the rule stops matching and is removed (iprule.go).
type IPRule struct {
	Action    string     `json:"action,omitempty"`
	Value     string     `json:"value"`
	ExpiresOn *time.Time `json:"expiresOn,omitempty"`
	// ExpirySent: the request named expiresOn (maybe as null). A rule sent
	// back without it keeps the expiry it had (clients that do not know the
	// member drop it on their way through).
	ExpirySent bool `json:"-"`
}

// VirtualNetworkRule is a rule of the subnet ID. ACR's api-versions up to
// 2021-12-01-preview name it id, 2026-03-01-preview virtualNetworkSubnetResourceId
// (the management API answers each version's name, internal/mgmt/shapes_acr.go).
type VirtualNetworkRule struct {
	Action string `json:"action,omitempty"`
	ID     string `json:"id"`
}

// UnmarshalJSON accepts the subnet ID as "id" or as
// "virtualNetworkSubnetResourceId"; output uses the former.
func (v *VirtualNetworkRule) UnmarshalJSON(b []byte) error {
	var in struct {
		Action   string `json:"action"`
		ID       string `json:"id"`
		SubnetID string `json:"virtualNetworkSubnetResourceId"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	v.Action, v.ID = in.Action, in.SubnetID
	if v.ID == "" {
		v.ID = in.ID
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// WithDefaults fills unset writable properties with their SPEC 2 defaults.
func (p RegistryProperties) WithDefaults() RegistryProperties {
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
	if p.Policies == nil {
		p.Policies = &Policies{}
	}
	if p.Policies.RetentionPolicy == nil {
		// ACR's default: 7 days, disabled.
		p.Policies.RetentionPolicy = &RetentionPolicy{Days: 7, Status: "disabled"}
	}
	return p
}

// Stored strips the read-only properties before the properties are saved.
func (p RegistryProperties) Stored() RegistryProperties {
	p.LoginServer, p.CreationDate, p.ProvisioningState, p.PrivateEndpointConnections = "", nil, "", nil
	return p
}

// ResourceGroup is Microsoft.Resources/resourceGroups.
type ResourceGroup struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		ProvisioningState string `json:"provisioningState"`
	} `json:"properties"`
}

// Provider is a resource provider's registration in a subscription.
type Provider struct {
	ID                string `json:"id"`
	Namespace         string `json:"namespace"`
	RegistrationState string `json:"registrationState"`
}

// VirtualNetwork is Microsoft.Network/virtualNetworks.
type VirtualNetwork struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Etag       string            `json:"etag,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties VNetProperties    `json:"properties"`
}

type VNetProperties struct {
	AddressSpace      AddressSpace `json:"addressSpace"`
	Subnets           []Subnet     `json:"subnets"`
	ProvisioningState string       `json:"provisioningState,omitempty"`
}

type AddressSpace struct {
	AddressPrefixes []string `json:"addressPrefixes"`
}

// Subnet is Microsoft.Network/virtualNetworks/subnets.
type Subnet struct {
	ID         string           `json:"id,omitempty"`
	Name       string           `json:"name"`
	Type       string           `json:"type,omitempty"`
	Etag       string           `json:"etag,omitempty"`
	Properties SubnetProperties `json:"properties"`
}

type SubnetProperties struct {
	AddressPrefix     string            `json:"addressPrefix,omitempty"`
	AddressPrefixes   []string          `json:"addressPrefixes,omitempty"`
	ServiceEndpoints  []ServiceEndpoint `json:"serviceEndpoints"`
	PrivateEndpoints  []SubResource     `json:"privateEndpoints,omitempty"`
	ProvisioningState string            `json:"provisioningState,omitempty"`
}

type ServiceEndpoint struct {
	Service           string   `json:"service"`
	Locations         []string `json:"locations,omitempty"`
	ProvisioningState string   `json:"provisioningState,omitempty"`
}

// SubResource is a reference by ID.
type SubResource struct {
	ID string `json:"id"`
}

// PrivateEndpoint is Microsoft.Network/privateEndpoints.
type PrivateEndpoint struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Etag       string            `json:"etag,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties PEProperties      `json:"properties"`
}

type PEProperties struct {
	Subnet                              *SubResource     `json:"subnet"`
	PrivateLinkServiceConnections       []PLSConnection  `json:"privateLinkServiceConnections"`
	ManualPrivateLinkServiceConnections []PLSConnection  `json:"manualPrivateLinkServiceConnections"`
	IPConfigurations                    []PEIPConfig     `json:"ipConfigurations"`
	CustomDNSConfigs                    []CustomDNSEntry `json:"customDnsConfigs,omitempty"`
	ProvisioningState                   string           `json:"provisioningState,omitempty"`
}

type PLSConnection struct {
	ID         string         `json:"id,omitempty"`
	Name       string         `json:"name"`
	Type       string         `json:"type,omitempty"`
	Properties PLSCProperties `json:"properties"`
}

type PLSCProperties struct {
	PrivateLinkServiceID              string           `json:"privateLinkServiceId"`
	GroupIDs                          []string         `json:"groupIds"`
	RequestMessage                    string           `json:"requestMessage,omitempty"`
	PrivateLinkServiceConnectionState *ConnectionState `json:"privateLinkServiceConnectionState,omitempty"`
	ProvisioningState                 string           `json:"provisioningState,omitempty"`
}

type ConnectionState struct {
	Status          string `json:"status"`
	Description     string `json:"description,omitempty"`
	ActionsRequired string `json:"actionsRequired,omitempty"`
}

type PEIPConfig struct {
	Name       string `json:"name"`
	Properties struct {
		PrivateIPAddress string `json:"privateIPAddress"`
		GroupID          string `json:"groupId,omitempty"`
		MemberName       string `json:"memberName,omitempty"`
	} `json:"properties"`
}

type CustomDNSEntry struct {
	FQDN        string   `json:"fqdn"`
	IPAddresses []string `json:"ipAddresses"`
}

// PrivateEndpointConnection is a registry's child resource for one private endpoint.
type PrivateEndpointConnection struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Properties PECProperties `json:"properties"`
}

type PECProperties struct {
	PrivateEndpoint                   *SubResource     `json:"privateEndpoint"`
	PrivateLinkServiceConnectionState *ConnectionState `json:"privateLinkServiceConnectionState"`
	ProvisioningState                 string           `json:"provisioningState,omitempty"`
}

// Connection states of a private endpoint connection.
const (
	StatusApproved     = "Approved"
	StatusPending      = "Pending"
	StatusRejected     = "Rejected"
	StatusDisconnected = "Disconnected"
)

// Resource types.
const (
	TypeRegistry = "Microsoft.ContainerRegistry/registries"
	TypeGroup    = "Microsoft.Resources/resourceGroups"
	TypeProvider = "Microsoft.Resources/providers"
	TypeVNet     = "Microsoft.Network/virtualNetworks"
	TypeSubnet   = "Microsoft.Network/virtualNetworks/subnets"
	TypePE       = "Microsoft.Network/privateEndpoints"
	TypePEC      = "Microsoft.ContainerRegistry/registries/privateEndpointConnections"
)

// TypeUserAssignedIdentity is the resource type of user-assigned managed identities.
const TypeUserAssignedIdentity = "Microsoft.ManagedIdentity/userAssignedIdentities"

// ManagedIdentityProperties is a resource's "identity" block.
type ManagedIdentityProperties struct {
	// Type is SystemAssigned, UserAssigned, "SystemAssigned, UserAssigned" or None.
	Type                   string                   `json:"type"`
	PrincipalID            string                   `json:"principalId,omitempty"`
	TenantID               string                   `json:"tenantId,omitempty"`
	UserAssignedIdentities map[string]*UserIdentity `json:"userAssignedIdentities,omitempty"`
}

// UserIdentity is one user-assigned identity attached to a resource.
type UserIdentity struct {
	PrincipalID string `json:"principalId,omitempty"`
	ClientID    string `json:"clientId,omitempty"`
}

// UserAssignedIdentity is a Microsoft.ManagedIdentity/userAssignedIdentities resource.
type UserAssignedIdentity struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		PrincipalID string `json:"principalId"`
		ClientID    string `json:"clientId"`
		TenantID    string `json:"tenantId"`
	} `json:"properties"`
}
