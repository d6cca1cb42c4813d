package cli

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

// `moat acr repository ...` is az's: it works on the registry's data plane
// (/acr/v1/, and /v2/ to delete manifests), with the scopes az asks for, and
// prints what az prints.

func newACRRepository() *cobra.Command {
	return parent("repository", "Manage repositories (image names) of a container registry",
		acrRepositoryList(), acrRepositoryShowTags(), acrRepositoryShowManifests(), acrRepositoryShow(),
		acrRepositoryUpdate(), acrRepositoryUntag(), acrRepositoryDelete())
}

// Token scopes, as az asks for them.
const (
	scopeCatalog   = "registry:catalog:*"
	actMetaRead    = "metadata_read"
	actMetaWrite   = "metadata_write,metadata_read"
	actDelete      = "delete"
	actDeleteRead  = "delete,metadata_read"
	orderByChoices = "time_asc, time_desc"
)

func repoScope(rc *registryClient, repository, actions string) string {
	return "repository:" + rc.repo(repository) + ":" + actions
}

// repositoryFlags are the registry (--name/-n) and credential flags every
// repository command has.
func repositoryFlags(cmd *cobra.Command) {
	registryNameFlag(cmd)
	registryCredentialFlags(cmd)
}

func listingFlags(cmd *cobra.Command) {
	cmd.Flags().Int("top", 0, "limit the number of items in the results")
	cmd.Flags().String("orderby", "", "order the items in the results: time_asc or time_desc (default: alphabetical order of names)")
}

// listing reads --top and --orderby.
func (x *exec) listing() (top int, orderby string, err error) {
	top, _ = x.cmd.Flags().GetInt("top")
	if top < 0 {
		return 0, "", fmt.Errorf("argument --top: %d is not a positive number", top)
	}
	orderby, err = x.enum("orderby", "time_asc", "time_desc")
	return top, orderby, err
}

// targetFlags are the flags of the commands on a repository or an image.
func targetFlags(cmd *cobra.Command) {
	repositoryFlags(cmd)
	cmd.Flags().String("repository", "", "the name of the repository")
	imageFlag(cmd, imageUsage)
}

func imageFlag(cmd *cobra.Command, usage string) {
	cmd.Flags().StringP("image", "t", "", usage)
}

const imageUsage = "the name of the image: 'name:tag' or 'name@digest' ('name' alone is name:latest)"

func acrRepositoryList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List the repositories of a container registry",
		example: "  moat acr repository list --name myregistry --top 10", required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			repositoryFlags(cmd)
			cmd.Flags().Int("top", 0, "limit the number of items in the results")
		},
		run: func(x *exec) (any, error) {
			top, _, err := x.listing()
			if err != nil {
				return nil, err
			}
			rc, err := x.registryClient("name")
			if err != nil {
				return nil, err
			}
			return rc.list("/acr/v1/"+rc.prefix+"_catalog", scopeCatalog, "repositories", top, "")
		},
	})
}

func acrRepositoryShowTags() *cobra.Command {
	return leaf(spec{
		use: "show-tags", short: "Show the tags of a repository",
		example:  "  moat acr repository show-tags --name myregistry --repository app --orderby time_desc --top 5 --detail",
		required: []string{"name/-n", "repository"},
		flags: func(cmd *cobra.Command) {
			repositoryFlags(cmd)
			cmd.Flags().String("repository", "", "the name of the repository")
			listingFlags(cmd)
			cmd.Flags().Bool("detail", false, "show detailed information")
		},
		run: func(x *exec) (any, error) {
			items, err := x.repositoryListing("_tags", "tags")
			detail, _ := x.cmd.Flags().GetBool("detail")
			if err != nil || detail {
				return items, err
			}
			names := []any{}
			for _, it := range objects(items) {
				names = append(names, it["name"])
			}
			return names, nil
		},
	})
}

func acrRepositoryShowManifests() *cobra.Command {
	return leaf(spec{
		use: "show-manifests", short: "Show the manifests of a repository (see also acr manifest list-metadata)",
		example:  "  moat acr repository show-manifests --name myregistry --repository app --orderby time_desc",
		required: []string{"name/-n", "repository"},
		flags: func(cmd *cobra.Command) {
			repositoryFlags(cmd)
			cmd.Flags().String("repository", "", "the name of the repository")
			listingFlags(cmd)
			cmd.Flags().Bool("detail", false, "show detailed information")
		},
		run: func(x *exec) (any, error) {
			items, err := x.repositoryListing("_manifests", "manifests")
			detail, _ := x.cmd.Flags().GetBool("detail")
			if err != nil || detail {
				return items, err
			}
			out := []any{}
			for _, it := range objects(items) {
				tags, ok := it["tags"].([]any)
				if !ok {
					tags = []any{}
				}
				out = append(out, object{"digest": str(it, "digest"), "tags": tags, "timestamp": str(it, "lastUpdateTime")})
			}
			return out, nil
		},
	})
}

