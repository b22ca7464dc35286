package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
)

// Funding is where a payment's money comes from, as the customer chooses
// it when paying: the wallet's balance, the bound card (charged through its
// issuer; the balance is not touched), or the balance first and the card
// for the rest. A payment or refund transfer records the funding it
// actually had (ledger.Links.Funding): a balance_then_card payment that the
// balance covered records balance, one with nothing on the balance records
// card.
type Funding string

// The fundings.
const (
	FundingBalance         Funding = "balance"
	FundingCard            Funding = "card"
	FundingBalanceThenCard Funding = "balance_then_card"
)

// ParseFunding reads a funding choice; "" is the default, balance.
func ParseFunding(s string) (Funding, error) {
	switch f := Funding(s); f {
	case "":
		return FundingBalance, nil
	case FundingBalance, FundingCard, FundingBalanceThenCard:
		return f, nil
	}
	return "", errs.E(errs.Invalid, "funding must be one of balance, card, balance_then_card")
}

// FundingOf is the funding a transfer recorded; payments and refunds
// from before cards could fund them moved the balance.
func FundingOf(t ledger.Transfer) Funding {
	if t.Links.Funding == "" {
		return FundingBalance
	}
	return Funding(t.Links.Funding)
}

// split decides the card's part of a payment of amount under f, with the
// wallet's balance as last read. The ledger batch still checks the balance
// part against the balance at commit: a payment whose balance was spent
// meanwhile fails with insufficient_funds and its card hold is voided.
func (f Funding) split(amount, balance int64) (funding Funding, card int64) {
	switch f {
	case FundingCard:
		return FundingCard, amount
	case FundingBalanceThenCard:
		switch {
		case balance >= amount:
			return FundingBalance, 0
		case balance <= 0:
			return FundingCard, amount
		}
		return FundingBalanceThenCard, amount - balance
	}
	return FundingBalance, 0
}

// cardClearing is the issuer clearing account a card-funded payment's card
// leg is drawn from (and a refund's card part returned to): one of several
// per currency, chosen by the caller's shard. Were there one, its row would
// be shared by every committer's batches; with the merchant's fee shard as
// the shard, the transfers touching one clearing row all route to one
// committer. Top-ups keep the issuer's own account (clearingAccount).
func (s *Service) cardClearing(ctx context.Context, currency string, shard int64) (int64, error) {
	k := clearingKey{currency, shard}
	if id, ok := s.cardClearings.Load(k); ok {
		return id.(int64), nil
	}
	a, err := ledger.CreateAccount(ctx, s.pool, fmt.Sprintf("issuer/card-payments-%d", shard), ledger.Clearing, currency)
	if err != nil {
		return 0, err
	}
	s.cardClearings.Store(k, a.ID)
	return a.ID, nil
}

type clearingKey struct {
	currency string
	shard    int64
}

// voidHold cancels the issuer's hold of a card-funded debit that did not
// post. A failed void is logged: the hold lapses at the issuer, which
// captures only what the ledger's card legs record (docs/cards.md).
func (s *Service) voidHold(ctx context.Context, a Authorization) {
	if a.CardAmount == 0 {
		return
	}
	if err := s.issuer.Void(context.WithoutCancel(ctx), a.Card.issuerRef, a.CardAmount, a.Wallet.Currency); err != nil {
		s.log.WarnContext(ctx, "voiding a card hold failed; it lapses at the issuer", "card", a.Card.Masked, "err", err)
	}
}

// RefundToCard returns amount to one of a wallet's cards through its issuer:
// the card part of a refund of a card-funded payment. The card may have
// been unbound since; the issuer still knows it. It answers card_declined
// or unavailable as the issuer does, and logs a credit that did not go
// through: the clearing settlement with the issuer owes it.
//
// reference names the credit at the issuer (see Issuer.Credit).
func (s *Service) RefundToCard(ctx context.Context, walletID, cardID string, amount int64, currency, reference string) (err error) {
	defer func() {
		if err != nil {
			s.log.ErrorContext(ctx, "a credit to a card was not accepted by the issuer; the clearing settlement owes it",
				"wallet", walletID, "card", cardID, "amount", amount, "currency", currency, "err", err)
		}
	}()
	var ref string
	err = s.pool.QueryRow(ctx, `SELECT issuer_ref FROM cards WHERE id = $1::uuid AND customer_id = $2::uuid`,
		cardID, walletID).Scan(&ref)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.E(errs.NotFound, "card not found")
	}
	if err != nil {
		return fmt.Errorf("read card for credit: %w", err)
	}
	return s.issuer.Credit(ctx, ref, amount, currency, reference)
}

