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
	"github.com/qrpay/qrpay/limits"
	"github.com/qrpay/qrpay/risk"
)

// Movement is money into or out of a wallet, as its owner sees it. It is
// built from the ledger transfer alone, so a replayed request answers with
// exactly the first answer.
type Movement struct {
	ID           string    `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" doc:"The ledger transfer id."`
	Type         string    `json:"type" example:"topup" enum:"topup,transfer_in,transfer_out,payment,refund,withdrawal,withdrawal_reversal"`
	Amount       int64     `json:"amount" example:"10000" doc:"Minor units, signed: negative when money left the wallet."`
	Currency     string    `json:"currency" example:"CNY"`
	BalanceAfter int64     `json:"balance_after" example:"22000"`
	Card         string    `json:"card,omitempty" example:"**** 1111"`
	Counterparty string    `json:"counterparty,omitempty" example:"+86139****0001"`
	Note         string    `json:"note,omitempty" example:"dinner"`
	OrderID      string    `json:"order_id,omitempty" example:"" doc:"The merchant order of a payment or refund."`
	Funding      string    `json:"funding,omitempty" example:"balance" enum:"balance,card,balance_then_card" doc:"A payment's: where its money came from; a refund's: where it went back to."`
	CardAmount   int64     `json:"card_amount,omitempty" example:"0" doc:"The part of amount charged to (or returned to) the card, signed like amount; the rest moved the balance."`
	CreatedAt    time.Time `json:"created_at"`
	// Replayed is set when the movement was committed earlier under the
	// request's idempotency key: the answer is the first one, again.
	Replayed bool `json:"-"`
}

// Meta is what transfers touching a wallet carry in the ledger's metadata,
// for display: what the customer's bills show without joins. Nothing
// selects by it; a transfer's typed links (ledger.Links) say what it was for.
type Meta struct {
	Card      string `json:"card,omitempty"`       // the card used, masked
	FromPhone string `json:"from_phone,omitempty"` // a transfer's sender, masked
	ToPhone   string `json:"to_phone,omitempty"`   // a transfer's recipient, masked
	Note      string `json:"note,omitempty"`
	Merchant  string `json:"merchant,omitempty"` // the merchant's name
	RefundID  string `json:"refund_id,omitempty"`
}

// movementOf describes t from the point of view of the wallet's account;
// ok is false when t did not touch it.
func movementOf(t ledger.Transfer, accountID int64) (mv Movement, ok bool, err error) {
	p, ok := t.Posting(accountID)
	if !ok {
		return Movement{}, false, nil
	}
	var m Meta
	if err := json.Unmarshal(t.Metadata, &m); err != nil {
		return Movement{}, true, fmt.Errorf("transfer %s: display metadata: %w", t.ID, err)
	}
	mv = Movement{ID: t.ID.String(), Type: t.Kind, Amount: p.Amount, Currency: t.Currency,
		BalanceAfter: p.BalanceAfter, Card: m.Card, Note: m.Note, CreatedAt: t.CreatedAt, Replayed: t.Replayed}
	if t.Links.OrderID != uuid.Nil {
		mv.OrderID = t.Links.OrderID.String()
	}
	if t.Kind == "payment" || t.Kind == "refund" {
		mv.Funding = string(FundingOf(t))
		mv.CardAmount = cardPart(t, accountID)
		mv.Amount += mv.CardAmount
	}
	switch t.Kind {
	case "transfer":
		if p.Amount < 0 {
			mv.Type, mv.Counterparty = "transfer_out", m.ToPhone
		} else {
			mv.Type, mv.Counterparty = "transfer_in", m.FromPhone
		}
	case "payment", "refund":
		mv.Counterparty = m.Merchant
	}
	return mv, true, nil
}

// Movement reads one movement of the wallet by its transfer id; a transfer
// that did not touch this wallet is not found.
func (s *Service) Movement(ctx context.Context, p Principal, id string) (Movement, error) {
	tid, err := uuid.Parse(id)
	if err != nil {
		return Movement{}, errs.E(errs.NotFound, "transfer not found")
	}
	t, err := ledger.GetTransfer(ctx, s.pool, tid)
	if err != nil {
		return Movement{}, err
	}
	mv, ok, err := s.movement(ctx, t, p)
	if !ok {
		return Movement{}, errs.E(errs.NotFound, "transfer not found")
	}
	return mv, err
}

// Request carries a money-moving request's idempotency: the caller's key
// and the fingerprint of its body.
type Request struct {
	Key         string
	Fingerprint []byte
}

