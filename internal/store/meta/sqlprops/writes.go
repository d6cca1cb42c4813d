package sqlprops

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// Put stores a manifest and points tags at it, after checking that the
// repository, the manifest (if pushed before) and every tag (if it exists)
// take writes. The caller has created the repository row and holds its lock.
func Put(ctx context.Context, q Querier, d Dialect, reg, repo string, m *meta.Manifest, tags []string, now time.Time) error {
	if err := checkPut(ctx, q, d, reg, repo, m.Digest, tags); err != nil {
		return meta.Place(err, reg, repo)
	}
	ann := []byte("{}")
	if len(m.Annotations) > 0 {
		ann, _ = json.Marshal(m.Annotations)
	}
	p := meta.ManifestProps{ImageSize: int64(len(m.Content))}
	if m.Props != nil {
		p = *m.Props
	}
	refs := ""
	if len(p.References) > 0 {
		b, _ := json.Marshal(p.References)
		refs = string(b)
	}
	t := nanos(now)
	if _, err := q.Exec(ctx, `INSERT INTO manifests (reg, repo, digest, media_type, content, subject, artifact_type, annotations,
			created_at, created_time, updated_time, config_media_type, image_size, architecture, os, platforms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (reg, repo, digest) DO UPDATE SET media_type = excluded.media_type, content = excluded.content,
			subject = excluded.subject, artifact_type = excluded.artifact_type, annotations = excluded.annotations,
			created_at = excluded.created_at, updated_time = excluded.updated_time, config_media_type = excluded.config_media_type,
			image_size = excluded.image_size, architecture = excluded.architecture, os = excluded.os, platforms = excluded.platforms`,
		reg, repo, m.Digest.String(), m.MediaType, m.Content, m.Subject.String(), m.ArtifactType, string(ann),
		t, p.ConfigMediaType, p.ImageSize, p.Platform.Architecture, p.Platform.OS, refs); err != nil {
		return err
	}
	for _, tag := range tags {
		if _, err := q.Exec(ctx, `INSERT INTO tags (reg, repo, tag, digest, created_time, updated_time) VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (reg, repo, tag) DO UPDATE SET digest = excluded.digest, updated_time = excluded.updated_time`,
			reg, repo, tag, m.Digest.String(), t); err != nil {
			return err
		}
	}
	return nil
}

