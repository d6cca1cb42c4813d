package docker

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Image is a one-layer image in the format of `docker save`, made here so
// that no test has to run `docker build` (which runs containers): `docker
// load` reads Tar and tags the image with the given reference.
type Image struct {
	Tar []byte
	// ID is the image ID dockerd gives it: the digest of its config, which
	// is also the config digest of the manifest that `docker push` makes.
	ID string
}

// NewImage makes an image for linux/arch tagged ref whose one layer holds a
// file of random bytes, so that every image (and layer) is new to the
// registry.
func NewImage(ref, arch string) (Image, error) {
	payload := make([]byte, 512)
	if _, err := rand.Read(payload); err != nil {
		return Image{}, err
	}
	layer, err := tarOf(map[string][]byte{"moat-test/payload": payload})
	if err != nil {
		return Image{}, err
	}
	config, err := json.Marshal(map[string]any{
		"architecture": arch,
		"os":           "linux",
		"created":      time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		"config":       map[string]any{"Labels": map[string]string{"org.opencontainers.image.title": "moat docker test"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + sha256Hex(layer)}},
		"history":      []map[string]string{{"created_by": "moat test/docker NewImage"}},
	})
	if err != nil {
		return Image{}, err
	}
	configName := sha256Hex(config) + ".json"
	layerName := sha256Hex(layer) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{ref}, "Layers": []string{layerName}}})
	if err != nil {
		return Image{}, err
	}
	saved, err := tarOf(map[string][]byte{configName: config, layerName: layer, "manifest.json": manifest})
	if err != nil {
		return Image{}, err
	}
	return Image{Tar: saved, ID: "sha256:" + sha256Hex(config)}, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// tarOf is a tar archive of files (in sorted order, with their directories).
func tarOf(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	dirs := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		for i := range len(name) {
			if name[i] == '/' && !dirs[name[:i+1]] {
				dirs[name[:i+1]] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name[:i+1], Mode: 0o755, ModTime: mtime}); err != nil {
					return nil, err
				}
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(files[name])), ModTime: mtime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[name]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
