package oci_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/target"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// contentRangeRE is what ParseContentRange may accept: decimal offsets, an
// optional "bytes " or "bytes=" prefix. (strconv.ParseInt also takes a sign, so
// "+1-+2" and "0--0" are accepted as 1-2 and 0-0: lenient but harmless.)
var contentRangeRE = regexp.MustCompile(`^(bytes |bytes=)?(bytes=)?\+?[0-9]+-[+-]?[0-9]+$`)

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-0", "0-9", "bytes 5-10", "bytes=5-10", "10-5", "-1-5", "5-", "-5", "",
		"+1-+2", "0--0", "1 - 2", "0-9223372036854775807", "0-9223372036854775808", "bytes bytes=1-2", "0x1-2"} {
		f.Add(s, int64(0), int64(0))
	}
	f.Add("", int64(5), int64(3))
	f.Add("", int64(-1), int64(3))
	f.Add("", int64(1<<62), int64(1<<63-1))
	f.Fuzz(func(t *testing.T, s string, a, b int64) {
		start, end, ok := oci.ParseContentRange(s)
		if ok {
			if start < 0 || end < start {
				t.Fatalf("%q accepted as %d-%d", s, start, end)
			}
			if !contentRangeRE.MatchString(s) {
				t.Fatalf("%q accepted as %d-%d but is not <start>-<end>", s, start, end)
			}
			for _, format := range []string{"%d-%d", "bytes %d-%d", "bytes=%d-%d"} {
				f := fmt.Sprintf(format, start, end)
				if s2, e2, ok2 := oci.ParseContentRange(f); !ok2 || s2 != start || e2 != end {
					t.Fatalf("%q -> %d-%d, but %q -> %d-%d %v", s, start, end, f, s2, e2, ok2)
				}
			}
		} else if start != 0 || end != 0 {
			t.Fatalf("%q rejected with %d-%d", s, start, end)
		}
		// The canonical spelling of any pair is accepted exactly when it is a range.
		f := fmt.Sprintf("%d-%d", a, b)
		s2, e2, ok2 := oci.ParseContentRange(f)
		if valid := a >= 0 && b >= a; ok2 != valid || ok2 && (s2 != a || e2 != b) {
			t.Fatalf("%q -> %d-%d %v", f, s2, e2, ok2)
		}
	})
}

// errorStatus is the statuses each OCI error code may come with (errcode.go).
var errorStatus = map[string][]int{
	"BLOB_UNKNOWN":        {404},
	"BLOB_UPLOAD_INVALID": {400, 416},
	"BLOB_UPLOAD_UNKNOWN": {404},
	"DIGEST_INVALID":      {400},
	"MANIFEST_INVALID":    {400, 413},
	"MANIFEST_UNKNOWN":    {404},
	"NAME_INVALID":        {400},
	"NAME_UNKNOWN":        {404},
	"SIZE_INVALID":        {400},
	"UNSUPPORTED":         {404, 405},
}

