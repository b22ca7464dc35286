// Package payment pays merchants from wallets and refunds them: scan to
// pay, payments to static QR codes, and refunds. It is the one package that
// coordinates a wallet and a merchant, so neither imports the other: it
// resolves what is paid (merchant), authorizes the debit (wallet), and
// posts one ledger transfer carrying the order's change as data (ledger),
// which commits the money, the order and the merchant's event together.
package payment

import (
	"context"
	"time"

	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/wallet"
)

// Service pays and refunds.
type Service struct {
	ledger   *ledger.Ledger
	wallet   *wallet.Service
	merchant *merchant.Service
	// refunding serialises refunds of one order (see orderLocks).
	refunding orderLocks
	// codes charges customer-presented payment codes (UsingCodes).
	codes *CodeOptions
}

// New returns the payment service.
func New(led *ledger.Ledger, w *wallet.Service, m *merchant.Service) *Service {
	return &Service{ledger: led, wallet: w, merchant: m}
}

// ScanResult is what the wallet app shows before the customer pays.
type ScanResult struct {
	Static       bool       `json:"static" example:"false" doc:"A static QR: the customer enters the amount."`
	OrderID      string     `json:"order_id,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	MerchantName string     `json:"merchant_name" example:"Blue Bottle Coffee"`
	MerchantCity string     `json:"merchant_city" example:"Shanghai"`
	Amount       *int64     `json:"amount" example:"1200" doc:"Absent for a static QR."`
	Currency     string     `json:"currency" example:"CNY"`
	Description  string     `json:"description,omitempty" example:"2 coffees"`
	ExpiresAt    *time.Time `json:"expires_at" doc:"Absent for a static QR."`
	PINRequired  bool       `json:"pin_required" example:"false" doc:"Whether paying this amount needs the payment PIN."`
}

// Scan tells the wallet app what a payload asks for.
func (s *Service) Scan(ctx context.Context, payload string) (ScanResult, error) {
	t, err := s.merchant.Resolve(ctx, payload, "")
	if err != nil {
		return ScanResult{}, err
	}
	m := t.Merchant
	r := ScanResult{MerchantName: m.Name, MerchantCity: m.City, Currency: m.Currency, Static: t.Order == nil}
	if o := t.Order; o != nil {
		r.OrderID, r.Amount, r.Currency, r.Description, r.ExpiresAt = o.ID, &o.Amount, o.Currency, o.Description, &o.ExpiresAt
		r.PINRequired = s.wallet.NeedsPIN(o.Amount)
	}
	return r, nil
}
