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

// Refund is money returned to the customer for part or all of a payment.
type Refund struct {
	ID          string `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	OrderID     string `json:"order_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c"`
	RefundNo    string `json:"refund_no" example:"R-000123-1"`
	Amount      int64  `json:"amount" example:"500"`
	FeeRefunded int64  `json:"fee_refunded" example:"3" doc:"The part of the gateway's fee returned to the merchant."`
	Reason      string `json:"reason" example:"one coffee spilt"`
	Status      string `json:"status" example:"succeeded" enum:"succeeded"`
	// Funding is where the refund went back to: the customer's balance,
	// the card the payment was charged to, or both for a payment funded
	// by both (card first; see docs/cards.md).
	Funding    string    `json:"funding" example:"balance" enum:"balance,card,balance_then_card" doc:"Where the money went back to: the wallet's balance, the card the payment was charged to, or both (a payment funded by both is refunded to its card first)."`
	CardAmount int64     `json:"card_amount" example:"0" doc:"The part of amount returned to the card; the rest went to the balance."`
	CreatedAt  time.Time `json:"created_at"`
}

const refundColumns = `id, order_id, refund_no, amount, fee_refunded, reason, created_at, coalesce(funding, 'balance'), card_amount`

func scanRefund(row pgx.Row) (Refund, error) {
	r := Refund{Status: "succeeded"}
	err := row.Scan(&r.ID, &r.OrderID, &r.RefundNo, &r.Amount, &r.FeeRefunded, &r.Reason, &r.CreatedAt, &r.Funding, &r.CardAmount)
	return r, err
}

// RefundByNo reads an order's refund by the merchant's refund number.
func (s *Service) RefundByNo(ctx context.Context, orderID, refundNo string) (Refund, error) {
	r, err := scanRefund(s.pool.QueryRow(ctx, `SELECT `+refundColumns+` FROM refunds
		WHERE order_id = $1 AND refund_no = $2`, orderID, refundNo))
	if errors.Is(err, pgx.ErrNoRows) {
		return Refund{}, errs.E(errs.NotFound, "refund not found")
	}
	return r, err
}

// GetRefund reads one of the caller's refunds.
func (s *Service) GetRefund(ctx context.Context, c Caller, id string) (Refund, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Refund{}, errs.E(errs.NotFound, "refund not found")
	}
	r, err := scanRefund(s.pool.QueryRow(ctx, `SELECT `+refundColumns+` FROM refunds
		WHERE id = $1 AND merchant_id = $2`, id, c.MerchantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Refund{}, errs.E(errs.NotFound, "refund not found")
	}
	if err != nil {
		return Refund{}, fmt.Errorf("get refund: %w", err)
	}
	return r, nil
}

// Refunds lists an order's refunds, oldest first.
func (s *Service) Refunds(ctx context.Context, c Caller, orderID string) ([]Refund, error) {
	o, err := s.GetOrder(ctx, c, orderID)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+refundColumns+` FROM refunds WHERE order_id = $1 ORDER BY created_at, id`, o.ID)
	if err != nil {
		return nil, fmt.Errorf("list refunds: %w", err)
	}
	defer rows.Close()
	list := []Refund{}
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, r)
	}
	return list, rows.Err()
}
