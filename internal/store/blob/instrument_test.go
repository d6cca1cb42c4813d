package blob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/store"
	"github.com/moat-registry/moat/internal/store/blob"
	blobfs "github.com/moat-registry/moat/internal/store/blob/fs"
	"github.com/moat-registry/moat/internal/store/storetest"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestInstrumentWrapsEveryMethod: the wrappers of the store and of its
// uploads embed nothing, so each method of blob.Store and blob.Upload is one
// they declare, and every one that returns an error counts a failure under
// its own name. A method added to Store or Upload and not instrumented fails
// here (or does not compile).
func TestInstrumentWrapsEveryMethod(t *testing.T) {
	errs := store.NewErrors(nil)
	b := blob.Instrument(failing{}, errs)
	uploadErrs := store.NewErrors(nil)
	u, err := blob.Instrument(failing{uploads: true}, uploadErrs).NewUpload(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v     any
		iface reflect.Type
		errs  *store.Errors
	}{
		{b, reflect.TypeOf((*blob.Store)(nil)).Elem(), errs},
		{u, reflect.TypeOf((*blob.Upload)(nil)).Elem(), uploadErrs},
	} {
		storetest.EveryMethodCounted(t, c.v, c.iface, c.errs, "blob", func(err error) string {
			if !errors.Is(err, errFail) {
				return "not the store's failure"
			}
			return ""
		})
	}
}

var errFail = errors.New("the disk failed")

// failing is a blob store whose every call fails; with uploads, NewUpload
// succeeds with an upload whose every call fails.
type failing struct {
	blob.Store // nil: a method not listed here panics
	uploads    bool
}

func (failing) Stat(context.Context, digest.Digest) (int64, error)       { return 0, errFail }
func (failing) Open(context.Context, digest.Digest) (blob.Reader, error) { return nil, errFail }
func (failing) Delete(context.Context, digest.Digest) error              { return errFail }
func (f failing) NewUpload(context.Context, digest.Algorithm) (blob.Upload, error) {
	if f.uploads {
		return failingUpload{}, nil
	}
	return nil, errFail
}
func (failing) ResumeUpload(context.Context, string) (blob.Upload, error) { return nil, errFail }
func (failing) Walk(context.Context, func(blob.Info) error) error         { return errFail }
func (failing) WalkUploads(context.Context, func(blob.UploadInfo) error) error {
	return errFail
}

type failingUpload struct{ blob.Upload }

func (failingUpload) ID() string                                           { return "u" }
func (failingUpload) Size() int64                                          { return 0 }
func (failingUpload) Append(context.Context, io.Reader) (int64, error)     { return 0, errFail }
func (failingUpload) AppendLast(context.Context, io.Reader) (int64, error) { return 0, errFail }
func (failingUpload) Commit(context.Context, digest.Digest) (int64, error) { return 0, errFail }
func (failingUpload) Cancel(context.Context) error                         { return errFail }
func (failingUpload) Close() error                                         { return errFail }

// TestInstrumentAnswers: the store's answers, a client's body that fails to
// read during Append and a Walk callback's error are not store failures.
func TestInstrumentAnswers(t *testing.T) {
	ctx := context.Background()
	errs := store.NewErrors(nil)
	raw, err := blobfs.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	b := blob.Instrument(raw, errs)
	if _, err := b.Stat(ctx, digest.FromString("missing")); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat of a missing blob: %v", err)
	}
	u, err := b.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Append(ctx, failingReader{}); err == nil {
		t.Fatal("Append of a failing body succeeded")
	}
	if _, err := u.AppendLast(ctx, failingReader{}); err == nil {
		t.Fatal("AppendLast of a failing body succeeded")
	}
	if _, err := u.Append(ctx, strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx, digest.FromString("other")); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Commit with the wrong digest: %v", err)
	}
	stop := fmt.Errorf("enough")
	put(t, b, "blob")
	if err := b.Walk(ctx, func(blob.Info) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Walk: %v, want the callback's error", err)
	}
	for _, op := range []string{"Stat", "Append", "AppendLast", "Commit", "Walk"} {
		if n := testutil.ToFloat64(errs.Counter("blob", op)); n != 0 {
			t.Errorf("an answer of %s counted as a store error: %v", op, n)
		}
	}
}

func put(t *testing.T, b blob.Store, data string) {
	t.Helper()
	ctx := context.Background()
	u, err := b.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Append(ctx, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx, digest.FromString(data)); err != nil {
		t.Fatal(err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }
