// Package blobtest is the conformance suite every blob.Store must pass.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/opencontainers/go-digest"
)

// Run runs the suite against stores made by newStore (a fresh, empty store each call).
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := map[string]func(*testing.T, blob.Store){
		"CommitMakesVisible":     testCommit,
		"InvisibleUntilCommit":   testInvisible,
		"DigestMismatch":         testMismatch,
		"ResumeAcrossChunks":     testResume,
		"SHA512":                 testSHA512,
		"OtherAlgorithmAtCommit": testOtherAlgorithm,
		"Cancel":                 testCancel,
		"EmptyBlob":              testEmpty,
		"SeekRange":              testSeek,
		"UnknownUpload":          testUnknownUpload,
		"Delete":                 testDelete,
		"CommitSameTwice":        testCommitTwice,
		"Walk":                   testWalk,
		"WalkUploads":            testWalkUploads,
		"LargeBlob":              testLarge,
		"LargeBlobTwice":         testLargeTwice,
		"LargeBlobConcurrently":  testLargeConcurrently,
		"AppendLast":             testAppendLast,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) { fn(t, newStore(t)) })
	}
}

// Random returns n random bytes.
func Random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Uploaded starts an upload and appends data to it, uncommitted.
func Uploaded(t testing.TB, s blob.Store, data []byte) blob.Upload {
	t.Helper()
	ctx := context.Background()
	u, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Append(ctx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return u
}

func put(t *testing.T, s blob.Store, data []byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	u := Uploaded(t, s, data)
	d := digest.FromBytes(data)
	n, err := u.Commit(ctx, d)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if n != int64(len(data)) {
		t.Fatalf("commit size %d, want %d", n, len(data))
	}
	return d
}

// ReadAll reads committed blob d whole; its Size must match what was read.
func ReadAll(t *testing.T, s blob.Store, d digest.Digest) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(b)) {
		t.Fatalf("Size() %d, read %d", r.Size(), len(b))
	}
	return b
}

func testCommit(t *testing.T, s blob.Store) {
	data := Random(t, 100_000)
	d := put(t, s, data)
	if got := ReadAll(t, s, d); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if n, err := s.Stat(context.Background(), d); err != nil || n != int64(len(data)) {
		t.Fatalf("stat = %d, %v", n, err)
	}
}

func testInvisible(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := Random(t, 1000)
	u, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Append(ctx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, digest.FromBytes(data)); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat of uncommitted blob: %v, want ErrNotFound", err)
	}
	if _, err := s.Open(ctx, digest.FromBytes(data)); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("open of uncommitted blob: %v, want ErrNotFound", err)
	}
}

func testMismatch(t *testing.T, s blob.Store) {
	ctx := context.Background()
	u, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Append(ctx, bytes.NewReader([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	wrong := digest.FromString("other")
	if _, err := u.Commit(ctx, wrong); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("commit with wrong digest: %v", err)
	}
	if _, err := s.Stat(ctx, wrong); !errors.Is(err, blob.ErrNotFound) {
		t.Fatal("mismatched blob became visible")
	}
}

func testResume(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := Random(t, 300_000)
	u, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	u.Close()
	for off := 0; off < len(data); off += 70_000 {
		end := min(off+70_000, len(data))
		u, err := s.ResumeUpload(ctx, id)
		if err != nil {
			t.Fatalf("resume: %v", err)
		}
		if u.Size() != int64(off) {
			t.Fatalf("size %d, want %d", u.Size(), off)
		}
		if _, err := u.Append(ctx, bytes.NewReader(data[off:end])); err != nil {
			t.Fatal(err)
		}
		u.Close()
	}
	u, err = s.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx, digest.FromBytes(data)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ReadAll(t, s, digest.FromBytes(data)), data) {
		t.Fatal("content differs")
	}
	if _, err := s.ResumeUpload(ctx, id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("committed upload still resumable: %v", err)
	}
}

func testSHA512(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := Random(t, 5000)
	u, err := s.NewUpload(ctx, digest.SHA512)
	if err != nil {
		t.Fatal(err)
	}
	u.Append(ctx, bytes.NewReader(data))
	d := digest.SHA512.FromBytes(data)
	if _, err := u.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ReadAll(t, s, d), data) {
		t.Fatal("content differs")
	}
}

