// Package fs is the filesystem blob store of the embedded default: committed
// blobs under blobs/<alg>/<hex[:2]>/<hex>, uploads under uploads/<id>/. A blob
// appears only through rename(2) after its bytes are verified and fsynced.
package fs

import (
	"context"
	"crypto/rand"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/opencontainers/go-digest"
)

// Store is a blob.Store on a local directory.
type Store struct {
	root  string
	locks blob.UploadLocks
}

// New opens (creating if needed) a store rooted at dir.
func New(dir string) (*Store, error) {
	for _, d := range []string{"blobs", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
	}
	return &Store{root: dir}, nil
}

func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", blob.ErrNotFound
	}
	h := d.Encoded()
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), h[:2], h), nil
}

func (s *Store) Stat(_ context.Context, d digest.Digest) (int64, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, blob.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

type reader struct {
	*os.File
	size int64
}

func (r reader) Size() int64 { return r.size }

func (s *Store) Open(_ context.Context, d digest.Digest) (blob.Reader, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return reader{f, fi.Size()}, nil
}

func (s *Store) Delete(_ context.Context, d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return blob.ErrNotFound
	} else {
		return err
	}
}

// state is what survives between requests of one upload: the bytes counted and
// the hash state after them, so each byte is hashed once.
type state struct {
	Alg  digest.Algorithm `json:"alg"`
	Size int64            `json:"size"`
	Hash []byte           `json:"hash"`
}

type upload struct {
	s    *Store
	id   string
	dir  string
	st   state
	h    hash.Hash
	mu   *sync.Mutex
	done bool
}

