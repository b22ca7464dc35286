package sdk

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// OrderPage is one page of a listing with the totals of every order its
// filter selects, on all pages.
type OrderPage struct {
	Data       []*Order    `json:"data"`
	HasMore    bool        `json:"has_more"`
	NextCursor string      `json:"next_cursor"`
	Totals     OrderTotals `json:"totals"`
}

// OrderTotals counts and sums the orders a filter selects.
type OrderTotals struct {
	Currency string `json:"currency"`
	Count    int64  `json:"count"`
	Amount   int64  `json:"amount"`
	// ByStatus lists every status in a fixed order, zeros included.
	ByStatus []StatusTotal `json:"by_status"`
}

// StatusTotal is the orders of one status. An order past its expiry counts
// as OrderExpired.
type StatusTotal struct {
	Status         OrderStatus `json:"status"`
	Count          int64       `json:"count"`
	Amount         int64       `json:"amount"`
	RefundedAmount int64       `json:"refunded_amount"`
}

// ListOrdersPage returns one page of orders, newest first, with the totals
// of the whole filter: what a terminal shows at the top of its order list.
// Pass the page's NextCursor as StartingAfter for the next page.
func (c *Client) ListOrdersPage(ctx context.Context, params *ListOrdersParams) (*OrderPage, error) {
	var p OrderPage
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/orders", query: params.query()}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Ways of paying, as ShiftSummary and Receipt name them. More may be added:
// treat an unknown way as another line, not an error.
const (
	WayDynamicQR   = "dynamic_qr"   // the order's own QR
	WayStaticQR    = "static_qr"    // the merchant's printed QR
	WayPaymentCode = "payment_code" // the customer's payment code, charged by the POS
)

// ShiftTotals are a period's counts and sums in minor units. Net is
// Gross − Refunded − Fees: what the merchant is owed for the period.
type ShiftTotals struct {
	Payments     int64 `json:"payments"`
	Gross        int64 `json:"gross"`
	Refunds      int64 `json:"refunds"`
	Refunded     int64 `json:"refunded"`
	Fees         int64 `json:"fees"`
	FeesCharged  int64 `json:"fees_charged"`
	FeesRefunded int64 `json:"fees_refunded"`
	Net          int64 `json:"net"`
}

// WaySummary is a shift's totals for one way of paying.
type WaySummary struct {
	Way string `json:"way"`
	ShiftTotals
}

// ShiftSummary is what a terminal took in a period, read from the
// gateway's ledger: Net is exactly what the period's payments and refunds
// moved on the merchant's account.
type ShiftSummary struct {
	TerminalID string    `json:"terminal_id"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Currency   string    `json:"currency"`
	ShiftTotals
	Ways []WaySummary `json:"ways"`
}

// ShiftSummary sums the payments and refunds of terminalID's orders
// committed in [from, to). A zero to is now; a zero from is a day before to;
// the period may be at most 31 days. A terminal no order was created for
// is ErrNotFound.
func (c *Client) ShiftSummary(ctx context.Context, terminalID string, from, to time.Time) (*ShiftSummary, error) {
	seg, err := segment("terminal id", terminalID)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339Nano))
	}
	var s ShiftSummary
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/terminals/" + seg + "/summary", query: q}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Receipt is what a terminal prints for a paid order.
type Receipt struct {
	OrderID         string `json:"order_id"`
	MerchantOrderNo string `json:"merchant_order_no"`
	MerchantName    string `json:"merchant_name"`
	TerminalID      string `json:"terminal_id"`
	Description     string `json:"description"`
	Way             string `json:"way"`
	Amount          int64  `json:"amount"`
	Currency        string `json:"currency"`
	// Fee is the gateway's fee on the payment.
	Fee int64 `json:"fee"`
	// Funding is what paid: "balance" (the customer's wallet balance),
	// "card", or "balance_then_card" (the balance first, the card for the
	// rest).
	Funding        string      `json:"funding"`
	Card           string      `json:"card"`
	PaymentID      string      `json:"payment_id"`
	PaidAt         time.Time   `json:"paid_at"`
	Status         OrderStatus `json:"status"`
	RefundedAmount int64       `json:"refunded_amount"`
	// Refunds are oldest first.
	Refunds []*Refund `json:"refunds"`
}

// Receipt returns the receipt of a paid order. An order not paid yet has
// none: ErrConflict.
func (c *Client) Receipt(ctx context.Context, orderID string) (*Receipt, error) {
	seg, err := segment("order id", orderID)
	if err != nil {
		return nil, err
	}
	var r Receipt
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/orders/" + seg + "/receipt"}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
