package cli

import (
	"github.com/spf13/cobra"
)

// `moat acr manifest ...` is az's: the registry is --registry/-r and the
// artifact --name/-n (a repository for list-metadata; name:tag or
// name@digest otherwise). Not here: az's positional fully qualified IDs
// (myregistry.azurecr.io/app:v1) and the soft-delete commands.

func newACRManifest() *cobra.Command {
	return parent("manifest", "Manage artifact manifests of a container registry",
		acrManifestListMetadata(), acrManifestShowMetadata(), acrManifestUpdateMetadata(), acrManifestDelete())
}

func manifestRegistryFlags(cmd *cobra.Command) {
	cmd.Flags().StringP("registry", "r", "", "the name of the container registry")
	registryCredentialFlags(cmd)
}

// manifestSpecFlags are the flags of the commands on one artifact.
func manifestSpecFlags(cmd *cobra.Command) {
	manifestRegistryFlags(cmd)
	cmd.Flags().StringP("name", "n", "", "the name of the artifact: 'name:tag' or 'name@digest'")
}

func acrManifestListMetadata() *cobra.Command {
	return leaf(spec{
		use: "list-metadata", short: "List the metadata of the manifests of a repository",
		example:  "  moat acr manifest list-metadata --registry myregistry --name app --orderby time_asc --query \"[?lastUpdateTime < '2025-01-01'].digest\"",
		required: []string{"registry/-r", "name/-n"},
		flags: func(cmd *cobra.Command) {
			manifestRegistryFlags(cmd)
			cmd.Flags().StringP("name", "n", "", "the name of the repository")
			listingFlags(cmd)
		},
		run: func(x *exec) (any, error) {
			top, orderby, err := x.listing()
			if err != nil {
				return nil, err
			}
			rc, err := x.registryClient("registry")
			if err != nil {
				return nil, err
			}
			repo := x.str("name")
			return rc.list("/acr/v1/"+rc.repo(repo)+"/_manifests", repoScope(rc, repo, actMetaRead), "manifests", top, orderby)
		},
	})
}

// manifestSpec reads --name as name:tag or name@digest.
func (x *exec) manifestSpec() (image, error) { return parseImage(x.str("name"), true) }

func acrManifestShowMetadata() *cobra.Command {
	return leaf(spec{
		use: "show-metadata", short: "Show the metadata of an artifact (a tag, or a manifest by digest)",
		example:  "  moat acr manifest show-metadata --registry myregistry --name app:v1",
		required: []string{"registry/-r", "name/-n"},
		flags: func(cmd *cobra.Command) {
			manifestSpecFlags(cmd)
		},
		run: func(x *exec) (any, error) {
			return x.onImage("registry", x.manifestSpec, func(rc *registryClient, im image) (any, error) { return x.attributes(rc, im, nil) })
		},
	})
}

func acrManifestUpdateMetadata() *cobra.Command {
	return leaf(spec{
		use: "update-metadata", short: "Update the attributes (locks) of an artifact",
		example:  "  moat acr manifest update-metadata --registry myregistry --name app@sha256:... --write-enabled false",
		required: []string{"registry/-r", "name/-n"},
		flags: func(cmd *cobra.Command) {
			manifestSpecFlags(cmd)
			attributeFlags(cmd)
		},
		run: func(x *exec) (any, error) {
			return x.onImage("registry", x.manifestSpec, func(rc *registryClient, im image) (any, error) {
				return x.attributes(rc, im, x.attributePatch())
			})
		},
	})
}

func acrManifestDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a manifest (and every tag of it)",
		example:  "  moat acr manifest delete --registry myregistry --name app:v1 --yes",
		required: []string{"registry/-r", "name/-n"},
		flags: func(cmd *cobra.Command) {
			manifestSpecFlags(cmd)
			yesFlag(cmd)
		},
		run: func(x *exec) (any, error) {
			return x.onImage("registry", x.manifestSpec, func(rc *registryClient, im image) (any, error) {
				return nil, x.deleteManifest(rc, im, repoScope(rc, im.repository, actDeleteRead), false)
			})
		},
	})
}
