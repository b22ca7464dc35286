package payment

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/wallet"
)

// RefundInput is a merchant's refund request.
type RefundInput struct {
	RefundNo string
	Amount   int64
	Reason   string
}

// Refund returns amount of a paid order to the customer's wallet, with the
// proportional part of the fee (see merchant.RefundFee). refund_no makes it
// idempotent per order: the same number again returns the same refund,
// whatever the Idempotency-Key. The sum of refunds never exceeds the
// payment: the ledger batch applies the refund only to the order as it was
// read (ledger.OrderChange), and a CHECK constraint backs it.
func (s *Service) Refund(ctx context.Context, c merchant.Caller, orderID string, in RefundInput) (merchant.Refund, error) {
	if !merchant.Printable(in.RefundNo, 64) {
		return merchant.Refund{}, errs.E(errs.Invalid, "refund_no must be 1 to 64 printable characters")
	}
	if in.Amount <= 0 || in.Amount > merchant.MaxOrderAmount {
		return merchant.Refund{}, errs.E(errs.Invalid, "amount must be 1 to %d minor units", merchant.MaxOrderAmount)
	}
	if len([]rune(in.Reason)) > 256 {
		return merchant.Refund{}, errs.E(errs.Invalid, "reason must be at most 256 characters")
	}
	// The ledger key is the refund number: a second refund with the same
	// number can never move money again.
	fp := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", orderID, in.RefundNo, in.Amount))
	for attempt := 0; ; attempt++ {
		o, err := s.merchant.GetOrder(ctx, c, orderID)
		if err != nil {
			return merchant.Refund{}, err
		}
		if r, err := s.merchant.RefundByNo(ctx, o.ID, in.RefundNo); err == nil {
			if r.Amount != in.Amount {
				return merchant.Refund{}, errs.E(errs.Conflict, "refund_no %q was used for a different amount", in.RefundNo)
			}
			return r, nil
		}
		r, err := s.refund(ctx, c, o, in, fp[:])
		if errors.Is(err, ledger.ErrOrderChanged) && attempt < 5 {
			continue // another refund of this order committed first: re-read and try again
		}
		return r, err
	}
}

func (s *Service) refund(ctx context.Context, c merchant.Caller, o merchant.Order, in RefundInput, fp []byte) (merchant.Refund, error) {
	switch o.Status {
	case merchant.StatusPaid, merchant.StatusPartiallyRefunded:
	case merchant.StatusRefunded:
		return merchant.Refund{}, errs.E(errs.RefundExceedsPayment, "the order is already fully refunded")
	default:
		return merchant.Refund{}, errs.E(errs.Conflict, "only a paid order can be refunded; this one is %s", o.Status)
	}
	if in.Amount > o.Amount-o.RefundedAmount {
		return merchant.Refund{}, errs.E(errs.RefundExceedsPayment, "at most %d of the order can still be refunded", o.Amount-o.RefundedAmount)
	}
	walletAcct, ok := o.WalletAccountID()
	if !ok {
		return merchant.Refund{}, errs.E(errs.Internal, "paid order %s has no wallet account", o.ID)
	}
	m, err := s.merchant.Get(ctx, c.MerchantID)
	if err != nil {
		return merchant.Refund{}, err
	}
	feeBack := merchant.RefundFee(o.Amount, o.Fee, o.RefundedAmount, in.Amount)
	feeAcct, err := s.merchant.FeeAccount(ctx, m) // the shard the payment's fee went to; it routes the refund
	if err != nil {
		return merchant.Refund{}, err
	}
	postings := []ledger.Posting{{AccountID: walletAcct, Amount: in.Amount}}
	if in.Amount-feeBack > 0 {
		postings = append(postings, ledger.Posting{AccountID: m.AccountID, Amount: -(in.Amount - feeBack)})
	}
	if feeBack > 0 {
		postings = append(postings, ledger.Posting{AccountID: feeAcct, Amount: -feeBack})
	}
	r := merchant.Refund{ID: uuid.Must(uuid.NewV7()).String(), OrderID: o.ID, RefundNo: in.RefundNo, Amount: in.Amount,
		FeeRefunded: feeBack, Reason: in.Reason, Status: "succeeded"}
	change, err := s.merchant.RefundChange(m, o, r)
	if err != nil {
		return merchant.Refund{}, err
	}
	links := ledger.Links{MerchantID: change.MerchantID, OrderID: change.OrderID, MCC: m.MCC}
	if w := o.WalletID(); w != "" {
		links.WalletID = uuid.MustParse(w)
	}
	md, _ := json.Marshal(wallet.Meta{RefundID: r.ID, Merchant: m.Name, Card: o.Card()})
	tr, err := s.ledger.Post(ctx, ledger.Transfer{
		Kind: "refund", Currency: o.Currency, Scope: c.Scope(), Key: "refund:" + o.ID + ":" + in.RefundNo,
		Fingerprint: fp, Route: feeAcct, Links: links, Metadata: md, Order: change, Postings: postings,
	})
	switch {
	case errs.Is(err, errs.AccountClosed):
		return merchant.Refund{}, errs.E(errs.Conflict, "the customer's wallet is closed")
	case errs.Is(err, errs.IdempotencyMismatch):
		return merchant.Refund{}, errs.E(errs.Conflict, "refund_no %q was used for a different amount", in.RefundNo)
	case err != nil:
		return merchant.Refund{}, err
	case tr.Replayed:
		return s.merchant.RefundByNo(ctx, o.ID, in.RefundNo)
	}
	r.CreatedAt = tr.CreatedAt
	return r, nil
}