var errCardIDRequired = errs.E(errs.Invalid, "card_id is required: the id of one of the wallet's bound cards")

func validAmount(amount int64) error {
	if amount <= 0 || amount > ledger.MaxAmount {
		return errs.E(errs.Invalid, "amount must be a positive number of minor units, at most %d", ledger.MaxAmount)
	}
	return nil
}

// clearingAccount is the issuer's clearing account in currency: top-ups
// bring money into the ledger from it.
func (s *Service) clearingAccount(ctx context.Context, currency string) (int64, error) {
	if id, ok := s.clearing.Load(currency); ok {
		return id.(int64), nil
	}
	a, err := ledger.CreateAccount(ctx, s.pool, "issuer", ledger.Clearing, currency)
	if err != nil {
		return 0, err
	}
	s.clearing.Store(currency, a.ID)
	return a.ID, nil
}

// TopUp moves amount from a bound card into the wallet: the card's limits
// are reserved, the issuer authorizes, the ledger posts, and the reservation
// is committed. A retry with the same key finds the committed transfer
// before touching the limits or the issuer again. currency, when given,
// must be the wallet's. Above the PIN threshold a top-up needs the PIN,
// as a payment does: it spends the card; below it pin is the step-up
// proof, when the risk checks ask for one.
func (s *Service) TopUp(ctx context.Context, p Principal, cardID string, amount int64, currency, pin string, req Request) (_ Movement, err error) {
	if err := validAmount(amount); err != nil {
		return Movement{}, err
	}
	if cardID == "" {
		return Movement{}, errCardIDRequired
	}
	// As for a payment: a PIN given below the threshold is not needed, but
	// one that cannot be a PIN is still bad input.
	if pin != "" && !validPIN(pin) {
		return Movement{}, errPINFormat
	}
	if t, ok, err := s.Replay(ctx, p, req); err != nil || ok {
		return t, err
	}
	w, err := s.activeIn(ctx, p, currency)
	if err != nil {
		return Movement{}, err
	}
	defer func() { s.refused(ctx, p, req.Key, err) }()
	card, err := s.usableCard(ctx, p, cardID)
	if err != nil {
		return Movement{}, err
	}
	a, err := s.assess(ctx, p, risk.Facts{Kind: risk.TopUp, WalletID: w.ID, CardID: card.ID, CardBoundAt: card.CreatedAt,
		Amount: amount, Currency: w.Currency, Key: req.Key, Now: s.now()}, StepUpProof{PIN: pin}, false)
	if err != nil {
		return Movement{}, err
	}
	if s.NeedsPIN(amount) && !a.proved {
		if err := s.VerifyPIN(ctx, p, pin); err != nil {
			return Movement{}, err
		}
	}
	clearing, err := s.clearingAccount(ctx, w.Currency)
	if err != nil {
		return Movement{}, err
	}
	res, err := s.limits.ReserveFor(ctx, card.ID, amount, limitsOf(card), s.now(), limits.Ref{Scope: p.Scope(), Key: req.Key})
	if err != nil {
		return Movement{}, err
	}
	if err := s.issuer.Authorize(ctx, card.issuerRef, amount, w.Currency); err != nil {
		s.release(ctx, res)
		return Movement{}, err
	}
	md, _ := json.Marshal(Meta{Card: card.Masked})
	t, err := s.ledger.Post(ctx, ledger.Transfer{
		Kind: "topup", Currency: w.Currency, Scope: p.Scope(), Key: req.Key, Fingerprint: req.Fingerprint,
		Metadata: md, Links: ledger.Links{WalletID: uuid.MustParse(w.ID), CardID: uuid.MustParse(card.ID)},
		Postings: []ledger.Posting{{AccountID: clearing, Amount: -amount}, {AccountID: w.AccountID, Amount: amount}},
	})
	if err != nil || t.Replayed {
		// The money did not move (or moved earlier under this key): give
		// the limits and the authorization back. An unknown outcome keeps
		// the reservation counted, erring on the side of the limit.
		if err == nil || errs.Business(err) || errors.Is(err, ledger.ErrNotCommitted) {
			s.release(ctx, res)
			_ = s.issuer.Void(context.WithoutCancel(ctx), card.issuerRef, amount, w.Currency)
		}
		if err != nil {
			return Movement{}, err
		}
	} else {
		if err := s.limits.Commit(ctx, res); err != nil {
			s.log.WarnContext(ctx, "committing a card reservation failed; it expires with the day", "err", err)
		}
		s.settled(ctx, a, t.ID.String())
	}
	mv, _, err := movementOf(t, w.AccountID)
	return mv, err
}

