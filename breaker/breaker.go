// Package breaker builds the circuit breakers that stand in front of
// PostgreSQL and Redis, so that when a dependency is down, requests fail in
// microseconds with "unavailable" instead of piling up behind timeouts, and
// resume by themselves once it is back. There is one breaker per
// dependency, shared by every call to it: reads, writes and the ledger's
// commits.
package breaker

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
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
type Breaker struct {
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	openFor time.Duration
}

// New returns a breaker that opens after failures consecutive failures and
// stays open for openFor before letting one probe through. Business outcomes
// (insufficient funds, conflicts, bad input) and the caller giving up are not
// failures of the dependency and never trip it.
func New(name string, failures uint32, openFor time.Duration) *Breaker {
	if failures == 0 {
		failures = 5
	}
	if openFor <= 0 {
		openFor = 5 * time.Second
	}
	stateGauge.WithLabelValues(name).Set(0)
	return &Breaker{
		openFor: openFor,
		cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
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

// Allow asks to make one call. It returns done, to be called once with the
// call's outcome, or, while the breaker is open, an unavailable error with a
// Retry-After hint: then the call must not be made.
func (b *Breaker) Allow() (done func(error), err error) {
	done, err = b.cb.Allow()
	if err != nil {
		return nil, &errs.Error{
			Code:       errs.Unavailable,
			Message:    "a dependency is unavailable; try again shortly",
			RetryAfter: b.openFor,
			Err:        err,
		}
	}
	return done, nil
}

// Do runs fn through b. While b is open it returns an unavailable error with
// a Retry-After hint without calling fn.
func Do[T any](b *Breaker, fn func() (T, error)) (T, error) {
	done, err := b.Allow()
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := fn()
	done(err)
	return v, err
}

// Rejected reports whether err is the breaker refusing a call it did not
// make (open, or half-open with its probe already out).
func Rejected(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}

// State reports the breaker's state ("closed", "half-open", "open").
func (b *Breaker) State() string { return b.cb.State().String() }

// Down reports whether err says PostgreSQL or Redis could not be reached,
// answered too late, or refused the call while its breaker was open —
// whichever code path met it first — as opposed to an answer (a row not
// found, a constraint, a script's reply). Such a request failed for want of
// a dependency, not for a bug, and the client should retry.
func Down(err error) bool {
	if err == nil {
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	switch {
	case errs.Is(err, errs.Unavailable), Rejected(err),
		errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, redis.ErrClosed):
		return true
	case errors.As(err, &pgErr):
		// connection exceptions, too many connections, and the server shutting down
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "53") || strings.HasPrefix(pgErr.Code, "57P")
	}
	return false
}

// Outcome is what a call that ended with err tells the breaker about the
// dependency, given the caller's context: nil when the dependency answered
// (even with an error of the request's own), the caller's cancellation when
// the caller left, and the error itself when the dependency failed.
func Outcome(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return context.Canceled
	case Down(err):
		return err
	}
	return nil
}
