package mgmt

import (
	"net/http/httptest"
	"testing"

	"github.com/moat-registry/moat/internal/tasks"
)

// FuzzRunFilter: a runs $filter is parsed or refused with a 400, never a
// panic; an accepted one matches without panicking.
func FuzzRunFilter(f *testing.F) {
	for _, s := range []string{"", "TaskName eq 'hello'", "TaskName eq 'a' and Status eq 'Failed'", "contains(OutputImageManifests, 'r@sha256:1')",
		"TaskName eq 'it''s'", "status EQ 'x' AND runid eq 'ca1'", "contains(x", "TaskName eq '"} {
		f.Add(s)
	}
	run := &tasks.Run{Properties: tasks.RunProperties{Task: "hello", Status: "Failed", OutputImages: []tasks.ImageDescriptor{{Repository: "r", Digest: "sha256:1"}}}}
	f.Fuzz(func(t *testing.T, filter string) {
		match, err := parseRunFilter(filter)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status != 400 {
				t.Fatalf("%q: %v", filter, err)
			}
			return
		}
		match(run)
	})
}

// FuzzBlobRange: a log's range header gives a slice within the log, or 416.
func FuzzBlobRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-9", "bytes=5-", "bytes=9-2", "bytes=-5", "bytes=0-99999999999999999999", "items=0-1"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, spec string, size int) {
		if size < 0 || size > 1<<20 {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("x-ms-range", spec)
		start, end, _, ok := blobRange(r, size)
		if ok && (start < 0 || start > end || end > size) {
			t.Fatalf("%q of %d: [%d, %d)", spec, size, start, end)
		}
	})
}
