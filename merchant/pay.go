package merchant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/wallet"
)

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

// target is what a payload or order id resolves to.
type target struct {
	merchant Merchant
	order    *Order // nil for a static QR
}

// resolve finds and checks what is being paid: the payload's MAC, the
// merchant's state and the order's state. The order's state is checked
// again, atomically, when the payment commits.
func (s *Service) resolve(ctx context.Context, payload, orderID string) (target, error) {
	var t target
	var err error
	switch {
	case payload != "" && orderID != "":
		return t, errs.E(errs.Invalid, "give qr_payload or order_id, not both")
	case payload != "":
		q, err := s.ParseQR(payload)
		if err != nil {
			return t, err
		}
		if !q.Static && !s.now().Before(q.ExpiresAt) {
			return t, errs.E(errs.OrderExpired, "the order has expired")
		}
		if t.merchant, err = s.getMerchant(ctx, "code = $1", q.MerchantCode); err != nil {
			return t, err
		}
		if !q.Static {
			o, err := s.scanOrder(s.pool.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders o
				WHERE o.ref = $1 AND o.merchant_id = $2`, q.Ref, t.merchant.ID), &t.merchant)
			if errors.Is(err, pgx.ErrNoRows) {
				return t, errs.E(errs.NotFound, "order not found")
			}
			if err != nil {
				return t, fmt.Errorf("resolve order: %w", err)
			}
			t.order = &o
		}
	case orderID != "":
		if _, err := uuid.Parse(orderID); err != nil {
			return t, errs.E(errs.NotFound, "order not found")
		}
		var mid string
		if err := s.pool.QueryRow(ctx, `SELECT merchant_id FROM orders WHERE id = $1 AND NOT static`, orderID).Scan(&mid); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return t, errs.E(errs.NotFound, "order not found")
			}
			return t, fmt.Errorf("resolve order: %w", err)
		}
		if t.merchant, err = s.Get(ctx, mid); err != nil {
			return t, err
		}
		o, err := s.order(ctx, Caller{MerchantID: mid}, "o.id = $2", orderID)
		if err != nil {
			return t, err
		}
		t.order = &o
	default:
		return t, errs.E(errs.Invalid, "qr_payload or order_id is required")
	}
	if t.merchant.Status != "active" {
		return t, errs.E(errs.MerchantSuspended, "the merchant is suspended and cannot be paid")
	}
	if t.order != nil {
		if err := payable(t.order.Status); err != nil {
			return t, err
		}
	}
	return t, nil
}

// payable maps an order's state to why it cannot be paid.
func payable(status string) error {
	switch status {
	case StatusCreated:
		return nil
	case StatusClosed:
		return errs.E(errs.OrderClosed, "the order was closed by the merchant")
	case StatusExpired:
		return errs.E(errs.OrderExpired, "the order has expired")
	}
	return errs.E(errs.OrderAlreadyPaid, "the order has already been paid")
}

// Scan tells the wallet app what a payload asks for.
func (s *Service) Scan(ctx context.Context, payload string) (ScanResult, error) {
	t, err := s.resolve(ctx, payload, "")
	if err != nil {
		return ScanResult{}, err
	}
	r := ScanResult{MerchantName: t.merchant.Name, MerchantCity: t.merchant.City, Currency: t.merchant.Currency, Static: t.order == nil}
	if o := t.order; o != nil {
		r.OrderID, r.Amount, r.Currency, r.Description, r.ExpiresAt = o.ID, &o.Amount, o.Currency, o.Description, &o.ExpiresAt
		r.PINRequired = s.wallet.NeedsPIN(o.Amount)
	}
	return r, nil
}

// PayInput is a wallet's payment: a scanned payload or an order id, the
// card, the PIN when needed, and the amount for a static QR.
type PayInput struct {
	QRPayload string
	OrderID   string
	CardID    string
	PIN       string
	Amount    int64
}

// Pay pays an order (or a merchant's static QR) from a wallet: one ledger
// transfer from the wallet to the merchant's account and the fee account,
// with the order marked paid and its order.paid event written in the same
// transaction. Of several wallets paying one order at once, exactly one
// succeeds; the others get order_already_paid.
func (s *Service) Pay(ctx context.Context, p wallet.Principal, in PayInput, req wallet.Request) (wallet.Movement, error) {
	// A retry of a payment that went through is answered from the ledger,
	// before the order's state (now paid, perhaps expired) is looked at.
	if mv, ok, err := s.wallet.Replay(ctx, p, req); err != nil || ok {
		return mv, err
	}
	t, err := s.resolve(ctx, in.QRPayload, in.OrderID)
	if err != nil {
		return wallet.Movement{}, err
	}
	m := t.merchant
	amount := in.Amount
	if t.order != nil {
		if in.Amount != 0 && in.Amount != t.order.Amount {
			return wallet.Movement{}, errs.E(errs.Invalid, "the order is for %d; amount must be omitted or equal", t.order.Amount)
		}
		amount = t.order.Amount
	} else if amount <= 0 || amount > MaxOrderAmount {
		return wallet.Movement{}, errs.E(errs.Invalid, "a static QR needs an amount of 1 to %d minor units", MaxOrderAmount)
	}
	fee := Fee(amount, m.FeeBPS)
	credits := []ledger.Posting{{AccountID: m.AccountID, Amount: amount - fee}}
	if fee > 0 {
		feeAcct, err := s.feeAccount(ctx, m.Currency)
		if err != nil {
			return wallet.Movement{}, err
		}
		credits = append(credits, ledger.Posting{AccountID: feeAcct, Amount: fee})
	}
	if amount-fee == 0 {
		credits = credits[1:]
	}
	orderID := uuid.Must(uuid.NewV7()).String()
	if t.order != nil {
		orderID = t.order.ID
	}
	hook := func(ctx context.Context, tx pgx.Tx, tr *ledger.Transfer) error {
		card := cardOf(tr)
		if t.order == nil {
			// A static QR's payment becomes a paid order of its own.
			_, err := tx.Exec(ctx, `INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency,
				static, status, fee, wallet_id, wallet_account_id, card_masked, payment_id, expires_at, created_at, paid_at)
				VALUES ($1, $2, $3, $4, $5, $6, true, 'paid', $7, $8, $9, $10, $11, $12, $12, $12)`,
				orderID, m.ID, "static-"+orderID, "S"+randomCode(19), amount, m.Currency, fee,
				p.WalletID, p.AccountID, card, tr.ID, tr.CreatedAt)
			if err != nil {
				return err
			}
		} else {
			// One statement checks the order is still payable, marks it
			// paid and advances its event counter; nothing is written when
			// it matches no row.
			o, err := s.scanOrder(tx.QueryRow(ctx, `UPDATE orders o SET status = 'paid', paid_at = $2, fee = $3,
				wallet_id = $4, wallet_account_id = $5, card_masked = $6, payment_id = $7, events = events + 1
				WHERE id = $1 AND status = 'created' AND expires_at > $8 RETURNING `+orderColumns,
				orderID, tr.CreatedAt, fee, p.WalletID, p.AccountID, card, tr.ID, s.now()), &m)
			if errors.Is(err, pgx.ErrNoRows) {
				// Lost the race, or expired meanwhile: say which.
				var status string
				if err := tx.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, orderID).Scan(&status); err != nil {
					return err
				}
				if status == StatusCreated {
					return errs.E(errs.OrderExpired, "the order has expired")
				}
				return payable(status)
			}
			if err != nil {
				return err
			}
			return s.insertEvent(ctx, tx, m, o, EventPaid, nil)
		}
		return s.emit(ctx, tx, orderID, EventPaid, nil)
	}
	tr, _, err := s.wallet.Pay(ctx, p, wallet.Purchase{
		CardID: in.CardID, Amount: amount, Currency: m.Currency, PIN: in.PIN, Credits: credits,
		MerchantID: m.ID, MerchantName: m.Name, MCC: m.MCC, OrderID: orderID, Hook: hook, Request: req,
	})
	if err != nil {
		return wallet.Movement{}, err
	}
	return wallet.PaymentMovement(tr, p), nil
}

// cardOf is the masked card a wallet transfer was made with.
func cardOf(t *ledger.Transfer) string {
	var m wallet.Meta
	_ = json.Unmarshal(t.Metadata, &m)
	return m.Card
}
