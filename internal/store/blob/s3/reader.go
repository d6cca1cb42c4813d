package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/moat-registry/moat/internal/store/blob"
)

// reader reads a blob with ranged GETs: a Seek drops the current response and
// the next Read asks for the rest of the object from the new offset, so a
// range request never downloads the bytes before it.
type reader struct {
	s    *Store
	ctx  context.Context
	key  string
	etag string // when set, every GET is conditional on it (If-Match)
	size int64
	off  int64
	body io.ReadCloser
}

func (r *reader) Size() int64 { return r.size }

func (r *reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		rng := fmt.Sprintf("bytes=%d-", r.off)
		in := &s3.GetObjectInput{Bucket: &r.s.bucket, Key: &r.key, Range: &rng}
		if r.etag != "" {
			in.IfMatch = &r.etag
		}
		out, err := r.s.c.GetObject(r.ctx, in)
		if isPrecondition(err) {
			return 0, fmt.Errorf("%w: s3: %s changed while being read", blob.ErrUnavailable, r.key)
		}
		if err != nil {
			return 0, mapErr(err)
		}
		r.body = out.Body
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	if errors.Is(err, io.EOF) && r.off < r.size {
		err = fmt.Errorf("%w: s3: %s ended at %d of %d bytes", blob.ErrUnavailable, r.key, r.off, r.size)
	} else if err != nil && !errors.Is(err, io.EOF) {
		err = mapErr(err)
	}
	return n, err
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("s3: seek before start")
	}
	if offset != r.off {
		r.Close()
		r.off = offset
	}
	return offset, nil
}

func (r *reader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}
