// Package storetest checks the instrumenting wrappers of the stores
// (meta.Instrument, blob.Instrument).
package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/moat-registry/moat/internal/store"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// EveryMethodCounted checks the wrapper w of a store whose backend fails
// every call: w embeds nothing (promoted methods would skip the
// instrumentation), and each method of the interface type iface that
// returns an error, called once with zero arguments, fails, counts one
// failure of the store named name under the method's own name in errs, and
// returns an error check accepts (check returns why not, or nil).
func EveryMethodCounted(t *testing.T, w any, iface reflect.Type, errs *store.Errors, name string, check func(error) string) {
	t.Helper()
	typ := reflect.TypeOf(w).Elem()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.Anonymous {
			t.Fatalf("%s embeds %s: its methods would skip the instrumentation", typ, f.Type)
		}
	}
	errType := reflect.TypeOf((*error)(nil)).Elem()
	for i := range iface.NumMethod() {
		method := iface.Method(i).Name
		fn := reflect.ValueOf(w).MethodByName(method)
		if n := fn.Type().NumOut(); n == 0 || fn.Type().Out(n-1) != errType {
			continue // nothing to count (an upload's ID, Size)
		}
		out, panicked := callZero(fn)
		if panicked != nil {
			t.Errorf("%s: %v; make the test's failing store fail it", method, panicked)
			continue
		}
		err, _ := out[len(out)-1].Interface().(error)
		if err == nil {
			t.Errorf("%s succeeded; make the test's failing store fail it", method)
			continue
		}
		if why := check(err); why != "" {
			t.Errorf("%s: %v: %s", method, err, why)
		}
		if n := testutil.ToFloat64(errs.Counter(name, method)); n != 1 {
			t.Errorf(`moat_store_errors_total{store=%q,op=%q} = %v after one failure, want 1`, name, method, n)
		}
	}
}

// callZero calls fn with a background context and zero values (new values
// for pointers); a panic is returned.
func callZero(fn reflect.Value) (out []reflect.Value, panicked any) {
	defer func() { panicked = recover() }()
	ft := fn.Type()
	n := ft.NumIn()
	if ft.IsVariadic() {
		n--
	}
	var args []reflect.Value
	for i := range n {
		switch in := ft.In(i); {
		case in == reflect.TypeOf((*context.Context)(nil)).Elem():
			args = append(args, reflect.ValueOf(context.Background()))
		case in.Kind() == reflect.Pointer:
			args = append(args, reflect.New(in.Elem()))
		default:
			args = append(args, reflect.Zero(in))
		}
	}
	return fn.Call(args), nil
}
