package oci_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// startUpload opens an upload session in name and returns its Location path.
func (e *env) startUpload(t testing.TB, host, name string) string {
	t.Helper()
	r := e.do(t, "POST", host, "/v2/"+name+"/blobs/uploads/", nil)
	want(t, r, http.StatusAccepted)
	loc := r.header.Get("Location")
	id := r.header.Get("Docker-Upload-UUID")
	if id == "" || loc != "/v2/"+name+"/blobs/uploads/"+id || r.header.Get("Range") != "0-0" {
		t.Fatalf("upload session headers: %v", r.header)
	}
	return loc
}

// withDigest appends ?digest= to an upload location.
func withDigest(loc string, d digest.Digest) string { return loc + "?digest=" + d.String() }

// wantBlob checks that name serves content as blob d.
func (e *env) wantBlob(t testing.TB, host, name string, d digest.Digest, content []byte) {
	t.Helper()
	r := e.do(t, "GET", host, "/v2/"+name+"/blobs/"+d.String(), nil)
	want(t, r, 200)
	if !bytes.Equal(r.body, content) || r.header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("blob %s: got %d bytes %q, headers %v", d, len(r.body), r.body, r.header)
	}
	r = e.do(t, "HEAD", host, "/v2/"+name+"/blobs/"+d.String(), nil)
	want(t, r, 200)
	if r.header.Get("Content-Length") != itoa(len(content)) {
		t.Fatalf("HEAD blob %s: Content-Length %q", d, r.header.Get("Content-Length"))
	}
}

func TestMonolithicUpload(t *testing.T) {
	for _, s := range styles {
		for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
			t.Run(s.name+"/"+alg.String(), func(t *testing.T) {
				e := newEnv(t)
				name := s.repo("app")
				content := []byte("monolithic " + alg.String())
				d := alg.FromBytes(content)
				r := e.do(t, "POST", s.host, "/v2/"+name+"/blobs/uploads/?digest="+d.String(), content)
				want(t, r, 201)
				if r.header.Get("Location") != "/v2/"+name+"/blobs/"+d.String() {
					t.Errorf("Location %q", r.header.Get("Location"))
				}
				e.wantBlob(t, s.host, name, d, content)
				// An empty blob is a blob too.
				e.wantBlob(t, s.host, name, e.pushBlobAlg(t, s.host, name, alg, []byte{}), []byte{})
			})
		}
	}
}

func TestPostPutUpload(t *testing.T) {
	for _, s := range styles {
		for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
			t.Run(s.name+"/"+alg.String(), func(t *testing.T) {
				e := newEnv(t)
				name := s.repo("app")
				content := []byte("post then put")
				d := alg.FromBytes(content) // a sha512 finish re-hashes the upload
				loc := e.startUpload(t, s.host, name)
				r := e.do(t, "PUT", s.host, withDigest(loc, d), content)
				want(t, r, 201)
				if r.header.Get("Location") != "/v2/"+name+"/blobs/"+d.String() || r.header.Get("Docker-Content-Digest") != d.String() {
					t.Errorf("headers %v", r.header)
				}
				e.wantBlob(t, s.host, name, d, content)
				// The session is gone.
				wantErr(t, e.do(t, "GET", s.host, loc, nil), 404, "BLOB_UPLOAD_UNKNOWN")
			})
		}
	}
}

