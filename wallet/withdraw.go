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
	// The risk checks see it first. Money leaves the wallet: the PIN is
	// needed at any amount, as for a transfer, so a step-up the checks ask
	// for is a one-time code, at any amount, as above the transfer
	// threshold.
	a, err := s.assess(ctx, p, risk.Facts{Kind: risk.Withdrawal, WalletID: w.ID, CardID: card.ID, CardBoundAt: card.CreatedAt,
		Amount: in.Amount, Currency: w.Currency, Key: req.Key, Now: s.now()}, StepUpProof{}, true)
	if err != nil {
		return Movement{}, err
	}
	if err := s.VerifyPIN(ctx, p, in.PIN); err != nil {
		return Movement{}, err
	}
	if in.Amount > s.cfg.OTPTransferThreshold || a.d.Outcome == risk.StepUp {
		binding := fmt.Sprintf("card=%s;amount=%d;currency=%s", card.ID, in.Amount, w.Currency)
		if err := s.requireCode(ctx, in.OTP, w.Phone, PurposeWithdraw, w.ID, binding); err != nil {
			return Movement{}, err
		}
	}
	transit, err := s.transitAccount(ctx, w.Currency)
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
	s.settled(bg, a, hold.ID.String())
	ictx, cancel := context.WithTimeout(bg, issuerTimeout)
	cerr := s.issuer.Credit(ictx, card.issuerRef, in.Amount, w.Currency, hold.ID.String())
	cancel()
	switch s.finishCredit(bg, hold, cerr, true) {
	case kindWithdrawalSettle:
		if err := s.limits.Commit(bg, res); err != nil {
			s.log.WarnContext(ctx, "committing a card reservation failed; it expires with the day", "err", err)
		}
	case TypeWithdrawalReversal:
		s.release(ctx, res)
		if code := errs.CodeOf(cerr); code == errs.CardDeclined || code == errs.Unavailable {
			return Movement{}, cerr
		}
		return Movement{}, errs.E(errs.Conflict, "the card's issuer did not take this withdrawal and it was cancelled, its amount back in the wallet: send it again with a new Idempotency-Key")
	default:
		// Not finished: the issuer's outcome is unknown, or it answered
		// and the last step could not be posted. The money stays in
		// transit and ResolveWithdrawals finishes it; the reservation
		// stays counted, erring on the limit's side.
		if err := s.limits.Commit(bg, res); err != nil {
			s.log.WarnContext(ctx, "committing a card reservation failed; it expires with the day", "err", err)
		}
		if code := errs.CodeOf(cerr); code == errs.CardDeclined || code == errs.Unavailable {
			return Movement{}, errs.E(errs.Unavailable, "the issuer refused the withdrawal and returning the money to the wallet is delayed; it is held until then")
		}
	}
	mv, _, err := movementOf(hold, w.AccountID)
	return mv, err
}

// finishKey is the idempotency key of a withdrawal's last step, settlement
// or reversal alike: one key, so that only one of them can ever land.
func finishKey(hold uuid.UUID) string { return hold.String() + ":finish" }

