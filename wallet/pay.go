package wallet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/limits"
	"github.com/qrpay/qrpay/risk"
)

// Debit is a payment the wallet is asked to make with one of its cards,
// from its balance, the card itself, or both (Funding): the card's limits
// apply, and the PIN above the threshold.
type Debit struct {
	CardID   string
	Amount   int64
	Currency string
	PIN      string
	// Approval, instead of the PIN, is a registered device's signature
	// over a challenge for this debit: Payee and Key say what it approves.
	Approval *Approval
	Payee    string
	// Scope and Key are the idempotency scope and key of the transfer the
	// debit will be posted as, so that a limit reservation its process
	// never settles is settled by the ledger (limits.Store.Reconcile).
	Scope, Key string
	// Merchant is the id of the merchant paid, for the risk checks.
	Merchant string
	// Funding is where the money comes from (zero: the balance). A card
	// part is charged to the card through its issuer, from the issuer
	// clearing account of ClearingShard (the merchant's fee shard, so
	// that the payment's rows share one committer).
	Funding       Funding
	ClearingShard int64
}

// Authorization is a checked debit: the wallet and card it comes from, the
// card's limit reservation and, for a card-funded debit, the issuer's hold
// on the card's part. The caller posts the transfer (DebitPostings and
// Links describe the paying side of it) and then calls Finish with the
// ledger's answer, which keeps or gives back the reservation and the hold.
type Authorization struct {
	Wallet Wallet
	Card   Card
	Amount int64
	// Funding is where the money comes from, decided (a balance_then_card
	// debit the balance covers is balance); CardAmount is the part the
	// issuer authorized on the card, drawn from the clearing account.
	Funding    Funding
	CardAmount int64
	clearing   int64
	res        limits.Reservation
	risk       assessment
}

// Authorize checks that the wallet can pay d: active, in d's currency, with
// a usable card and, above the threshold, the right PIN; then it reserves
// the card's limits. Callers answer retries with Replay first, before
// anything else is checked.
func (s *Service) Authorize(ctx context.Context, p Principal, d Debit) (_ Authorization, err error) {
	if err := validAmount(d.Amount); err != nil {
		return Authorization{}, err
	}
	if d.CardID == "" {
		return Authorization{}, errCardIDRequired
	}
	// A PIN given below the threshold is not needed, but one that cannot be
	// a PIN is still bad input.
	if d.PIN != "" && !validPIN(d.PIN) {
		return Authorization{}, errPINFormat
	}
	deviceID := ""
	if d.Approval != nil {
		if d.PIN != "" {
			return Authorization{}, errs.E(errs.Invalid, "give either pin or approval, not both")
		}
		deviceID = d.Approval.DeviceID
	}
	w, card, deviceKey, err := s.walletAndCard(ctx, p, d.CardID, deviceID)
	if err != nil {
		return Authorization{}, err
	}
	if err := active(w); err != nil {
		return Authorization{}, err
	}
	if w.Currency != d.Currency {
		return Authorization{}, errs.E(errs.Invalid, "the wallet holds %s and cannot pay in %s", w.Currency, d.Currency)
	}
	defer func() { s.refused(ctx, p, d.Key, err) }()
	if err := s.spendable(card); err != nil {
		return Authorization{}, err
	}
	proved := false
	if d.Approval != nil {
		// A signed approval stands in for the PIN at any amount, and for a
		// step-up the risk checks ask.
		if err := s.checkApproval(ctx, p, d.Approval, ApprovalInput{Kind: "payment", Amount: d.Amount,
			Currency: d.Currency, Payee: d.Payee, Key: d.Key}, deviceKey); err != nil {
			return Authorization{}, err
		}
		proved = true
	}
	// The risk checks come before the PIN: a step-up's proof is the PIN,
	// checked once, below the threshold too.
	a, err := s.assess(ctx, p, risk.Facts{Kind: risk.Payment, WalletID: w.ID, CardID: card.ID, CardBoundAt: card.CreatedAt,
		MerchantID: d.Merchant, Amount: d.Amount, Currency: d.Currency, Key: d.Key, Now: s.now()}, StepUpProof{PIN: d.PIN}, proved)
	if err != nil {
		return Authorization{}, err
	}
	if s.NeedsPIN(d.Amount) && !a.proved {
		if err := s.VerifyPIN(ctx, p, d.PIN); err != nil {
			return Authorization{}, err
		}
	}
	funding, cardAmount := d.Funding.split(d.Amount, w.Balance)
	var clearing int64
	if cardAmount > 0 {
		if clearing, err = s.cardClearing(ctx, w.Currency, d.ClearingShard); err != nil {
			return Authorization{}, err
		}
	}
	// The card's limits count the whole payment, whatever funds it, as
	// they always have: they are the customer's spending limits on it.
	res, err := s.limits.ReserveFor(ctx, card.ID, d.Amount, limitsOf(card), s.now(), limits.Ref{Scope: d.Scope, Key: d.Key})
	if err != nil {
		return Authorization{}, err
	}
	// The issuer is asked only once the limits hold, and a decline or an
	// issuer that cannot answer gives the reservation back: nothing moved.
	if cardAmount > 0 {
		if err := s.issuer.Authorize(ctx, card.issuerRef, cardAmount, w.Currency); err != nil {
			s.release(ctx, res)
			return Authorization{}, err
		}
	}
	return Authorization{Wallet: w, Card: card, Amount: d.Amount, Funding: funding, CardAmount: cardAmount,
		clearing: clearing, res: res, risk: a}, nil
}