func TestChunkedUpload(t *testing.T) {
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t)
			name := s.repo("app")
			content := []byte("0123456789abcdefghij")
			loc := e.startUpload(t, s.host, name)
			patch := func(from, to int, kv ...string) *response {
				kv = append([]string{"Content-Range", fmt.Sprintf("%d-%d", from, to-1), "Content-Type", "application/octet-stream"}, kv...)
				return e.do(t, "PATCH", s.host, loc, content[from:to], kv...)
			}
			r := patch(0, 5)
			want(t, r, 202)
			if r.header.Get("Range") != "0-4" || r.header.Get("Location") != loc {
				t.Fatalf("after first chunk: %v", r.header)
			}
			// Out of order: 416 with the Range to resume from; the session survives.
			r = patch(10, 15)
			wantErr(t, r, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
			if r.header.Get("Range") != "0-4" || r.header.Get("Location") == "" {
				t.Fatalf("416 headers: %v", r.header)
			}
			wantErr(t, patch(0, 5), http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID") // a repeat
			// Malformed ranges and lengths are 400 and change nothing.
			wantErr(t, e.do(t, "PATCH", s.host, loc, content[5:10], "Content-Range", "5+9"), 400, "BLOB_UPLOAD_INVALID")
			wantErr(t, e.do(t, "PATCH", s.host, loc, content[5:10], "Content-Range", "9-5"), 400, "BLOB_UPLOAD_INVALID")
			wantErr(t, e.do(t, "PATCH", s.host, loc, content[5:9], "Content-Range", "5-9"), 400, "SIZE_INVALID")
			r = e.do(t, "GET", s.host, loc, nil)
			want(t, r, 204)
			if r.header.Get("Range") != "0-4" {
				t.Fatalf("status after rejected chunks: %v", r.header)
			}
			r = patch(5, 10, "Content-Range", "bytes=5-9") // the prefixed form
			want(t, r, 202)
			if r.header.Get("Range") != "0-9" {
				t.Fatalf("after second chunk: %v", r.header)
			}
			// The last chunk comes with the PUT.
			d := digest.FromBytes(content)
			r = e.do(t, "PUT", s.host, withDigest(loc, d), content[10:], "Content-Range", "10-19")
			want(t, r, 201)
			e.wantBlob(t, s.host, name, d, content)
		})
	}
}

func TestStreamedUpload(t *testing.T) {
	e := newEnv(t)
	content := bytes.Repeat([]byte("stream "), 10000)
	loc := e.startUpload(t, "", "alpha/app")
	half := len(content) / 2
	r := e.send(t, request{method: "PATCH", path: loc, body: content[:half], stream: true})
	want(t, r, 202)
	if r.header.Get("Range") != fmt.Sprintf("0-%d", half-1) {
		t.Fatalf("Range %q after %d bytes", r.header.Get("Range"), half)
	}
	want(t, e.send(t, request{method: "PATCH", path: loc, body: content[half:], stream: true}), 202)
	r = e.do(t, "GET", "", loc, nil)
	want(t, r, 204)
	if r.header.Get("Range") != fmt.Sprintf("0-%d", len(content)-1) {
		t.Fatalf("status Range %q", r.header.Get("Range"))
	}
	d := digest.FromBytes(content)
	want(t, e.do(t, "PUT", "", withDigest(loc, d), nil), 201)
	e.wantBlob(t, "", "alpha/app", d, content)
}

func TestUploadStatusAndCancel(t *testing.T) {
	for _, s := range styles {
		e := newEnv(t)
		loc := e.startUpload(t, s.host, s.repo("app"))
		r := e.do(t, "GET", s.host, loc, nil)
		want(t, r, 204)
		if r.header.Get("Range") != "0-0" || r.header.Get("Location") != loc || r.header.Get("Docker-Upload-UUID") == "" || len(r.body) != 0 {
			t.Errorf("%s style: status %s %v", s.name, r.desc, r.header)
		}
		want(t, e.do(t, "DELETE", s.host, loc, nil), 204)
		d := digest.FromString("x")
		for _, m := range []string{"GET", "PATCH", "PUT", "DELETE"} {
			wantErr(t, e.do(t, m, s.host, withDigest(loc, d), []byte("x")), 404, "BLOB_UPLOAD_UNKNOWN")
		}
	}
}