// finishCredit posts withdrawal hold's last step by the issuer's answer
// cerr to its credit: transit → the issuer's clearing account when the
// issuer credited the card; transit → the wallet when it declined, or,
// when unavailableReverses, could not take the request; nothing when the
// outcome is unknown. Both steps share one key, so whoever finishes a
// withdrawal first (its request, a resolver on any replica) decides and
// the others find that step. It returns the kind of the step in the
// ledger, "" when there is none.
func (s *Service) finishCredit(ctx context.Context, hold ledger.Transfer, cerr error, unavailableReverses bool) string {
	var walletAcct, transit int64
	for _, p := range hold.Postings {
		if p.Amount < 0 {
			walletAcct = p.AccountID
		} else {
			transit = p.AccountID
		}
	}
	code := errs.CodeOf(cerr)
	switch {
	case cerr == nil:
		clearing, err := s.clearingAccount(ctx, hold.Currency)
		if err != nil {
			s.log.ErrorContext(ctx, "a withdrawal's last step could not be posted; its money stays in transit",
				"transfer_id", hold.ID.String(), "err", err)
			return ""
		}
		return s.finishWithdrawal(ctx, hold, kindWithdrawalSettle, uuid.Nil, transit, clearing, nil)
	case code == errs.CardDeclined || (unavailableReverses && code == errs.Unavailable):
		var m Meta
		_ = json.Unmarshal(hold.Metadata, &m)
		rmd, _ := json.Marshal(Meta{Card: m.Card, Note: string(code)})
		return s.finishWithdrawal(ctx, hold, TypeWithdrawalReversal, hold.Links.CardID, transit, walletAcct, rmd)
	}
	s.log.ErrorContext(ctx, "a withdrawal's credit has an unknown outcome; its money stays in transit until the issuer is asked again",
		"transfer_id", hold.ID.String(), "err", cerr)
	return ""
}

// finishWithdrawal posts a withdrawal's last step, transit → to, retrying a
// few times: the money is already out of the wallet and the issuer has
// answered, so the step must not be dropped for a passing failure. It
// returns the kind of the withdrawal's last step in the ledger — this one,
// or the other one, posted first by someone else — or "" when there is
// none.
func (s *Service) finishWithdrawal(ctx context.Context, hold ledger.Transfer, kind string, cardID uuid.UUID, transit, to int64, md json.RawMessage) string {
	amount := hold.Amount()
	t := ledger.Transfer{
		Kind: kind, Currency: hold.Currency, Scope: withdrawalScope, Key: finishKey(hold.ID),
		Metadata: md, Links: ledger.Links{WalletID: hold.Links.WalletID, CardID: cardID},
		Postings: []ledger.Posting{{AccountID: transit, Amount: -amount}, {AccountID: to, Amount: amount}},
	}
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		var posted ledger.Transfer
		if posted, err = s.ledger.Post(ctx, t); err == nil {
			return posted.Kind
		}
		if errs.Is(err, errs.IdempotencyMismatch) {
			// The other last step landed first.
			prev, ok, rerr := ledger.TransferByKey(ctx, s.pool, withdrawalScope, finishKey(hold.ID))
			if rerr == nil && ok {
				return prev.Kind
			}
			err = errors.Join(err, rerr)
			continue
		}
		if errs.Business(err) {
			break
		}
	}
	s.log.ErrorContext(ctx, "a withdrawal's last step could not be posted; its money stays in transit",
		"transfer_id", hold.ID.String(), "step", kind, "err", err)
	return ""
}

// Resolved counts what a round of ResolveWithdrawals did: withdrawals
// settled to the card, reversed to the wallet, and left in transit because
// the issuer's outcome is still unknown.
type Resolved struct {
	Settled, Reversed, Pending int
}

// resolveWindow is how far back ResolveWithdrawals looks for withdrawals
// in transit: one left longer than that is past any issuer's dispute
// window and is for finance to settle by hand (the transit account's
// balance shows it).
const resolveWindow = 35 * 24 * time.Hour

