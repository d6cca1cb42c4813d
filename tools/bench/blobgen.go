package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
)

// blobReader streams size bytes of PCG output for one seed: the same seed
// always gives the same bytes, and no blob is ever held whole in memory.
type blobReader struct {
	rng  *rand.PCG
	left int64
	buf  [8]byte
	n    int // unread bytes at the end of buf
}

func newBlob(seed uint64, size int64) *blobReader {
	return &blobReader{rng: rand.NewPCG(seed, 0x6d6f6174), left: size}
}

func (r *blobReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) && r.n > 0 { // leftover of the last word
		p[n] = r.buf[8-r.n]
		r.n--
		n++
	}
	for ; n+8 <= len(p); n += 8 {
		binary.LittleEndian.PutUint64(p[n:], r.rng.Uint64())
	}
	if n < len(p) {
		binary.LittleEndian.PutUint64(r.buf[:], r.rng.Uint64())
		r.n = 8
		for n < len(p) {
			p[n] = r.buf[8-r.n]
			r.n--
			n++
		}
	}
	r.left -= int64(n)
	return n, nil
}

// blobDigest hashes the blob of seed without keeping it.
func blobDigest(seed uint64, size int64) string {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	io.CopyBuffer(h, newBlob(seed, size), buf)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
