package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/wallet"
)

// statusOf is the one table from error code to HTTP status. docs/errors.md
// documents it for integrators; TestStatusTableIsComplete keeps the two honest.
var statusOf = map[errs.Code]int{
	errs.Invalid:                http.StatusBadRequest,
	errs.InvalidJSON:            http.StatusBadRequest,
	errs.IdempotencyKeyRequired: http.StatusBadRequest,
	errs.QRInvalid:              http.StatusBadRequest,
	errs.Unauthorized:           http.StatusUnauthorized,
	errs.InsufficientFunds:      http.StatusPaymentRequired,
	errs.LimitExceeded:          http.StatusPaymentRequired,
	errs.CardDeclined:           http.StatusPaymentRequired,
	errs.Forbidden:              http.StatusForbidden,
	errs.PINRequired:            http.StatusForbidden,
	errs.PINInvalid:             http.StatusForbidden,
	errs.StepUpRequired:         http.StatusForbidden,
	errs.RiskDeclined:           http.StatusPaymentRequired,
	errs.CardFrozen:             http.StatusForbidden,
	errs.MerchantSuspended:      http.StatusForbidden,
	errs.OTPRequired:            http.StatusForbidden,
	errs.OTPInvalid:             http.StatusForbidden,
	errs.OTPExpired:             http.StatusForbidden,
	errs.ApprovalInvalid:        http.StatusForbidden,
	errs.WalletFrozen:           http.StatusForbidden,
	errs.NotFound:               http.StatusNotFound,
	errs.MethodNotAllowed:       http.StatusMethodNotAllowed,
	errs.Conflict:               http.StatusConflict,
	errs.IdempotencyInProgress:  http.StatusConflict,
	errs.OrderAlreadyPaid:       http.StatusConflict,
	errs.OrderClosed:            http.StatusConflict,
	errs.WalletClosed:           http.StatusConflict,
	errs.AccountClosed:          http.StatusConflict,
	errs.OrderExpired:           http.StatusGone,
	errs.PayloadTooLarge:        http.StatusRequestEntityTooLarge,
	errs.UnsupportedMediaType:   http.StatusUnsupportedMediaType,
	errs.IdempotencyMismatch:    http.StatusUnprocessableEntity,
	errs.RefundExceedsPayment:   http.StatusUnprocessableEntity,
	errs.PaymentCodeInvalid:     http.StatusUnprocessableEntity,
	errs.PaymentCodeExpired:     http.StatusGone,
	errs.PaymentCodeUsed:        http.StatusConflict,
	errs.CurrencyMismatch:       http.StatusUnprocessableEntity,
	errs.Locked:                 http.StatusLocked,
	errs.RateLimited:            http.StatusTooManyRequests,
	errs.Internal:               http.StatusInternalServerError,
	errs.Unavailable:            http.StatusServiceUnavailable,
	errs.Maintenance:            http.StatusServiceUnavailable,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code errs.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the one error model of the API.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes what went wrong.
type ErrorDetail struct {
	Code      errs.Code `json:"code" example:"insufficient_funds" doc:"Stable machine-readable code; see docs/errors.md."`
	Message   string    `json:"message" example:"insufficient funds" doc:"Human-readable explanation; may change."`
	RequestID string    `json:"request_id" example:"01JD3C6Z8P4X6R2N7M5K9Q1W0E" doc:"Quote it to support."`
	// Challenge comes with otp_required: the one-time code just sent.
	Challenge *wallet.Challenge `json:"challenge,omitempty" doc:"With otp_required: the challenge whose code was just sent; send the request again with otp {challenge_id, code}."`
	Reason    string            `json:"reason,omitempty" example:"" doc:"step_up_required and risk_declined: what the risk checks found."`
}

// fromFiber maps the framework's own errors (no route, body too large, …).
func fromFiber(fe *fiber.Error) *errs.Error {
	switch fe.Code {
	case http.StatusNotFound:
		return errs.E(errs.NotFound, "no such route")
	case http.StatusMethodNotAllowed:
		return errs.E(errs.MethodNotAllowed, "method not allowed on this route")
	case http.StatusRequestEntityTooLarge:
		return errs.E(errs.PayloadTooLarge, "request body too large")
	case http.StatusUnsupportedMediaType:
		return errs.E(errs.UnsupportedMediaType, "unsupported content type")
	case http.StatusServiceUnavailable:
		return errs.E(errs.Unavailable, "service unavailable")
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return errs.E(errs.Invalid, "%s", fe.Message)
	}
	return errs.Wrap(errs.Internal, fe, "internal error")
}

// errorHandler writes every error in the one error model. Internal causes are
// logged with the request id and never shown.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var e *errs.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
	case errors.As(err, &fe):
		e = fromFiber(fe)
	case dependencyDown(err):
		e = &errs.Error{Code: errs.Unavailable, Message: "a dependency is unavailable; try again shortly", RetryAfter: time.Second, Err: err}
	default:
		e = errs.Wrap(errs.Internal, err, "internal error")
	}
	status := StatusOf(e.Code)
	id := requestID(c)
	if status >= 500 {
		// A dependency being down answers every request 503 until it is
		// back: a warning each (the breaker's state and the ledger say it
		// once), while anything else is an error worth a look.
		level := slog.LevelError
		switch e.Code {
		case errs.Unavailable:
			level = slog.LevelWarn
		case errs.Maintenance:
			level = slog.LevelDebug // the operator's choice, not a failure
		}
		s.log.Log(c.UserContext(), level, "request failed",
			slog.String("request_id", id), slog.String("code", string(e.Code)), slog.Any("err", err))
		if e.Code == errs.Internal {
			e = errs.E(errs.Internal, "internal error")
		}
	}
	if e.RetryAfter > 0 {
		secs := int(e.RetryAfter.Seconds() + 0.999)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(secs, 1)))
	} else if status == http.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	body := ErrorBody{Error: ErrorDetail{Code: e.Code, Message: e.Message, RequestID: id, Reason: e.Reason}}
	var ch *wallet.ChallengeRequired
	if errors.As(err, &ch) {
		body.Error.Challenge = &ch.Challenge
	}
	return c.Status(status).JSON(body)
}

// dependencyDown reports whether err says PostgreSQL or Redis could not be
// reached (or answered too late), whichever code path met it first: such a
// request failed for want of a dependency, not for a bug, and the client
// should retry (503 with Retry-After).
func dependencyDown(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, redis.ErrClosed):
		return true
	case errors.As(err, &pgErr):
		// connection exceptions, and the server shutting down
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	return false
}
