package meta_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/moat-registry/moat/internal/store"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/store/storetest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestInstrumentWrapsEveryMethod: the wrapper embeds nothing, so each method
// of meta.Store is one it declares; and every one of them counts a failure
// under its own name and marks an unreachable backend's error. A method
// added to Store and not instrumented fails here (or does not compile).
func TestInstrumentWrapsEveryMethod(t *testing.T) {
	raw, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	errs := store.NewErrors(nil)
	m := meta.Instrument(unreachable{raw}, errs)
	storetest.EveryMethodCounted(t, m, reflect.TypeOf((*meta.Store)(nil)).Elem(), errs, "meta", func(err error) string {
		if !errors.Is(err, store.ErrUnavailable) {
			return "the backend's unavailability is not marked"
		}
		return ""
	})
}

// unreachable is a closed store whose backend says every error means it
// cannot be reached. The methods that need no database fail too.
type unreachable struct{ meta.Store }

var errClosed = errors.New("closed")

func (unreachable) Unavailable(error) bool { return true }
func (unreachable) Close() error           { return errClosed }
func (unreachable) LockGC(context.Context, bool) (func(), bool, error) {
	return nil, false, errClosed
}

// AppendAudit of no records (what the test passes) writes nothing.
func (unreachable) AppendAudit(context.Context, []*meta.AuditRecord) error { return errClosed }

// TestInstrumentAnswers: answers are not failures.
func TestInstrumentAnswers(t *testing.T) {
	raw, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	errs := store.NewErrors(nil)
	m := meta.Instrument(raw, errs)
	if _, err := m.GetRegistry(context.Background(), "nope"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetRegistry of a missing registry: %v", err)
	}
	if n := testutil.ToFloat64(errs.Counter("meta", "GetRegistry")); n != 0 {
		t.Fatalf("not found counted as a store error: %v", n)
	}
}
