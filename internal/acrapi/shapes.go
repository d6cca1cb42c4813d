package acrapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

// The answers' shapes, as the REST spec (2021-07-01) names their fields.

type attributes struct {
	DeleteEnabled bool `json:"deleteEnabled"`
	WriteEnabled  bool `json:"writeEnabled"`
	ReadEnabled   bool `json:"readEnabled"`
	ListEnabled   bool `json:"listEnabled"`
}

func attrs(a meta.Attributes) attributes {
	return attributes{DeleteEnabled: a.DeleteEnabled, WriteEnabled: a.WriteEnabled, ReadEnabled: a.ReadEnabled, ListEnabled: a.ListEnabled}
}

// stamp formats a time as ACR does: UTC, RFC 3339 with fractional seconds.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

type repositoryAttributes struct {
	Registry      string     `json:"registry"`
	ImageName     string     `json:"imageName"`
	CreatedTime   string     `json:"createdTime"`
	LastUpdate    string     `json:"lastUpdateTime"`
	ManifestCount int        `json:"manifestCount"`
	TagCount      int        `json:"tagCount"`
	Changeable    attributes `json:"changeableAttributes"`
}

func repositoryShape(t target, r *meta.RepositoryInfo) repositoryAttributes {
	return repositoryAttributes{Registry: t.ls, ImageName: t.repo, CreatedTime: stamp(r.Created), LastUpdate: stamp(r.Updated),
		ManifestCount: r.ManifestCount, TagCount: r.TagCount, Changeable: attrs(r.Attributes)}
}

type tagBase struct {
	Name        string     `json:"name"`
	Digest      string     `json:"digest"`
	CreatedTime string     `json:"createdTime"`
	LastUpdate  string     `json:"lastUpdateTime"`
	Signed      bool       `json:"signed"`
	Changeable  attributes `json:"changeableAttributes"`
}

func tagShape(t *meta.TagInfo) tagBase {
	return tagBase{Name: t.Name, Digest: t.Digest.String(), CreatedTime: stamp(t.Created), LastUpdate: stamp(t.Updated), Changeable: attrs(t.Attributes)}
}

type tagAttributes struct {
	Registry  string  `json:"registry"`
	ImageName string  `json:"imageName"`
	Tag       tagBase `json:"tag"`
}

type tagList struct {
	Registry  string    `json:"registry"`
	ImageName string    `json:"imageName"`
	Tags      []tagBase `json:"tags"`
}

type platform struct {
	Digest       string `json:"digest"`
	Architecture string `json:"architecture,omitempty"`
	OS           string `json:"os,omitempty"`
}

type manifestBase struct {
	Digest          string     `json:"digest"`
	ImageSize       int64      `json:"imageSize"`
	CreatedTime     string     `json:"createdTime"`
	LastUpdate      string     `json:"lastUpdateTime"`
	Architecture    string     `json:"architecture,omitempty"`
	OS              string     `json:"os,omitempty"`
	References      []platform `json:"references,omitempty"`
	MediaType       string     `json:"mediaType"`
	ConfigMediaType string     `json:"configMediaType,omitempty"`
	Tags            []string   `json:"tags,omitempty"`
	Changeable      attributes `json:"changeableAttributes"`
}

func manifestShape(m *meta.ManifestInfo) manifestBase {
	out := manifestBase{Digest: m.Digest.String(), ImageSize: m.Size, CreatedTime: stamp(m.Created), LastUpdate: stamp(m.Updated),
		Architecture: m.Architecture, OS: m.OS, MediaType: m.MediaType, ConfigMediaType: m.ConfigMediaType, Tags: m.Tags,
		Changeable: attrs(m.Attributes)}
	for _, p := range m.References {
		out.References = append(out.References, platform{Digest: p.Digest.String(), Architecture: p.Architecture, OS: p.OS})
	}
	return out
}

type manifestAttributes struct {
	Registry  string       `json:"registry"`
	ImageName string       `json:"imageName"`
	Manifest  manifestBase `json:"manifest"`
}

type manifestList struct {
	Registry  string         `json:"registry"`
	ImageName string         `json:"imageName"`
	Manifests []manifestBase `json:"manifests"`
}

type repositories struct {
	Repositories []string `json:"repositories"`
}

type deletedRepository struct {
	ManifestsDeleted []string `json:"manifestsDeleted"`
	TagsDeleted      []string `json:"tagsDeleted"`
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
