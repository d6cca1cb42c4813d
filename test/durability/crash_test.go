package durability

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	crashRegistry = "durability"
	crashRepo     = "app/big"
	waitMax       = 2 * time.Minute
	// socketSlack is how many sent bytes may still sit in client buffers
	// when the body pauses; the kill waits for the rest to reach the disk.
	socketSlack = 64 << 10
)

// killPoint is where in a large push the server gets SIGKILL.
type killPoint struct {
	name   string
	chunks int     // PATCH requests the blob is sent in; 1 is one streamed PATCH, 0 a monolithic POST ?digest=
	at     float64 // fraction of the blob written to the upload when killed; 0 kills during the commit
	// afterRename kills during the commit once the upload's data file has been
	// renamed into blobs/ (before the blob is linked in the metadata).
	afterRename bool
}

var killPoints = []killPoint{
	{name: "stream-early", chunks: 1, at: 1.0 / 32},
	{name: "stream-late", chunks: 1, at: 0.75},
	{name: "chunked-mid", chunks: 8, at: 0.45},
	{name: "monolithic-mid", chunks: 0, at: 0.5},
	{name: "commit-immediate", chunks: 4},
	{name: "commit-after-rename", chunks: 4, afterRename: true},
}

// crashBlobSize is MOAT_CRASH_BLOB_MIB (default 512) MiB.
func crashBlobSize(t *testing.T) int64 {
	mib := int64(512)
	if v := os.Getenv("MOAT_CRASH_BLOB_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 8 {
			t.Fatalf("MOAT_CRASH_BLOB_MIB=%q: want a number of MiB >= 8", v)
		}
		mib = n
	}
	return mib << 20
}

func TestCrashDuringPush(t *testing.T) {
	size := crashBlobSize(t)
	for i, kp := range killPoints {
		t.Run(kp.name, func(t *testing.T) {
			crashAndRecover(t, kp, blobData{seed: byte(10 + i), size: size})
		})
	}
}

func crashAndRecover(t *testing.T, kp killPoint, big blobData) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	s.createRegistry(t, crashRegistry)
	c := newClient(t, s.url, crashRegistry, crashRepo)
	img := pushImage(t, c)
	chunk := big.size
	var loc, dataFile string // the upload session, none for a monolithic POST
	if kp.chunks > 0 {
		chunk = (big.size + int64(kp.chunks) - 1) / int64(kp.chunks)
		loc = c.startUpload(t)
		dataFile = filepath.Join(dataDir, "blobs", "uploads", uploadID(loc), "data")
	}
	var sent, acked int64 // bytes sent before the kill, bytes acknowledged with 202
	committed := false    // the PUT ?digest= answered 201 before the kill
	if kp.at > 0 {
		sent, acked = killMidTransfer(t, s, c, loc, big, chunk, int64(kp.at*float64(big.size)))
	} else {
		sent, acked = big.size, big.size
		committed = killDuringCommit(t, s, c, loc, dataFile, big, chunk, kp.afterRename)
	}
	t.Logf("killed: %d of %d bytes sent, %d acknowledged, commit acknowledged: %v", sent, big.size, acked, committed)

	s = startServer(t, dataDir)
	c.connect(t, s.url) // a new port: a new token, with the credentials of the first start

	img.check(t, c)                                            // (a) committed content intact
	checkInterrupted(t, c, big, committed, kp.at > 0)          // (b) never partial
	verifyBlobFiles(t, dataDir)                                // (c) every stored blob matches its name
	resumeUpload(t, c, loc, dataFile, big, chunk, sent, acked) // (e) consistent session or clean 404

	c.pushBlob(t, big, 64<<20) // (d) a push from scratch works
	c.checkBlob(t, big.digest(), big.size)
	img.check(t, c)
	verifyBlobFiles(t, dataDir)
	logUploads(t, dataDir)
	if strings.Contains(s.log(), "panic") {
		t.Errorf("the restarted server logged a panic:\n%s", s.log())
	}
}

