package sdk_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

func TestChargeRequest(t *testing.T) {
	client, gw, _ := newScripted(t, []http.HandlerFunc{
		answer(201, `{"status":"requires_confirmation","order":{"id":"o1","status":"created","amount":25000},"confirm_by":"2026-11-26T10:02:00Z"}`),
	})
	ch, err := client.Charge(context.Background(), &sdk.ChargeParams{MerchantOrderNo: "POS1-9", Amount: 25000, Code: "280000001312345678"})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != sdk.ChargeRequiresConfirmation || ch.Order.ID != "o1" || ch.ConfirmBy == nil {
		t.Errorf("Charge = %+v", ch)
	}
	r := gw.seen()[0]
	if got := r.Method + " " + r.RequestURI; got != "POST /v1/orders/charge" || r.Header.Get("Idempotency-Key") == "" {
		t.Errorf("request = %s with Idempotency-Key %q", got, r.Header.Get("Idempotency-Key"))
	}
	if _, err := client.Charge(context.Background(), nil); err == nil {
		t.Error("Charge(nil) = nil error")
	}
}

func TestChargeDeclines(t *testing.T) {
	for _, tt := range []struct {
		status int
		code   string
		want   error
	}{
		{409, "payment_code_used", sdk.ErrPaymentCodeUsed},
		{410, "payment_code_expired", sdk.ErrPaymentCodeExpired},
		{422, "payment_code_invalid", sdk.ErrPaymentCodeInvalid},
		{422, "currency_mismatch", sdk.ErrCurrencyMismatch},
		{402, "insufficient_funds", sdk.ErrInsufficientFunds},
		{402, "limit_exceeded", sdk.ErrLimitExceeded},
		{402, "risk_declined", sdk.ErrRiskDeclined},
	} {
		client, _, _ := newScripted(t, []http.HandlerFunc{refuse(tt.status, tt.code)})
		_, err := client.Charge(context.Background(), &sdk.ChargeParams{MerchantOrderNo: "N", Amount: 1, Code: "280000001312345678"})
		if !errors.Is(err, tt.want) {
			t.Errorf("a %d %s charge = %v; want %v", tt.status, tt.code, err, tt.want)
		}
	}
}

func TestWaitForPayment(t *testing.T) {
	created := answer(200, `{"id":"o1","status":"created"}`)
	for _, tt := range []struct {
		name  string
		steps []http.HandlerFunc
		want  sdk.OrderStatus
		err   error
	}{
		{"paid", []http.HandlerFunc{created, created, created, created, answer(200, `{"id":"o1","status":"paid"}`)}, sdk.OrderPaid, nil},
		{"refunded since", []http.HandlerFunc{answer(200, `{"id":"o1","status":"refunded"}`)}, sdk.OrderRefunded, nil},
		{"closed", []http.HandlerFunc{created, answer(200, `{"id":"o1","status":"closed"}`)}, sdk.OrderClosed, sdk.ErrOrderClosed},
		{"expired", []http.HandlerFunc{created, answer(200, `{"id":"o1","status":"expired"}`)}, sdk.OrderExpired, sdk.ErrOrderExpired},
		// An unavailable gateway (after the SDK's retries) does not end the wait.
		{"through an outage", []http.HandlerFunc{refuse(503, "unavailable"), refuse(503, "unavailable"), answer(200, `{"id":"o1","status":"paid"}`)},
			sdk.OrderPaid, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, _, waits := newScripted(t, tt.steps, sdk.WithMaxRetries(0))
			o, err := client.WaitForPayment(context.Background(), &sdk.WaitParams{OrderID: "o1", FirstInterval: 100 * time.Millisecond,
				MaxInterval: 200 * time.Millisecond})
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("WaitForPayment = %v; want %v", err, tt.err)
			}
			if o == nil || o.Status != tt.want {
				t.Fatalf("WaitForPayment = %+v; want status %s", o, tt.want)
			}
			if len(*waits) != len(tt.steps)-1 {
				t.Errorf("waited %d times (%v); want %d", len(*waits), *waits, len(tt.steps)-1)
			}
			for i, d := range *waits {
				if d < 50*time.Millisecond || d > 200*time.Millisecond {
					t.Errorf("pause %d = %v; want 50 ms to 200 ms", i, d)
				}
			}
		})
	}
	t.Run("by number", func(t *testing.T) {
		client, gw, _ := newScripted(t, []http.HandlerFunc{answer(200, `{"id":"o1","status":"paid"}`)})
		if _, err := client.WaitForPayment(context.Background(), &sdk.WaitParams{MerchantOrderNo: "POS 1/2"}); err != nil {
			t.Fatal(err)
		}
		if got := gw.seen()[0].RequestURI; got != "/v1/orders/by-number/POS%201%2F2" {
			t.Errorf("request = %s", got)
		}
	})
	t.Run("other errors end it", func(t *testing.T) {
		client, _, _ := newScripted(t, []http.HandlerFunc{refuse(404, "not_found")})
		if _, err := client.WaitForPayment(context.Background(), &sdk.WaitParams{OrderID: "o1"}); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("WaitForPayment = %v; want ErrNotFound", err)
		}
	})
	t.Run("ctx ends it", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		client, _, _ := newScripted(t, []http.HandlerFunc{created})
		if _, err := client.WaitForPayment(ctx, &sdk.WaitParams{OrderID: "o1"}); !errors.Is(err, context.Canceled) {
			t.Errorf("WaitForPayment = %v; want context.Canceled", err)
		}
	})
	for _, p := range []*sdk.WaitParams{nil, {}, {OrderID: "o1", MerchantOrderNo: "n"}} {
		client, _, _ := newScripted(t, nil)
		if _, err := client.WaitForPayment(context.Background(), p); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("WaitForPayment(%+v) = %v; want ErrInvalid", p, err)
		}
	}
}