func (s *Service) release(ctx context.Context, r limits.Reservation) {
	if err := s.limits.Release(context.WithoutCancel(ctx), r); err != nil {
		s.log.WarnContext(ctx, "releasing a card reservation failed; it stays counted until the day ends", "err", err)
	}
}

// Replay returns the movement already committed under the request's key,
// if any: the Redis record of a response can be lost, the ledger's cannot.
// Money-moving requests call it before any check that depends on the
// present (an order's state, a recipient's wallet, a PIN lockout), so that a
// retry of a request that went through is answered with what happened,
// whatever has changed since.
func (s *Service) Replay(ctx context.Context, p Principal, req Request) (Movement, bool, error) {
	t, ok, err := ledger.TransferByKey(ctx, s.pool, p.Scope(), req.Key)
	if err != nil || !ok {
		return Movement{}, false, err
	}
	if string(t.Fingerprint) != string(req.Fingerprint) {
		return Movement{}, false, errs.E(errs.IdempotencyMismatch, "idempotency key %q was used for a different request", req.Key)
	}
	mv, _, err := s.movement(ctx, t, p)
	mv.Replayed = true
	return mv, err == nil, err
}

// TransferInput is a wallet-to-wallet transfer: the recipient by phone or
// by wallet id (exactly one), and the payment PIN or a device's approval;
// above OTPTransferThreshold, a one-time code too.
type TransferInput struct {
	ToPhone    string
	ToWalletID string
	Amount     int64
	Currency   string
	Note       string
	PIN        string
	Approval   *Approval
	OTP        *OTP
}

// Transfer sends money to another active wallet of the same currency,
// within the sender's transfer limits. Transfers move balance to balance:
// no card is involved, so a card's freeze or limits do not apply to them;
// the wallet's freeze and its own transfer limits do.
func (s *Service) Transfer(ctx context.Context, p Principal, in TransferInput, req Request) (_ Movement, err error) {
	if err := validAmount(in.Amount); err != nil {
		return Movement{}, err
	}
	if (in.ToPhone == "") == (in.ToWalletID == "") {
		return Movement{}, errs.E(errs.Invalid, "give exactly one of to_phone and to_wallet_id")
	}
	if len([]rune(in.Note)) > 140 {
		return Movement{}, errs.E(errs.Invalid, "note must be at most 140 characters")
	}
	if in.Approval != nil && in.PIN != "" {
		return Movement{}, errs.E(errs.Invalid, "give either pin or approval, not both")
	}
	if mv, ok, err := s.Replay(ctx, p, req); err != nil || ok {
		return mv, err
	}
	defer func() { s.refused(ctx, p, req.Key, err) }()
	from, err := s.Get(ctx, p.WalletID)
	if err != nil {
		return Movement{}, err
	}
	if err := active(from); err != nil {
		return Movement{}, err
	}
	// The PIN is checked before the recipient is looked up, so that
	// nobody without it learns which numbers have wallets; an approval
	// names its recipient, which its challenge already resolved.
	if in.Approval == nil {
		if err := s.VerifyPIN(ctx, p, in.PIN); err != nil {
			return Movement{}, err
		}
	}
	to, err := s.recipient(ctx, in.ToPhone, in.ToWalletID)
	if err != nil {
		return Movement{}, err
	}
	switch {
	case to.ID == from.ID:
		return Movement{}, errs.E(errs.Invalid, "cannot transfer to your own wallet")
	case in.Currency != "" && in.Currency != from.Currency:
		return Movement{}, errs.E(errs.Invalid, "your wallet holds %s, not %s", from.Currency, in.Currency)
	case to.Currency != from.Currency:
		return Movement{}, errs.E(errs.Invalid, "the recipient's wallet holds %s, not %s", to.Currency, from.Currency)
	}
	if in.Approval != nil {
		key, err := s.deviceKey(ctx, from.ID, in.Approval.DeviceID)
		if err != nil {
			return Movement{}, err
		}
		if err := s.checkApproval(ctx, p, in.Approval, ApprovalInput{Kind: "transfer", Amount: in.Amount,
			Currency: from.Currency, Payee: "wallet:" + to.ID, Key: req.Key}, key); err != nil {
			return Movement{}, err
		}
	}
	if tl := s.transferLimitsOf(from); in.Amount > tl.PerTransaction {
		return Movement{}, errs.E(errs.LimitExceeded, "amount exceeds the wallet's per-transaction transfer limit")
	}
	if in.Amount > s.cfg.OTPTransferThreshold {
		binding := fmt.Sprintf("to=%s;amount=%d;currency=%s", to.ID, in.Amount, from.Currency)
		if err := s.requireCode(ctx, in.OTP, from.Phone, PurposeTransfer, from.ID, binding); err != nil {
			return Movement{}, err
		}
	}
	// The PIN or an approval was verified above: a step-up is passed.
	a, err := s.assess(ctx, p, risk.Facts{Kind: risk.Transfer, WalletID: from.ID, RecipientID: to.ID, RecipientCreatedAt: to.CreatedAt,
		Amount: in.Amount, Currency: from.Currency, Key: req.Key, Now: s.now()}, StepUpProof{}, true)
	if err != nil {
		return Movement{}, err
	}
	res, err := s.reserveTransfer(ctx, from, in.Amount, limits.Ref{Scope: p.Scope(), Key: req.Key})
	if err != nil {
		return Movement{}, err
	}
	md, _ := json.Marshal(Meta{FromPhone: maskPhone(from.Phone), ToPhone: maskPhone(to.Phone), Note: in.Note})
	t, err := s.ledger.Post(ctx, ledger.Transfer{
		Kind: "transfer", Currency: from.Currency, Scope: p.Scope(), Key: req.Key, Fingerprint: req.Fingerprint,
		Metadata: md, Links: ledger.Links{WalletID: uuid.MustParse(from.ID)},
		Postings: []ledger.Posting{{AccountID: from.AccountID, Amount: -in.Amount}, {AccountID: to.AccountID, Amount: in.Amount}},
	})
	switch {
	case err != nil && (errs.Business(err) || errors.Is(err, ledger.ErrNotCommitted)), err == nil && t.Replayed:
		s.settleTransfer(ctx, res, false)
	case err == nil:
		s.settleTransfer(ctx, res, true)
	}
	// An unknown outcome keeps the reservation counted; the ledger
	// settles it later (limits.Store.Reconcile).
	if errs.Is(err, errs.AccountClosed) {
		return Movement{}, errs.E(errs.WalletClosed, "the recipient's wallet is closed")
	}
	if err != nil {
		return Movement{}, err
	}
	if !t.Replayed {
		s.settled(ctx, a, t.ID.String())
	}
	mv, _, err := movementOf(t, from.AccountID)
	return mv, err
}