// walletAndCard reads the wallet (its freeze included), one of its bound
// cards and, when deviceID is given, that device's approval key: all are
// read fresh for every debit, so a freeze, a closed wallet or a revoked
// device takes effect at once. The key is nil when the device is unknown,
// revoked or has none. The debits of concurrent requests share one query
// (postgres.Loader).
func (s *Service) walletAndCard(ctx context.Context, p Principal, cardID, deviceID string) (Wallet, Card, []byte, error) {
	card, err := uuid.Parse(cardID)
	if err != nil {
		return Wallet{}, Card{}, nil, errs.E(errs.NotFound, "card not found")
	}
	wallet, err := uuid.Parse(p.WalletID)
	if err != nil {
		return Wallet{}, Card{}, nil, errs.E(errs.NotFound, "card not found")
	}
	// Keys in the database's spelling, which the loaded rows carry.
	wc, found, err := s.walletCards.Load(ctx, walletCard{wallet: wallet.String(), card: card.String(), device: deviceID})
	if err != nil {
		return Wallet{}, Card{}, nil, fmt.Errorf("read wallet and card: %w", err)
	}
	if !found {
		return Wallet{}, Card{}, nil, errs.E(errs.NotFound, "card not found")
	}
	return wc.w, wc.c, wc.deviceKey, nil
}

// walletCard names a wallet's card and the device a debit is approved
// from ("" for none); walletAndCardRow is what a debit reads.
type walletCard struct{ wallet, card, device string }

type walletAndCardRow struct {
	w         Wallet
	c         Card
	deviceKey []byte
}

// loadWalletCards reads wallets, their cards and devices by key in one
// query, shaped for PostgreSQL's plan cache (postgres.Loader's queries run
// thousands of times a second):
//   - the keys come through a subquery, so that the prepared statement
//     keeps its generic plan (postgres.NewLoader) instead of planning every
//     call anew, which cost several times more than running it;
//   - each key's card is its own index probe (the LATERAL with LIMIT 1 is
//     never flattened into a join): as a join, the unnested keys were
//     hashed against a scan of every bound card, whose cost grows with the
//     table, not with the keys.
func (s *Service) loadWalletCards(ctx context.Context, keys []walletCard) (map[walletCard]walletAndCardRow, error) {
	wallets, cards, devices := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		wallets[i], cards[i], devices[i] = k.wallet, k.card, k.device
	}
	rows, err := s.pool.Query(ctx, `
		SELECT q.device_id, w.id, w.phone, w.currency, a.balance, w.status, w.frozen_at IS NOT NULL, coalesce(w.frozen_by, ''),
			w.pin_hash IS NOT NULL, w.created_at, w.account_id,
			`+cardColumnsK+`, d.public_key
		FROM (SELECT $1::uuid[] AS wallets, $2::uuid[] AS cards, $3::text[] AS devices OFFSET 0) AS keys
		CROSS JOIN LATERAL unnest(keys.wallets, keys.cards, keys.devices) AS q(wallet_id, card_id, device_id)
		CROSS JOIN LATERAL (SELECT * FROM cards k WHERE k.id = q.card_id AND k.customer_id = q.wallet_id AND k.unbound_at IS NULL
			LIMIT 1) k
		JOIN customers w ON w.id = k.customer_id
		JOIN accounts a ON a.id = w.account_id
		LEFT JOIN devices d ON q.device_id <> '' AND d.customer_id = w.id AND d.device_id = q.device_id AND d.revoked_at IS NULL`,
		wallets, cards, devices)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := make(map[walletCard]walletAndCardRow, len(keys))
	for rows.Next() {
		var r walletAndCardRow
		var device string
		w, c := &r.w, &r.c
		if err := rows.Scan(&device, &w.ID, &w.Phone, &w.Currency, &w.Balance, &w.Status, &w.Frozen, &w.FrozenBy, &w.PINSet, &w.CreatedAt, &w.AccountID,
			&c.ID, &c.Brand, &c.Last4, &c.ExpMonth, &c.ExpYear, &c.HolderName, &c.Status,
			&c.Limits.PerTransaction, &c.Limits.DailyAmount, &c.Limits.DailyCount, &c.CreatedAt, &c.token, &c.issuerRef, &r.deviceKey); err != nil {
			return nil, err
		}
		c.Masked = mask(c.Last4)
		found[walletCard{wallet: w.ID, card: c.ID, device: device}] = r
	}
	return found, rows.Err()
}

