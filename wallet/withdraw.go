package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/limits"
)

// Movement types of a withdrawal, as the customer sees them: the money
// leaving for the card and, when the issuer refused it, coming back.
const (
	TypeWithdrawal         = "withdrawal"
	TypeWithdrawalReversal = "withdrawal_reversal"
)

// kindWithdrawalSettle is the ledger kind of the transfer that passes a
// credited withdrawal from the transit account on to the issuer's clearing
// account. It does not touch the wallet, so no bill shows it.
const kindWithdrawalSettle = "withdrawal_settle"

// withdrawalScope is the idempotency scope of the transfers that finish a
// withdrawal, keyed by the withdrawal's transfer id: a withdrawal is
// settled or reversed once, whoever tries.
const withdrawalScope = "withdrawal"

// issuerTimeout bounds the issuer's answer to a credit: past it the
// outcome is unknown and the money stays in transit (see Withdraw).
const issuerTimeout = 30 * time.Second

// WithdrawInput is a withdrawal to one of the wallet's bound cards: the
// payment PIN always, and above OTPTransferThreshold a one-time code bound
// to the card, the amount and the currency.
type WithdrawInput struct {
	CardID   string
	Amount   int64
	Currency string
	PIN      string
	OTP      *OTP
}

// Withdraw moves amount from the wallet to a bound, unfrozen card, within
// the card's limits.
//
// The issuer's credit to a card cannot be taken back, so the money must be
// certain before the issuer is asked: posting wallet → clearing only after
// the credit could find the balance spent by a payment that committed in
// between, and the credited money would be lost. So a withdrawal is three
// steps in the ledger, each idempotent:
//
//  1. wallet → transit (kind withdrawal), under the request's key: the
//     ledger's funds check and unique key decide, under any concurrency,
//     which withdrawals fit and that one key moves money once;
//  2. the issuer is asked to credit the card;
//  3. accepted: transit → the issuer's clearing account (withdrawal_settle),
//     which cannot fail for funds; refused (card_declined) or unanswered
//     (unavailable): transit → wallet (withdrawal_reversal) and the card's
//     limit reservation is released.
//
// Only step 3's transfer to clearing depends on the issuer having accepted,
// and it moves money the wallet no longer holds. When the issuer's answer
// is unknown (it timed out), or step 3 cannot be posted, the money stays
// in transit: the wallet's balance already shows it gone, the wallet cannot
// be closed while it is there, and the transit account's balance is what
// remains to be reconciled with the issuer's report of its credits.
func (s *Service) Withdraw(ctx context.Context, p Principal, in WithdrawInput, req Request) (_ Movement, err error) {
	if err := validAmount(in.Amount); err != nil {
		return Movement{}, err
	}
	if in.CardID == "" {
		return Movement{}, errCardIDRequired
	}
	if in.PIN != "" && !validPIN(in.PIN) {
		return Movement{}, errPINFormat
	}
	if mv, ok, err := s.replayWithdrawal(ctx, p, req); err != nil || ok {
		return mv, err
	}
	w, err := s.activeIn(ctx, p, in.Currency)
	if err != nil {
		return Movement{}, err
	}
	defer func() { s.refused(ctx, p, req.Key, err) }()
	card, err := s.usableCard(ctx, p, in.CardID)
	if err != nil {
		return Movement{}, err
	}
	// Money leaves the wallet: the PIN is needed at any amount, as for a
	// transfer, and a one-time code above the transfer threshold.
	if err := s.VerifyPIN(ctx, p, in.PIN); err != nil {
		return Movement{}, err
	}
	if in.Amount > s.cfg.OTPTransferThreshold {
		binding := fmt.Sprintf("card=%s;amount=%d;currency=%s", card.ID, in.Amount, w.Currency)
		if err := s.requireCode(ctx, in.OTP, w.Phone, PurposeWithdraw, w.ID, binding); err != nil {
			return Movement{}, err
		}
	}
	transit, err := s.transitAccount(ctx, w.Currency)
	if err != nil {
		return Movement{}, err
	}
	clearing, err := s.clearingAccount(ctx, w.Currency)
	if err != nil {
		return Movement{}, err
	}
	res, err := s.limits.ReserveFor(ctx, card.ID, in.Amount, limitsOf(card), s.now(), limits.Ref{Scope: p.Scope(), Key: req.Key})
	if err != nil {
		return Movement{}, err
	}
	walletID, cardID := uuid.MustParse(w.ID), uuid.MustParse(card.ID)
	md, _ := json.Marshal(Meta{Card: card.Masked})
	hold, err := s.ledger.Post(ctx, ledger.Transfer{
		Kind: TypeWithdrawal, Currency: w.Currency, Scope: p.Scope(), Key: req.Key, Fingerprint: req.Fingerprint,
		Metadata: md, Links: ledger.Links{WalletID: walletID, CardID: cardID},
		Postings: []ledger.Posting{{AccountID: w.AccountID, Amount: -in.Amount}, {AccountID: transit, Amount: in.Amount}},
	})
	if err != nil || hold.Replayed {
		// Nothing left the wallet (or it left earlier under this key, and
		// that request asks the issuer): give the limits back. An unknown
		// outcome keeps the reservation counted, erring on the limit's side.
		if err == nil || errs.Business(err) || errors.Is(err, ledger.ErrNotCommitted) {
			s.release(ctx, res)
		}
		if err != nil {
			return Movement{}, err
		}
		mv, _, err := movementOf(hold, w.AccountID)
		return mv, err
	}
	// From here the money is in transit: the request finishes the
	// withdrawal even if its caller goes away.
	bg := context.WithoutCancel(ctx)
	ictx, cancel := context.WithTimeout(bg, issuerTimeout)
	cerr := s.issuer.Credit(ictx, card.issuerRef, in.Amount, w.Currency)
	cancel()
	switch code := errs.CodeOf(cerr); {
	case cerr == nil:
		if err := s.limits.Commit(bg, res); err != nil {
			s.log.WarnContext(ctx, "committing a card reservation failed; it expires with the day", "err", err)
		}
		s.finishWithdrawal(bg, hold, kindWithdrawalSettle, walletID, uuid.Nil, transit, clearing, nil)
	case code == errs.CardDeclined || code == errs.Unavailable:
		s.release(ctx, res)
		rmd, _ := json.Marshal(Meta{Card: card.Masked, Note: string(code)})
		if !s.finishWithdrawal(bg, hold, TypeWithdrawalReversal, walletID, cardID, transit, w.AccountID, rmd) {
			return Movement{}, errs.E(errs.Unavailable, "the issuer refused the withdrawal and returning the money to the wallet is delayed; it is held until then")
		}
		return Movement{}, cerr
	default:
		// The issuer may or may not have credited the card: the money
		// stays in transit until its report settles it.
		if err := s.limits.Commit(bg, res); err != nil {
			s.log.WarnContext(ctx, "committing a card reservation failed; it expires with the day", "err", err)
		}
		s.log.ErrorContext(ctx, "a withdrawal's credit has an unknown outcome; its money stays in transit",
			"transfer_id", hold.ID.String(), "err", cerr)
	}
	mv, _, err := movementOf(hold, w.AccountID)
	return mv, err
}