// cardPart is the signed part of a payment or refund that the card paid or
// got back, as the wallet sees it: negative for a payment. The funding legs
// are the paying side's postings other than the wallet's own (for a
// payment, the negative ones; for a refund, the positive ones), which are
// on issuer clearing accounts.
func cardPart(t ledger.Transfer, walletAccount int64) int64 {
	if FundingOf(t) == FundingBalance {
		return 0
	}
	var part int64
	for _, p := range t.Postings {
		switch {
		case p.AccountID == walletAccount:
		case t.Kind == "payment" && p.Amount < 0, t.Kind == "refund" && p.Amount > 0:
			part += p.Amount
		}
	}
	return part
}

// movement describes t for p's wallet, like movementOf, and also when t
// touched only the wallet's card: a card-funded payment or refund, which
// posts nothing on the wallet's account. Its balance_after is the balance
// the wallet had then, unchanged by it.
func (s *Service) movement(ctx context.Context, t ledger.Transfer, p Principal) (Movement, bool, error) {
	mv, ok, err := movementOf(t, p.AccountID)
	if ok || t.Links.WalletID.String() != p.WalletID || FundingOf(t) != FundingCard {
		return mv, ok, err
	}
	var m Meta
	if err := json.Unmarshal(t.Metadata, &m); err != nil {
		return Movement{}, true, fmt.Errorf("transfer %s: display metadata: %w", t.ID, err)
	}
	part := cardPart(t, p.AccountID)
	mv = Movement{ID: t.ID.String(), Type: t.Kind, Amount: part, CardAmount: part, Funding: string(FundingCard),
		Currency: t.Currency, Card: m.Card, Counterparty: m.Merchant, CreatedAt: t.CreatedAt, Replayed: t.Replayed}
	if t.Links.OrderID != uuid.Nil {
		mv.OrderID = t.Links.OrderID.String()
	}
	// The wallet's balance before the transfer's first posting: posting
	// ids grow in the order money moved on each account.
	err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT balance_after FROM postings
		WHERE account_id = $1 AND id < (SELECT min(id) FROM postings WHERE transfer_id = $2)
		ORDER BY id DESC LIMIT 1), 0)`, p.AccountID, t.ID).Scan(&mv.BalanceAfter)
	if err != nil {
		return Movement{}, true, fmt.Errorf("balance at transfer %s: %w", t.ID, err)
	}
	return mv, true, nil
}

// Legs are what each funding leg of a payment paid: the balance, and the
// card through Clearing, the issuer clearing account its card leg was drawn
// from (zero when the card paid nothing).
type Legs struct {
	Balance, Card int64
	Clearing      int64
}

// PaymentLegs reads a payment transfer's funding legs: the wallet
// account's debit is the balance's, the other debit the card's.
func PaymentLegs(t ledger.Transfer, walletAccount int64) Legs {
	var l Legs
	for _, p := range t.Postings {
		switch {
		case p.Amount >= 0:
		case p.AccountID == walletAccount:
			l.Balance = -p.Amount
		default:
			l.Card, l.Clearing = -p.Amount, p.AccountID
		}
	}
	return l
}

// RefundSplit divides a refund of amount, after refundedBefore was
// refunded, between the legs of a payment: card first. The first
// legs.Card of all the refunds together go back to the card, the rest to
// the balance, so neither leg ever gets back more than it paid while the
// refunds stay within the payment. It depends only on refundedBefore,
// which the ledger batch checks against the order (ledger.RefundRow), so
// refunds racing on several replicas cannot both take the same card part.
func RefundSplit(legs Legs, refundedBefore, amount int64) (funding Funding, balance, card int64) {
	card = min(refundedBefore+amount, legs.Card) - min(refundedBefore, legs.Card)
	balance = amount - card
	switch {
	case card == 0:
		return FundingBalance, balance, 0
	case balance == 0:
		return FundingCard, 0, card
	}
	return FundingBalanceThenCard, balance, card
}

// FundingOfPayment reads a payment transfer's funding legs and the card it
// was made with.
func (s *Service) FundingOfPayment(ctx context.Context, paymentID uuid.UUID, walletAccount int64) (Legs, string, error) {
	t, err := ledger.GetTransfer(ctx, s.pool, paymentID)
	if err != nil {
		return Legs{}, "", err
	}
	card := ""
	if t.Links.CardID != uuid.Nil {
		card = t.Links.CardID.String()
	}
	return PaymentLegs(t, walletAccount), card, nil
}