// TestUploadWrongRepository: an upload ID belongs to one repository of one
// registry; anywhere else it is unknown, and that does not disturb it.
func TestUploadWrongRepository(t *testing.T) {
	e := newEnv(t)
	loc := e.startUpload(t, "", "alpha/app")
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	d := digest.FromString("x")
	for _, o := range []struct{ host, name, id string }{
		{"", "alpha/other", id},
		{"", "alpha/app/sub", id},
		{"", "bravo/app", id},
		{"bravo.reg.test", "app", id},
		{"bravo.reg.test", "alpha/app", id},
		{"", "alpha/app", strings.Repeat("0", 32)},
		{"", "alpha/app", strings.ToUpper(id)},
		{"", "alpha/app", "%2e%2e"},
		{"", "alpha/app", "x"},
	} {
		path := "/v2/" + o.name + "/blobs/uploads/" + o.id
		for _, m := range []string{"GET", "PATCH", "PUT", "DELETE"} {
			wantErr(t, e.do(t, m, o.host, path+"?digest="+d.String(), []byte("x")), 404, "BLOB_UPLOAD_UNKNOWN")
		}
	}
	// The session is untouched and still usable, in both styles.
	want(t, e.do(t, "GET", "alpha.reg.test", "/v2/app/blobs/uploads/"+id, nil), 204)
	want(t, e.do(t, "PATCH", "", loc, []byte("abc")), 202)
	want(t, e.do(t, "PUT", "", withDigest(loc, digest.FromString("abc")), nil), 201)
	wantErr(t, e.do(t, "GET", "", "/v2/alpha/other/blobs/"+digest.FromString("abc").String(), nil), 404, "BLOB_UNKNOWN")
	wantErr(t, e.do(t, "GET", "", "/v2/bravo/app/blobs/"+digest.FromString("abc").String(), nil), 404, "BLOB_UNKNOWN")
}

func TestUploadDigestMismatch(t *testing.T) {
	e := newEnv(t)
	loc := e.startUpload(t, "", "alpha/app")
	want(t, e.do(t, "PATCH", "", loc, []byte("abc")), 202)
	wantErr(t, e.do(t, "PUT", "", withDigest(loc, digest.FromString("abd")), nil), 400, "DIGEST_INVALID")
	wantErr(t, e.do(t, "GET", "", "/v2/alpha/app/blobs/"+digest.FromString("abd").String(), nil), 404, "BLOB_UNKNOWN")
	wantErr(t, e.do(t, "GET", "", "/v2/alpha/app/blobs/"+digest.FromString("abc").String(), nil), 404, "BLOB_UNKNOWN")
	// A PUT without a usable digest leaves the session alone.
	loc = e.startUpload(t, "", "alpha/app")
	wantErr(t, e.do(t, "PUT", "", loc, []byte("abc")), 400, "DIGEST_INVALID")
	wantErr(t, e.do(t, "PUT", "", loc+"?digest=sha256:nope", []byte("abc")), 400, "DIGEST_INVALID")
	want(t, e.do(t, "GET", "", loc, nil), 204)
}

func TestBlobRange(t *testing.T) {
	e := newEnv(t)
	content := make([]byte, 100)
	for i := range content {
		content[i] = byte(i)
	}
	d := e.pushBlob(t, "", "alpha/app", content)
	for _, tc := range []struct {
		rng, contentRange string
		from, to          int
	}{
		{"bytes=10-19", "bytes 10-19/100", 10, 20},
		{"bytes=90-", "bytes 90-99/100", 90, 100},
		{"bytes=-5", "bytes 95-99/100", 95, 100},
		{"bytes=50-500", "bytes 50-99/100", 50, 100},
	} {
		r := e.do(t, "GET", "alpha.reg.test", "/v2/app/blobs/"+d.String(), nil, "Range", tc.rng)
		want(t, r, http.StatusPartialContent)
		if !bytes.Equal(r.body, content[tc.from:tc.to]) || r.header.Get("Content-Range") != tc.contentRange {
			t.Errorf("Range %s: %s %v", tc.rng, r.desc, r.header)
		}
	}
}

