package sdk

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// ChargeStatus is what a charge of a customer's payment code answered when
// it was not declined.
type ChargeStatus string

// The charge statuses.
const (
	// ChargePaid: the order is paid; hand over the goods.
	ChargePaid ChargeStatus = "paid"
	// ChargeRequiresConfirmation: the amount is above the wallet's PIN
	// threshold and the customer confirms on the phone. Wait with
	// WaitForPayment until the order is paid, or closed or expired (the
	// customer declined or did not confirm in time).
	ChargeRequiresConfirmation ChargeStatus = "requires_confirmation"
)

// ChargeParams describes a charge of the payment code a customer shows
// (the barcode or QR code in the wallet app), as a cashier scans it.
type ChargeParams struct {
	// MerchantOrderNo is your own number for the sale, unique per
	// merchant. Required. Sending the same charge again under it (after a
	// lost answer or a restart) answers what the first did and never pays
	// twice.
	MerchantOrderNo string `json:"merchant_order_no"`
	// Amount in minor units. Required.
	Amount int64 `json:"amount"`
	// Currency defaults to the merchant's.
	Currency    string `json:"currency,omitempty"`
	Description string `json:"description,omitempty"`
	TerminalID  string `json:"terminal_id,omitempty"`
	// Code is the 18 digits scanned from the customer's screen. Required.
	Code string `json:"code"`
	// IdempotencyKey, if set, is sent instead of a random key.
	IdempotencyKey string `json:"-"`
}

// Charge is a charge that was not declined: the order it created, paid or
// waiting for the customer's confirmation until ConfirmBy.
type Charge struct {
	Status    ChargeStatus `json:"status"`
	Order     Order        `json:"order"`
	ConfirmBy *time.Time   `json:"confirm_by"`
}

// Sentinels of a declined charge, besides ErrInsufficientFunds,
// ErrRateLimited and ErrConflict (the order number was used for another
// sale). Ask the customer to refresh the code (or pay another way) and
// charge again under a new order number.
var (
	// ErrPaymentCodeInvalid: no wallet made this code: misread, or its
	// device was signed out. Too many of these from one API key and its
	// charges are refused with ErrRateLimited for a while.
	ErrPaymentCodeInvalid = &Error{Code: "payment_code_invalid"}
	// ErrPaymentCodeExpired: the code is older than a minute.
	ErrPaymentCodeExpired = &Error{Code: "payment_code_expired"}
	// ErrPaymentCodeUsed: the code (or a newer one of the same phone) was
	// charged already.
	ErrPaymentCodeUsed = &Error{Code: "payment_code_used"}
	// ErrCurrencyMismatch: the wallet holds another currency.
	ErrCurrencyMismatch = &Error{Code: "currency_mismatch"}
	// ErrLimitExceeded: the wallet's card limits do not allow the amount.
	ErrLimitExceeded = &Error{Code: "limit_exceeded"}
	// ErrRiskDeclined: the risk checks declined the payment.
	ErrRiskDeclined = &Error{Code: "risk_declined"}
)

// Charge charges the payment code a customer shows: the gateway creates the
// order and pays it from the customer's wallet at once (ChargePaid), or,
// above the wallet's PIN threshold, asks the customer to confirm
// (ChargeRequiresConfirmation: call WaitForPayment). A declined charge is
// an *Error (see ErrPaymentCodeUsed and its neighbours). Retried safely:
// every attempt carries the same Idempotency-Key.
func (c *Client) Charge(ctx context.Context, params *ChargeParams) (*Charge, error) {
	if params == nil {
		return nil, errors.New("qrpay: Charge: nil params")
	}
	var ch Charge
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/orders/charge", body: params, idempotencyKey: params.IdempotencyKey}, &ch)
	if err != nil {
		return nil, err
	}
	return &ch, nil
}

// WaitParams names the order WaitForPayment waits for and how often it
// asks.
type WaitParams struct {
	// OrderID or MerchantOrderNo names the order: give exactly one.
	OrderID         string
	MerchantOrderNo string
	// FirstInterval is the pause before the second look (default 500 ms);
	// each pause after is half as long again, jittered, up to MaxInterval
	// (default 5 s).
	FirstInterval, MaxInterval time.Duration
}

// WaitForPayment polls an order until it leaves created: it returns the
// order when it is paid (or since refunded), and the order with an *Error
// matching ErrOrderClosed or ErrOrderExpired when it was closed (the
// customer declined) or expired unpaid. The gateway expires an order by its
// own clock, so the wait ends at the order's expiry at the latest; bound it
// further with ctx. A gateway that stays unavailable or rate limited through
// the SDK's retries does not end the wait; other errors do.
func (c *Client) WaitForPayment(ctx context.Context, params *WaitParams) (*Order, error) {
	if params == nil || (params.OrderID == "") == (params.MerchantOrderNo == "") {
		return nil, &Error{Code: codeInvalid, Message: "WaitForPayment: give exactly one of OrderID and MerchantOrderNo"}
	}
	pause, most := params.FirstInterval, params.MaxInterval
	if pause <= 0 {
		pause = 500 * time.Millisecond
	}
	if most <= 0 {
		most = 5 * time.Second
	}
	for {
		var o *Order
		var err error
		if params.OrderID != "" {
			o, err = c.GetOrder(ctx, params.OrderID)
		} else {
			o, err = c.GetOrderByNumber(ctx, params.MerchantOrderNo)
		}
		switch {
		case err != nil && !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrRateLimited):
			return nil, err
		case err != nil:
		case o.Status == OrderPaid || o.Status == OrderPartiallyRefunded || o.Status == OrderRefunded:
			return o, nil
		case o.Status == OrderClosed:
			return o, &Error{Code: ErrOrderClosed.Code, Message: "the order was closed before it was paid"}
		case o.Status == OrderExpired:
			return o, &Error{Code: ErrOrderExpired.Code, Message: "the order expired unpaid"}
		}
		// Full jitter over the upper half keeps terminals that started
		// together from asking together.
		d := pause/2 + rand.N(pause/2+1)
		if err := c.sleep(ctx, d); err != nil {
			return nil, err
		}
		pause = min(pause*3/2, most)
	}
}
