package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/moat-registry/moat/internal/store/blob/blobtest"
	"github.com/moat-registry/moat/internal/store/blob/s3"
	"github.com/moat-registry/moat/internal/store/blob/s3/s3test"
	"github.com/opencontainers/go-digest"
)

func open(t testing.TB, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		cfg := s3test.Config(t)
		cfg.PartSize = 5 << 20
		return open(t, cfg)
	})
}

func appendTo(t *testing.T, s blob.Store, id string, data []byte) {
	t.Helper()
	u, err := s.ResumeUpload(context.Background(), id)
	if err != nil {
		t.Fatalf("resume %s: %v", id, err)
	}
	defer u.Close()
	if _, err := u.Append(context.Background(), bytes.NewReader(data)); err != nil {
		t.Fatalf("append: %v", err)
	}
}

// An upload started on one node continues on another: two Store instances on
// one bucket, as two moat nodes are. The chunks straddle part boundaries, so
// the tail, the parts and the hash state all travel through the bucket.
func TestUploadMovesBetweenNodes(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	a, b := open(t, cfg), open(t, cfg)
	ctx := context.Background()
	data := blobtest.Random(t, 13<<20+12345)
	u, err := a.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	u.Close()
	cuts := []int{0, 3 << 20, 7 << 20, 7<<20 + 1, 11 << 20, len(data)}
	for i := 1; i < len(cuts); i++ {
		node := []blob.Store{a, b}[i%2]
		appendTo(t, node, id, data[cuts[i-1]:cuts[i]])
	}
	u, err = b.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Size() != int64(len(data)) {
		t.Fatalf("size on node b %d, want %d", u.Size(), len(data))
	}
	d := digest.FromBytes(data)
	if _, err := u.Commit(ctx, digest.FromString("wrong")); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("commit with a wrong digest: %v", err)
	}
	if _, err := a.Stat(ctx, digest.FromString("wrong")); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("mismatched blob visible: %v", err)
	}
	u, err = b.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatalf("upload gone after a failed commit: %v", err)
	}
	if n, err := u.Commit(ctx, d); err != nil || n != int64(len(data)) {
		t.Fatalf("commit on node b: %d, %v", n, err)
	}
	if !bytes.Equal(blobtest.ReadAll(t, a, d), data) {
		t.Fatal("content read on node a differs")
	}
	// A range read far into the blob.
	r, err := a.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Seek(9<<20, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1000)
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, data[9<<20:9<<20+1000]) {
		t.Fatalf("range read: %v", err)
	}
}

// Two requests on one upload from two nodes at once: they are serialised by
// the session's lease, so the result is one chunk after the other, never a mix.
func TestConcurrentAppendsFromTwoNodes(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	a, b := open(t, cfg), open(t, cfg)
	ctx := context.Background()
	u, err := a.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	u.Close()
	x, y := blobtest.Random(t, 6<<20), blobtest.Random(t, 3<<20)
	var wg sync.WaitGroup
	for _, c := range []struct {
		s    blob.Store
		data []byte
	}{{a, x}, {b, y}} {
		wg.Go(func() { appendTo(t, c.s, id, c.data) })
	}
	wg.Wait()
	u, err = a.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	xy, yx := append(append([]byte{}, x...), y...), append(append([]byte{}, y...), x...)
	d := digest.FromBytes(xy)
	if _, err := u.Commit(ctx, d); errors.Is(err, blob.ErrDigestMismatch) {
		u, _ = a.ResumeUpload(ctx, id)
		d = digest.FromBytes(yx)
		if _, err := u.Commit(ctx, d); err != nil {
			t.Fatalf("content is neither x+y nor y+x: %v", err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	got := blobtest.ReadAll(t, b, d)
	if !bytes.Equal(got, xy) && !bytes.Equal(got, yx) {
		t.Fatal("committed content is a mix of the two requests")
	}
}

// If the server ignored If-Match / If-None-Match, the lease would not protect
// concurrent requests: this fails on such a server.
func TestConditionalWrites(t *testing.T) {
	if err := s3.CheckConditionalWrites(context.Background(), open(t, s3test.Config(t))); err != nil {
		t.Fatal(err)
	}
}

// failingReader gives its bytes, then fails as a client that went away does:
// the request's context ends with it.
type failingReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		f.cancel()
		return n, errors.New("client went away")
	}
	return n, err
}

// A request body that breaks off keeps what arrived (parts and a tail; the
// part being uploaded when it broke too), on another node too, so the client
// resumes from Size() without re-sending.
func TestBrokenBodyKeepsWhatArrived(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	a, b := open(t, cfg), open(t, cfg)
	ctx := context.Background()
	data := blobtest.Random(t, 23<<20)
	for _, cut := range []int{6 << 20, 21<<20 + 17} {
		u, err := a.NewUpload(ctx, digest.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		reqCtx, cancel := context.WithCancel(ctx)
		if _, err := u.Append(reqCtx, failingReader{bytes.NewReader(data[:cut]), cancel}); err == nil {
			t.Fatal("append of a broken body succeeded")
		}
		id := u.ID()
		u.Close()
		u, err = b.ResumeUpload(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if u.Size() != int64(cut) {
			t.Fatalf("size after a body broken at %d: %d", cut, u.Size())
		}
		if _, err := u.Append(ctx, bytes.NewReader(data[cut:])); err != nil {
			t.Fatal(err)
		}
		if _, err := u.Commit(ctx, digest.FromBytes(data)); err != nil {
			t.Fatalf("commit: %v", err)
		}
		if !bytes.Equal(blobtest.ReadAll(t, a, digest.FromBytes(data)), data) {
			t.Fatal("content differs")
		}
	}
}

// blockingReader gives its bytes, then waits for release before ending.
type blockingReader struct {
	r       io.Reader
	release chan struct{}
}

func (b blockingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		<-b.release
	}
	return n, err
}

// While a long request is still streaming, its parts are checkpointed: the
// session another node reads names only uploaded parts, with the hash state of
// exactly those bytes (taken before the next part was hashed).
func TestCheckpointsDuringARequest(t *testing.T) {
	defer s3.SetCheckpointEvery(5 << 20)()
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	a, b := open(t, cfg), open(t, cfg)
	ctx := context.Background()
	data := blobtest.Random(t, 17<<20)
	u, err := a.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := u.Append(ctx, blockingReader{bytes.NewReader(data[:12<<20]), release})
		u.Close()
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		size, d, err := s3.Saved(ctx, b, id)
		if err != nil {
			t.Fatal(err)
		}
		if d != digest.FromBytes(data[:size]) {
			t.Fatalf("saved hash state does not match the first %d bytes", size)
		}
		if size == 10<<20 {
			break // two parts checkpointed while the request still runs
		}
		if size > 10<<20 || time.Now().After(deadline) {
			t.Fatalf("saved size %d, want 10 MiB while the body is still open", size)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	appendTo(t, b, id, data[12<<20:])
	bu, err := b.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bu.Commit(ctx, digest.FromBytes(data)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blobtest.ReadAll(t, a, digest.FromBytes(data)), data) {
		t.Fatal("content differs")
	}
}
