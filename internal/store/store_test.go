package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFaultOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Fault
	}{
		{&fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, Full},
		{fmt.Errorf("commit: %w", syscall.EDQUOT), Full},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EROFS}, Unavailable},
		{fmt.Errorf("%w: s3: connection refused", ErrUnavailable), Unavailable},
		{errors.New("constraint failed"), Failed},
	} {
		if got := FaultOf(c.err); got != c.want {
			t.Errorf("FaultOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if RetryAfterHeader != "5" {
		t.Errorf("RetryAfterHeader = %q", RetryAfterHeader)
	}
}

type backend struct{}

var errLost = errors.New("connection lost")

func (backend) Unavailable(err error) bool { return errors.Is(err, errLost) }

func TestChecker(t *testing.T) {
	reg := prometheus.NewRegistry()
	errs := NewErrors(reg)
	notFound := errors.New("not found")
	c := errs.Checker("meta", backend{}, notFound)
	for _, err := range []error{nil, fmt.Errorf("x: %w", notFound), context.Canceled, context.DeadlineExceeded} {
		if got := c.Check("Get", err); got != err {
			t.Errorf("Check(%v) = %v, want it unchanged", err, got)
		}
	}
	if n := testutil.ToFloat64(errs.Counter("meta", "Get")); n != 0 {
		t.Fatalf("answers counted: %v", n)
	}
	failed := errors.New("syntax error")
	if got := c.Check("Get", failed); got != failed {
		t.Errorf("a failure the backend does not classify: %v", got)
	}
	got := c.Check("Put", errLost)
	if !errors.Is(got, ErrUnavailable) || !errors.Is(got, errLost) || !strings.HasPrefix(got.Error(), "meta store: storage unavailable: ") {
		t.Errorf("an unreachable backend's error: %v", got)
	}
	if again := c.Check("Put", got); again != got {
		t.Errorf("marked twice: %v", again)
	}
	if n := testutil.ToFloat64(errs.Counter("meta", "Get")); n != 1 {
		t.Errorf("Get failures: %v, want 1", n)
	}
	if n := testutil.ToFloat64(errs.Counter("meta", "Put")); n != 2 {
		t.Errorf("Put failures: %v, want 2", n)
	}
	if n, err := testutil.GatherAndCount(reg, "moat_store_errors_total"); err != nil || n != 2 {
		t.Errorf("registered series: %d %v", n, err)
	}
}
