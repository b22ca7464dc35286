package payment

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

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

// refundAttempts bounds how often a refund re-reads its order after a
// refund of the same order committed first on another gateway replica
// (within one gateway, refunds of an order wait for each other instead).
const refundAttempts = 20

// Refund returns amount of a paid order to the customer's wallet, with the
// proportional part of the fee (see merchant.RefundFee). refund_no makes it
// idempotent per order: the same number again returns the same refund,
// whatever the Idempotency-Key. The sum of refunds never exceeds the
// payment: the ledger batch applies the refund only to the order as it was
// read (ledger.OrderChange), and a CHECK constraint backs it.
//
// Every answer is final — the refund, or a refusal the same request would
// meet again (refund_exceeds_payment, conflict) — except unavailable: the
// order kept changing under it on another replica, and a retry with the
// same key decides it afresh.
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
	o, err := s.merchant.GetOrder(ctx, c, orderID)
	if err != nil {
		return merchant.Refund{}, err
	}
	unlock, err := s.refunding.lock(ctx, o.ID)
	if err != nil {
		return merchant.Refund{}, fmt.Errorf("refund: waiting for the order's other refunds: %w", err)
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		if attempt > 1 { // the order as the refunds before this one left it
			if o, err = s.merchant.GetOrder(ctx, c, orderID); err != nil {
				return merchant.Refund{}, err
			}
		}
		if r, err := s.merchant.RefundByNo(ctx, o.ID, in.RefundNo); err == nil {
			if r.Amount != in.Amount {
				return merchant.Refund{}, errs.E(errs.Conflict, "refund_no %q was used for a different amount", in.RefundNo)
			}
			return r, nil
		}
		r, err := s.refund(ctx, c, o, in, fp[:])
		if !errors.Is(err, ledger.ErrOrderChanged) {
			return r, err
		}
		// A refund of this order committed first on another replica.
		if attempt == refundAttempts {
			return merchant.Refund{}, &errs.Error{Code: errs.Unavailable, RetryAfter: time.Second, Err: err,
				Message: "refunds of this order are being made elsewhere at the same moment; retry with the same Idempotency-Key"}
		}
		if err := sleepJitter(ctx, attempt); err != nil {
			return merchant.Refund{}, err
		}
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
	// The refund goes back where the payment's money came from (card
	// first for a payment funded by both): the balance's part to the
	// wallet, the card's to the issuer clearing account its leg came from.
	legs, card := wallet.Legs{Balance: o.Amount}, ""
	if pid, ok := o.PaymentID(); ok {
		if legs, card, err = s.wallet.FundingOfPayment(ctx, pid, walletAcct); err != nil {
			return merchant.Refund{}, err
		}
	}
	funding, toBalance, toCard := wallet.RefundSplit(legs, o.RefundedAmount, in.Amount)
	var postings []ledger.Posting
	if toBalance > 0 {
		postings = append(postings, ledger.Posting{AccountID: walletAcct, Amount: toBalance})
	}
	if toCard > 0 {
		postings = append(postings, ledger.Posting{AccountID: legs.Clearing, Amount: toCard})
	}
	if in.Amount-feeBack > 0 {
		postings = append(postings, ledger.Posting{AccountID: m.AccountID, Amount: -(in.Amount - feeBack)})
	}
	if feeBack > 0 {
		postings = append(postings, ledger.Posting{AccountID: feeAcct, Amount: -feeBack})
	}
	r := merchant.Refund{ID: uuid.Must(uuid.NewV7()).String(), OrderID: o.ID, RefundNo: in.RefundNo, Amount: in.Amount,
		FeeRefunded: feeBack, Reason: in.Reason, Status: "succeeded", Funding: string(funding), CardAmount: toCard}
	change, err := s.merchant.RefundChange(m, o, r)
	if err != nil {
		return merchant.Refund{}, err
	}
	links := ledger.Links{MerchantID: change.MerchantID, OrderID: change.OrderID, MCC: m.MCC, Funding: string(funding)}
	if w := o.WalletID(); w != "" {
		links.WalletID = uuid.MustParse(w)
	}
	var feed *ledger.FeedEntry
	if toCard > 0 {
		links.CardID = uuid.MustParse(card)
		// The wallet's feed shows the whole refund, the card's part too.
		feed = &ledger.FeedEntry{AccountID: walletAcct, Amount: in.Amount}
	}
	md, _ := json.Marshal(wallet.Meta{RefundID: r.ID, Merchant: m.Name, Card: o.Card()})
	tr, err := s.ledger.Post(ctx, ledger.Transfer{
		Kind: "refund", Currency: o.Currency, Scope: c.Scope(), Key: "refund:" + o.ID + ":" + in.RefundNo,
		Fingerprint: fp, Route: feeAcct, Links: links, Metadata: md, Order: change, Postings: postings, Feed: feed,
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
	if toCard > 0 {
		s.creditCard(ctx, o, card, toCard, tr.ID)
	}
	return r, nil
}

// creditCard pushes a committed refund's card part to the card through
// its issuer. The ledger decides first, and a credit is pushed only by the
// request whose refund committed, so that neither a retry after a lost
// answer nor a refund re-decided after another replica's refund can credit
// the card twice. The refund stands whatever the issuer answers: its card
// leg in the ledger is what the issuer's clearing settles, and a push that
// failed is logged for it (docs/cards.md).
func (s *Service) creditCard(ctx context.Context, o merchant.Order, card string, amount int64, refund uuid.UUID) {
	_ = s.wallet.RefundToCard(context.WithoutCancel(ctx), o.WalletID(), card, amount, o.Currency, refund) // recorded and logged there
}

// sleepJitter waits a few milliseconds, more after each attempt, so that
// replicas refunding one order at once fall out of step.
func sleepJitter(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(attempt*2)) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
