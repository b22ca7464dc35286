package sdk

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is the gateway's refusal of a request (docs/errors.md). Switch on
// Code, or test it with errors.Is against the sentinels below; Message is for
// people and may change. Retries have already been spent when a caller sees
// an Error, so a retryable one (ErrUnavailable, ErrRateLimited,
// ErrIdempotencyInProgress) means the gateway stayed unavailable.
type Error struct {
	// HTTPStatus is the response's status; 0 when the SDK refused the call
	// before sending it (an empty id, for example).
	HTTPStatus int
	// Code is the stable machine-readable code. When a proxy rather than the
	// gateway answered, it is derived from the status (503 → unavailable).
	Code string
	// Message explains the failure to a person.
	Message string
	// RequestID identifies the request in the gateway's logs; quote it to
	// support. It comes from the body, or else the X-Request-Id header.
	RequestID string
	// RetryAfter is the gateway's Retry-After hint, zero if it gave none.
	RetryAfter time.Duration
}

// Error reads "qrpay: 404 not_found: order not found (request 7116P8…)", so
// that one log line holds all support needs.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("qrpay: ")
	if e.HTTPStatus != 0 {
		b.WriteString(strconv.Itoa(e.HTTPStatus))
		b.WriteByte(' ')
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

// Is makes errors.Is(err, sdk.ErrNotFound) true for every *Error with the
// not_found code: a sentinel is an *Error holding only a Code, and it matches
// any error with that code, whatever its status, message or request id.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code && t.Message == "" && t.RequestID == ""
}

// The codes the SDK itself looks at.
const (
	codeInvalid               = "invalid"
	codeIdempotencyInProgress = "idempotency_in_progress"
)

// Sentinels for the codes a merchant integration meets, for errors.Is. Each
// is an *Error with only its Code set; see (*Error).Is. Codes without a
// sentinel are still in (*Error).Code.
var (
	// ErrInvalid: a field is missing, malformed or out of range; the message
	// names it. Fix the request; retrying it unchanged cannot help.
	ErrInvalid = &Error{Code: codeInvalid}
	// ErrInvalidJSON: the body was not one strict JSON object. From this SDK
	// it means the SDK and the gateway disagree on a field: upgrade the SDK.
	ErrInvalidJSON = &Error{Code: "invalid_json"}
	// ErrIdempotencyKeyRequired: a money-moving POST came without a key. The
	// SDK always sends one, so this only comes from hand-built requests.
	ErrIdempotencyKeyRequired = &Error{Code: "idempotency_key_required"}
	// ErrUnauthorized: the key is unknown, revoked or expired, or the
	// signature, timestamp or nonce failed. Check the key, the secret and the
	// terminal's clock (±300 s).
	ErrUnauthorized = &Error{Code: "unauthorized"}
	// ErrForbidden: the key lacks the scope: pos for orders, refunds and
	// events, finance for settlements.
	ErrForbidden = &Error{Code: "forbidden"}
	// ErrMerchantSuspended: the merchant can neither create orders nor be
	// paid until an operator reactivates it.
	ErrMerchantSuspended = &Error{Code: "merchant_suspended"}
	// ErrNotFound: no such object, or it belongs to another merchant.
	ErrNotFound = &Error{Code: "not_found"}
	// ErrConflict: the request conflicts with the object's state: a
	// merchant_order_no that is already used, closing an order that was
	// paid meanwhile, refunding one that was never paid.
	ErrConflict = &Error{Code: "conflict"}
	// ErrIdempotencyInProgress: the first request with this Idempotency-Key
	// is still running. The SDK retries it; seeing it means it ran out of
	// retries before the first one finished.
	ErrIdempotencyInProgress = &Error{Code: codeIdempotencyInProgress}
	// ErrOrderAlreadyPaid: the order was paid already. Wallets meet it; the
	// merchant API answers closing a paid order with ErrConflict.
	ErrOrderAlreadyPaid = &Error{Code: "order_already_paid"}
	// ErrOrderClosed: the order was closed by the merchant.
	ErrOrderClosed = &Error{Code: "order_closed"}
	// ErrOrderExpired: the order's expiry passed; it can never be paid.
	// Create a new order.
	ErrOrderExpired = &Error{Code: "order_expired"}
	// ErrIdempotencyMismatch: the Idempotency-Key was used before with a
	// different body — two different operations share a key.
	ErrIdempotencyMismatch = &Error{Code: "idempotency_mismatch"}
	// ErrRefundExceedsPayment: refunds would exceed what was paid.
	ErrRefundExceedsPayment = &Error{Code: "refund_exceeds_payment"}
	// ErrInsufficientFunds: a balance does not cover the amount.
	ErrInsufficientFunds = &Error{Code: "insufficient_funds"}
	// ErrRateLimited: too many requests, even after the SDK's retries.
	ErrRateLimited = &Error{Code: "rate_limited"}
	// ErrInternal: a bug in the gateway; quote RequestID to support.
	ErrInternal = &Error{Code: "internal"}
	// ErrUnavailable: PostgreSQL or Redis stayed unreachable through the
	// SDK's retries. Nothing was half-done: try again later with the same
	// Idempotency-Key.
	ErrUnavailable = &Error{Code: "unavailable"}
)

// codeForStatus names what a status means when the body is not the gateway's
// error model, so that errors.Is still works when a proxy answered.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return codeInvalid
	case http.StatusUnauthorized:
		return ErrUnauthorized.Code
	case http.StatusForbidden:
		return ErrForbidden.Code
	case http.StatusNotFound:
		return ErrNotFound.Code
	case http.StatusConflict:
		return ErrConflict.Code
	case http.StatusTooManyRequests:
		return ErrRateLimited.Code
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return ErrUnavailable.Code
	}
	if status >= 500 {
		return ErrInternal.Code
	}
	return "http_" + strconv.Itoa(status)
}