// recipient finds an active wallet by phone or id.
func (s *Service) recipient(ctx context.Context, phone, walletID string) (Wallet, error) {
	var id string
	var status string
	var err error
	if phone != "" {
		if !phoneRE.MatchString(phone) {
			return Wallet{}, errs.E(errs.Invalid, "to_phone must be in E.164 form, like +8613800138000")
		}
		err = s.pool.QueryRow(ctx, `SELECT id, status FROM customers WHERE phone = $1
			ORDER BY status = 'active' DESC, created_at DESC LIMIT 1`, phone).Scan(&id, &status)
	} else {
		if _, perr := uuid.Parse(walletID); perr != nil {
			return Wallet{}, errs.E(errs.NotFound, "recipient wallet not found")
		}
		err = s.pool.QueryRow(ctx, `SELECT id, status FROM customers WHERE id = $1`, walletID).Scan(&id, &status)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return Wallet{}, errs.E(errs.NotFound, "recipient wallet not found")
	}
	if err != nil {
		return Wallet{}, fmt.Errorf("find recipient: %w", err)
	}
	if status != "active" {
		return Wallet{}, errs.E(errs.WalletClosed, "the recipient's wallet is closed")
	}
	return s.Get(ctx, id)
}

// activeIn is the caller's wallet, when it is active and holds currency
// ("" for the wallet's own): what a top-up or a withdrawal moves money in.
func (s *Service) activeIn(ctx context.Context, p Principal, currency string) (Wallet, error) {
	w, err := s.Get(ctx, p.WalletID)
	if err != nil {
		return Wallet{}, err
	}
	if err := active(w); err != nil {
		return Wallet{}, err
	}
	if currency != "" && currency != w.Currency {
		return Wallet{}, errs.E(errs.Invalid, "the wallet holds %s, not %s", w.Currency, currency)
	}
	return w, nil
}
