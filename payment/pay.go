package payment

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/wallet"
)

// PayInput is a wallet's payment: a scanned payload or an order id, the
// card, the PIN when needed, and the amount for a static QR.
type PayInput struct {
	QRPayload string
	OrderID   string
	CardID    string
	PIN       string
	Amount    int64
	// Approval, instead of the PIN, is a registered device's signature
	// over a challenge made for this payment (Approve).
	Approval *wallet.Approval
	// codeMerchant, for the order of a payment-code charge, is its
	// merchant: such an order is resolved by targetOf, never by Resolve.
	codeMerchant string
	// Funding is where the money comes from: the balance (the zero
	// value), the card, or the balance first and the card for the rest
	// (wallet.ParseFunding reads it).
	Funding wallet.Funding
}

// Pay pays an order (or a merchant's static QR) from a wallet: one ledger
// transfer from the wallet's funding legs (its balance, its card through
// the issuer's clearing account, or both) to the merchant's account and the
// fee account,
// carrying the order's change and its order.paid event, which the ledger
// batch commits with it. Of several wallets paying one order at once,
// exactly one succeeds; the others get order_already_paid.
func (s *Service) Pay(ctx context.Context, p wallet.Principal, in PayInput, req wallet.Request) (wallet.Movement, error) {
	mv, err := s.pay(ctx, p, in, req)
	if err != nil && errs.Business(err) && !errs.Is(err, errs.IdempotencyMismatch) {
		// A retry of a payment that went through is answered with what
		// happened, whatever has changed since (the order now paid, the
		// card's limit now used up, the PIN now locked). Looking it up only
		// when a check refuses keeps the lookup off the path of every
		// first attempt: one that passes its checks meets the ledger's own
		// idempotency guard, which answers a replay.
		if prev, ok, rerr := s.wallet.Replay(ctx, p, req); rerr != nil || ok {
			return prev, rerr
		}
	}
	return mv, err
}

func (s *Service) pay(ctx context.Context, p wallet.Principal, in PayInput, req wallet.Request) (wallet.Movement, error) {
	t, err := s.targetOf(ctx, in)
	if err != nil {
		return wallet.Movement{}, err
	}
	m := t.Merchant
	amount := in.Amount
	if t.Order != nil {
		if in.Amount != 0 && in.Amount != t.Order.Amount {
			return wallet.Movement{}, errs.E(errs.Invalid, "the order is for %d; amount must be omitted or equal", t.Order.Amount)
		}
		amount = t.Order.Amount
	} else if amount <= 0 || amount > merchant.MaxOrderAmount {
		return wallet.Movement{}, errs.E(errs.Invalid, "a static QR needs an amount of 1 to %d minor units", merchant.MaxOrderAmount)
	}
	fee := merchant.Fee(amount, m.FeeBPS)
	// The merchant's fee shard routes the transfer: every transfer that
	// touches the merchant's or the shard's row goes to one committer.
	feeAcct, err := s.merchant.FeeAccount(ctx, m)
	if err != nil {
		return wallet.Movement{}, err
	}
	var credits []ledger.Posting
	if amount-fee > 0 {
		credits = append(credits, ledger.Posting{AccountID: m.AccountID, Amount: amount - fee})
	}
	if fee > 0 {
		credits = append(credits, ledger.Posting{AccountID: feeAcct, Amount: fee})
	}
	auth, err := s.wallet.Authorize(ctx, p, wallet.Debit{CardID: in.CardID, Amount: amount, Currency: m.Currency, PIN: in.PIN,
		Approval: in.Approval, Payee: payee(t), Scope: p.Scope(), Key: req.Key, Merchant: m.ID,
		Funding: in.Funding, ClearingShard: m.AccountID % merchant.FeeShards})
	if err != nil {
		return wallet.Movement{}, err
	}
	change, err := s.merchant.PayChange(t, amount, fee, merchant.Payer{WalletID: p.WalletID, WalletAccountID: p.AccountID, Card: auth.Card.Masked})
	if err != nil {
		s.wallet.Cancel(ctx, auth)
		return wallet.Movement{}, err
	}
	links := auth.Links()
	links.MerchantID, links.OrderID, links.MCC = uuid.MustParse(m.ID), change.OrderID, m.MCC
	md, _ := json.Marshal(wallet.Meta{Card: auth.Card.Masked, Merchant: m.Name})
	tr, err := s.ledger.Post(ctx, ledger.Transfer{
		Kind: "payment", Currency: m.Currency, Scope: p.Scope(), Key: req.Key, Fingerprint: req.Fingerprint,
		Route: feeAcct, Links: links, Metadata: md, Order: change, Feed: auth.Feed(),
		Postings: append(auth.DebitPostings(), credits...),
	})
	s.wallet.Finish(ctx, auth, tr, err)
	if err != nil {
		return wallet.Movement{}, err
	}
	return s.wallet.PaymentMovement(ctx, tr, p)
}

// payee names who a payment pays, as an approval binds it: the order of a
// dynamic QR (or of an order id), or the merchant of a static QR.
func payee(t merchant.Target) string {
	if t.Order != nil {
		return "order:" + t.Order.ID
	}
	return "merchant:" + t.Merchant.ID
}

// ApproveInput asks for an approval challenge for a payment: what the
// payment request will carry (its payload or order, and its amount for a
// static QR), its Idempotency-Key, and the device that will sign.
type ApproveInput struct {
	QRPayload, OrderID string
	Amount             int64
	DeviceID           string
	IdempotencyKey     string
}

// Approve makes the challenge a device signs to approve a payment in place
// of the PIN: bound to the wallet, the device, the amount, the payee and
// the payment's Idempotency-Key.
func (s *Service) Approve(ctx context.Context, p wallet.Principal, in ApproveInput) (wallet.ApprovalChallenge, error) {
	t, err := s.merchant.Resolve(ctx, in.QRPayload, in.OrderID)
	if err != nil {
		return wallet.ApprovalChallenge{}, err
	}
	amount := in.Amount
	if t.Order != nil {
		if in.Amount != 0 && in.Amount != t.Order.Amount {
			return wallet.ApprovalChallenge{}, errs.E(errs.Invalid, "the order is for %d; amount must be omitted or equal", t.Order.Amount)
		}
		amount = t.Order.Amount
	}
	return s.wallet.NewApproval(ctx, p, wallet.ApprovalInput{DeviceID: in.DeviceID, Kind: "payment", Amount: amount,
		Currency: t.Merchant.Currency, Payee: payee(t), Key: in.IdempotencyKey})
}
