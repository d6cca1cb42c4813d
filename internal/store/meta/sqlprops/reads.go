package sqlprops

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// RepositoryAttributes reads a repository's attributes.
func RepositoryAttributes(ctx context.Context, q Querier, reg, repo string) (meta.Attributes, error) {
	return repoAttrs(ctx, q, "", reg, repo)
}

// RepositoryProperties reads a repository with its counts.
func RepositoryProperties(ctx context.Context, q Querier, reg, repo string) (*meta.RepositoryInfo, error) {
	r := &meta.RepositoryInfo{Name: repo}
	var created, updated int64
	if err := q.QueryRow(ctx, `SELECT created_time, updated_time, `+attrCols+` FROM repositories WHERE reg = $1 AND name = $2`,
		reg, repo).Scan(append([]any{&created, &updated}, attrDest(&r.Attributes)...)...); err != nil {
		return nil, err
	}
	r.Created, r.Updated = fromNanos(created), fromNanos(updated)
	if err := q.QueryRow(ctx, `SELECT (SELECT count(*) FROM manifests WHERE reg = $1 AND repo = $2),
		(SELECT count(*) FROM tags WHERE reg = $1 AND repo = $2)`, reg, repo).Scan(&r.ManifestCount, &r.TagCount); err != nil {
		return nil, err
	}
	return r, nil
}

// ListedRepositories lists up to n listable repositories after last, by name.
func ListedRepositories(ctx context.Context, q Querier, reg, last string, n int) ([]string, error) {
	return column(ctx, q, `SELECT name FROM repositories WHERE reg = $1 AND name > $2 AND list_enabled ORDER BY name LIMIT $3`, reg, last, n)
}

const tagCols = `tag, digest, created_time, updated_time, ` + attrCols

func scanTag(sc Row) (*meta.TagInfo, error) {
	t := &meta.TagInfo{}
	var d string
	var created, updated int64
	if err := sc.Scan(append([]any{&t.Name, &d, &created, &updated}, attrDest(&t.Attributes)...)...); err != nil {
		return nil, err
	}
	t.Digest, t.Created, t.Updated = digest.Digest(d), fromNanos(created), fromNanos(updated)
	return t, nil
}

// TagProperties reads one tag.
func TagProperties(ctx context.Context, q Querier, reg, repo, tag string) (*meta.TagInfo, error) {
	return scanTag(q.QueryRow(ctx, `SELECT `+tagCols+` FROM tags WHERE reg = $1 AND repo = $2 AND tag = $3`, reg, repo, tag))
}

// ListTagProperties lists one page of listable tags.
func ListTagProperties(ctx context.Context, q Querier, reg, repo string, p meta.Page) ([]*meta.TagInfo, error) {
	where, order, args := keyset("tag", p, reg, repo)
	if p.Digest != "" {
		args = append(args, p.Digest.String())
		where += ` AND digest = $` + strconv.Itoa(len(args))
	}
	rows, err := q.Query(ctx, `SELECT `+tagCols+` FROM tags WHERE `+where+order, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*meta.TagInfo{}
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// keyset builds the WHERE condition (after reg = $1 AND repo = $2, listable
// only), the ORDER BY and LIMIT, and the arguments of one page ordered by
// key (the name column) or by update time then key.
func keyset(key string, p meta.Page, reg, repo string) (where, order string, args []any) {
	args = []any{reg, repo, p.N}
	where = `reg = $1 AND repo = $2 AND list_enabled`
	switch p.Order {
	case meta.ByTimeDesc, meta.ByTimeAsc:
		dir, cmp := " DESC", "<"
		if p.Order == meta.ByTimeAsc {
			dir, cmp = "", ">"
		}
		if p.After != "" {
			args = append(args, nanos(p.AfterTime), p.After)
			where += ` AND (updated_time, ` + key + `) ` + cmp + ` ($4, $5)`
		}
		order = ` ORDER BY updated_time` + dir + `, ` + key + dir
	default:
		args = append(args, p.After)
		where += ` AND ` + key + ` > $4`
		order = ` ORDER BY ` + key
	}
	return where, order + ` LIMIT $3`, args
}

const manifestCols = `digest, media_type, config_media_type, image_size, architecture, os, platforms, created_time, updated_time, ` + attrCols

func scanManifest(sc Row) (*meta.ManifestInfo, error) {
	m := &meta.ManifestInfo{}
	var d, refs string
	var created, updated int64
	if err := sc.Scan(append([]any{&d, &m.MediaType, &m.ConfigMediaType, &m.Size, &m.Architecture, &m.OS, &refs, &created, &updated},
		attrDest(&m.Attributes)...)...); err != nil {
		return nil, err
	}
	m.Digest, m.Created, m.Updated = digest.Digest(d), fromNanos(created), fromNanos(updated)
	if refs != "" {
		_ = json.Unmarshal([]byte(refs), &m.References) // written by Put: always valid
	}
	return m, nil
}

// ManifestProperties reads one manifest with its tags.
func ManifestProperties(ctx context.Context, q Querier, reg, repo string, d digest.Digest) (*meta.ManifestInfo, error) {
	m, err := scanManifest(q.QueryRow(ctx, `SELECT `+manifestCols+` FROM manifests WHERE reg = $1 AND repo = $2 AND digest = $3`, reg, repo, d.String()))
	if err != nil {
		return nil, err
	}
	return m, addTags(ctx, q, reg, repo, []*meta.ManifestInfo{m})
}

// ListManifestProperties lists one page of listable manifests with their tags.
func ListManifestProperties(ctx context.Context, q Querier, reg, repo string, p meta.Page) ([]*meta.ManifestInfo, error) {
	where, order, args := keyset("digest", p, reg, repo)
	rows, err := q.Query(ctx, `SELECT `+manifestCols+` FROM manifests WHERE `+where+order, args...)
	if err != nil {
		return nil, err
	}
	out := []*meta.ManifestInfo{}
	for rows.Next() {
		m, err := scanManifest(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, addTags(ctx, q, reg, repo, out)
}

// addTags fills in the tags of manifests (one query for the page).
func addTags(ctx context.Context, q Querier, reg, repo string, ms []*meta.ManifestInfo) error {
	if len(ms) == 0 {
		return nil
	}
	args := []any{reg, repo}
	marks := make([]string, len(ms))
	byDigest := make(map[digest.Digest]*meta.ManifestInfo, len(ms))
	for i, m := range ms {
		args = append(args, m.Digest.String())
		marks[i] = "$" + strconv.Itoa(i+3)
		byDigest[m.Digest] = m
		m.Tags = []string{}
	}
	rows, err := q.Query(ctx, `SELECT digest, tag FROM tags WHERE reg = $1 AND repo = $2 AND digest IN (`+strings.Join(marks, ", ")+`) ORDER BY tag`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d, tag string
		if err := rows.Scan(&d, &tag); err != nil {
			return err
		}
		if m := byDigest[digest.Digest(d)]; m != nil {
			m.Tags = append(m.Tags, tag)
		}
	}
	return rows.Err()
}
