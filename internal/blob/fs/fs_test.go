package fs_test

import (
	"testing"

	"github.com/moat-registry/moat/internal/blob"
	"github.com/moat-registry/moat/internal/blob/blobtest"
	"github.com/moat-registry/moat/internal/blob/fs"
)

func TestSuite(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