func (s *Store) NewUpload(_ context.Context, alg digest.Algorithm) (blob.Upload, error) {
	alg, err := blob.UploadAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	u := &upload{s: s, id: id, dir: filepath.Join(s.root, "uploads", id), st: state{Alg: alg}, h: alg.Hash()}
	if err := os.Mkdir(u.dir, 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(u.dir, "data"), nil, 0o640); err != nil {
		return nil, err
	}
	if err := u.saveState(); err != nil {
		return nil, err
	}
	u.mu = s.locks.Lock(id)
	return u, nil
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func (s *Store) ResumeUpload(_ context.Context, id string) (blob.Upload, error) {
	if !validID(id) {
		return nil, blob.ErrNotFound
	}
	mu := s.locks.Lock(id)
	u, err := s.load(id)
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	u.mu = mu
	return u, nil
}

func (s *Store) load(id string) (*upload, error) {
	u := &upload{s: s, id: id, dir: filepath.Join(s.root, "uploads", id)}
	raw, err := os.ReadFile(filepath.Join(u.dir, "state"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &u.st); err != nil || !u.st.Alg.Available() {
		return nil, fmt.Errorf("upload %s: corrupt state", id)
	}
	u.h = u.st.Alg.Hash()
	if err := u.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.st.Hash); err != nil {
		return nil, fmt.Errorf("upload %s: corrupt hash state: %w", id, err)
	}
	// Bytes written after the last saved state (a crash mid-append) are not
	// counted in the hash: cut them off. Fewer bytes than counted cannot be
	// repaired, so the upload is gone and the client starts again.
	data := filepath.Join(u.dir, "data")
	fi, err := os.Stat(data)
	if err != nil || fi.Size() < u.st.Size {
		_ = os.RemoveAll(u.dir) // unrecoverable: drop it rather than leak it
		return nil, blob.ErrNotFound
	}
	if fi.Size() > u.st.Size {
		if err := os.Truncate(data, u.st.Size); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func (u *upload) ID() string   { return u.id }
func (u *upload) Size() int64  { return u.st.Size }
func (u *upload) Close() error { u.release(); return nil }

func (u *upload) release() {
	if u.mu != nil {
		u.mu.Unlock()
		u.mu = nil
	}
}

func (u *upload) saveState() error {
	hs, err := u.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	u.st.Hash = hs
	raw, _ := json.Marshal(u.st)
	tmp := filepath.Join(u.dir, "state.tmp")
	if err := os.WriteFile(tmp, raw, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(u.dir, "state"))
}

// segment is how much of a long request body is written between checkpoints:
// after each, the bytes are fsynced and the hash state saved, so a crash in the
// middle of a large PATCH loses at most one segment.
const segment = 64 << 20

// AppendLast is Append: the bytes are in the upload's file either way, and
// Commit makes them durable.
func (u *upload) AppendLast(ctx context.Context, r io.Reader) (int64, error) {
	return u.Append(ctx, r)
}

func (u *upload) Append(_ context.Context, r io.Reader) (int64, error) {
	f, err := os.OpenFile(filepath.Join(u.dir, "data"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := io.MultiWriter(&writeback{f: f, off: u.st.Size}, u.h)
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	var total int64
	for {
		n, err := io.CopyBuffer(w, io.LimitReader(r, segment), *buf)
		if err == nil && n < segment {
			err = io.EOF // the body ended inside the segment
		}
		total += n
		u.st.Size += n
		if n > 0 {
			// Bytes before the state that counts them: fsync, then save.
			if serr := errors.Join(f.Sync(), u.saveState()); serr != nil {
				return total, errors.Join(err, serr)
			}
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			// Keep what arrived: the client may resume from Size().
			return total, err
		}
	}
}

// copyBufs are the buffers uploads are copied through: larger than io.Copy's
// 32 KiB, so fewer write system calls and hash calls per blob.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writebackEvery is how many written bytes make writeback start them.
var writebackEvery int64 = 8 << 20

// writeback writes to an upload's data file and asks the kernel to start
// writing every writebackEvery bytes to disk at once (startWriteback), so that
// the fsync at the end of a segment finds little left to write: the disk works
// while the rest of the body arrives instead of after it.
type writeback struct {
	f            *os.File
	off, pending int64 // file offset of the bytes not yet handed to writeback, and their count
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.pending += int64(n)
	if writebackEvery > 0 && w.pending >= writebackEvery {
		startWriteback(w.f, w.off, w.pending)
		w.off += w.pending
		w.pending = 0
	}
	return n, err
}

func (u *upload) Commit(_ context.Context, d digest.Digest) (int64, error) {
	defer u.release()
	if err := blob.CommitDigest(d); err != nil {
		return 0, err
	}
	alg := d.Algorithm()
	data := filepath.Join(u.dir, "data")
	var got digest.Digest
	if alg == u.st.Alg {
		got = digest.NewDigest(alg, u.h)
	} else {
		// The client announced another algorithm than the upload was started
		// with: hash the bytes again with the one it asks for.
		f, err := os.Open(data)
		if err != nil {
			return 0, err
		}
		got, err = alg.FromReader(f)
		f.Close()
		if err != nil {
			return 0, err
		}
	}
	if got != d {
		return 0, blob.ErrDigestMismatch
	}
	if err := syncFile(data); err != nil {
		return 0, err
	}
	dst, _ := u.s.blobPath(d)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return 0, err
	}
	if err := os.Rename(data, dst); err != nil {
		return 0, err
	}
	if err := syncFile(filepath.Dir(dst)); err != nil {
		return 0, err
	}
	u.done = true
	_ = os.RemoveAll(u.dir)
	u.s.locks.Forget(u.id)
	return u.st.Size, nil
}

func (u *upload) Cancel(_ context.Context) error {
	defer u.release()
	u.s.locks.Forget(u.id)
	return os.RemoveAll(u.dir)
}

// syncFile fsyncs a file or directory by path.
func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Walk lists blobs/<alg>/<xx>/<hex>; files that are not well-formed blob
// names are skipped rather than reported, since GC must never act on them.
func (s *Store) Walk(ctx context.Context, fn func(blob.Info) error) error {
	base := filepath.Join(s.root, "blobs")
	return filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if e.IsDir() {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(base, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil || !strings.HasPrefix(parts[2], parts[1]) {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(blob.Info{Digest: d, Size: fi.Size(), Committed: fi.ModTime()})
	})
}

// WalkUploads lists uploads/<id>; an upload's time is its state file's, which
// every append rewrites.
func (s *Store) WalkUploads(ctx context.Context, fn func(blob.UploadInfo) error) error {
	entries, err := os.ReadDir(filepath.Join(s.root, "uploads"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.IsDir() || !validID(e.Name()) {
			continue
		}
		fi, err := os.Stat(filepath.Join(s.root, "uploads", e.Name(), "state"))
		if err != nil {
			// No state file yet (or gone): fall back to the directory's time.
			if fi, err = e.Info(); err != nil {
				continue
			}
		}
		if err := fn(blob.UploadInfo{ID: e.Name(), Updated: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}
