package mgmt

import (
	"bytes"
	"encoding/json"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Changes of a registry's network settings are audited here, where they
// happen: events of type config with the settings before and after.

// auditedPut is putRegistry, audited.
func auditedPut(c *call, cur **meta.Registry, version int64, body []byte) (*meta.Registry, int64, error) {
	var before json.RawMessage = nullSettings
	if cur != nil {
		before = networkSettings(*cur) // putRegistry changes *cur in place
	}
	reg, v, err := putRegistry(c, cur, version, body)
	if err == nil {
		c.recordConfig(reg.Key, before, networkSettings(reg))
	}
	return reg, v, err
}

// auditedRemove is removeRegistry, audited.
func auditedRemove(c *call, reg *meta.Registry) error {
	before := networkSettings(reg)
	if err := c.h.removeRegistry(c.ctx, reg); err != nil {
		return err
	}
	c.recordConfig(reg.Key, before, nullSettings)
	return nil
}

var nullSettings = json.RawMessage("null")

// networkSettings are the network settings of a registry's stored
// properties, as the audit shows them (with the staged ones).
func networkSettings(reg *meta.Registry) json.RawMessage {
	return model.NetworkSettings(reg.Properties)
}

// recordConfig records a change of a registry's network settings (none
// when they are the same).
func (c *call) recordConfig(regKey string, before, after json.RawMessage) {
	if c.h.Record == nil || bytes.Equal(before, after) {
		return
	}
	c.h.Record.Record(c.ctx, audit.Event{Registry: regKey, Type: audit.TypeConfig, Outcome: audit.Success, Principal: caller(c.ctx),
		Detail: c.r.Method + " registry network settings", Before: before, After: after})
}