func TestBlobDelete(t *testing.T) {
	for _, s := range styles {
		e := newEnv(t)
		content := []byte("shared blob")
		d := e.pushBlob(t, s.host, s.repo("one"), content)
		e.pushBlob(t, s.host, s.repo("two"), content)
		e.pushBlob(t, "", "bravo/one", content)
		path := "/v2/" + s.repo("one") + "/blobs/" + d.String()
		want(t, e.do(t, "DELETE", s.host, path, nil), 202)
		wantErr(t, e.do(t, "GET", s.host, path, nil), 404, "BLOB_UNKNOWN")
		want(t, e.do(t, "HEAD", s.host, path, nil), 404)
		wantErr(t, e.do(t, "DELETE", s.host, path, nil), 404, "BLOB_UNKNOWN")
		// Other links to the same bytes stay.
		e.wantBlob(t, s.host, s.repo("two"), d, content)
		e.wantBlob(t, "", "bravo/one", d, content)
	}
}

func TestMount(t *testing.T) {
	e := newEnv(t)
	inA := []byte("blob in alpha/src")
	inB := []byte("blob only in bravo/src")
	dA := e.pushBlob(t, "", "alpha/src", inA)
	dB := e.pushBlob(t, "", "bravo/src", inB)
	dA512 := e.pushBlobAlg(t, "", "alpha/src", digest.SHA512, inA)
	for _, tc := range []struct {
		name, host, repo string
		d                digest.Digest
		from             string // "-" = no from parameter
		mounted          bool
	}{
		{"same registry", "", "alpha/dst1", dA, "alpha/src", true},
		{"same registry, other case", "", "alpha/dst2", dA, "ALPHA/src", true},
		{"sha512", "", "alpha/dst3", dA512, "alpha/src", true},
		{"anonymous", "", "alpha/dst4", dA, "-", true},
		{"host style", "alpha.reg.test", "dst5", dA, "src", true},
		{"host style anonymous", "alpha.reg.test", "dst6", dA, "-", true},
		{"not in from", "", "alpha/dst7", dA, "alpha/dst-none", false},
		{"from another registry", "", "alpha/dst8", dB, "bravo/src", false},
		{"from another registry, host style", "alpha.reg.test", "dst9", dB, "bravo/src", false},
		{"from another registry, same digest", "", "bravo/dst10", dA, "alpha/src", false},
		{"anonymous, blob in another registry", "", "alpha/dst11", dB, "-", false},
		{"anonymous host style, blob in another registry", "alpha.reg.test", "dst12", dB, "-", false},
		{"invalid from", "", "alpha/dst13", dA, "../alpha/src", false},
		{"empty from", "", "alpha/dst14", dA, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := "?mount=" + tc.d.String()
			if tc.from != "-" {
				q += "&from=" + tc.from
			}
			r := e.do(t, "POST", tc.host, "/v2/"+tc.repo+"/blobs/uploads/"+q, nil)
			blobPath := "/v2/" + tc.repo + "/blobs/" + tc.d.String()
			if tc.mounted {
				want(t, r, 201)
				if r.header.Get("Location") != blobPath || r.header.Get("Docker-Content-Digest") != tc.d.String() {
					t.Errorf("mount headers %v", r.header)
				}
				want(t, e.do(t, "GET", tc.host, blobPath, nil), 200)
				return
			}
			// Not mounted: an ordinary upload session starts instead.
			want(t, r, 202)
			if !strings.HasPrefix(r.header.Get("Location"), "/v2/"+tc.repo+"/blobs/uploads/") || r.header.Get("Docker-Upload-UUID") == "" {
				t.Errorf("fallback session headers %v", r.header)
			}
			wantErr(t, e.do(t, "GET", tc.host, blobPath, nil), 404, "BLOB_UNKNOWN")
			want(t, e.do(t, "GET", tc.host, r.header.Get("Location"), nil), 204)
		})
	}
}
