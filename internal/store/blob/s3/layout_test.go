package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/moat-registry/moat/internal/store/blob/blobtest"
	"github.com/moat-registry/moat/internal/store/blob/s3"
	"github.com/moat-registry/moat/internal/store/blob/s3/s3test"
	"github.com/opencontainers/go-digest"
)

func objects(t *testing.T, s *s3.Store) map[string]int64 {
	t.Helper()
	m, err := s3.Objects(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// expire removes an upload as upload expiry does (resume, cancel).
func expire(t *testing.T, s *s3.Store, id string) {
	t.Helper()
	u, err := s.ResumeUpload(context.Background(), id)
	if err != nil {
		t.Fatalf("resume %s: %v", id, err)
	}
	if err := u.Cancel(context.Background()); err != nil {
		t.Fatalf("cancel: %v", err)
	}
}

// wantOnly checks the bucket holds exactly the blob's pointer and its data
// object at data/<id>, the key its parts were uploaded to: the bytes were
// stored once, never copied.
func wantOnly(t *testing.T, s *s3.Store, d digest.Digest, id string, size int64) {
	t.Helper()
	objs := objects(t, s)
	ptr := "blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded()
	if _, ok := objs[ptr]; !ok || objs["data/"+id] != size || len(objs) != 2 {
		t.Fatalf("bucket holds %v; want only the pointer %s and data/%s of %d bytes", objs, ptr, id, size)
	}
}

// A blob of several parts is stored once: its multipart upload is completed
// where the parts were uploaded, and its key points there.
func TestBlobWrittenOnce(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	s := open(t, cfg)
	ctx := context.Background()
	data := blobtest.Random(t, blobtest.Large)
	u := blobtest.Uploaded(t, s, data)
	id := u.ID()
	d := digest.FromBytes(data)
	if _, err := u.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	wantOnly(t, s, d, id, int64(len(data)))
	// The same content committed again keeps the first data object (a
	// reader may be streaming it) and removes the second.
	if _, err := blobtest.Uploaded(t, s, data).Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	wantOnly(t, s, d, id, int64(len(data)))
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if objs := objects(t, s); len(objs) != 0 {
		t.Fatalf("after delete the bucket holds %v", objs)
	}
}

// A node that dies between completing the multipart upload and writing the
// pointer leaves a data object no blob names: the commit retried finishes it,
// and upload expiry deletes it.
func TestCrashBeforePointer(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	ctx := context.Background()
	data := blobtest.Random(t, blobtest.Large)
	d := digest.FromBytes(data)

	t.Run("retried", func(t *testing.T) {
		s := open(t, cfg)
		u := blobtest.Uploaded(t, s, data)
		id := u.ID()
		if err := s3.CommitThenCrash(ctx, u, d, "completed"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("blob visible before its pointer: %v", err)
		}
		u, err := s.ResumeUpload(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := u.Commit(ctx, d); err != nil || n != int64(len(data)) {
			t.Fatalf("retried commit: %d, %v", n, err)
		}
		wantOnly(t, s, d, id, int64(len(data)))
		if !bytes.Equal(blobtest.ReadAll(t, s, d), data) {
			t.Fatal("content differs")
		}
	})
	t.Run("expired", func(t *testing.T) {
		cfg := cfg
		cfg.Prefix += "-expired"
		s := open(t, cfg)
		u := blobtest.Uploaded(t, s, data)
		id := u.ID()
		if err := s3.CommitThenCrash(ctx, u, d, "completed"); err != nil {
			t.Fatal(err)
		}
		expire(t, s, id)
		if objs := objects(t, s); len(objs) != 0 {
			t.Fatalf("after expiry the bucket holds %v", objs)
		}
	})
}

// A node that dies after writing the pointer, before removing the session:
// the blob is committed; the commit retried answers as a success, and upload
// expiry removes the session but keeps the data the pointer names.
func TestCrashAfterPointer(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	ctx := context.Background()
	data := blobtest.Random(t, blobtest.Large)
	d := digest.FromBytes(data)
	for _, then := range []string{"retried", "expired"} {
		t.Run(then, func(t *testing.T) {
			cfg := cfg
			cfg.Prefix += "-" + then
			s := open(t, cfg)
			u := blobtest.Uploaded(t, s, data)
			id := u.ID()
			if err := s3.CommitThenCrash(ctx, u, d, "published"); err != nil {
				t.Fatal(err)
			}
			if then == "retried" {
				u, err := s.ResumeUpload(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if n, err := u.Commit(ctx, d); err != nil || n != int64(len(data)) {
					t.Fatalf("retried commit: %d, %v", n, err)
				}
				if _, err := s.ResumeUpload(ctx, id); !errors.Is(err, blob.ErrNotFound) {
					t.Fatalf("upload after its commit: %v", err)
				}
			} else {
				expire(t, s, id)
			}
			wantOnly(t, s, d, id, int64(len(data)))
			if !bytes.Equal(blobtest.ReadAll(t, s, d), data) {
				t.Fatal("content differs")
			}
		})
	}
}

// Blobs stored by earlier releases (the bytes at the blob's key) stay
// readable; committing one again replaces it with a pointer.
func TestEarlierLayout(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	s := open(t, cfg)
	ctx := context.Background()
	data := blobtest.Random(t, blobtest.Large)
	d := digest.FromBytes(data)
	if err := s3.PutRaw(ctx, s, data); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blobtest.ReadAll(t, s, d), data) {
		t.Fatal("content of a blob of the earlier layout differs")
	}
	var sizes []int64
	if err := s.Walk(ctx, func(i blob.Info) error { sizes = append(sizes, i.Size); return nil }); err != nil || len(sizes) != 1 || sizes[0] != int64(len(data)) {
		t.Fatalf("walk: %v, %v", sizes, err)
	}
	u := blobtest.Uploaded(t, s, data)
	id := u.ID()
	if _, err := u.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	wantOnly(t, s, d, id, int64(len(data)))
	if !bytes.Equal(blobtest.ReadAll(t, s, d), data) {
		t.Fatal("content differs")
	}

	// An upload an earlier release started (its parts under uploads/<id>/data)
	// is finished by this one.
	other := blobtest.Random(t, blobtest.Large)
	id, err := s3.NewLegacyUpload(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, s, id, other)
	u, err = s.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	od := digest.FromBytes(other)
	if _, err := u.Commit(ctx, od); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blobtest.ReadAll(t, s, od), other) {
		t.Fatal("content of the earlier release's upload differs")
	}
	if err := s.Delete(ctx, od); err != nil {
		t.Fatal(err)
	}
	for k := range objects(t, s) {
		if strings.HasPrefix(k, "uploads/") {
			t.Fatalf("%s left after the earlier release's upload was committed and deleted", k)
		}
	}
}

// A commit's requests, each in the client's wait: the first commit of an
// upload in parts saves the digest with the lease, uploads the tail as the
// last part, completes, writes the pointer and removes the tail object and
// the session. Nothing can have been completed before it, so it does not look
// at the blob's key.
func TestCommitRequests(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	s := open(t, cfg)
	count := s3.CountRequests(s)
	data := blobtest.Random(t, blobtest.Large)
	u := blobtest.Uploaded(t, s, data)
	count()
	if _, err := u.Commit(context.Background(), digest.FromBytes(data)); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"PutObject": 2, "UploadPart": 1, "CompleteMultipartUpload": 1, "DeleteObject": 2}
	if got := count(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("commit requests %v, want %v", got, want)
	}
}

// A blob whose last bytes come with its commit (AppendLast: a PUT with a
// body, a monolithic POST) is written once, small or in parts: no tail
// object, and no session saves beyond the lease and the digest.
func TestAppendLastRequests(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	s := open(t, cfg)
	ctx := context.Background()
	for _, c := range []struct {
		size int
		want map[string]int
	}{
		// The lease, the blob.
		{100_000, map[string]int{"DeleteObject": 1, "PutObject": 2}},
		// The lease, two parts, the digest with the lease, the last part,
		// the completion, the pointer.
		{blobtest.Large, map[string]int{"CompleteMultipartUpload": 1, "CreateMultipartUpload": 1, "DeleteObject": 1, "PutObject": 3, "UploadPart": 3}},
	} {
		data := blobtest.Random(t, c.size)
		d := digest.FromBytes(data)
		u, err := s.NewUpload(ctx, digest.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		count := s3.CountRequests(s)
		if _, err := u.AppendLast(ctx, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if _, err := u.Commit(ctx, d); err != nil {
			t.Fatal(err)
		}
		if got := count(); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%d bytes: AppendLast and Commit sent %v, want %v", c.size, got, c.want)
		}
		objs := objects(t, s)
		var stored int64
		for _, n := range objs {
			stored += n
		}
		if stored > int64(c.size)+1024 || !bytes.Equal(blobtest.ReadAll(t, s, d), data) {
			t.Errorf("%d bytes: the bucket holds %v", c.size, objs)
		}
		if err := s.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}

// While AppendLast holds bytes for the commit, the session as another node
// reads it is a consistent point: its size and the digest of its hash state
// are those of the bytes before it, after checkpoint saves during the
// request, after a commit that took the lease again (it had aged) and after
// a commit that failed. A commit whose lease has aged still publishes the
// blob, and an upload whose commit failed resumes where it was saved.
func TestAppendLastKeepsSavedState(t *testing.T) {
	cfg := s3test.Config(t)
	cfg.PartSize = 5 << 20
	s := open(t, cfg)
	ctx := context.Background()
	for _, every := range []int64{64 << 20, 1} {
		restore := s3.SetCheckpointEvery(every)
		for _, n := range []int{100_000, blobtest.Large} {
			data := blobtest.Random(t, n)
			d := digest.FromBytes(data)
			consistent := func(id, when string) int64 {
				t.Helper()
				size, hashed, err := s3.Saved(ctx, s, id)
				if err != nil {
					t.Fatal(err)
				}
				if size < 70_000 || size > int64(n) || hashed != digest.FromBytes(data[:size]) {
					t.Fatalf("checkpoint every %d, %d bytes, %s: saved size %d with the hash of other bytes", every, n, when, size)
				}
				return size
			}
			held := func() blob.Upload {
				t.Helper()
				u := blobtest.Uploaded(t, s, data[:70_000])
				id := u.ID()
				u.Close()
				u, err := s.ResumeUpload(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := u.AppendLast(ctx, bytes.NewReader(data[70_000:])); err != nil {
					t.Fatal(err)
				}
				consistent(id, "bytes held")
				s3.AgeLease(u)
				return u
			}

			u := held()
			if _, err := u.Commit(ctx, d); err != nil {
				t.Fatalf("checkpoint every %d, %d bytes: commit after the lease aged: %v", every, n, err)
			}
			if !bytes.Equal(blobtest.ReadAll(t, s, d), data) {
				t.Fatal("content differs")
			}
			if err := s.Delete(ctx, d); err != nil {
				t.Fatal(err)
			}

			u = held()
			id := u.ID()
			if _, err := u.Commit(ctx, digest.FromString("other")); !errors.Is(err, blob.ErrDigestMismatch) {
				t.Fatalf("commit with a wrong digest: %v", err)
			}
			size := consistent(id, "after a failed commit")
			if u, err := s.ResumeUpload(ctx, id); err != nil {
				t.Fatal(err)
			} else if _, err := u.Append(ctx, bytes.NewReader(data[size:])); err != nil {
				t.Fatal(err)
			} else if _, err := u.Commit(ctx, d); err != nil {
				t.Fatalf("resumed at %d: %v", size, err)
			}
			if !bytes.Equal(blobtest.ReadAll(t, s, d), data) {
				t.Fatal("content differs")
			}
			if err := s.Delete(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		restore()
	}
}