// cardColumnsK is cardColumns qualified by the alias k.
var cardColumnsK = func() string {
	cols := strings.Split(cardColumns, ",")
	for i, c := range cols {
		cols[i] = "k." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

// DebitPostings are the paying side of the transfer, its funding legs:
// the balance's part from the wallet's account and the card's part from
// the issuer clearing account. Together they sum to -Amount.
func (a Authorization) DebitPostings() []ledger.Posting {
	var ps []ledger.Posting
	if balance := a.Amount - a.CardAmount; balance > 0 {
		ps = append(ps, ledger.Posting{AccountID: a.Wallet.AccountID, Amount: -balance})
	}
	if a.CardAmount > 0 {
		ps = append(ps, ledger.Posting{AccountID: a.clearing, Amount: -a.CardAmount})
	}
	return ps
}

// Feed is the wallet's feed entry for a payment its card funded, in whole
// or in part: the whole amount, which its balance alone would not show.
func (a Authorization) Feed() *ledger.FeedEntry {
	if a.CardAmount == 0 {
		return nil
	}
	return &ledger.FeedEntry{AccountID: a.Wallet.AccountID, Amount: -a.Amount}
}

// Links are the wallet's links of the transfer: the wallet, the card and
// the funding.
func (a Authorization) Links() ledger.Links {
	return ledger.Links{WalletID: uuid.MustParse(a.Wallet.ID), CardID: uuid.MustParse(a.Card.ID), Funding: string(a.Funding)}
}

// Finish settles the card reservation by the ledger's answer to the
// transfer: committed, it counts; refused, provably not committed
// (ledger.ErrNotCommitted), or already committed earlier under the same key
// (a replay), it is given back. An unknown outcome (a COMMIT whose answer
// was lost, a caller that left while its transfer was queued) keeps it
// counted, erring on the side of the limit.
//
// The issuer's hold on the card part follows the same rule: voided when
// the payment provably did not commit (or a replay found the first one),
// kept when it committed or the outcome is unknown. A kept hold is never
// charged twice and never charged for nothing: the issuer captures what
// the ledger's card legs record, so a hold of a payment that did not
// commit lapses at the issuer, and a retry under the same key finds the
// committed payment instead of charging again (docs/cards.md).
func (s *Service) Finish(ctx context.Context, a Authorization, t ledger.Transfer, err error) {
	switch {
	case err != nil && (errs.Business(err) || errors.Is(err, ledger.ErrNotCommitted)), err == nil && t.Replayed:
		s.release(ctx, a.res)
		s.voidHold(ctx, a)
		s.refused(ctx, a.risk.p, a.risk.facts.Key, err)
	case err == nil:
		if cerr := s.limits.Commit(context.WithoutCancel(ctx), a.res); cerr != nil {
			s.log.WarnContext(ctx, "committing a card reservation failed; it expires with the day", "err", cerr)
		}
		s.settled(ctx, a.risk, t.ID.String())
	}
}

// Cancel gives back the reservation, and voids the card hold, of a debit
// that was never posted.
func (s *Service) Cancel(ctx context.Context, a Authorization) {
	s.release(ctx, a.res)
	s.voidHold(ctx, a)
}

// PaymentMovement describes a payment transfer for the paying wallet,
// which a card-funded payment reaches only by its links.
func (s *Service) PaymentMovement(ctx context.Context, t ledger.Transfer, p Principal) (Movement, error) {
	mv, _, err := s.movement(ctx, t, p)
	return mv, err
}
