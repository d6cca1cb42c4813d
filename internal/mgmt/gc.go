package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/moat-registry/moat/internal/gc"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// GarbageCollector runs garbage collection (gc.Collector).
type GarbageCollector interface {
	Run(ctx context.Context, o gc.Options) (gc.Result, error)
}

// actionGarbageCollect is moat's own action (ACR has none): Owner and
// Contributor have it.
const actionGarbageCollect = "Microsoft.ContainerRegistry/registries/garbageCollect/action"

// maxRetentionDays is ACR's upper bound of retentionPolicy.days.
const maxRetentionDays = 365

// garbageCollect answers POST .../registries/{r}/garbageCollect[?dryRun=true]:
// it collects the registry (by its retention policy) and the blobs no
// registry links, and returns the counts. Not part of ACR (docs/gc.md).
func (h *Handler) garbageCollect(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "garbageCollect (use POST)")
	}
	ctx := r.Context()
	reg, err := h.getRegistry(ctx, id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	dry := false
	if v := r.URL.Query().Get("dryRun"); v != "" {
		if dry, err = strconv.ParseBool(v); err != nil {
			return badRequest("InvalidParameter", "dryRun %q is invalid: use true or false", v)
		}
	}
	res, err := h.GC.Run(ctx, gc.Options{Registry: reg.Key, DryRun: dry, Wait: true})
	if errors.Is(err, meta.ErrNotFound) {
		return armErr(http.StatusNotFound, "ResourceNotFound", "registry %q was deleted", reg.Name)
	} else if err != nil {
		return err
	}
	days, enabled := gc.Retention(reg)
	writeJSON(w, http.StatusOK, map[string]any{"retentionPolicy": map[string]any{"days": days, "enabled": enabled}, "result": res})
	return nil
}

// checkRetention validates and canonicalises the retention policy: days
// 0..365, status enabled or disabled, enabled only on Premium (as ACR).
func checkRetention(existing *meta.Registry, sku string, p *RegistryProperties) error {
	rp := p.Policies.RetentionPolicy
	var err error
	if rp.Status, err = enum("policies.retentionPolicy.status", rp.Status, "enabled", "disabled"); err != nil {
		return err
	}
	if rp.Days < 0 || rp.Days > maxRetentionDays {
		return badRequest("InvalidParameter", "policies.retentionPolicy.days %d is invalid: use 0 to %d", rp.Days, maxRetentionDays)
	}
	if rp.Status == "enabled" && sku != "Premium" {
		return badRequest("RetentionPolicyNotSupported",
			"the retention policy is only supported for the SKU Premium, not %s; use --sku Premium, or disable the policy first (moat acr config retention update --registry <registry> --status disabled)", sku)
	}
	var old *model.RetentionPolicy
	if existing != nil {
		if cur, err := decodeProps(existing); err == nil {
			old = cur.Policies.RetentionPolicy
		}
	}
	if old != nil && old.Days == rp.Days && old.Status == rp.Status {
		rp.LastUpdatedTime = old.LastUpdatedTime
	} else {
		now := time.Now().UTC()
		rp.LastUpdatedTime = &now
	}
	return nil
}
