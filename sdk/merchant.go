package sdk

import (
	"context"
	"net/http"
	"time"
)

// Merchant is the merchant an API key belongs to, as the gateway knows it.
// A terminal reads it at start-up to learn its currency and to print the
// static QR code.
type Merchant struct {
	ID string `json:"id"`
	// Code is the short public code carried in the merchant's QR codes.
	Code string `json:"code"`
	// Name and City appear in every QR code (EMVCo tags 59 and 60).
	Name string `json:"name"`
	City string `json:"city"`
	// MCC is the ISO 18245 merchant category code.
	MCC      string `json:"mcc"`
	Country  string `json:"country"`
	Currency string `json:"currency"`
	// FeeBPS is the fee in basis points of each payment: 60 is 0.6 %.
	FeeBPS     int    `json:"fee_bps"`
	WebhookURL string `json:"webhook_url"`
	// Status is "active" or "suspended"; a suspended merchant can neither
	// create orders nor be paid.
	Status string `json:"status"`
	// StaticQRPayload is the printable QR without an amount: the customer
	// types the amount in the wallet app.
	StaticQRPayload string    `json:"static_qr_payload"`
	CreatedAt       time.Time `json:"created_at"`
}

// GetMerchant returns the caller's merchant.
func (c *Client) GetMerchant(ctx context.Context) (*Merchant, error) {
	var m Merchant
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/merchant"}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}
