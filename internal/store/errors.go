package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors is moat_store_errors_total{store,op}: the failures the metadata
// store ("meta") and the blob store ("blob") return, by method. Answers
// (not found and the like) and cancelled requests are not failures.
type Errors struct{ vec *prometheus.CounterVec }

// NewErrors returns the counter, registered on reg unless reg is nil.
func NewErrors(reg prometheus.Registerer) *Errors {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_store_errors_total",
		Help: "Errors of the metadata and blob stores by store and operation."}, []string{"store", "op"})
	if reg != nil {
		reg.MustRegister(vec)
	}
	return &Errors{vec: vec}
}

// Inc counts one failure of op in store (e.g. the readiness probe's "ping").
func (e *Errors) Inc(store, op string) { e.vec.WithLabelValues(store, op).Inc() }

// Counter returns store's counter of op's failures (for tests).
func (e *Errors) Counter(store, op string) prometheus.Counter {
	return e.vec.WithLabelValues(store, op)
}

// Checker checks the results of one store's calls: the instrumenting
// wrappers (meta.Instrument, blob.Instrument) pass every error through Check.
type Checker struct {
	errs    *Errors
	store   string
	answers []error
	backend Classifier
}

// Checker returns the checker of the store named store (the metric's label).
// answers are its sentinel errors that are not failures; backend is the
// wrapped store, consulted if it is a Classifier.
func (e *Errors) Checker(store string, backend any, answers ...error) *Checker {
	c, _ := backend.(Classifier)
	return &Checker{errs: e, store: store, answers: answers, backend: c}
}

// Check returns err after counting it if it is a failure of op, marked with
// ErrUnavailable if the backend says it could not be reached.
func (c *Checker) Check(op string, err error) error {
	if err == nil {
		return nil
	}
	return c.failed(op, err)
}

func (c *Checker) failed(op string, err error) error {
	if !c.Failure(err) {
		return err
	}
	c.errs.Inc(c.store, op)
	if c.backend != nil && !errors.Is(err, ErrUnavailable) && c.backend.Unavailable(err) {
		return fmt.Errorf("%s store: %w: %w", c.store, ErrUnavailable, err)
	}
	return err
}

// Failure reports whether err is a failure rather than an answer.
func (c *Checker) Failure(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	for _, a := range c.answers {
		if errors.Is(err, a) {
			return false
		}
	}
	return true
}
