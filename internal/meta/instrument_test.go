package meta_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/meta/sqlite"
	"github.com/moat-registry/moat/internal/store"
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
	assertNoEmbedding(t, m)
	iface := reflect.TypeOf((*meta.Store)(nil)).Elem()
	for i := range iface.NumMethod() {
		name := iface.Method(i).Name
		out := callZero(t, reflect.ValueOf(m).MethodByName(name))
		err, _ := out[len(out)-1].Interface().(error)
		if err == nil {
			t.Errorf("%s on a closed store succeeded; make it fail in unreachable", name)
			continue
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: the backend's unavailability is not marked: %v", name, err)
		}
		if n := testutil.ToFloat64(errs.Counter("meta", name)); n != 1 {
			t.Errorf(`moat_store_errors_total{store="meta",op=%q} = %v after one failure, want 1`, name, n)
		}
	}
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

// assertNoEmbedding fails if the wrapper behind v embeds a field: promoted
// methods would bypass the instrumentation.
func assertNoEmbedding(t *testing.T, v any) {
	t.Helper()
	typ := reflect.TypeOf(v).Elem()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.Anonymous {
			t.Fatalf("%s embeds %s: its methods would skip the instrumentation", typ, f.Type)
		}
	}
}

// callZero calls fn with a background context and zero values (new values
// for pointers).
func callZero(t *testing.T, fn reflect.Value) []reflect.Value {
	t.Helper()
	ft := fn.Type()
	n := ft.NumIn()
	if ft.IsVariadic() {
		n--
	}
	var args []reflect.Value
	for i := range n {
		in := ft.In(i)
		switch {
		case in == reflect.TypeOf((*context.Context)(nil)).Elem():
			args = append(args, reflect.ValueOf(context.Background()))
		case in.Kind() == reflect.Pointer:
			args = append(args, reflect.New(in.Elem()))
		default:
			args = append(args, reflect.Zero(in))
		}
	}
	return fn.Call(args)
}

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
