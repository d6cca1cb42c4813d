package gc

import (
	"context"
	"errors"
	"time"

	"github.com/moat-registry/moat/internal/oci/manifest"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// attempts is how often a repository that keeps changing is marked again.
const attempts = 3

// registry collects every repository of one registry, if its retention
// policy is enabled.
func (c *Collector) registry(ctx context.Context, reg *meta.Registry, now time.Time, dry bool) (Result, error) {
	var res Result
	days, enabled := Retention(reg)
	if !enabled {
		return res, nil
	}
	keepFor := max(time.Duration(days)*24*time.Hour, c.Grace)
	repos, err := c.Meta.ListRepositories(ctx, reg.Key, "", -1)
	if err != nil {
		return res, err
	}
	for _, repo := range repos {
		r, err := c.repository(ctx, reg.Key, repo, now.Add(-keepFor), now.Add(-c.Grace), dry)
		res.add(r)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// repository marks and sweeps one repository: untagged manifests pushed
// before manifestCutoff go, with the links no remaining manifest references
// that were made before linkCutoff.
func (c *Collector) repository(ctx context.Context, reg, repo string, manifestCutoff, linkCutoff time.Time, dry bool) (Result, error) {
	for range attempts {
		content, err := c.Meta.RepositoryContent(ctx, reg, repo)
		if errors.Is(err, meta.ErrNotFound) {
			return Result{}, nil // deleted meanwhile
		} else if err != nil {
			return Result{}, err
		}
		if content.Locked {
			return Result{}, nil // writeEnabled false: nothing in it may go
		}
		p, err := plan(content, manifestCutoff, linkCutoff)
		if err != nil {
			logSkip(reg, repo, err)
			return Result{RepositoriesSkipped: 1}, nil
		}
		if dry {
			return Result{ManifestsDeleted: len(p.manifests), LinksRemoved: len(p.links)}, nil
		}
		if len(p.manifests) == 0 && len(p.links) == 0 {
			return Result{}, nil
		}
		sw, err := c.Meta.SweepRepository(ctx, reg, repo, content.Gen, p.manifests, p.links, linkCutoff)
		if errors.Is(err, meta.ErrConflict) {
			continue // a push since the mark: mark again
		} else if err != nil {
			return Result{}, err
		}
		return Result{ManifestsDeleted: sw.Manifests, LinksRemoved: sw.Links}, nil
	}
	logSkip(reg, repo, errors.New("manifests kept being pushed while it was collected"))
	return Result{RepositoriesSkipped: 1}, nil
}

type sweepPlan struct {
	manifests, links []digest.Digest
}

// plan is the mark phase of one repository. Kept: tagged manifests, locked
// ones (deleteEnabled or writeEnabled false), untagged ones pushed after
// manifestCutoff, every manifest a kept index lists, and every referrer of a
// kept manifest. A link goes if no kept manifest
// references its blob and it was made before linkCutoff.
func plan(c *meta.RepositoryContent, manifestCutoff, linkCutoff time.Time) (sweepPlan, error) {
	byDigest := map[digest.Digest]*meta.StoredManifest{}
	referrers := map[digest.Digest][]digest.Digest{}
	for _, m := range c.Manifests {
		byDigest[m.Digest] = m
		if m.Subject != "" {
			referrers[m.Subject] = append(referrers[m.Subject], m.Digest)
		}
	}
	kept := map[digest.Digest]bool{}
	var work []digest.Digest
	keep := func(d digest.Digest) {
		if _, ok := byDigest[d]; ok && !kept[d] {
			kept[d] = true
			work = append(work, d)
		}
	}
	for _, m := range c.Manifests {
		if c.Tagged[m.Digest] || m.Locked || !m.Pushed.Before(manifestCutoff) {
			keep(m.Digest)
		}
	}
	usedBlobs := map[digest.Digest]bool{}
	for len(work) > 0 {
		d := work[len(work)-1]
		work = work[:len(work)-1]
		m := byDigest[d]
		parsed, err := manifest.Parse(m.MediaType, m.Content)
		if err != nil {
			// A stored manifest moat cannot read: collect nothing here.
			return sweepPlan{}, err
		}
		for _, b := range parsed.Blobs {
			usedBlobs[b.Digest] = true
		}
		for _, child := range parsed.Manifests {
			keep(child.Digest)
		}
		for _, r := range referrers[d] {
			keep(r)
		}
	}
	var p sweepPlan
	for _, m := range c.Manifests {
		if !kept[m.Digest] {
			p.manifests = append(p.manifests, m.Digest)
		}
	}
	for _, l := range c.Links {
		if !usedBlobs[l.Digest] && l.Linked.Before(linkCutoff) {
			p.links = append(p.links, l.Digest)
		}
	}
	return p, nil
}