func checkPut(ctx context.Context, q Querier, d Dialect, reg, repo string, dg digest.Digest, tags []string) error {
	a, err := repoAttrs(ctx, q, "", reg, repo) // locked by the caller
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if err == nil {
		if err := meta.Locked(meta.KindRepository, repo, a, true); err != nil {
			return err
		}
	}
	if err := q.QueryRow(ctx, `SELECT `+attrCols+` FROM manifests WHERE reg = $1 AND repo = $2 AND digest = $3`,
		reg, repo, dg.String()).Scan(attrDest(&a)...); err == nil {
		if err := meta.Locked(meta.KindManifest, dg.String(), a, true); err != nil {
			return err
		}
	} else if !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	for _, tag := range tags {
		err := q.QueryRow(ctx, `SELECT `+attrCols+` FROM tags WHERE reg = $1 AND repo = $2 AND tag = $3`, reg, repo, tag).Scan(attrDest(&a)...)
		if err == nil {
			err = meta.Locked(meta.KindTag, tag, a, true)
		} else if errors.Is(err, meta.ErrNotFound) {
			err = nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lockForDelete locks the repository row and refuses when the repository
// takes no writes; ErrNotFound if it does not exist.
func lockForDelete(ctx context.Context, q Querier, d Dialect, reg, repo string) error {
	a, err := repoAttrs(ctx, q, d.Update, reg, repo)
	if err != nil {
		return err
	}
	return meta.Locked(meta.KindRepository, repo, a, true)
}

// lockedTag returns the LockedError of a tag of the manifest that refuses
// deletes, if any.
func lockedTag(ctx context.Context, q Querier, reg, repo string, dg digest.Digest) error {
	var tag string
	var a meta.Attributes
	err := q.QueryRow(ctx, `SELECT tag, `+attrCols+` FROM tags WHERE reg = $1 AND repo = $2 AND digest = $3
		AND NOT (delete_enabled AND write_enabled) ORDER BY tag LIMIT 1`, reg, repo, dg.String()).Scan(append([]any{&tag}, attrDest(&a)...)...)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	return meta.Locked(meta.KindTag, tag, a, false)
}

// DeleteManifest deletes a manifest and its tags unless the repository, the
// manifest or one of its tags refuses deletes.
func DeleteManifest(ctx context.Context, q Querier, d Dialect, reg, repo string, dg digest.Digest, now time.Time) error {
	return meta.Place(deleteManifest(ctx, q, d, reg, repo, dg, now), reg, repo)
}

func deleteManifest(ctx context.Context, q Querier, d Dialect, reg, repo string, dg digest.Digest, now time.Time) error {
	if err := lockForDelete(ctx, q, d, reg, repo); err != nil {
		return err
	}
	var a meta.Attributes
	if err := q.QueryRow(ctx, `SELECT `+attrCols+` FROM manifests WHERE reg = $1 AND repo = $2 AND digest = $3`,
		reg, repo, dg.String()).Scan(attrDest(&a)...); err != nil {
		return err
	}
	if err := meta.Locked(meta.KindManifest, dg.String(), a, false); err != nil {
		return err
	}
	if err := lockedTag(ctx, q, reg, repo, dg); err != nil {
		return err
	}
	for _, stmt := range []string{`DELETE FROM manifests WHERE reg = $1 AND repo = $2 AND digest = $3`,
		`DELETE FROM tags WHERE reg = $1 AND repo = $2 AND digest = $3`} {
		if _, err := q.Exec(ctx, stmt, reg, repo, dg.String()); err != nil {
			return err
		}
	}
	return touchRepo(ctx, q, reg, repo, now)
}

// DeleteTag deletes a tag unless it or the repository refuses it.
func DeleteTag(ctx context.Context, q Querier, d Dialect, reg, repo, tag string, now time.Time) error {
	return meta.Place(deleteTag(ctx, q, d, reg, repo, tag, now), reg, repo)
}

func deleteTag(ctx context.Context, q Querier, d Dialect, reg, repo, tag string, now time.Time) error {
	if err := lockForDelete(ctx, q, d, reg, repo); err != nil {
		return err
	}
	var a meta.Attributes
	if err := q.QueryRow(ctx, `SELECT `+attrCols+` FROM tags WHERE reg = $1 AND repo = $2 AND tag = $3`, reg, repo, tag).Scan(attrDest(&a)...); err != nil {
		return err
	}
	if err := meta.Locked(meta.KindTag, tag, a, false); err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `DELETE FROM tags WHERE reg = $1 AND repo = $2 AND tag = $3`, reg, repo, tag); err != nil {
		return err
	}
	return touchRepo(ctx, q, reg, repo, now)
}

// DeleteRepository deletes a repository with its manifests, tags and blob
// links, unless it or any of its manifests or tags refuses deletes.
func DeleteRepository(ctx context.Context, q Querier, d Dialect, reg, repo string) (*meta.DeletedRepository, error) {
	out, err := deleteRepository(ctx, q, d, reg, repo)
	return out, meta.Place(err, reg, repo)
}

func deleteRepository(ctx context.Context, q Querier, d Dialect, reg, repo string) (*meta.DeletedRepository, error) {
	a, err := repoAttrs(ctx, q, d.Update, reg, repo)
	if err != nil {
		return nil, err
	}
	if err := meta.Locked(meta.KindRepository, repo, a, false); err != nil {
		return nil, err
	}
	for _, c := range []struct{ kind, sql string }{
		{meta.KindManifest, `SELECT digest, ` + attrCols + ` FROM manifests`},
		{meta.KindTag, `SELECT tag, ` + attrCols + ` FROM tags`},
	} {
		var name string
		err := q.QueryRow(ctx, c.sql+` WHERE reg = $1 AND repo = $2 AND NOT (delete_enabled AND write_enabled) LIMIT 1`,
			reg, repo).Scan(append([]any{&name}, attrDest(&a)...)...)
		if err == nil {
			return nil, meta.Locked(c.kind, name, a, false)
		} else if !errors.Is(err, meta.ErrNotFound) {
			return nil, err
		}
	}
	out := &meta.DeletedRepository{}
	if out.Manifests, err = column(ctx, q, `SELECT digest FROM manifests WHERE reg = $1 AND repo = $2 ORDER BY digest`, reg, repo); err != nil {
		return nil, err
	}
	if out.Tags, err = column(ctx, q, `SELECT tag FROM tags WHERE reg = $1 AND repo = $2 ORDER BY tag`, reg, repo); err != nil {
		return nil, err
	}
	for _, t := range []string{"manifests", "tags", "blobs"} {
		if _, err := q.Exec(ctx, `DELETE FROM `+t+` WHERE reg = $1 AND repo = $2`, reg, repo); err != nil {
			return nil, err
		}
	}
	_, err = q.Exec(ctx, `DELETE FROM repositories WHERE reg = $1 AND name = $2`, reg, repo)
	return out, err
}

func column(ctx context.Context, q Querier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.ScanStrings(rows)
}

// setAttrs is the SET clause of an attribute change: each attribute takes
// its argument unless that is NULL ($3 to $6), and the update time is $7.
const setAttrs = `delete_enabled = COALESCE($3, delete_enabled), write_enabled = COALESCE($4, write_enabled),
	list_enabled = COALESCE($5, list_enabled), read_enabled = COALESCE($6, read_enabled), updated_time = $7`

func patchArgs(p meta.AttributesPatch, now time.Time) []any {
	return []any{p.DeleteEnabled, p.WriteEnabled, p.ListEnabled, p.ReadEnabled, nanos(now)}
}

// SetRepositoryAttributes changes a repository's attributes.
func SetRepositoryAttributes(ctx context.Context, q Querier, reg, repo string, p meta.AttributesPatch, now time.Time) error {
	n, err := q.Exec(ctx, `UPDATE repositories SET `+setAttrs+` WHERE reg = $1 AND name = $2`, append([]any{reg, repo}, patchArgs(p, now)...)...)
	if err == nil && n == 0 {
		err = meta.ErrNotFound
	}
	return err
}

// SetTagAttributes changes a tag's attributes.
func SetTagAttributes(ctx context.Context, q Querier, d Dialect, reg, repo, tag string, p meta.AttributesPatch, now time.Time) error {
	return setContent(ctx, q, d, reg, repo, `UPDATE tags SET `+setAttrs+` WHERE reg = $1 AND repo = $2 AND tag = $8`, tag, p, now)
}

// SetManifestAttributes changes a manifest's attributes.
func SetManifestAttributes(ctx context.Context, q Querier, d Dialect, reg, repo string, dg digest.Digest, p meta.AttributesPatch, now time.Time) error {
	return setContent(ctx, q, d, reg, repo, `UPDATE manifests SET `+setAttrs+` WHERE reg = $1 AND repo = $2 AND digest = $8`, dg.String(), p, now)
}

func setContent(ctx context.Context, q Querier, d Dialect, reg, repo, update, key string, p meta.AttributesPatch, now time.Time) error {
	if _, err := repoAttrs(ctx, q, d.Share, reg, repo); err != nil {
		return err
	}
	n, err := q.Exec(ctx, update, append(append([]any{reg, repo}, patchArgs(p, now)...), key)...)
	if err == nil && n == 0 {
		err = meta.ErrNotFound
	}
	return err
}
