package s3

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/opencontainers/go-digest"
)

// Commit verifies the digest and only then makes the bytes visible under the
// blob's key: a small upload's tail is put there; a larger one's multipart
// upload is completed where it is and the key gets a pointer to it
// (pointer.go), so every byte is written once.
func (u *upload) Commit(ctx context.Context, d digest.Digest) (_ int64, err error) {
	defer u.release()
	if err := blob.CommitDigest(d); err != nil {
		return 0, err
	}
	alg := d.Algorithm()
	// The digest being committed is saved with the lease, before anything
	// is completed (see complete); a digest of an earlier attempt stays.
	// first: no commit got that far before, so nothing was completed.
	// A blob that AppendLast holds whole needs neither while this request's
	// lease is fresh: it goes to its key once its digest is verified, and
	// the upload is removed.
	var first bool
	if u.held == nil || u.st.MPU != "" || time.Until(u.st.LeaseUntil) < leaseTTL/2 {
		if err := u.acquireWith(ctx, func(st *session) {
			first = st.Digest == ""
			if st.MPU != "" && first {
				st.Digest = d
			}
		}); err != nil {
			return 0, err
		}
	}
	defer func() {
		if err != nil && !errors.Is(err, blob.ErrDigestMismatch) {
			u.dropLease(ctx)
		}
	}()
	if alg == u.st.Alg && digest.NewDigest(alg, u.h) != d {
		return 0, errors.Join(blob.ErrDigestMismatch, u.releaseLease(ctx))
	}
	if done, err := u.dataInUse(ctx, first); err != nil || done {
		// A commit published the blob and stopped before removing the
		// session: this one finishes it (or, for another digest, the
		// upload is gone as after any commit).
		if err == nil && u.st.Digest != d {
			err = blob.ErrNotFound
		}
		if err == nil {
			u.remove(ctx, true)
		}
		return u.st.Size, err
	}
	dst, _ := u.s.blobKey(d)
	tail, err := u.readTail(ctx)
	if err != nil {
		return 0, err
	}
	size := u.partsSize() + int64(len(tail)) // more than the session as saved when AppendLast held the tail
	if u.st.MPU == "" {
		// Everything is in the tail: put it straight to the final key.
		if alg != u.st.Alg && alg.FromBytes(tail) != d {
			return 0, errors.Join(blob.ErrDigestMismatch, u.releaseLease(ctx))
		}
		if _, err := u.s.publish(ctx, dst, content{bytes: tail, size: int64(len(tail))}); err != nil {
			return 0, err
		}
		u.remove(ctx, false)
		return size, nil
	}
	if err := u.complete(ctx, tail, d); err != nil {
		return 0, err
	}
	used, err := u.s.publish(ctx, dst, content{data: u.dataKey(), size: size})
	if err != nil {
		return 0, err
	}
	u.remove(ctx, used)
	return size, nil
}

// complete uploads the tail as the last part and completes the multipart
// upload at its data key, with the session saying which digest it is for (the
// lease's write did, unless an earlier attempt named another). The session
// is not saved with the tail's part: a commit retried after the completion
// (the answer was lost, or the node died before publishing) finds the
// multipart upload gone and the data object there, whole.
func (u *upload) complete(ctx context.Context, tail []byte, d digest.Digest) error {
	size := u.partsSize() + int64(len(tail))
	if u.st.Digest != d {
		u.st.Digest = d
		if err := u.save(ctx, false); err != nil {
			return err
		}
	}
	if len(tail) > 0 {
		err := u.uploadPart(ctx, tail)
		if isNoSuchUpload(err) && u.dataComplete(ctx, size) {
			u.completed = true
			return u.checkAlgorithm(ctx, d)
		}
		if err != nil {
			return err
		}
	}
	data := u.dataKey()
	parts := make([]types.CompletedPart, len(u.st.Parts))
	for i, p := range u.st.Parts {
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(p.N), ETag: aws.String(p.ETag)}
	}
	_, err := u.s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &u.s.bucket, Key: &data, UploadId: &u.st.MPU,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if isNoSuchUpload(err) && u.dataComplete(ctx, size) {
		err = nil // completed by an earlier attempt
	}
	if err != nil {
		return mapErr(err)
	}
	u.completed = true
	return u.checkAlgorithm(ctx, d)
}

// dataComplete reports whether the data object is there with all the
// upload's size bytes (its multipart upload was completed).
func (u *upload) dataComplete(ctx context.Context, size int64) bool {
	data := u.dataKey()
	out, err := u.s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.s.bucket, Key: &data})
	return err == nil && aws.ToInt64(out.ContentLength) == size
}

// checkAlgorithm hashes the data object again when d's algorithm is not the
// one the upload was started with.
func (u *upload) checkAlgorithm(ctx context.Context, d digest.Digest) error {
	if d.Algorithm() != u.st.Alg {
		// Another algorithm than the upload was started with: hash again.
		got, err := u.s.hashObject(ctx, u.dataKey(), d.Algorithm())
		if err != nil {
			return err
		}
		if got != d {
			u.remove(ctx, false) // the multipart upload is spent: the client starts over
			return blob.ErrDigestMismatch
		}
	}
	return nil
}

func (s *Store) hashObject(ctx context.Context, key string, alg digest.Algorithm) (digest.Digest, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return "", mapErr(err)
	}
	defer out.Body.Close()
	d, err := alg.FromReader(out.Body)
	return d, mapErr(err)
}

// remove deletes everything of the upload but a data object that a blob's
// key points to (inUse); the session goes last, so an interrupted removal is
// still listed by WalkUploads and expired later.
func (u *upload) remove(ctx context.Context, inUse bool) {
	ctx = context.WithoutCancel(ctx)
	if u.st.MPU != "" {
		data := u.dataKey()
		if !u.completed {
			_, _ = u.s.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &u.s.bucket, Key: &data, UploadId: &u.st.MPU})
		}
		if !inUse {
			_, _ = u.s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &u.s.bucket, Key: &data})
		}
	}
	u.deleteKey(ctx, u.st.Tail)
	u.deleteKey(ctx, u.stale) // a tail AppendLast's parts took in, if the session still names it
	u.deleteKey(ctx, "state")
	u.s.locks.Forget(u.id)
}

// dataInUse reports whether a blob's key points to this upload's data object:
// a commit that published it and stopped before removing the session. first:
// the session named no digest before this commit, so nothing was completed
// (the round trip to the blob's key is saved).
func (u *upload) dataInUse(ctx context.Context, first bool) (bool, error) {
	if u.st.Digest == "" || first {
		return false, nil // never completed
	}
	key, err := u.s.blobKey(u.st.Digest)
	if err != nil {
		return false, nil
	}
	o, err := u.s.head(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	return o.data == u.dataKey(), err
}

func (u *upload) Cancel(ctx context.Context) error {
	defer u.release()
	if err := u.acquire(ctx); err != nil {
		return err
	}
	inUse, err := u.dataInUse(ctx, false)
	if err != nil {
		return err
	}
	u.remove(ctx, inUse)
	return nil
}