// repositoryListing lists /acr/v1/<--repository>/<endpoint>.
func (x *exec) repositoryListing(endpoint, field string) ([]any, error) {
	top, orderby, err := x.listing()
	if err != nil {
		return nil, err
	}
	rc, err := x.registryClient("name")
	if err != nil {
		return nil, err
	}
	repo := x.str("repository")
	return rc.list("/acr/v1/"+rc.repo(repo)+"/"+endpoint, repoScope(rc, repo, actMetaRead), field, top, orderby)
}

// image is what --repository or --image names: a repository, a tag or a manifest.
type image struct {
	repository, tag, digest string
}

// parseImage reads an image name as az does: name@digest (when allowed),
// name:tag, or name (name:latest).
func parseImage(s string, allowDigest bool) (image, error) {
	if allowDigest && strings.Contains(s, "@") {
		if repo, d, ok := strings.Cut(s, "@"); ok && !strings.Contains(d, "@") {
			return image{repository: repo, digest: d}, nil
		}
	}
	if !strings.Contains(s, ":") {
		return image{repository: s, tag: "latest"}, nil
	}
	if parts := strings.Split(s, ":"); len(parts) == 2 {
		return image{repository: parts[0], tag: parts[1]}, nil
	}
	if allowDigest {
		return image{}, errors.New("the name of the image may include a tag in the format 'name:tag' or digest in the format 'name@digest'")
	}
	return image{}, errors.New("the name of the image may include a tag in the format 'name:tag'")
}

// target reads --repository or --image (exactly one).
func (x *exec) target() (image, error) {
	repo, img := x.str("repository"), x.str("image")
	if (repo == "") == (img == "") {
		return image{}, errors.New("usage error: --image IMAGE | --repository REPOSITORY")
	}
	if repo != "" {
		return image{repository: repo}, nil
	}
	return parseImage(img, true)
}

// path is the /acr/v1/ path of the target and the field of the answer that
// holds it ("" for the whole answer).
func (im image) path(rc *registryClient) (string, string) {
	p := "/acr/v1/" + rc.repo(im.repository)
	switch {
	case im.tag != "":
		return p + "/_tags/" + im.tag, "tag"
	case im.digest != "":
		return p + "/_manifests/" + im.digest, "manifest"
	}
	return p, ""
}

// onImage runs fn on the image parse reads, with a client of the registry
// named by flag.
func (x *exec) onImage(flag string, parse func() (image, error), fn func(*registryClient, image) (any, error)) (any, error) {
	im, err := parse()
	if err != nil {
		return nil, err
	}
	rc, err := x.registryClient(flag)
	if err != nil {
		return nil, err
	}
	return fn(rc, im)
}

// attributes reads a target's properties, or changes them (patch not empty).
func (x *exec) attributes(rc *registryClient, im image, patch object) (any, error) {
	path, field := im.path(rc)
	method, actions := http.MethodGet, actMetaRead
	var body any
	if len(patch) > 0 {
		method, actions, body = http.MethodPatch, actMetaWrite, patch
	}
	var out object
	if _, err := rc.do(method, path, repoScope(rc, im.repository, actions), body, &out); err != nil {
		return nil, err
	}
	if field != "" {
		return out[field], nil
	}
	return out, nil
}

func attributeFlags(cmd *cobra.Command) {
	triFlag(cmd, "delete-enabled", "whether delete operations are allowed")
	triFlag(cmd, "list-enabled", "whether the item is listed")
	triFlag(cmd, "read-enabled", "whether read (pull) operations are allowed")
	triFlag(cmd, "write-enabled", "whether write operations (push, tag moves) are allowed")
}

// attributePatch is the PATCH body of the attribute flags given.
func (x *exec) attributePatch() object {
	p := object{}
	for _, f := range []struct{ flag, field string }{{"delete-enabled", "deleteEnabled"}, {"list-enabled", "listEnabled"},
		{"read-enabled", "readEnabled"}, {"write-enabled", "writeEnabled"}} {
		if v, ok := x.tri(f.flag); ok {
			p[f.field] = v
		}
	}
	return p
}

func acrRepositoryShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show the attributes of a repository or an image",
		example: "  moat acr repository show --name myregistry --repository app\n" +
			"  moat acr repository show --name myregistry --image app:v1",
		required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			targetFlags(cmd)
		},
		run: func(x *exec) (any, error) {
			return x.onImage("name", x.target, func(rc *registryClient, im image) (any, error) { return x.attributes(rc, im, nil) })
		},
	})
}

func acrRepositoryUpdate() *cobra.Command {
	return leaf(spec{
		use: "update", short: "Update the attributes (locks) of a repository or an image",
		example: "  moat acr repository update --name myregistry --image app:v1 --write-enabled false\n" +
			"  moat acr repository update --name myregistry --repository app --delete-enabled false --write-enabled true",
		required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			targetFlags(cmd)
			attributeFlags(cmd)
		},
		run: func(x *exec) (any, error) {
			return x.onImage("name", x.target, func(rc *registryClient, im image) (any, error) {
				return x.attributes(rc, im, x.attributePatch())
			})
		},
	})
}

func acrRepositoryUntag() *cobra.Command {
	return leaf(spec{
		use: "untag", short: "Untag an image: remove the tag, keep the manifest and its other tags",
		example: "  moat acr repository untag --name myregistry --image app:v1", required: []string{"name/-n", "image/-t"},
		flags: func(cmd *cobra.Command) {
			repositoryFlags(cmd)
			imageFlag(cmd, "the name of the image: 'name:tag' ('name' alone is name:latest)")
		},
		run: func(x *exec) (any, error) {
			parse := func() (image, error) { return parseImage(x.str("image"), false) }
			return x.onImage("name", parse, func(rc *registryClient, im image) (any, error) {
				path, _ := im.path(rc)
				_, err := rc.do(http.MethodDelete, path, repoScope(rc, im.repository, actDelete), nil, nil)
				return nil, err
			})
		},
	})
}

func acrRepositoryDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a repository, or an image (its manifest and every tag of it)",
		example: "  moat acr repository delete --name myregistry --repository app --yes\n" +
			"  moat acr repository delete --name myregistry --image app:v1",
		required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			targetFlags(cmd)
			yesFlag(cmd)
		},
		run: func(x *exec) (any, error) {
			return x.onImage("name", x.target, func(rc *registryClient, im image) (any, error) {
				scope := repoScope(rc, im.repository, actDeleteRead)
				if im.tag == "" && im.digest == "" {
					if err := x.confirm(fmt.Sprintf("Are you sure you want to delete the repository '%s' and all images under it?", im.repository)); err != nil {
						return nil, err
					}
					var out object
					_, err := rc.do(http.MethodDelete, "/acr/v1/"+rc.repo(im.repository), scope, nil, &out)
					return out, err
				}
				return nil, x.deleteManifest(rc, im, scope, true)
			})
		},
	})
}

// deleteManifest deletes the manifest an image names (looking up a tag's
// digest), after confirmation: listing the tags that go with it (describe)
// or not.
func (x *exec) deleteManifest(rc *registryClient, im image, scope string, describe bool) error {
	if im.digest == "" {
		var tag object
		if _, err := rc.do(http.MethodGet, "/acr/v1/"+rc.repo(im.repository)+"/_tags/"+im.tag, scope, nil, &tag); err != nil {
			return err
		}
		if im.digest = str(tag, "tag", "digest"); im.digest == "" {
			return fmt.Errorf("could not get the manifest digest for image '%s:%s'", im.repository, im.tag)
		}
	}
	question := fmt.Sprintf("Are you sure you want to delete the artifact '%s' and all manifests that refer to it?", im.digest)
	if describe {
		var m object
		if _, err := rc.do(http.MethodGet, "/acr/v1/"+rc.repo(im.repository)+"/_manifests/"+im.digest, scope, nil, &m); err != nil {
			return err
		}
		question = fmt.Sprintf("This operation will delete the manifest '%s'", im.digest)
		var images []string
		tags, _ := dig(m, "manifest", "tags").([]any)
		for _, t := range tags {
			images = append(images, fmt.Sprintf("'%s:%v'", im.repository, t))
		}
		if len(images) > 0 {
			question += " and all the following images: " + strings.Join(images, ", ")
		}
		if yes, _ := x.cmd.Flags().GetBool("yes"); yes {
			x.warn("%s", question)
		}
		question += ".\nAre you sure you want to continue?"
	}
	if err := x.confirm(question); err != nil {
		return err
	}
	_, err := rc.do(http.MethodDelete, "/v2/"+rc.repo(im.repository)+"/manifests/"+im.digest, scope, nil, nil)
	return err
}