// killMidTransfer sends big in PATCHes of chunk bytes to loc (one streamed
// PATCH without Content-Range if chunk covers it all; a monolithic POST
// ?digest= if loc is empty), holds the body at offset killAt and kills the
// server once the bytes before it are on disk.
func killMidTransfer(t *testing.T, s *server, c *client, loc string, big blobData, chunk, killAt int64) (sent, acked int64) {
	t.Helper()
	paused, release := make(chan struct{}), make(chan struct{})
	type result struct {
		acked int64
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if loc == "" {
			body := &pausedReader{r: big.from(0), left: killAt, paused: paused, release: release}
			r.err = c.postMonolithic(big.digest(), body, big.size)
			done <- r
			return
		}
		for off := int64(0); off < big.size && r.err == nil; off += chunk {
			n := min(chunk, big.size-off)
			var body io.Reader = big.section(off, n)
			if off <= killAt && killAt < off+n {
				body = &pausedReader{r: body, left: killAt - off, paused: paused, release: release}
			}
			if chunk >= big.size {
				n = -1 // stream: chunked transfer encoding, no Content-Range
			}
			if r.err = c.patch(loc, body, off, n); r.err == nil {
				r.acked = off + max(n, 0)
			}
		}
		done <- r
	}()
	deadline := time.After(waitMax)
	for {
		select {
		case r := <-done:
			t.Fatalf("the upload ended before the kill point (%d bytes acknowledged): %v", r.acked, r.err)
		case <-deadline:
			s.kill()
			close(release)
			t.Fatalf("the upload data did not reach %d bytes within %v", killAt, waitMax)
		case <-time.After(time.Millisecond):
		}
		select {
		case <-paused:
		default:
			continue // the body has not reached the kill point yet
		}
		if uploadedBytes(s.dataDir) >= killAt-socketSlack {
			break
		}
	}
	s.kill()
	close(release)
	r := <-done
	if r.err == nil {
		t.Fatalf("the interrupted upload was acknowledged")
	}
	return killAt, r.acked
}

// uploadedBytes is the size of the largest upload data file on disk.
func uploadedBytes(dataDir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dataDir, "blobs", "uploads", "*", "data"))
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			n = max(n, fi.Size())
		}
	}
	return n
}

