package mgmt

import "github.com/moat-registry/moat/internal/model"

// The resource shapes live in package model; these aliases keep handler code short.
type (
	ManagedIdentityProperties = model.ManagedIdentityProperties
	UserIdentity              = model.UserIdentity
	UserAssignedIdentity      = model.UserAssignedIdentity
	RegistryResource          = model.RegistryResource
	SKU                       = model.SKU
	SystemData                = model.SystemData
	RegistryProperties        = model.RegistryProperties
	NetworkRuleSet            = model.NetworkRuleSet
	IPRule                    = model.IPRule
	VirtualNetworkRule        = model.VirtualNetworkRule
	ResourceGroup             = model.ResourceGroup
	Provider                  = model.Provider
	VirtualNetwork            = model.VirtualNetwork
	VNetProperties            = model.VNetProperties
	AddressSpace              = model.AddressSpace
	Subnet                    = model.Subnet
	SubnetProperties          = model.SubnetProperties
	ServiceEndpoint           = model.ServiceEndpoint
	SubResource               = model.SubResource
	PrivateEndpoint           = model.PrivateEndpoint
	PEProperties              = model.PEProperties
	PLSConnection             = model.PLSConnection
	PLSCProperties            = model.PLSCProperties
	ConnectionState           = model.ConnectionState
	PEIPConfig                = model.PEIPConfig
	CustomDNSEntry            = model.CustomDNSEntry
	PrivateEndpointConnection = model.PrivateEndpointConnection
	PECProperties             = model.PECProperties
)

const (
	StatusApproved     = model.StatusApproved
	StatusPending      = model.StatusPending
	StatusRejected     = model.StatusRejected
	StatusDisconnected = model.StatusDisconnected
)
