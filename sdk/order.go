package sdk

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// OrderStatus is where an order is in its life. Only OrderCreated can still
// change by itself (to paid or expired); a POS waiting for the customer polls
// or listens for webhooks until the status leaves it.
type OrderStatus string

// The order statuses.
const (
	// OrderCreated: waiting for the customer to scan and pay.
	OrderCreated OrderStatus = "created"
	// OrderPaid: paid in full; hand over the goods.
	OrderPaid OrderStatus = "paid"
	// OrderPartiallyRefunded: paid, and part of it refunded.
	OrderPartiallyRefunded OrderStatus = "partially_refunded"
	// OrderRefunded: paid, and all of it refunded.
	OrderRefunded OrderStatus = "refunded"
	// OrderClosed: closed by the merchant before it was paid.
	OrderClosed OrderStatus = "closed"
	// OrderExpired: not paid before its expiry; it can never be paid.
	OrderExpired OrderStatus = "expired"
)

// Order is a request for one payment, shown to the customer as a dynamic QR
// code. Amounts are integers in the currency's minor unit (fen for CNY).
type Order struct {
	ID              string      `json:"id"`
	MerchantID      string      `json:"merchant_id"`
	MerchantOrderNo string      `json:"merchant_order_no"`
	Amount          int64       `json:"amount"`
	Currency        string      `json:"currency"`
	Description     string      `json:"description"`
	TerminalID      string      `json:"terminal_id"`
	Status          OrderStatus `json:"status"`
	// QRPayload is the EMVCo string to draw as a QR code. Drawing it on the
	// terminal is faster than fetching OrderQRPNG.
	QRPayload string `json:"qr_payload"`
	// QRPNGURL is the path of the rendered PNG, relative to the gateway.
	QRPNGURL string `json:"qr_png_url"`
	// DisplayURL is the checkout display page, relative to the gateway: a
	// screen facing the customer opens it to show the amount, the QR code
	// and a countdown, turning to Paid the moment the payment commits. Only
	// CreateOrder returns it; it works while the order is open.
	DisplayURL string    `json:"display_url,omitempty"`
	ExpiresAt  time.Time `json:"expires_at"`
	CreatedAt  time.Time `json:"created_at"`
	// PaidAt is nil until the order is paid.
	PaidAt *time.Time `json:"paid_at"`
	// Fee is what the gateway keeps of the payment.
	Fee            int64 `json:"fee"`
	RefundedAmount int64 `json:"refunded_amount"`
}

// OrderParams describes an order to create.
type OrderParams struct {
	// MerchantOrderNo is your own number for the sale, 1–64 characters,
	// unique per merchant. Required.
	MerchantOrderNo string `json:"merchant_order_no"`
	// Amount in minor units, 1 to 10,000,000,000,000. Required.
	Amount int64 `json:"amount"`
	// Currency defaults to the merchant's.
	Currency    string `json:"currency,omitempty"`
	Description string `json:"description,omitempty"`
	TerminalID  string `json:"terminal_id,omitempty"`
	// ExpiresIn is the order's life in seconds: default 900, at most 86400.
	ExpiresIn int `json:"expires_in,omitempty"`
	// IdempotencyKey, if set, is sent instead of a random key. Set it (for
	// example to MerchantOrderNo) when the terminal may crash and resend the
	// order after a restart: the gateway then answers with the first order
	// instead of a conflict.
	IdempotencyKey string `json:"-"`
}

// CreateOrder creates an order and returns it with its QR payload. The call
// is retried safely: every attempt carries the same Idempotency-Key.
func (c *Client) CreateOrder(ctx context.Context, params *OrderParams) (*Order, error) {
	if params == nil {
		return nil, errors.New("qrpay: CreateOrder: nil params")
	}
	var o Order
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/orders", body: params, idempotencyKey: params.IdempotencyKey}, &o)
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// GetOrder returns an order by the gateway's id.
func (c *Client) GetOrder(ctx context.Context, id string) (*Order, error) {
	return c.getOrder(ctx, "order id", "/v1/orders/", id)
}

// GetOrderByNumber returns an order by your merchant_order_no: what a
// terminal that lost the gateway's answer (and so the id) uses to find out
// whether its order was created.
func (c *Client) GetOrderByNumber(ctx context.Context, merchantOrderNo string) (*Order, error) {
	return c.getOrder(ctx, "merchant order number", "/v1/orders/by-number/", merchantOrderNo)
}

func (c *Client) getOrder(ctx context.Context, what, prefix, key string) (*Order, error) {
	seg, err := segment(what, key)
	if err != nil {
		return nil, err
	}
	var o Order
	if err := c.call(ctx, request{method: http.MethodGet, path: prefix + seg}, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// ListOrdersParams filters and pages ListOrders.
type ListOrdersParams struct {
	// Status, if set, lists only orders with this status.
	Status OrderStatus
	// TerminalID, if set, lists only orders created for this terminal.
	TerminalID string
	// From and To, if set, list only orders created at or after From and
	// before To.
	From, To time.Time
	// Limit is the page size, 1–100 (gateway default 20). It changes how many
	// requests a full listing takes, not how many orders it yields.
	Limit int
	// StartingAfter resumes a listing after this order id.
	StartingAfter string
}

// ListOrders yields the merchant's orders, newest first, fetching pages as
// the range needs them:
//
//	for o, err := range client.ListOrders(ctx, &sdk.ListOrdersParams{Status: sdk.OrderPaid}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(o.MerchantOrderNo, o.Amount)
//	}
//
// A failed page is yielded as (nil, err) and ends the listing.
func (c *Client) ListOrders(ctx context.Context, params *ListOrdersParams) iter.Seq2[*Order, error] {
	return paginate(ctx, c, "/v1/orders", params.query(), func(o *Order) string { return o.ID })
}

func (params *ListOrdersParams) query() url.Values {
	q := url.Values{}
	if params == nil {
		return q
	}
	if params.Status != "" {
		q.Set("status", string(params.Status))
	}
	if params.TerminalID != "" {
		q.Set("terminal_id", params.TerminalID)
	}
	if !params.From.IsZero() {
		q.Set("from", params.From.Format(time.RFC3339Nano))
	}
	if !params.To.IsZero() {
		q.Set("to", params.To.Format(time.RFC3339Nano))
	}
	setPaging(q, params.Limit, params.StartingAfter)
	return q
}

// CloseOrder closes an unpaid order so that it can no longer be paid, for a
// customer who walked away. Closing a closed order succeeds again. If the
// order is no longer open — the customer paid meanwhile, or it expired — it
// fails with ErrConflict: fetch the order, because a payment wins and the
// goods are then owed.
func (c *Client) CloseOrder(ctx context.Context, id string) (*Order, error) {
	seg, err := segment("order id", id)
	if err != nil {
		return nil, err
	}
	var o Order
	if err := c.call(ctx, request{method: http.MethodPost, path: "/v1/orders/" + seg + "/close"}, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// OrderQRPNG returns the order's QR code as a PNG of size×size pixels
// (128–1024; 0 asks for the gateway's default, 256), for terminals that
// cannot draw QR codes themselves.
func (c *Client) OrderQRPNG(ctx context.Context, id string, size int) ([]byte, error) {
	seg, err := segment("order id", id)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if size != 0 {
		q.Set("size", strconv.Itoa(size))
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/orders/" + seg + "/qr.png", query: q, accept: "image/png"}, true)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body) // already in memory: send buffered it
}
