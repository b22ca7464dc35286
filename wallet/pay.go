package wallet

import (
	"context"
	"encoding/json"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
)

// Purchase is a payment out of a wallet, made with one of its cards: the
// card's limits apply, and the PIN above the threshold.
type Purchase struct {
	CardID   string
	Amount   int64
	Currency string
	PIN      string
	// Credits say where the money goes (the merchant, the fee account);
	// they must sum to Amount.
	Credits []ledger.Posting
	// Merchant details kept with the transfer for the customer's bills.
	MerchantID, MerchantName, MCC, OrderID string
	// Hook runs in the payment's transaction (marks the order paid).
	Hook    ledger.Hook
	Request Request
}

// Pay debits the wallet for a purchase: it checks the wallet, the card and
// the PIN, reserves the card's limits, posts one ledger transfer (wallet to
// Credits) with the hook in its transaction, then commits the reservation —
// or releases it if anything failed after it. A second request under the
// same key meets the ledger's guard and gets the committed transfer
// (Replayed), its reservation given back; callers answer retries with
// Replay first, before anything else is checked.
func (s *Service) Pay(ctx context.Context, p Principal, pu Purchase) (ledger.Transfer, Card, error) {
	if err := validAmount(pu.Amount); err != nil {
		return ledger.Transfer{}, Card{}, err
	}
	w, err := s.Get(ctx, p.WalletID)
	switch {
	case err != nil:
		return ledger.Transfer{}, Card{}, err
	case w.Status != "active":
		return ledger.Transfer{}, Card{}, errs.E(errs.WalletClosed, "the wallet is closed")
	case w.Currency != pu.Currency:
		return ledger.Transfer{}, Card{}, errs.E(errs.Invalid, "the wallet holds %s and cannot pay in %s", w.Currency, pu.Currency)
	}
	card, err := s.usableCard(ctx, p, pu.CardID)
	if err != nil {
		return ledger.Transfer{}, Card{}, err
	}
	if s.NeedsPIN(pu.Amount) {
		if err := s.VerifyPIN(ctx, p, pu.PIN); err != nil {
			return ledger.Transfer{}, Card{}, err
		}
	}
	var credited int64
	for _, c := range pu.Credits {
		credited += c.Amount
	}
	if credited != pu.Amount {
		return ledger.Transfer{}, Card{}, errs.E(errs.Internal, "purchase credits %d of %d", credited, pu.Amount)
	}
	res, err := s.limits.Reserve(ctx, card.ID, pu.Amount, limitsOf(card), s.now())
	if err != nil {
		return ledger.Transfer{}, Card{}, err
	}
	md, _ := json.Marshal(Meta{CardID: card.ID, Card: card.Masked, WalletID: w.ID,
		MerchantID: pu.MerchantID, Merchant: pu.MerchantName, MCC: pu.MCC, OrderID: pu.OrderID})
	tr := ledger.Transfer{
		Kind: "payment", Currency: pu.Currency, Scope: p.Scope(), Key: pu.Request.Key,
		Fingerprint: pu.Request.Fingerprint, Metadata: md,
		Postings: append([]ledger.Posting{{AccountID: w.AccountID, Amount: -pu.Amount}}, pu.Credits...),
	}
	var hooks []ledger.Hook
	if pu.Hook != nil {
		hooks = append(hooks, pu.Hook)
	}
	t, err := s.ledger.Post(ctx, tr, hooks...)
	switch {
	case err != nil && errs.Business(err), err == nil && t.Replayed:
		s.release(ctx, res)
	case err == nil:
		if cerr := s.limits.Commit(ctx, res); cerr != nil {
			s.log.WarnContext(ctx, "committing a card reservation failed; it expires with the day", "err", cerr)
		}
	}
	// An unknown outcome (unavailable) keeps the reservation counted.
	if err != nil {
		return ledger.Transfer{}, Card{}, err
	}
	return t, card, nil
}

// PaymentMovement describes a payment transfer for the paying wallet.
func PaymentMovement(t ledger.Transfer, p Principal) Movement {
	mv, _ := movementOf(t, p.AccountID)
	return mv
}
