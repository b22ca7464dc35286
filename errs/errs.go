// Package errs defines the one error type that crosses package boundaries in
// qrpay: an Error with a stable, machine-readable Code. Domain packages return
// it for every outcome a caller can act on; the HTTP edge maps Code to a status
// in a single table. Anything that is not an *Error is an internal failure and
// is logged, never shown.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Code is a stable, documented error code. Clients switch on it, so a code,
// once published, never changes meaning.
type Code string

// The codes. The HTTP status of each lives in gateway's status table, and
// docs/errors.md describes them for integrators.
const (
	Invalid                Code = "invalid"
	InvalidJSON            Code = "invalid_json"
	IdempotencyKeyRequired Code = "idempotency_key_required"
	IdempotencyMismatch    Code = "idempotency_mismatch"
	IdempotencyInProgress  Code = "idempotency_in_progress"
	Unauthorized           Code = "unauthorized"
	Forbidden              Code = "forbidden"
	NotFound               Code = "not_found"
	MethodNotAllowed       Code = "method_not_allowed"
	Conflict               Code = "conflict"
	PayloadTooLarge        Code = "payload_too_large"
	UnsupportedMediaType   Code = "unsupported_media_type"
	InsufficientFunds      Code = "insufficient_funds"
	LimitExceeded          Code = "limit_exceeded"
	CardDeclined           Code = "card_declined"
	CardFrozen             Code = "card_frozen"
	PINRequired            Code = "pin_required"
	PINInvalid             Code = "pin_invalid"
	Locked                 Code = "account_locked"
	WalletClosed           Code = "wallet_closed"
	AccountClosed          Code = "account_closed"
	OrderAlreadyPaid       Code = "order_already_paid"
	OrderExpired           Code = "order_expired"
	OrderClosed            Code = "order_closed"
	MerchantSuspended      Code = "merchant_suspended"
	QRInvalid              Code = "qr_invalid"
	RefundExceedsPayment   Code = "refund_exceeds_payment"
	RateLimited            Code = "rate_limited"
	OTPRequired            Code = "otp_required"
	OTPInvalid             Code = "otp_invalid"
	OTPExpired             Code = "otp_expired"
	ApprovalInvalid        Code = "approval_invalid"
	WalletFrozen           Code = "wallet_frozen"
	StepUpRequired         Code = "step_up_required"
	RiskDeclined           Code = "risk_declined"
	Maintenance            Code = "maintenance"
	PaymentCodeInvalid     Code = "payment_code_invalid"
	PaymentCodeExpired     Code = "payment_code_expired"
	PaymentCodeUsed        Code = "payment_code_used"
	CurrencyMismatch       Code = "currency_mismatch"
	Unavailable            Code = "unavailable"
	Internal               Code = "internal"
)

// All lists every code, for the status table's completeness test and docs.
var All = []Code{
	Invalid, InvalidJSON, IdempotencyKeyRequired, IdempotencyMismatch, IdempotencyInProgress,
	Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict, PayloadTooLarge,
	UnsupportedMediaType, InsufficientFunds, LimitExceeded, CardDeclined, CardFrozen,
	PINRequired, PINInvalid, Locked, WalletClosed, AccountClosed, OrderAlreadyPaid,
	OrderExpired, OrderClosed, MerchantSuspended, QRInvalid, RefundExceedsPayment,
	RateLimited, Unavailable, Internal,
	OTPRequired, OTPInvalid, OTPExpired, ApprovalInvalid, WalletFrozen,
	StepUpRequired, RiskDeclined, Maintenance,
	PaymentCodeInvalid, PaymentCodeExpired, PaymentCodeUsed, CurrencyMismatch,
}

// Error is a failure the caller can act on. Message is safe to show to the
// client; Err, when set, is the internal cause and is only logged.
type Error struct {
	Code    Code
	Message string
	// RetryAfter tells a client when trying again may succeed
	// (unavailable, idempotency_in_progress, account_locked, rate_limited).
	RetryAfter time.Duration
	// Reason, when set, says why a risk rule asked for a step-up or
	// declined; it is shown to the client beside Message.
	Reason string
	Err    error
}

// E returns an Error with a formatted message.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error carrying cause as its internal reason, and the
// cause's Retry-After hint if it has one.
func Wrap(code Code, cause error, format string, args ...any) *Error {
	e := &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
	var inner *Error
	if errors.As(cause, &inner) {
		e.RetryAfter = inner.RetryAfter
	}
	return e
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &errs.Error{Code: errs.NotFound}) reads naturally.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == ""
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code Code) bool {
	return err != nil && CodeOf(err) == code
}

// Business reports whether err is an outcome of the request itself (bad input,
// insufficient funds, a conflict) rather than a failure of a dependency. The
// circuit breakers count only the latter.
func Business(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code != Unavailable && e.Code != Internal
}
