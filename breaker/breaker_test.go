package breaker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
)

func TestWhatTripsTheBreaker(t *testing.T) {
	b := New("test", 3, time.Minute)
	fail := func(err error) {
		t.Helper()
		if _, got := Do(b, func() (int, error) { return 0, err }); got == nil {
			t.Fatalf("Do returned no error for %v", err)
		}
	}
	down := errs.Wrap(errs.Unavailable, errors.New("connection refused"), "unavailable")
	for range 10 {
		fail(errs.E(errs.InsufficientFunds, "no money"))                                     // the request's own outcome
		fail(context.Canceled)                                                               // the caller gave up
		fail(&errs.Error{Code: errs.Unavailable, Err: errors.Join(down, ErrAlreadyCounted)}) // a batch-mate of a counted failure
	}
	if got := b.State(); got != "closed" {
		t.Fatalf("after business errors, cancellations and batch-mates: %s; want closed", got)
	}
	for range 3 {
		fail(down)
	}
	if got := b.State(); got != "open" {
		t.Fatalf("after 3 dependency failures: %s; want open", got)
	}
	_, err := Do(b, func() (int, error) { t.Fatal("an open breaker called through"); return 0, nil })
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Unavailable || e.RetryAfter != time.Minute {
		t.Errorf("open breaker = %v; want unavailable with Retry-After", err)
	}
}
