// Package breaker builds the circuit breakers that stand in front of
// PostgreSQL and Redis, so that when a dependency is down, money-moving
// requests fail in microseconds with "unavailable" instead of piling up
// behind timeouts, and resume by themselves once it is back.
package breaker

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/sony/gobreaker/v2"

	"github.com/qrpay/qrpay/errs"
)

var stateGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "qrpay_circuit_breaker_state",
	Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
}, []string{"name"})

// ErrAlreadyCounted marks a failure that another call already reported to
// the breaker: the transfers of one failed batch share one cause, and one
// network blip must not count as many failures as the batch had members.
var ErrAlreadyCounted = errors.New("failure already counted")

// Breaker guards calls to one dependency.
type Breaker[T any] struct {
	cb      *gobreaker.CircuitBreaker[T]
	openFor time.Duration
}

// New returns a breaker that opens after failures consecutive failures and
// stays open for openFor before letting one probe through. Business outcomes
// (insufficient funds, conflicts, bad input) and the caller giving up are not
// failures of the dependency and never trip it.
func New[T any](name string, failures uint32, openFor time.Duration) *Breaker[T] {
	stateGauge.WithLabelValues(name).Set(0)
	return &Breaker[T]{
		openFor: openFor,
		cb: gobreaker.NewCircuitBreaker[T](gobreaker.Settings{
			Name:        name,
			MaxRequests: 1,
			Timeout:     openFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
			OnStateChange: func(name string, _, to gobreaker.State) {
				stateGauge.WithLabelValues(name).Set(float64(to))
			},
			IsSuccessful: func(err error) bool { return err == nil || errs.Business(err) },
			IsExcluded: func(err error) bool {
				if errors.Is(err, ErrAlreadyCounted) {
					return true
				}
				if errs.Is(err, errs.Unavailable) {
					return false // the dependency timed out or failed: a failure
				}
				return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
			},
		}),
	}
}

// Do runs fn through the breaker. While the breaker is open it returns an
// unavailable error with a Retry-After hint without calling fn.
func (b *Breaker[T]) Do(fn func() (T, error)) (T, error) {
	v, err := b.cb.Execute(fn)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return v, &errs.Error{
			Code:       errs.Unavailable,
			Message:    "a dependency is unavailable; try again shortly",
			RetryAfter: b.openFor,
			Err:        err,
		}
	}
	return v, err
}

// Rejected reports whether err is the breaker refusing a call it did not
// make (open, or half-open with its probe already out).
func Rejected(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}

// State reports the breaker's state ("closed", "half-open", "open").
func (b *Breaker[T]) State() string { return b.cb.State().String() }