func testOtherAlgorithm(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := Random(t, 5000)
	u, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	u.Append(ctx, bytes.NewReader(data))
	if _, err := u.Commit(ctx, digest.SHA512.FromBytes(data)); err != nil {
		t.Fatalf("sha512 commit of an upload started as sha256: %v", err)
	}
}

func testCancel(t *testing.T, s blob.Store) {
	ctx := context.Background()
	u, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	u.Append(ctx, bytes.NewReader([]byte("abc")))
	if err := u.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResumeUpload(ctx, id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("cancelled upload resumable: %v", err)
	}
}

func testEmpty(t *testing.T, s blob.Store) {
	d := put(t, s, nil)
	if got := ReadAll(t, s, d); len(got) != 0 {
		t.Fatal("empty blob not empty")
	}
}

func testSeek(t *testing.T, s blob.Store) {
	data := Random(t, 10_000)
	d := put(t, s, data)
	r, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Seek(4000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 100)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, data[4000:4100]) {
		t.Fatal("range differs")
	}
}

func testUnknownUpload(t *testing.T, s blob.Store) {
	for _, id := range []string{"", "nope", "../../etc", "00000000000000000000000000000000"} {
		if _, err := s.ResumeUpload(context.Background(), id); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("resume %q: %v, want ErrNotFound", id, err)
		}
	}
}