// killDuringCommit uploads big completely, sends PUT ?digest= and kills the
// server right after the request was written, or once the data file left the
// upload directory (afterRename). It reports whether the PUT got its 201 first.
func killDuringCommit(t *testing.T, s *server, c *client, loc, dataFile string, big blobData, chunk int64, afterRename bool) bool {
	t.Helper()
	for off := int64(0); off < big.size; off += chunk {
		n := min(chunk, big.size-off)
		if err := c.patch(loc, big.section(off, n), off, n); err != nil {
			t.Fatal(err)
		}
	}
	wrote := make(chan struct{})
	done := make(chan error, 1)
	req := c.commitRequest(loc, big.digest())
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) },
	}))
	go func() {
		resp, err := c.http.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				err = errors.New("PUT answered " + resp.Status)
			}
		}
		done <- err
	}()
	<-wrote
	start := time.Now()
	for afterRename && time.Since(start) < waitMax && len(done) == 0 {
		if _, err := os.Stat(dataFile); errors.Is(err, fs.ErrNotExist) {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	s.kill()
	err := <-done
	t.Logf("commit: killed %v after the PUT was sent; PUT result: %v", time.Since(start).Round(time.Microsecond), errString(err))
	return err == nil
}

func errString(err error) string {
	if err == nil {
		return "201 Created"
	}
	return err.Error()
}

// checkInterrupted asserts that the interrupted blob is either absent or
// exact, and present if its commit was acknowledged.
func checkInterrupted(t *testing.T, c *client, big blobData, committed, midTransfer bool) {
	t.Helper()
	status, length := c.headBlob(t, big.digest())
	switch {
	case status == http.StatusNotFound && committed:
		t.Errorf("HEAD blob: 404 after a restart although its commit was acknowledged with 201")
	case status == http.StatusNotFound:
		t.Logf("HEAD blob: 404, the interrupted blob is not visible")
	case status == http.StatusOK && midTransfer:
		t.Errorf("HEAD blob: 200 for a blob whose upload was killed at %d bytes", length)
	case status == http.StatusOK:
		if length != big.size {
			t.Errorf("HEAD blob: Content-Length %d, want %d", length, big.size)
		}
		c.checkBlob(t, big.digest(), big.size)
		t.Logf("HEAD blob: 200, the commit completed before the kill and the content is exact")
	default:
		t.Errorf("HEAD blob: status %d, want 404 or 200", status)
	}
}

// verifyBlobFiles hashes every file under DATA/blobs/blobs/ and checks that it
// sits at <alg>/<hex[:2]>/<hex> of its own digest.
func verifyBlobFiles(t *testing.T, dataDir string) {
	t.Helper()
	root := filepath.Join(dataDir, "blobs", "blobs")
	var files, total int64
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 3 || parts[0] != "sha256" || !strings.HasPrefix(parts[2], parts[1]) {
			t.Errorf("unexpected file in the blob store: %s", rel)
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != parts[2] {
			t.Errorf("blob file %s (%d bytes) has sha256 %s: partial or corrupt content under a digest name", rel, n, got)
		}
		files++
		total += n
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	t.Logf("blob store: %d files, %d bytes, all match their digest names", files, total)
}

// resumeUpload checks the interrupted session: either 404 BLOB_UPLOAD_UNKNOWN,
// or a Range that matches the upload's file on disk, holds the right bytes,
// covers at least what was acknowledged, and can be continued to a commit.
func resumeUpload(t *testing.T, c *client, loc, dataFile string, big blobData, chunk, sent, acked int64) {
	t.Helper()
	if loc == "" {
		t.Logf("monolithic upload: no session to resume")
		return
	}
	status, rng, code := c.uploadStatus(t, loc)
	if status == http.StatusNotFound {
		if code != "BLOB_UPLOAD_UNKNOWN" {
			t.Errorf("GET %s: 404 with error code %q, want BLOB_UPLOAD_UNKNOWN", loc, code)
		}
		t.Logf("upload session: 404 BLOB_UPLOAD_UNKNOWN (%d acknowledged bytes dropped)", acked)
		return
	}
	if status != http.StatusNoContent {
		t.Fatalf("GET %s: status %d (%s), want 204 or 404", loc, status, code)
	}
	last, ok := parseRange(rng)
	if !ok {
		t.Fatalf("GET %s: Range %q is not 0-<last>", loc, rng)
	}
	fi, err := os.Stat(dataFile)
	if err != nil {
		t.Fatalf("upload session %s answers Range %s but its data file is unreadable: %v", loc, rng, err)
	}
	onDisk := fi.Size()
	if onDisk != last+1 && (last != 0 || onDisk != 0) {
		t.Fatalf("GET %s: Range %s but %d bytes on disk", loc, rng, onDisk)
	}
	if onDisk < acked || onDisk > sent {
		t.Errorf("upload session has %d bytes: want between the %d acknowledged and the %d sent", onDisk, acked, sent)
	}
	if got, want := fileDigest(t, dataFile), big.prefixDigest(onDisk); got != want {
		t.Fatalf("upload data on disk (%d bytes) is not the blob's prefix", onDisk)
	}
	t.Logf("upload session survived: Range %s, %d bytes on disk, continuing", rng, onDisk)
	for off := onDisk; off < big.size; off += chunk {
		n := min(chunk, big.size-off)
		if err := c.patch(loc, big.section(off, n), off, n); err != nil {
			t.Fatalf("continuing the upload at %d: %v", off, err)
		}
	}
	c.commit(t, loc, big.digest())
	c.checkBlob(t, big.digest(), big.size)
}

func fileDigest(t *testing.T, p string) digest.Digest {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := digest.SHA256.FromReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// logUploads lists what is left under DATA/blobs/uploads/ (abandoned sessions).
func logUploads(t *testing.T, dataDir string) {
	t.Helper()
	dir := filepath.Join(dataDir, "blobs", "uploads")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		files, _ := os.ReadDir(filepath.Join(dir, e.Name()))
		var desc []string
		for _, f := range files {
			if fi, err := f.Info(); err == nil {
				desc = append(desc, fmt.Sprintf("%s %d bytes", f.Name(), fi.Size()))
			}
		}
		t.Logf("left in uploads/: %s [%s]", e.Name(), strings.Join(desc, ", "))
	}
}