// finishWithdrawal posts a withdrawal's last step, transit → to, retrying a
// few times: the money is already out of the wallet and the issuer has
// answered, so the step must not be dropped for a passing failure. It
// reports whether the step is in the ledger.
func (s *Service) finishWithdrawal(ctx context.Context, hold ledger.Transfer, kind string, walletID, cardID uuid.UUID, transit, to int64, md json.RawMessage) bool {
	amount := hold.Amount()
	t := ledger.Transfer{
		Kind: kind, Currency: hold.Currency, Scope: withdrawalScope, Key: hold.ID.String() + ":" + kind,
		Metadata: md, Links: ledger.Links{WalletID: walletID, CardID: cardID},
		Postings: []ledger.Posting{{AccountID: transit, Amount: -amount}, {AccountID: to, Amount: amount}},
	}
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		if _, err = s.ledger.Post(ctx, t); err == nil || errs.Business(err) {
			break
		}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "a withdrawal's last step could not be posted; its money stays in transit",
			"transfer_id", hold.ID.String(), "step", kind, "err", err)
		return false
	}
	return true
}

// replayWithdrawal answers a withdrawal whose key is already in the
// ledger: with the movement, or, when the issuer refused it and the money
// went back, with that refusal.
func (s *Service) replayWithdrawal(ctx context.Context, p Principal, req Request) (Movement, bool, error) {
	mv, ok, err := s.Replay(ctx, p, req)
	if err != nil || !ok || mv.Type != TypeWithdrawal {
		return mv, ok, err
	}
	rev, reversed, err := ledger.TransferByKey(ctx, s.pool, withdrawalScope, mv.ID+":"+TypeWithdrawalReversal)
	if err != nil || !reversed {
		return mv, err == nil, err
	}
	var m Meta
	_ = json.Unmarshal(rev.Metadata, &m)
	if m.Note == string(errs.CardDeclined) {
		return Movement{}, false, errs.E(errs.CardDeclined, "the card's issuer declined this withdrawal; its amount is back in the wallet")
	}
	return Movement{}, false, errs.E(errs.Conflict, "the card's issuer did not answer and this withdrawal was cancelled, its amount back in the wallet: send it again with a new Idempotency-Key")
}

// transitAccount is the account withdrawals in currency wait in for the
// issuer's answer.
func (s *Service) transitAccount(ctx context.Context, currency string) (int64, error) {
	if id, ok := s.transit.Load(currency); ok {
		return id.(int64), nil
	}
	a, err := ledger.CreateAccount(ctx, s.pool, "withdrawals", ledger.Transit, currency)
	if err != nil {
		return 0, err
	}
	s.transit.Store(currency, a.ID)
	return a.ID, nil
}

// withdrawalsInTransit counts the wallet's withdrawals that are neither
// settled nor reversed.
func (s *Service) withdrawalsInTransit(ctx context.Context, walletID uuid.UUID) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM transfers w
		WHERE w.wallet_id = $1 AND w.kind = 'withdrawal' AND NOT EXISTS (
			SELECT 1 FROM transfers f WHERE f.idem_scope = $2
			AND f.idem_key IN (w.id::text || ':' || $3, w.id::text || ':' || $4))`,
		walletID, withdrawalScope, kindWithdrawalSettle, TypeWithdrawalReversal).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("withdrawals in transit: %w", err)
	}
	return n, nil
}
