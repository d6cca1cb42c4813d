package mgmt

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// promoteStaged answers POST .../registries/{r}/promoteStagedNetworkAccess:
// the staged network settings (shadow mode) become the enforced ones and
// the staged set is gone, in one versioned write, checked again as a write
// of those settings would be. Staging is a PATCH of
// properties.stagedNetworkAccess; discarding one, a PATCH of it to null.
func (h *Handler) promoteStaged(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "promoteStagedNetworkAccess (use POST)")
	}
	ctx := r.Context()
	reg, err := h.getRegistry(ctx, id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	p, err := decodeProps(reg)
	if err != nil {
		return err
	}
	np, ok := p.Staged()
	if !ok {
		return badRequest("NoStagedNetworkAccess", "registry %s has no staged network settings; stage them with 'moat acr network-rule staged set --name %s ...' (or PATCH properties.stagedNetworkAccess)", reg.Name, reg.Name)
	}
	np = np.WithDefaults()
	if err := h.validateRegistry(ctx, reg, reg.SKU, &np); err != nil {
		return err
	}
	before := networkSettings(reg)
	if reg.Properties, err = json.Marshal(np.Stored()); err != nil {
		return err
	}
	if err := h.Meta.UpdateRegistry(ctx, reg); errors.Is(err, meta.ErrConflict) {
		return armErr(http.StatusConflict, "Conflict", "registry %s changed while its staged settings were being promoted; look at them again and retry", reg.Name)
	} else if err != nil {
		return err
	}
	(&call{h: h, r: r, ctx: ctx}).recordConfig(reg.Key, before, networkSettings(reg))
	if err := h.Index.Reload(ctx); err != nil {
		return err
	}
	res, err := h.resource(r, reg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
