package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

func TestErrorBodyMapsToError(t *testing.T) {
	body := `{"error": {"code": "insufficient_funds", "message": "insufficient funds", "request_id": "7116P8JDSHFBM69RXT2PDNHC"}}`
	client, _, _ := newScripted(t, []http.HandlerFunc{answer(402, body, "X-Request-Id", "7116P8JDSHFBM69RXT2PDNHC", "Retry-After", "7")})
	_, err := client.CreateRefund(context.Background(), "o1", &sdk.RefundParams{RefundNo: "r1", Amount: 1})
	var e *sdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v; want *sdk.Error", err, err)
	}
	want := sdk.Error{HTTPStatus: 402, Code: "insufficient_funds", Message: "insufficient funds",
		RequestID: "7116P8JDSHFBM69RXT2PDNHC", RetryAfter: 7 * time.Second}
	if *e != want {
		t.Errorf("error = %+v; want %+v", *e, want)
	}
	if got, want := e.Error(), "qrpay: 402 insufficient_funds: insufficient funds (request 7116P8JDSHFBM69RXT2PDNHC)"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

func TestErrorRequestIDFallsBackToHeader(t *testing.T) {
	client, _, _ := newScripted(t, []http.HandlerFunc{answer(404, `{"error":{"code":"not_found","message":"order not found"}}`, "X-Request-Id", "HDR-1")})
	_, err := client.GetOrder(context.Background(), "o1")
	var e *sdk.Error
	if !errors.As(err, &e) || e.RequestID != "HDR-1" || e.Code != "not_found" {
		t.Errorf("err = %+v; want not_found with the header's request id", e)
	}
}

// TestErrorFromAProxy: when something in front of the gateway answers, the
// code follows the status so that errors.Is still means the same.
func TestErrorFromAProxy(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		want   *sdk.Error
	}{
		{502, "<html><body>Bad Gateway</body></html>", sdk.ErrUnavailable},
		{503, "", sdk.ErrUnavailable},
		{500, "oops", sdk.ErrInternal},
		{404, "404 page not found", sdk.ErrNotFound},
		{401, `{"message":"no"}`, sdk.ErrUnauthorized},
		{429, "", sdk.ErrRateLimited},
	} {
		client, _, _ := newScripted(t, []http.HandlerFunc{answer(tt.status, tt.body, "Content-Type", "text/html", "X-Request-Id", "LB-9")},
			sdk.WithMaxRetries(0))
		_, err := client.GetMerchant(context.Background())
		var e *sdk.Error
		if !errors.As(err, &e) || !errors.Is(err, tt.want) || e.HTTPStatus != tt.status || e.RequestID != "LB-9" || e.Message == "" {
			t.Errorf("%d %q: err = %+v; want code %s with status, message and request id", tt.status, tt.body, e, tt.want.Code)
		}
	}
}

func TestSentinelsMatchByCode(t *testing.T) {
	sentinels := map[string]*sdk.Error{
		"invalid": sdk.ErrInvalid, "invalid_json": sdk.ErrInvalidJSON, "idempotency_key_required": sdk.ErrIdempotencyKeyRequired,
		"unauthorized": sdk.ErrUnauthorized, "forbidden": sdk.ErrForbidden, "merchant_suspended": sdk.ErrMerchantSuspended,
		"not_found": sdk.ErrNotFound, "conflict": sdk.ErrConflict, "idempotency_in_progress": sdk.ErrIdempotencyInProgress,
		"order_already_paid": sdk.ErrOrderAlreadyPaid, "order_closed": sdk.ErrOrderClosed, "order_expired": sdk.ErrOrderExpired,
		"idempotency_mismatch": sdk.ErrIdempotencyMismatch, "refund_exceeds_payment": sdk.ErrRefundExceedsPayment,
		"insufficient_funds": sdk.ErrInsufficientFunds, "rate_limited": sdk.ErrRateLimited, "internal": sdk.ErrInternal,
		"unavailable": sdk.ErrUnavailable,
	}
	for code, sentinel := range sentinels {
		if sentinel.Code != code {
			t.Errorf("sentinel for %s has code %s", code, sentinel.Code)
		}
		err := fmt.Errorf("closing order: %w", &sdk.Error{HTTPStatus: 409, Code: code, Message: "m", RequestID: "r"})
		for other, s := range sentinels {
			if got := errors.Is(err, s); got != (other == code) {
				t.Errorf("errors.Is(%s error, Err for %s) = %v", code, other, got)
			}
		}
	}
	// Two full errors are different errors, even with one code.
	a := &sdk.Error{Code: "not_found", Message: "a", RequestID: "1"}
	b := &sdk.Error{Code: "not_found", Message: "b", RequestID: "2"}
	if errors.Is(a, b) {
		t.Error("errors.Is matched two distinct errors; only code-only sentinels should match by code")
	}
	if errors.Is(a, errors.New("not_found")) {
		t.Error("errors.Is matched a plain error")
	}
}

func TestErrorsFromTheGateway(t *testing.T) {
	client, _, _ := newScripted(t, []http.HandlerFunc{refuse(409, "conflict"), refuse(410, "order_expired"), refuse(422, "refund_exceeds_payment")})
	ctx := context.Background()
	if _, err := client.CloseOrder(ctx, "o1"); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("CloseOrder = %v; want ErrConflict", err)
	}
	if _, err := client.CloseOrder(ctx, "o1"); !errors.Is(err, sdk.ErrOrderExpired) {
		t.Errorf("CloseOrder = %v; want ErrOrderExpired", err)
	}
	if _, err := client.CreateRefund(ctx, "o1", &sdk.RefundParams{RefundNo: "r", Amount: 1}); !errors.Is(err, sdk.ErrRefundExceedsPayment) {
		t.Errorf("CreateRefund = %v; want ErrRefundExceedsPayment", err)
	}
}
