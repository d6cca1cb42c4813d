package blob

import (
	"context"
	"errors"
	"io"

	"github.com/moat-registry/moat/internal/store"
	"github.com/opencontainers/go-digest"
)

// answers are the blob store's sentinel errors: answers, not failures.
var answers = []error{ErrNotFound, ErrDigestMismatch, ErrUnsupportedDigest}

// Instrument returns s with every method, and every method of its uploads,
// instrumented: failures counted in errs by method. Every store gets it (the
// server wraps whichever it opened). Errors that are not the store's own are
// not counted: a client's body that fails to read during Append, a Walk
// callback's error.
//
// Readers from Open are returned as they are: a wrapper would hide the
// file's own ReadFrom/WriterTo (sendfile), and a read that fails while a
// blob streams to a client cannot be told from the client going away.
//
// The wrappers declare each method themselves and embed nothing: a method
// added to Store or Upload does not compile until it is instrumented here.
func Instrument(s Store, errs *store.Errors) Store {
	return &instrumented{s: s, c: errs.Checker("blob", s, answers...)}
}

type instrumented struct {
	s Store
	c *store.Checker
}

var _ Store = (*instrumented)(nil)

func (b *instrumented) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	n, err := b.s.Stat(ctx, d)
	return n, b.c.Check("Stat", err)
}

func (b *instrumented) Open(ctx context.Context, d digest.Digest) (Reader, error) {
	r, err := b.s.Open(ctx, d)
	return r, b.c.Check("Open", err)
}

func (b *instrumented) Delete(ctx context.Context, d digest.Digest) error {
	return b.c.Check("Delete", b.s.Delete(ctx, d))
}

func (b *instrumented) NewUpload(ctx context.Context, alg digest.Algorithm) (Upload, error) {
	u, err := b.s.NewUpload(ctx, alg)
	if err != nil {
		return nil, b.c.Check("NewUpload", err)
	}
	return &instrumentedUpload{u: u, c: b.c}, nil
}

func (b *instrumented) ResumeUpload(ctx context.Context, id string) (Upload, error) {
	u, err := b.s.ResumeUpload(ctx, id)
	if err != nil {
		return nil, b.c.Check("ResumeUpload", err)
	}
	return &instrumentedUpload{u: u, c: b.c}, nil
}

func (b *instrumented) Walk(ctx context.Context, fn func(Info) error) error {
	var fnErr error
	err := b.s.Walk(ctx, func(i Info) error { fnErr = fn(i); return fnErr })
	return b.checkWalk("Walk", err, fnErr)
}

func (b *instrumented) WalkUploads(ctx context.Context, fn func(UploadInfo) error) error {
	var fnErr error
	err := b.s.WalkUploads(ctx, func(i UploadInfo) error { fnErr = fn(i); return fnErr })
	return b.checkWalk("WalkUploads", err, fnErr)
}

// checkWalk counts a walk's error unless the callback returned it.
func (b *instrumented) checkWalk(op string, err, fnErr error) error {
	if err != nil && fnErr != nil && errors.Is(err, fnErr) {
		return err
	}
	return b.c.Check(op, err)
}

// instrumentedUpload is an upload whose failures are counted.
type instrumentedUpload struct {
	u Upload
	c *store.Checker
}

var _ Upload = (*instrumentedUpload)(nil)

func (u *instrumentedUpload) ID() string { return u.u.ID() }

func (u *instrumentedUpload) Size() int64 { return u.u.Size() }

// Append does not count the errors of reading r (a client that went away).
func (u *instrumentedUpload) Append(ctx context.Context, r io.Reader) (int64, error) {
	return u.append(ctx, "Append", u.u.Append, r)
}

func (u *instrumentedUpload) AppendLast(ctx context.Context, r io.Reader) (int64, error) {
	return u.append(ctx, "AppendLast", u.u.AppendLast, r)
}

func (u *instrumentedUpload) append(ctx context.Context, op string, f func(context.Context, io.Reader) (int64, error), r io.Reader) (int64, error) {
	src := &errReader{r: r}
	n, err := f(ctx, src)
	if err != nil && (src.err == nil || !errors.Is(err, src.err)) {
		err = u.c.Check(op, err)
	}
	return n, err
}

func (u *instrumentedUpload) Commit(ctx context.Context, d digest.Digest) (int64, error) {
	n, err := u.u.Commit(ctx, d)
	return n, u.c.Check("Commit", err)
}

func (u *instrumentedUpload) Cancel(ctx context.Context) error {
	return u.c.Check("Cancel", u.u.Cancel(ctx))
}

func (u *instrumentedUpload) Close() error { return u.c.Check("Close", u.u.Close()) }

// errReader remembers the last error other than io.EOF that r returned.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
