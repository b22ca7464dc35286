package wallet

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
// the card part of refund, a committed refund of a card-funded payment.
// The card may have been unbound since; the issuer still knows it. It
// answers card_declined or unavailable as the issuer does. The issuer's
// answer, credited or declined, is recorded; a push with neither (refused
// for the moment, the answer lost) is asked again by ResolveCardCredits
// under the same reference, so the card is credited once.
func (s *Service) RefundToCard(ctx context.Context, walletID, cardID string, amount int64, currency string, refund uuid.UUID) (err error) {
	var ref string
	err = s.pool.QueryRow(ctx, `SELECT issuer_ref FROM cards WHERE id = $1::uuid AND customer_id = $2::uuid`,
		cardID, walletID).Scan(&ref)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.E(errs.NotFound, "card not found")
	}
	if err != nil {
		return fmt.Errorf("read card for credit: %w", err)
	}
	err = s.issuer.Credit(ctx, ref, amount, currency, creditReference(refund))
	s.recordCredit(ctx, refund, err)
	return err
}

// creditReference names a refund's push to the card at the issuer.
func creditReference(refund uuid.UUID) string { return "refund:" + refund.String() }

// recordCredit keeps the issuer's answer to a refund's push: credited or
// declined are final; anything else leaves the push to the resolver.
func (s *Service) recordCredit(ctx context.Context, refund uuid.UUID, cerr error) {
	outcome := "credited"
	switch {
	case cerr == nil:
	case errs.CodeOf(cerr) == errs.CardDeclined:
		outcome = "declined"
		s.log.ErrorContext(ctx, "the card's issuer declined a refund's credit; the clearing settlement owes it",
			"transfer_id", refund.String(), "err", cerr)
	default:
		s.log.WarnContext(ctx, "a refund's credit to a card did not go through; it is asked again",
			"transfer_id", refund.String(), "err", cerr)
		return
	}
	if _, err := s.pool.Exec(context.WithoutCancel(ctx), `INSERT INTO card_credits (transfer_id, outcome) VALUES ($1, $2)
		ON CONFLICT (transfer_id) DO NOTHING`, refund, outcome); err != nil {
		s.log.WarnContext(ctx, "recording a refund's credit failed; the resolver asks the issuer again", "transfer_id", refund.String(), "err", err)
	}
}

// CardCredits counts what a round of ResolveCardCredits did.
type CardCredits struct {
	Credited, Declined, Pending int
}

// ResolveCardCredits pushes again the card parts of refunds made more than
// age ago (and within resolveWindow) whose push has no recorded answer,
// each under its refund's reference: an issuer that made the credit
// answers so and does not make it twice. Any replica may run it at any
// time.
func (s *Service) ResolveCardCredits(ctx context.Context, age time.Duration) (CardCredits, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT t.id, t.currency, p.amount, coalesce(k.issuer_ref, '')
		FROM transfers t
		JOIN postings p ON p.transfer_id = t.id AND p.amount > 0
		JOIN accounts a ON a.id = p.account_id AND a.kind = 'clearing'
		LEFT JOIN cards k ON k.id = t.card_id
		WHERE t.kind = 'refund' AND t.card_id IS NOT NULL
			AND t.created_at > now() - make_interval(secs => $2) AND t.created_at < now() - make_interval(secs => $1)
			AND NOT EXISTS (SELECT 1 FROM card_credits c WHERE c.transfer_id = t.id)
		ORDER BY t.created_at
		LIMIT 200`, age.Seconds(), resolveWindow.Seconds())
	if err != nil {
		return CardCredits{}, fmt.Errorf("refunds owed to cards: %w", err)
	}
	type owed struct {
		id            uuid.UUID
		currency, ref string
		amount        int64
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (owed, error) {
		var o owed
		err := r.Scan(&o.id, &o.currency, &o.amount, &o.ref)
		return o, err
	})
	if err != nil {
		return CardCredits{}, fmt.Errorf("refunds owed to cards: %w", err)
	}
	var out CardCredits
	for _, o := range list {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		ictx, cancel := context.WithTimeout(ctx, issuerTimeout)
		cerr := s.issuer.Credit(ictx, o.ref, o.amount, o.currency, creditReference(o.id))
		cancel()
		s.recordCredit(ctx, o.id, cerr)
		switch {
		case cerr == nil:
			out.Credited++
		case errs.CodeOf(cerr) == errs.CardDeclined:
			out.Declined++
		default:
			out.Pending++
		}
	}
	return out, nil
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