func testDelete(t *testing.T, s blob.Store) {
	d := put(t, s, []byte("to delete"))
	if err := s.Delete(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(context.Background(), d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("deleted blob: %v", err)
	}
}

func testCommitTwice(t *testing.T, s blob.Store) {
	data := []byte("same content")
	put(t, s, data)
	put(t, s, data)
	if !bytes.Equal(ReadAll(t, s, digest.FromBytes(data)), data) {
		t.Fatal("content differs")
	}
}

func testWalk(t *testing.T, s blob.Store) {
	ctx := context.Background()
	a := put(t, s, []byte("walk a"))
	b := put(t, s, Random(t, 3000))
	u, err := s.NewUpload(ctx, digest.SHA256) // not committed: must not be listed
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Append(ctx, bytes.NewReader([]byte("pending"))); err != nil {
		t.Fatal(err)
	}
	u.Close()
	before := time.Now().Add(-time.Minute)
	got := map[digest.Digest]blob.Info{}
	if err := s.Walk(ctx, func(i blob.Info) error { got[i.Digest] = i; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[a].Size != 6 || got[b].Size != 3000 {
		t.Fatalf("walk = %v, want %s (6 bytes) and %s (3000 bytes)", got, a, b)
	}
	for d, i := range got {
		if i.Committed.Before(before) || i.Committed.After(time.Now().Add(time.Minute)) {
			t.Fatalf("%s committed at %v, want about now", d, i.Committed)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Walk(ctx, func(blob.Info) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("walk stopped by fn: err %v after %d calls, want stop after 1", err, n)
	}
	if err := s.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	clear(got)
	if err := s.Walk(ctx, func(i blob.Info) error { got[i.Digest] = i; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := got[a]; ok || len(got) != 1 {
		t.Fatalf("walk after delete = %v, want only %s", got, b)
	}
}

func testWalkUploads(t *testing.T, s blob.Store) {
	ctx := context.Background()
	u1, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	id1 := u1.ID()
	u1.Close()
	u2, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u2.Append(ctx, bytes.NewReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := u2.Commit(ctx, digest.FromString("x")); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := s.WalkUploads(ctx, func(i blob.UploadInfo) error {
		if i.Updated.IsZero() {
			t.Errorf("upload %s has no time", i.ID)
		}
		ids = append(ids, i.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != id1 {
		t.Fatalf("uploads = %v, want only the open one %s", ids, id1)
	}
}

// Large is the size of the suite's large blobs: more than two parts of the
// S3 store's smallest part size (5 MiB), with a partial last part.
const Large = 11<<20 + 4321

// testLarge: a blob of several parts reads back whole and by range, is
// listed with its size, and is gone after Delete.
func testLarge(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := Random(t, Large)
	d := put(t, s, data)
	if !bytes.Equal(ReadAll(t, s, d), data) {
		t.Fatal("content differs")
	}
	if n, err := s.Stat(ctx, d); err != nil || n != Large {
		t.Fatalf("stat = %d, %v; want %d", n, err, Large)
	}
	r, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(Large - 7000)
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(tail, data[off:]) {
		t.Fatalf("range read from %d: %v", off, err)
	}
	var sizes []int64
	if err := s.Walk(ctx, func(i blob.Info) error { sizes = append(sizes, i.Size); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 1 || sizes[0] != Large {
		t.Fatalf("walk sizes %v, want [%d]", sizes, Large)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("open after delete: %v", err)
	}
	if err := s.Delete(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}

// testLargeTwice: committing a large blob again keeps it readable and
// refreshes its commit time (garbage collection's grace window).
func testLargeTwice(t *testing.T, s blob.Store) {
	data := Random(t, Large)
	d := put(t, s, data)
	first := committed(t, s, d)
	time.Sleep(1100 * time.Millisecond) // object stores keep times to the second
	put(t, s, data)
	if again := committed(t, s, d); !again.After(first) {
		t.Fatalf("commit time %v after a second commit, want after %v", again, first)
	}
	if !bytes.Equal(ReadAll(t, s, d), data) {
		t.Fatal("content differs")
	}
}

func committed(t *testing.T, s blob.Store, d digest.Digest) time.Time {
	t.Helper()
	var at time.Time
	if err := s.Walk(context.Background(), func(i blob.Info) error {
		if i.Digest == d {
			at = i.Committed
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if at.IsZero() {
		t.Fatalf("%s not listed", d)
	}
	return at
}

// testLargeConcurrently: uploads of the same large content committed at once
// all succeed, and the blob reads back whole.
func testLargeConcurrently(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := Random(t, Large)
	d := digest.FromBytes(data)
	const n = 4
	ups := make([]blob.Upload, n)
	for i := range ups {
		ups[i] = Uploaded(t, s, data)
	}
	errs := make(chan error, n)
	for _, u := range ups {
		go func() { _, err := u.Commit(ctx, d); errs <- err }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	if !bytes.Equal(ReadAll(t, s, d), data) {
		t.Fatal("content differs")
	}
}

// testAppendLast: the last chunk appended with AppendLast and committed in
// the same request, after a chunk of an earlier request or none, small and
// large; a wrong digest still publishes nothing; and an upload left without
// its commit resumes from the Size it reports, whatever that is.
func testAppendLast(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for _, n := range []int{100_000, Large} {
		for _, first := range []int{0, 70_000} {
			data := Random(t, n)
			d := digest.FromBytes(data)
			start := func() blob.Upload {
				t.Helper()
				u, err := s.NewUpload(ctx, digest.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				if first > 0 {
					if _, err := u.Append(ctx, bytes.NewReader(data[:first])); err != nil {
						t.Fatal(err)
					}
					id := u.ID()
					u.Close() // the next chunk comes in another request
					if u, err = s.ResumeUpload(ctx, id); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := u.AppendLast(ctx, bytes.NewReader(data[first:])); err != nil {
					t.Fatal(err)
				}
				return u
			}

			u := start()
			if _, err := u.Commit(ctx, digest.FromString("other")); !errors.Is(err, blob.ErrDigestMismatch) {
				t.Fatalf("%d bytes after %d: commit with a wrong digest: %v", n, first, err)
			}
			u.Cancel(ctx) // as the registry does after a mismatch
			if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("%d bytes after %d: stat after a mismatch: %v", n, first, err)
			}

			u = start()
			id := u.ID()
			if size, err := u.Commit(ctx, d); err != nil || size != int64(n) {
				t.Fatalf("%d bytes after %d: commit = %d, %v", n, first, size, err)
			}
			if !bytes.Equal(ReadAll(t, s, d), data) {
				t.Fatalf("%d bytes after %d: content differs", n, first)
			}
			if _, err := s.ResumeUpload(ctx, id); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("committed upload still resumable: %v", err)
			}
			if err := s.Delete(ctx, d); err != nil {
				t.Fatal(err)
			}

			u = start()
			id = u.ID()
			u.Close() // no commit: the request failed in between
			u, err := s.ResumeUpload(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got := u.Size()
			if got < int64(first) || got > int64(n) {
				t.Fatalf("%d bytes after %d: resumed at %d", n, first, got)
			}
			if _, err := u.Append(ctx, bytes.NewReader(data[got:])); err != nil {
				t.Fatal(err)
			}
			if _, err := u.Commit(ctx, d); err != nil {
				t.Fatalf("%d bytes after %d, resumed at %d: commit: %v", n, first, got, err)
			}
			if !bytes.Equal(ReadAll(t, s, d), data) {
				t.Fatalf("%d bytes after %d, resumed at %d: content differs", n, first, got)
			}
			if err := s.Delete(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
}
