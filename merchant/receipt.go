package merchant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// Receipt is the record of one paid order, as the POS prints it (with the
// fee) or the wallet shows it (without).
type Receipt struct {
	OrderID         string    `json:"order_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	MerchantOrderNo string    `json:"merchant_order_no" example:"POS1-000123"`
	MerchantName    string    `json:"merchant_name" example:"Blue Bottle Coffee" doc:"As the merchant was named when paid."`
	TerminalID      string    `json:"terminal_id" example:"POS1"`
	Description     string    `json:"description" example:"2 coffees"`
	Way             string    `json:"way" example:"dynamic_qr" enum:"dynamic_qr,static_qr,payment_code" doc:"How the customer paid: the order's QR, the merchant's printed QR, or the customer's payment code charged by the POS; more ways may appear."`
	Amount          int64     `json:"amount" example:"1200"`
	Currency        string    `json:"currency" example:"CNY"`
	Fee             *int64    `json:"fee,omitempty" example:"7" doc:"The gateway's fee, on the merchant's receipt only."`
	Funding         string    `json:"funding" example:"balance" doc:"What paid: balance (the wallet's balance), card (a bound card), or balance_then_card (both: the balance first, the card for the rest), as the payment's ledger transfer records it."`
	Card            string    `json:"card,omitempty" example:"**** 1111" doc:"The wallet's card the payment named, masked."`
	PaymentID       string    `json:"payment_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5e" doc:"The payment's ledger transfer: the id the wallet's history shows."`
	PaidAt          time.Time `json:"paid_at"`
	Status          string    `json:"status" example:"paid" enum:"paid,partially_refunded,refunded"`
	RefundedAmount  int64     `json:"refunded_amount" example:"0"`
	Refunds         []Refund  `json:"refunds" doc:"Oldest first; the wallet's receipt blanks the merchant's refund numbers, reasons and fees."`
}

// Receipt is the receipt of one of the caller's orders; an order not yet
// paid has none (conflict).
func (s *Service) Receipt(ctx context.Context, c Caller, orderID string) (Receipt, error) {
	id, err := uuid.Parse(orderID)
	if err != nil {
		return Receipt{}, errs.E(errs.NotFound, "order not found")
	}
	return s.receipt(ctx, id, c.MerchantID, uuid.Nil)
}

// PaymentReceipt is the customer's receipt of the order paid by the ledger
// transfer payment: no fee, no merchant references of refunds. The caller
// (payment/) has checked that the payment is the customer's.
func (s *Service) PaymentReceipt(ctx context.Context, orderID, payment uuid.UUID) (Receipt, error) {
	r, err := s.receipt(ctx, orderID, "", payment)
	if err != nil {
		return Receipt{}, err
	}
	r.Fee = nil
	for i := range r.Refunds {
		r.Refunds[i].RefundNo, r.Refunds[i].Reason, r.Refunds[i].FeeRefunded = "", "", 0
	}
	return r, nil
}

// receipt reads an order's receipt, of merchantID's orders when it is
// given, and of the order payment paid when that is.
func (s *Service) receipt(ctx context.Context, orderID uuid.UUID, merchantID string, payment uuid.UUID) (Receipt, error) {
	var r Receipt
	var fee int64
	var paidAt *time.Time
	var paymentID *uuid.UUID
	var funding *string
	// Funding is what the payment's transfer recorded; a payment from
	// before transfers recorded it is named by its debit: the account the
	// money came from.
	err := s.pool.QueryRow(ctx, `SELECT o.id::text, o.merchant_order_no, coalesce(nullif(t.metadata->>'merchant', ''), m.name),
			o.terminal_id, o.description, `+orderWay+`, o.amount, o.currency, o.fee, o.card_masked, o.payment_id, o.paid_at,
			o.status, o.refunded_amount,
			coalesce(t.funding, (SELECT a.kind FROM postings p JOIN accounts a ON a.id = p.account_id
				WHERE p.transfer_id = o.payment_id AND p.amount < 0 ORDER BY p.amount LIMIT 1))
		FROM orders o JOIN merchants m ON m.id = o.merchant_id LEFT JOIN transfers t ON t.id = o.payment_id
		WHERE o.id = $1 AND ($2 = '' OR o.merchant_id::text = $2) AND ($3::uuid IS NULL OR o.payment_id = $3)`,
		orderID, merchantID, nullUUID(payment)).Scan(&r.OrderID, &r.MerchantOrderNo, &r.MerchantName, &r.TerminalID,
		&r.Description, &r.Way, &r.Amount, &r.Currency, &fee, &r.Card, &paymentID, &paidAt, &r.Status, &r.RefundedAmount, &funding)
	if errors.Is(err, pgx.ErrNoRows) {
		return Receipt{}, errs.E(errs.NotFound, "order not found")
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("receipt: %w", err)
	}
	if paymentID == nil || paidAt == nil {
		return Receipt{}, errs.E(errs.Conflict, "the order has not been paid: it has no receipt")
	}
	r.Fee, r.PaymentID, r.PaidAt = &fee, paymentID.String(), *paidAt
	r.Funding = "unknown"
	if funding != nil {
		r.Funding = fundingOf(*funding)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+refundColumns+` FROM refunds WHERE order_id = $1 ORDER BY created_at, id`, orderID)
	if err != nil {
		return Receipt{}, fmt.Errorf("receipt refunds: %w", err)
	}
	defer rows.Close()
	r.Refunds = []Refund{}
	for rows.Next() {
		rf, err := scanRefund(rows)
		if err != nil {
			return Receipt{}, fmt.Errorf("receipt refunds: %w", err)
		}
		r.Refunds = append(r.Refunds, rf)
	}
	return r, rows.Err()
}

// fundingOf names a payment's funding by the kind of ledger account it was
// debited from; a funding its transfer recorded is already a name.
func fundingOf(kind string) string {
	switch kind {
	case "wallet":
		return "balance"
	case "clearing":
		return "card"
	}
	return kind
}

func nullUUID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