// ResolveWithdrawals finishes the withdrawals left in transit for longer
// than age: those whose issuer's answer was lost, whose last step could
// not be posted, or whose process died after taking the money out of the
// wallet. For each it asks the issuer again under the withdrawal's
// reference — an issuer that made the credit answers so without making it
// twice — and posts the last step by the answer: settled when credited,
// reversed to the wallet when declined; still unknown or unavailable, it
// stays for the next round. Any replica may run it at any time: the
// reference and the one key of a last step make each withdrawal finish
// once. age should exceed how long a request may still be finishing its
// own withdrawal (the issuer's timeout and the last step's retries).
//
// A withdrawal reversed here keeps its card limit usage counted in Redis
// for the rest of the day (the request's reservation is not at hand);
// the ledger, from which a missing day is rebuilt, gives it back.
func (s *Service) ResolveWithdrawals(ctx context.Context, age time.Duration) (Resolved, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT t.id, coalesce(k.issuer_ref, '')
		FROM accounts a
		JOIN postings p ON p.account_id = a.id AND p.amount > 0 AND p.created_at > now() - make_interval(secs => $3)
		JOIN transfers t ON t.id = p.transfer_id AND t.kind = $4
		LEFT JOIN cards k ON k.id = t.card_id
		WHERE a.owner = 'withdrawals' AND a.kind = 'transit' AND a.balance <> 0
			AND t.created_at < now() - make_interval(secs => $1)
			AND NOT EXISTS (SELECT 1 FROM transfers f WHERE f.idem_scope = $2 AND f.idem_key = t.id::text || ':finish')
		ORDER BY t.created_at
		LIMIT 200`, age.Seconds(), withdrawalScope, resolveWindow.Seconds(), TypeWithdrawal)
	if err != nil {
		return Resolved{}, fmt.Errorf("withdrawals in transit: %w", err)
	}
	type held struct {
		id  uuid.UUID
		ref string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (held, error) {
		var h held
		err := r.Scan(&h.id, &h.ref)
		return h, err
	})
	if err != nil {
		return Resolved{}, fmt.Errorf("withdrawals in transit: %w", err)
	}
	var out Resolved
	for _, h := range list {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		hold, err := ledger.GetTransfer(ctx, s.pool, h.id)
		if err != nil {
			return out, fmt.Errorf("withdrawal %s: %w", h.id, err)
		}
		ictx, cancel := context.WithTimeout(ctx, issuerTimeout)
		cerr := s.issuer.Credit(ictx, h.ref, hold.Amount(), hold.Currency, hold.ID.String())
		cancel()
		switch s.finishCredit(ctx, hold, cerr, false) {
		case kindWithdrawalSettle:
			out.Settled++
		case TypeWithdrawalReversal:
			out.Reversed++
		default:
			out.Pending++
		}
	}
	return out, nil
}

// RunIssuerResolver asks the card issuer again, every interval, about what
// it left unanswered more than age ago — withdrawals in transit
// (ResolveWithdrawals) and refunds' pushes to cards (ResolveCardCredits) —
// until ctx ends.
func (s *Service) RunIssuerResolver(ctx context.Context, every, age time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := s.ResolveWithdrawals(ctx, age)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.WarnContext(ctx, "resolving withdrawals in transit failed; the next round tries again", "err", err)
		case res != Resolved{}:
			s.log.InfoContext(ctx, "withdrawals in transit resolved", "settled", res.Settled, "reversed", res.Reversed, "pending", res.Pending)
		}
		cc, err := s.ResolveCardCredits(ctx, age)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.WarnContext(ctx, "pushing refunds to cards again failed; the next round tries again", "err", err)
		case cc != CardCredits{}:
			s.log.InfoContext(ctx, "refunds pushed to cards again", "credited", cc.Credited, "declined", cc.Declined, "pending", cc.Pending)
		}
	}
}

// replayWithdrawal answers a withdrawal whose key is already in the
// ledger: with the movement, or, when the issuer refused it and the money
// went back, with that refusal.
func (s *Service) replayWithdrawal(ctx context.Context, p Principal, req Request) (Movement, bool, error) {
	mv, ok, err := s.Replay(ctx, p, req)
	if err != nil || !ok || mv.Type != TypeWithdrawal {
		return mv, ok, err
	}
	id, err := uuid.Parse(mv.ID)
	if err != nil {
		return mv, true, nil
	}
	rev, finished, err := ledger.TransferByKey(ctx, s.pool, withdrawalScope, finishKey(id))
	if err != nil || !finished || rev.Kind != TypeWithdrawalReversal {
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
			SELECT 1 FROM transfers f WHERE f.idem_scope = $2 AND f.idem_key = w.id::text || ':finish')`,
		walletID, withdrawalScope).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("withdrawals in transit: %w", err)
	}
	return n, nil
}
