package merchant

import (
	"context"
	"crypto/sha256"
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

// Refund is money returned to the customer for part or all of a payment.
type Refund struct {
	ID          string    `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	OrderID     string    `json:"order_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c"`
	RefundNo    string    `json:"refund_no" example:"R-000123-1"`
	Amount      int64     `json:"amount" example:"500"`
	FeeRefunded int64     `json:"fee_refunded" example:"3" doc:"The part of the gateway's fee returned to the merchant."`
	Reason      string    `json:"reason" example:"one coffee spilt"`
	Status      string    `json:"status" example:"succeeded" enum:"succeeded"`
	CreatedAt   time.Time `json:"created_at"`
}

// RefundInput is a merchant's refund request.
type RefundInput struct {
	RefundNo string
	Amount   int64
	Reason   string
}

const refundColumns = `id, order_id, refund_no, amount, fee_refunded, reason, created_at`

func scanRefund(row pgx.Row) (Refund, error) {
	r := Refund{Status: "succeeded"}
	err := row.Scan(&r.ID, &r.OrderID, &r.RefundNo, &r.Amount, &r.FeeRefunded, &r.Reason, &r.CreatedAt)
	return r, err
}

// CreateRefund returns amount of a paid order to the customer's wallet,
// with the proportional part of the fee (see RefundFee). refund_no makes it
// idempotent per order: the same number again returns the same refund,
// whatever the Idempotency-Key. The sum of refunds never exceeds the
// payment: the order row is updated conditionally in the refund's
// transaction, and a CHECK constraint backs it.
func (s *Service) CreateRefund(ctx context.Context, c Caller, orderID string, in RefundInput) (Refund, error) {
	if !printable(in.RefundNo, 64) {
		return Refund{}, errs.E(errs.Invalid, "refund_no must be 1 to 64 printable characters")
	}
	if in.Amount <= 0 || in.Amount > MaxOrderAmount {
		return Refund{}, errs.E(errs.Invalid, "amount must be 1 to %d minor units", MaxOrderAmount)
	}
	if len([]rune(in.Reason)) > 256 {
		return Refund{}, errs.E(errs.Invalid, "reason must be at most 256 characters")
	}
	// The ledger key is the refund number: a second refund with the same
	// number can never move money again.
	fp := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", orderID, in.RefundNo, in.Amount))
	for attempt := 0; ; attempt++ {
		o, err := s.GetOrder(ctx, c, orderID)
		if err != nil {
			return Refund{}, err
		}
		if r, err := s.refundByNo(ctx, o.ID, in.RefundNo); err == nil {
			if r.Amount != in.Amount {
				return Refund{}, errs.E(errs.Conflict, "refund_no %q was used for a different amount", in.RefundNo)
			}
			return r, nil
		}
		r, err := s.refund(ctx, c, o, in, fp[:])
		if errs.Is(err, errs.Conflict) && errors.Is(err, errConcurrentRefund) && attempt < 5 {
			continue // another refund of this order committed first: re-read and try again
		}
		return r, err
	}
}

var errConcurrentRefund = errors.New("concurrent refund")

func (s *Service) refund(ctx context.Context, c Caller, o Order, in RefundInput, fp []byte) (Refund, error) {
	switch o.Status {
	case StatusPaid, StatusPartiallyRefunded:
	case StatusRefunded:
		return Refund{}, errs.E(errs.RefundExceedsPayment, "the order is already fully refunded")
	default:
		return Refund{}, errs.E(errs.Conflict, "only a paid order can be refunded; this one is %s", o.Status)
	}
	if in.Amount > o.Amount-o.RefundedAmount {
		return Refund{}, errs.E(errs.RefundExceedsPayment, "at most %d of the order can still be refunded", o.Amount-o.RefundedAmount)
	}
	walletAcct, ok := o.walletAccount()
	if !ok {
		return Refund{}, errs.E(errs.Internal, "paid order %s has no wallet account", o.ID)
	}
	m, err := s.Get(ctx, c.MerchantID)
	if err != nil {
		return Refund{}, err
	}
	feeBack := RefundFee(o.Amount, o.Fee, o.RefundedAmount, in.Amount)
	postings := []ledger.Posting{{AccountID: walletAcct, Amount: in.Amount}}
	if in.Amount-feeBack > 0 {
		postings = append(postings, ledger.Posting{AccountID: m.AccountID, Amount: -(in.Amount - feeBack)})
	}
	if feeBack > 0 {
		feeAcct, err := s.feeAccount(ctx, o.Currency)
		if err != nil {
			return Refund{}, err
		}
		postings = append(postings, ledger.Posting{AccountID: feeAcct, Amount: -feeBack})
	}
	refundID := uuid.Must(uuid.NewV7()).String()
	md, _ := json.Marshal(wallet.Meta{OrderID: o.ID, RefundID: refundID, MerchantID: m.ID, Merchant: m.Name,
		MCC: m.MCC, Card: o.cardMasked})
	var created Refund
	hook := func(ctx context.Context, tx pgx.Tx, tr *ledger.Transfer) error {
		status := StatusPartiallyRefunded
		if o.RefundedAmount+in.Amount == o.Amount {
			status = StatusRefunded
		}
		tag, err := tx.Exec(ctx, `UPDATE orders SET refunded_amount = refunded_amount + $2,
			fee_refunded = fee_refunded + $3, status = $4
			WHERE id = $1 AND refunded_amount = $5 AND status IN ('paid', 'partially_refunded')`,
			o.ID, in.Amount, feeBack, status, o.RefundedAmount)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &errs.Error{Code: errs.Conflict, Message: "another refund of this order was in progress; try again", Err: errConcurrentRefund}
		}
		created, err = scanRefund(tx.QueryRow(ctx, `INSERT INTO refunds (id, order_id, merchant_id, refund_no, amount,
			fee_refunded, reason, transfer_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING `+refundColumns, refundID, o.ID, m.ID, in.RefundNo, in.Amount, feeBack, in.Reason, tr.ID, tr.CreatedAt))
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, o.ID, EventRefunded, &created)
	}
	tr, err := s.ledger.Post(ctx, ledger.Transfer{
		Kind: "refund", Currency: o.Currency, Scope: c.Scope(), Key: "refund:" + o.ID + ":" + in.RefundNo,
		Fingerprint: fp, Metadata: md, Postings: postings,
	}, hook)
	switch {
	case errs.Is(err, errs.AccountClosed):
		return Refund{}, errs.E(errs.Conflict, "the customer's wallet is closed")
	case errs.Is(err, errs.IdempotencyMismatch):
		return Refund{}, errs.E(errs.Conflict, "refund_no %q was used for a different amount", in.RefundNo)
	case err != nil:
		return Refund{}, err
	case tr.Replayed:
		return s.refundByNo(ctx, o.ID, in.RefundNo)
	}
	return created, nil
}

func (s *Service) refundByNo(ctx context.Context, orderID, refundNo string) (Refund, error) {
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
