// Package s3test gives tests an S3 bucket to work in: the one in
// MOAT_TEST_S3 (scripts/test-s3 starts a throwaway MinIO and sets it), under
// a key prefix of their own.
package s3test

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/store/blob/s3"
)

const how = "run the tests through scripts/test (it starts a throwaway MinIO with scripts/test-s3), " +
	"or install MinIO with scripts/install-test-deps and run: scripts/test-s3 go test ./internal/store/blob/s3/"

// Config returns the test bucket's configuration with a fresh key prefix.
// MOAT_TEST_S3 is http://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET (path-style).
// Without it the test is skipped, except under MOAT_E2E=1, where it fails.
func Config(t testing.TB) s3.Config {
	t.Helper()
	raw := os.Getenv("MOAT_TEST_S3")
	if raw == "" {
		if os.Getenv("MOAT_E2E") == "1" {
			t.Fatal("MOAT_TEST_S3 is not set but MOAT_E2E=1 requires the S3 tests: " + how)
		}
		t.Skip("MOAT_TEST_S3 is not set; skipping the S3 blob store tests: " + how)
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || strings.Trim(u.Path, "/") == "" {
		t.Fatalf("MOAT_TEST_S3 must look like http://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET (got a value that does not)")
	}
	secret, _ := u.User.Password()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return s3.Config{
		Endpoint:  u.Scheme + "://" + u.Host,
		Bucket:    strings.Trim(u.Path, "/"),
		Prefix:    "test-" + hex.EncodeToString(b),
		PathStyle: true,
		AccessKey: u.User.Username(),
		SecretKey: secret,
	}
}
