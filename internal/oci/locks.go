package oci

import (
	"context"
	"errors"

	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/store/meta"
)

// The metadata store enforces the changeable attributes (meta.Properties) on
// manifests, tags and blob links in its own transactions. These checks only
// answer early, before a client uploads a blob into a repository that will
// refuse it, and guard blob downloads, which the store does not see.

// checkRepository refuses an operation on a repository whose attributes
// forbid it: a push (write) when writeEnabled is false, a blob download
// (!write) when readEnabled is false. A repository not there yet allows both.
func (h *Handler) checkRepository(ctx context.Context, reg, repo string, write bool) error {
	a, err := h.Meta.RepositoryAttributes(ctx, reg, repo)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	} else if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	var refused error
	switch {
	case write:
		refused = meta.Locked(meta.KindRepository, repo, a, true)
	case !a.ReadEnabled:
		refused = meta.Unreadable(reg, repo, false, "", true)
	}
	if e := errcode.Locked(meta.Place(refused, reg, repo)); e != nil {
		return e
	}
	return nil
}
