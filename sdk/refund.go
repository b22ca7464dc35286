package sdk

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Refund returns part or all of a paid order to the customer's wallet.
type Refund struct {
	ID       string `json:"id"`
	OrderID  string `json:"order_id"`
	RefundNo string `json:"refund_no"`
	Amount   int64  `json:"amount"`
	// FeeRefunded is the share of the order's fee the gateway gives back.
	FeeRefunded int64  `json:"fee_refunded"`
	Reason      string `json:"reason"`
	Status      string `json:"status"`
	// Funding is where the refund went back to: "balance" (the customer's
	// wallet), "card" (the card the payment was charged to) or
	// "balance_then_card" (both); CardAmount is the part returned to the card.
	Funding    string    `json:"funding"`
	CardAmount int64     `json:"card_amount"`
	CreatedAt  time.Time `json:"created_at"`
}

// RefundParams describes a refund to make.
type RefundParams struct {
	// RefundNo is your own number for the refund, 1–64 characters, unique per
	// order. Required. Sending the same RefundNo again returns the first
	// refund, so a refund is never paid out twice even across restarts.
	RefundNo string `json:"refund_no"`
	// Amount in minor units. Required; all refunds of an order together may
	// not exceed what was paid (ErrRefundExceedsPayment).
	Amount int64  `json:"amount"`
	Reason string `json:"reason,omitempty"`
	// IdempotencyKey, if set, is sent instead of a random key.
	IdempotencyKey string `json:"-"`
}

// CreateRefund refunds part or all of a paid order. The call is retried
// safely: every attempt carries the same Idempotency-Key.
func (c *Client) CreateRefund(ctx context.Context, orderID string, params *RefundParams) (*Refund, error) {
	if params == nil {
		return nil, errors.New("qrpay: CreateRefund: nil params")
	}
	seg, err := segment("order id", orderID)
	if err != nil {
		return nil, err
	}
	var r Refund
	err = c.call(ctx, request{method: http.MethodPost, path: "/v1/orders/" + seg + "/refunds", body: params, idempotencyKey: params.IdempotencyKey}, &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// GetRefund returns a refund by the gateway's id.
func (c *Client) GetRefund(ctx context.Context, id string) (*Refund, error) {
	seg, err := segment("refund id", id)
	if err != nil {
		return nil, err
	}
	var r Refund
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/refunds/" + seg}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListRefunds returns every refund of an order. An order has few refunds, so
// the gateway answers with all of them at once rather than in pages.
func (c *Client) ListRefunds(ctx context.Context, orderID string) ([]*Refund, error) {
	seg, err := segment("order id", orderID)
	if err != nil {
		return nil, err
	}
	var list struct {
		Data []*Refund `json:"data"`
	}
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/orders/" + seg + "/refunds"}, &list); err != nil {
		return nil, err
	}
	return list.Data, nil
}