// FuzzHandler sends arbitrary requests to a handler with some content and
// checks that it never fails (5xx, panic, or no answer within 5 s) and always
// answers errors in the OCI format, with a status that matches the code. In
// paths and queries, {manifest} and {blob} stand for digests that exist in
// alpha/app, {upload} for a fresh upload session there.
//
// Inputs are slow (SQLite writes); run with a short minimisation time, e.g.
//
//	go test -run='^$' -fuzz='^FuzzHandler$' -fuzztime=20s -fuzzminimizetime=1s ./internal/oci/
func FuzzHandler(f *testing.F) {
	e := newEnv(f)
	im := e.pushImage(f, "", "alpha/app", "v1", "fuzz")
	art := newManifest(f, im.config, im.layer, "application/vnd.test",
		&ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: im.digest, Size: int64(len(im.manifest))})
	want(f, e.do(f, "PUT", "", "/v2/alpha/app/manifests/sig", art, "Content-Type", ocispec.MediaTypeImageManifest), 201)
	e.pushBlob(f, "", "bravo/app", []byte("bravo"))
	restore := func(t testing.TB) {
		ctx := context.Background()
		for _, m := range []struct {
			body []byte
			tag  string
			sub  digest.Digest
		}{{im.manifest, "v1", ""}, {art, "sig", im.digest}} {
			err := e.meta.PutManifest(ctx, regA, "app", &meta.Manifest{Digest: digest.FromBytes(m.body), MediaType: ocispec.MediaTypeImageManifest,
				Content: m.body, Subject: m.sub, ArtifactType: "application/vnd.test"}, m.tag)
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []ocispec.Descriptor{im.config, im.layer} {
			if err := e.meta.LinkBlob(ctx, regA, "app", d.Digest, d.Size); err != nil {
				t.Fatal(err)
			}
		}
	}
	repl := strings.NewReplacer("{manifest}", im.digest.String(), "{blob}", im.layer.Digest.String())

	type seed struct {
		method, host, path, query, ct, cr, rng string
		body                                   []byte
	}
	oct := "application/octet-stream"
	for _, s := range []seed{
		{"GET", "", "/v2/", "", "", "", "", nil},
		{"GET", "alpha.reg.test", "/v2/app/manifests/v1", "", "", "", "", nil},
		{"HEAD", "", "/v2/alpha/app/manifests/{manifest}", "", "", "", "", nil},
		{"PUT", "", "/v2/alpha/app/manifests/v2", "tag=a&tag=b", ocispec.MediaTypeImageManifest, "", "", im.manifest},
		{"PUT", "alpha.reg.test", "/v2/app/manifests/sig2", "", ocispec.MediaTypeImageManifest, "", "", art},
		{"DELETE", "", "/v2/alpha/app/manifests/v1", "", "", "", "", nil},
		{"GET", "", "/v2/alpha/app/blobs/{blob}", "", "", "", "bytes=0-3", nil},
		{"DELETE", "bravo.reg.test:443", "/v2/app/blobs/{blob}", "", "", "", "", nil},
		{"POST", "", "/v2/alpha/app/blobs/uploads/", "digest=" + digest.FromString("x").String(), oct, "", "", []byte("x")},
		{"POST", "", "/v2/alpha/other/blobs/uploads/", "mount={blob}&from=alpha/app", "", "", "", nil},
		{"POST", "", "/v2/bravo/other/blobs/uploads/", "mount={blob}", "", "", "", nil},
		{"PATCH", "", "/v2/alpha/app/blobs/uploads/{upload}", "", oct, "0-3", "", []byte("abcd")},
		{"PATCH", "", "/v2/alpha/app/blobs/uploads/{upload}", "", oct, "4-7", "", []byte("abcd")},
		{"PUT", "", "/v2/alpha/app/blobs/uploads/{upload}", "digest=" + digest.FromString("abcd").String(), oct, "", "", []byte("abcd")},
		{"GET", "", "/v2/alpha/app/blobs/uploads/{upload}", "", "", "", "", nil},
		{"DELETE", "", "/v2/bravo/app/blobs/uploads/{upload}", "", "", "", "", nil},
		{"GET", "", "/v2/alpha/app/tags/list", "n=1", "", "", "", nil},
		{"GET", "", "/v2/_catalog", "n=1&last=alpha/app", "", "", "", nil},
		{"GET", "alpha.reg.test", "/v2/_catalog", "", "", "", "", nil},
		{"GET", "", "/v2/alpha/app/referrers/{manifest}", "artifactType=application/vnd.test", "", "", "", nil},
		{"GET", "", "/v2/alpha/../app/manifests/v1", "", "", "", "", nil},
	} {
		f.Add(s.method, s.host, s.path, s.query, s.ct, s.cr, s.rng, -1, s.body, false)
	}
	// Page sizes have an argument of their own (so that the fuzzer varies them
	// as numbers): n >= 0 adds n=<n> to the query.
	f.Add("GET", "", "/v2/alpha/app/tags/list", "", "", "", "", 2, []byte(nil), false)
	f.Add("GET", "", "/v2/_catalog", "last=alpha", "", "", "", 3, []byte(nil), false)
	f.Fuzz(func(t *testing.T, method, host, path, query, ct, cr, rng string, n int, body []byte, chunked bool) {
		if n >= 0 {
			query += "&n=" + itoa(n)
		}
		if strings.Contains(path+query, "{upload}") {
			loc := e.handlerDo(t, "POST", "", "/v2/alpha/app/blobs/uploads/").Header().Get("Location")
			id := loc[strings.LastIndexByte(loc, '/')+1:]
			path, query = strings.ReplaceAll(path, "{upload}", id), strings.ReplaceAll(query, "{upload}", id)
		}
		path, query = repl.Replace(path), repl.Replace(query)
		req := &http.Request{
			Method: method, URL: &url.URL{Path: path, RawQuery: query}, Host: host,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		req = req.WithContext(context.Background())
		if chunked {
			req.ContentLength = -1
		}
		for k, v := range map[string]string{"Content-Type": ct, "Content-Range": cr, "Range": rng} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		done := make(chan any, 1)
		go func() {
			defer func() {
				p := recover()
				if p != nil {
					p = fmt.Sprintf("%v\n%s", p, debug.Stack())
				}
				done <- p
			}()
			e.handler.ServeHTTP(w, req)
		}()
		select {
		case p := <-done:
			if p != nil {
				t.Fatalf("panic on %s %q?%q (Host %q): %v", method, path, query, host, p)
			}
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("%s %q?%q (Host %q) hangs:\n%s", method, path, query, host, buf[:runtime.Stack(buf, true)])
		}
		checkFuzzResponse(t, req, w)
		if method == "PUT" || method == "DELETE" {
			restore(t) // keep the fixture for the next input
		}
	})
}

// handlerDo serves one request on the handler directly.
func (e *env) handlerDo(t testing.TB, method, host, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1"+path, nil)
	req.Host = host
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	if w.Code >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	return w
}

func checkFuzzResponse(t *testing.T, req *http.Request, w *httptest.ResponseRecorder) {
	desc := fmt.Sprintf("%s %q?%q (Host %q) -> %d %.300q", req.Method, req.URL.Path, req.URL.RawQuery, req.Host, w.Code, w.Body.Bytes())
	if w.Code >= 500 || w.Code < 200 {
		t.Fatalf("bad status: %s", desc)
	}
	if w.Header().Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("no API version header: %s", desc)
	}
	if w.Code < 400 {
		if loc := w.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "/v2/") {
			t.Fatalf("Location %q: %s", loc, desc)
		}
		if d := w.Header().Get("Docker-Content-Digest"); d != "" {
			if _, ok := names.ParseDigest(d); !ok {
				t.Fatalf("Docker-Content-Digest %q: %s", d, desc)
			}
		}
		return
	}
	if req.Method == http.MethodHead {
		return
	}
	// http.ServeContent answers an unsatisfiable Range on a blob GET itself,
	// in text/plain (the spec allows 4xx bodies in any format).
	if w.Code == http.StatusRequestedRangeNotSatisfiable && target.ParseRoute(req.URL.Path).Kind == target.KindBlob {
		return
	}
	if err := checkErrorBody(w.Header(), w.Body.Bytes()); err != nil {
		t.Fatalf("%v: %s", err, desc)
	}
	code := errCode(&response{body: w.Body.Bytes()})
	if !slices.Contains(errorStatus[code], w.Code) {
		t.Fatalf("code %s with status %d: %s", code, w.Code, desc)
	}
}
