package payment

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/ratelimit"
	"github.com/qrpay/qrpay/wallet"
)

// CodeOptions configure charges of customer-presented payment codes
// (docs/payment-codes.md).
type CodeOptions struct {
	// DB holds the charges; Redis, the fast path of spent codes.
	DB     *postgres.DB
	Redis  redis.Scripter
	Prefix string
	// Rate and UnknownCodes bound the codes a merchant API key may charge
	// that no wallet made: past UnknownCodes.Max of them the key's charges
	// are refused for UnknownCodes.For.
	Rate         *ratelimit.Limiter
	UnknownCodes ratelimit.Lockout
	// ConfirmWindow is how long a charge above the PIN threshold waits for
	// the wallet's PIN before its order expires (default 2 min, at least 1).
	ConfirmWindow time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// DefaultUnknownCodes is the default budget of unknown codes per merchant
// API key.
var DefaultUnknownCodes = ratelimit.Lockout{Max: 20, For: 15 * time.Minute}

// UsingCodes lets the service charge payment codes.
func (s *Service) UsingCodes(o CodeOptions) *Service {
	if o.ConfirmWindow < time.Minute {
		o.ConfirmWindow = 2 * time.Minute
	}
	if o.UnknownCodes.Max <= 0 || o.UnknownCodes.For <= 0 {
		o.UnknownCodes = DefaultUnknownCodes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s.codes = &o
	return s
}

// ChargeInput is a POS's charge of the code a customer shows.
type ChargeInput struct {
	MerchantOrderNo string
	Amount          int64
	Currency        string
	Description     string
	TerminalID      string
	Code            string
}

// What a charge answers when it is not declined.
const (
	ChargePaid                 = "paid"
	ChargeRequiresConfirmation = "requires_confirmation"
)

// ChargeResult is a charge that was not declined: paid, or waiting for the
// wallet's PIN until ConfirmBy (the order's expiry).
type ChargeResult struct {
	Status    string         `json:"status" example:"paid" enum:"paid,requires_confirmation"`
	Order     merchant.Order `json:"order"`
	ConfirmBy *time.Time     `json:"confirm_by,omitempty" doc:"Set with requires_confirmation: the order expires then unless the customer confirms."`

	account int64
}

// WalletAccount is the ledger account of the wallet charged, whose
// notification feed a charge writes to.
func (r ChargeResult) WalletAccount() int64 { return r.account }

// codeCharge is a charge as payment_code_charges keeps it, with its key's
// card.
type codeCharge struct {
	OrderID, MerchantID, WalletID, DeviceID, CardID, Funding string
	AccountID                                                int64
	Step                                                     int64
	CodeHash                                                 []byte
	Status, DeclineCode                                      string
	ConfirmBy                                                time.Time
}

func (s *Service) now() time.Time { return s.codes.Now() }

var errCodesOff = errs.E(errs.Unavailable, "payment codes are not configured")

// Charge charges the code a customer shows: it creates the order (the
// merchant order number makes the charge idempotent, as it does order
// creation), spends the code and, at or below the PIN threshold, pays the
// order from the code's wallet through the same path as a scanned order.
// Above the threshold the charge waits for the wallet to confirm with its
// PIN (requires_confirmation). A code that cannot pay is declined with its
// error and nothing changed; a payment declined after the code was spent
// closes the order and keeps the decline for retries.
func (s *Service) Charge(ctx context.Context, c merchant.Caller, in ChargeInput) (ChargeResult, error) {
	if s.codes == nil {
		return ChargeResult{}, errCodesOff
	}
	if err := wallet.ValidCodeFormat(in.Code); err != nil {
		return ChargeResult{}, err
	}
	o, m, err := s.merchant.CodeOrder(ctx, c, merchant.OrderInput{MerchantOrderNo: in.MerchantOrderNo, Amount: in.Amount,
		Currency: in.Currency, Description: in.Description, TerminalID: in.TerminalID, ExpiresIn: s.codes.ConfirmWindow})
	if err != nil {
		return ChargeResult{}, err
	}
	if prev, err := s.merchant.GetOrderByNumber(ctx, c, in.MerchantOrderNo); err == nil {
		return s.chargeAgain(ctx, c, prev, in)
	} else if !errs.Is(err, errs.NotFound) {
		return ChargeResult{}, err
	}
	claim, err := s.resolveCode(ctx, c, in.Code)
	if err != nil {
		return ChargeResult{}, err
	}
	if claim.Currency != o.Currency {
		return ChargeResult{}, errs.E(errs.CurrencyMismatch, "the wallet holds %s and cannot pay in %s", claim.Currency, o.Currency)
	}
	prevStep, fresh, err := s.claimFast(ctx, claim)
	if err != nil {
		return ChargeResult{}, err
	}
	if !fresh {
		// The same charge sent twice at once: the first may have committed.
		if prev, gerr := s.merchant.GetOrderByNumber(ctx, c, in.MerchantOrderNo); gerr == nil {
			return s.chargeAgain(ctx, c, prev, in)
		}
		return ChargeResult{}, wallet.ErrCodeUsed
	}
	ch := codeCharge{OrderID: o.ID, MerchantID: m.ID, WalletID: claim.WalletID, DeviceID: claim.DeviceID, CardID: claim.CardID,
		Funding: claim.Funding, AccountID: claim.AccountID, Step: claim.Step, CodeHash: wallet.CodeHash(in.Code),
		Status: "pending", ConfirmBy: o.ExpiresAt}
	err = postgres.InTx(ctx, s.codes.DB, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if err := s.merchant.InsertCodeOrder(ctx, tx, o); err != nil {
			return err
		}
		if err := s.wallet.ClaimStep(ctx, tx, claim); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO payment_code_charges (order_id, merchant_id, customer_id, device_id, key_idx, step,
			code_hash, status, confirm_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)`,
			o.ID, m.ID, claim.WalletID, claim.DeviceID, claim.KeyIndex, claim.Step, ch.CodeHash, o.ExpiresAt, o.CreatedAt)
		if postgres.IsUniqueViolation(err, "payment_code_charges_once") {
			return wallet.ErrCodeUsed
		}
		return err
	})
	if err != nil {
		if !errs.Is(err, errs.PaymentCodeUsed) {
			s.releaseFast(ctx, claim, prevStep) // the code was not spent: it may be charged again
		}
		if errs.Is(err, errs.Conflict) {
			// Another charge under this order number committed first.
			if prev, gerr := s.merchant.GetOrderByNumber(ctx, c, in.MerchantOrderNo); gerr == nil {
				return s.chargeAgain(ctx, c, prev, in)
			}
		}
		if errs.Business(err) {
			return ChargeResult{}, err
		}
		return ChargeResult{}, fmt.Errorf("charge payment code: %w", err)
	}
	return s.settleCharge(ctx, c, ch, o, m)
}

// settleCharge takes a spent code's charge on: it asks for the PIN above
// the threshold, and pays the order otherwise.
func (s *Service) settleCharge(ctx context.Context, c merchant.Caller, ch codeCharge, o merchant.Order, m merchant.Merchant) (ChargeResult, error) {
	if s.wallet.NeedsPIN(o.Amount) {
		return s.askPIN(ctx, ch, o, m), nil
	}
	if _, err := s.payCharge(ctx, ch, "", nil); err != nil {
		if errs.Is(err, errs.StepUpRequired) || errs.Is(err, errs.PINRequired) {
			// The risk checks want the PIN below the threshold too.
			return s.askPIN(ctx, ch, o, m), nil
		}
		if errs.Business(err) {
			// The customer showing the code learns it too, not only the
			// cashier.
			if nerr := s.wallet.NotifyChargeDeclined(context.WithoutCancel(ctx), ch.AccountID,
				wallet.ChargeRequest{OrderID: o.ID, Merchant: m.Name, Amount: o.Amount}, errs.CodeOf(err)); nerr != nil {
				s.codes.Logger.WarnContext(ctx, "telling the wallet of a declined charge failed", "order", o.ID, "err", nerr)
			}
		}
		return ChargeResult{}, err
	}
	paid, err := s.merchant.GetOrder(ctx, c, o.ID)
	if err != nil {
		return ChargeResult{}, err
	}
	return ChargeResult{Status: ChargePaid, Order: paid, account: ch.AccountID}, nil
}

// askPIN tells the wallet, in its feed, that the charge waits for its PIN.
func (s *Service) askPIN(ctx context.Context, ch codeCharge, o merchant.Order, m merchant.Merchant) ChargeResult {
	if err := s.wallet.NotifyChargeRequest(ctx, ch.AccountID, wallet.ChargeRequest{OrderID: o.ID, Merchant: m.Name,
		Amount: o.Amount}); err != nil {
		// The charge stands: the wallet also lists what waits for it.
		s.codes.Logger.WarnContext(ctx, "notifying a charge request failed", "err", err)
	}
	confirmBy := ch.ConfirmBy
	return ChargeResult{Status: ChargeRequiresConfirmation, Order: o, ConfirmBy: &confirmBy, account: ch.AccountID}
}

// targetOf resolves what a payment pays: a scanned payload or an order id,
// or the order of a payment-code charge.
func (s *Service) targetOf(ctx context.Context, in PayInput) (merchant.Target, error) {
	if in.codeMerchant != "" {
		return s.merchant.ResolveCodeOrder(ctx, in.codeMerchant, in.OrderID)
	}
	return s.merchant.Resolve(ctx, in.QRPayload, in.OrderID)
}

func validUUID(s string) bool { _, err := uuid.Parse(s); return err == nil }

// chargeAgain answers a charge whose merchant order number was used
// already: the same charge again gets what the first got (or, when the
// first one's payment did not finish, is paid now); anything else under
// that number is a conflict.
func (s *Service) chargeAgain(ctx context.Context, c merchant.Caller, prev merchant.Order, in ChargeInput) (ChargeResult, error) {
	ch, found, err := s.charge(ctx, "c.order_id = $1", prev.ID)
	if err != nil {
		return ChargeResult{}, err
	}
	if !found || !bytes.Equal(ch.CodeHash, wallet.CodeHash(in.Code)) || prev.Amount != in.Amount ||
		(in.Currency != "" && in.Currency != prev.Currency) || prev.Description != in.Description || prev.TerminalID != in.TerminalID {
		return ChargeResult{}, errs.E(errs.Conflict, "merchant_order_no %q is already used", in.MerchantOrderNo)
	}
	if ch.Status == "declined" {
		return ChargeResult{}, declined(ch)
	}
	switch prev.Status {
	case merchant.StatusPaid, merchant.StatusPartiallyRefunded, merchant.StatusRefunded:
		return ChargeResult{Status: ChargePaid, Order: prev, account: ch.AccountID}, nil
	case merchant.StatusCreated:
		if s.wallet.NeedsPIN(prev.Amount) {
			// The wallet was told when the charge was made.
			confirmBy := ch.ConfirmBy
			return ChargeResult{Status: ChargeRequiresConfirmation, Order: prev, ConfirmBy: &confirmBy, account: ch.AccountID}, nil
		}
		m, err := s.merchant.Get(ctx, c.MerchantID)
		if err != nil {
			return ChargeResult{}, err
		}
		return s.settleCharge(ctx, c, ch, prev, m)
	case merchant.StatusClosed:
		return ChargeResult{}, errs.E(errs.OrderClosed, "the charge was cancelled")
	}
	return ChargeResult{}, errs.E(errs.OrderExpired, "the charge was not confirmed in time")
}

// declined is the error a declined charge is answered with, again.
func declined(ch codeCharge) error {
	return errs.E(errs.Code(ch.DeclineCode), "the charge was declined")
}

// resolveCode checks a code against the merchant key's budget of unknown
// codes: an unknown code spends it, a known one gives its check back.
func (s *Service) resolveCode(ctx context.Context, c merchant.Caller, code string) (wallet.CodeClaim, error) {
	key := "paycode-unknown:" + c.KeyID
	a, check, wait, err := s.codes.Rate.Begin(ctx, key, s.codes.UnknownCodes, s.now())
	// A busy terminal fleet shares one key: while more of its checks are
	// in flight than unknown codes are left, a check waits for them (each
	// takes one read) rather than failing, so that guesses sent at once
	// are still checked no more than the budget allows.
	for tries := 0; err == nil && check == ratelimit.Busy && tries < 50; tries++ {
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return wallet.CodeClaim{}, ctx.Err()
		}
		a, check, wait, err = s.codes.Rate.Begin(ctx, key, s.codes.UnknownCodes, s.now())
	}
	if err != nil {
		return wallet.CodeClaim{}, errs.Wrap(errs.Unavailable, err, "the payment-code budget could not be checked")
	}
	switch check {
	case ratelimit.Locked:
		return wallet.CodeClaim{}, &errs.Error{Code: errs.RateLimited, RetryAfter: wait,
			Message: "this API key sent too many unknown payment codes; it may charge codes again later"}
	case ratelimit.Busy:
		return wallet.CodeClaim{}, &errs.Error{Code: errs.RateLimited, RetryAfter: time.Second,
			Message: "too many payment-code charges at once from this API key"}
	}
	claim, err := s.wallet.ResolveCode(ctx, code)
	bg := context.WithoutCancel(ctx)
	if errors.Is(err, wallet.ErrUnknownCode) {
		if _, ferr := s.codes.Rate.Finish(bg, a, false, s.now()); ferr != nil {
			s.codes.Logger.WarnContext(ctx, "counting an unknown payment code failed", "err", ferr)
		}
		return wallet.CodeClaim{}, err
	}
	if cerr := s.codes.Rate.Cancel(bg, a); cerr != nil {
		s.codes.Logger.WarnContext(ctx, "returning a payment-code check failed; it expires", "err", cerr)
	}
	return claim, err
}

// spendScript is the fast path of a code's single use. KEYS[1] holds the
// last step of the device that was charged; ARGV = the code's step and the
// key's life (ms). It answers {1, previous} when the step is later (and
// records it), {0, previous} when it is not.
var spendScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then return {0, last} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, last}
`)

// unspendScript gives a step back when the charge that took it did not
// commit: KEYS[1] goes back to ARGV[2] if it still holds ARGV[1].
var unspendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) < 0 then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
return 1
`)

// spentTTL outlives every step a code is accepted at by far: once it is
// gone, the steps it guarded are expired anyway, and PostgreSQL still holds
// the last one.
const spentTTL = 10 * time.Minute

func (s *Service) spentKey(c wallet.CodeClaim) string {
	return s.codes.Prefix + "paycode:{" + c.WalletID + ":" + c.DeviceID + "}"
}

// claimFast spends the code's step in Redis: it answers whether the step
// was later than every step of the device charged before, and that step.
func (s *Service) claimFast(ctx context.Context, c wallet.CodeClaim) (prev int64, fresh bool, err error) {
	res, err := spendScript.Run(ctx, s.codes.Redis, []string{s.spentKey(c)}, c.Step, spentTTL.Milliseconds()).Int64Slice()
	if err != nil || len(res) != 2 {
		return 0, false, errs.Wrap(errs.Unavailable, err, "the payment code could not be checked")
	}
	return res[1], res[0] == 1, nil
}

func (s *Service) releaseFast(ctx context.Context, c wallet.CodeClaim, prev int64) {
	if err := unspendScript.Run(context.WithoutCancel(ctx), s.codes.Redis, []string{s.spentKey(c)}, c.Step, prev).Err(); err != nil {
		s.codes.Logger.WarnContext(ctx, "giving back a payment code's step failed", "err", err)
	}
}

// codePayInput is how a charged code pays: the funding source of its key
// (wallet's codeFunding says which sources a code may have) becomes the
// payment's, with the key's card. The payment is then the one a scan with
// that card and funding makes: the balance under the card's limits, the
// card through its issuer, or the balance first and the card for the rest.
func codePayInput(ch codeCharge, pin string, approval *wallet.Approval) PayInput {
	return PayInput{OrderID: ch.OrderID, CardID: ch.CardID, PIN: pin, Approval: approval, codeMerchant: ch.MerchantID,
		Funding: wallet.Funding(ch.Funding)}
}

// payCharge pays a charge's order from the code's wallet through the pay
// path of a scanned order: limits, risk checks, PIN, one ledger transfer
// with the order's change and event. Its idempotency key is the order's,
// so the POS's retry and the wallet's confirmation never pay twice. A
// refusal that will not change (funds, limits, risk) declines the charge
// and closes its order; a wrong or missing PIN leaves it waiting.
func (s *Service) payCharge(ctx context.Context, ch codeCharge, pin string, approval *wallet.Approval) (wallet.Movement, error) {
	p := wallet.Principal{WalletID: ch.WalletID, AccountID: ch.AccountID}
	key := "paycode:" + ch.OrderID
	fp := sha256.Sum256([]byte("qrpay payment-code charge\x00" + ch.OrderID))
	mv, err := s.Pay(ctx, p, codePayInput(ch, pin, approval), wallet.Request{Key: key, Fingerprint: fp[:]})
	switch {
	case err == nil:
		s.markCharge(ctx, ch.OrderID, "paid", "")
	case final(err):
		s.markCharge(ctx, ch.OrderID, "declined", errs.CodeOf(err))
		if _, cerr := s.merchant.CloseOrder(context.WithoutCancel(ctx), merchant.Caller{MerchantID: ch.MerchantID}, ch.OrderID); cerr != nil &&
			!errs.Business(cerr) {
			s.codes.Logger.WarnContext(ctx, "closing a declined charge's order failed; it expires", "err", cerr)
		}
	}
	return mv, err
}

// final reports whether a payment's refusal settles the charge: a business
// answer other than the ones the customer can still fix by confirming
// (the PIN, a step-up) or that only say the order moved on.
func final(err error) bool {
	if !errs.Business(err) {
		return false
	}
	switch errs.CodeOf(err) {
	case errs.PINRequired, errs.PINInvalid, errs.Locked, errs.StepUpRequired, errs.ApprovalInvalid, errs.RateLimited,
		errs.OrderAlreadyPaid, errs.OrderExpired, errs.OrderClosed, errs.IdempotencyInProgress, errs.Invalid:
		return false
	}
	return true
}

func (s *Service) markCharge(ctx context.Context, orderID, status string, code errs.Code) {
	if _, err := s.codes.DB.Exec(context.WithoutCancel(ctx), `UPDATE payment_code_charges SET status = $2, decline_code = $3
		WHERE order_id = $1 AND status = 'pending'`, orderID, status, string(code)); err != nil {
		s.codes.Logger.WarnContext(ctx, "recording a charge's outcome failed", "status", status, "err", err)
	}
}

const chargeColumns = `c.order_id::text, c.merchant_id::text, c.customer_id::text, c.device_id, k.card_id::text, k.funding,
	w.account_id, c.step, c.code_hash, c.status, c.decline_code, c.confirm_by`

// charge reads one charge.
func (s *Service) charge(ctx context.Context, where string, args ...any) (codeCharge, bool, error) {
	var ch codeCharge
	err := s.codes.DB.QueryRow(ctx, `SELECT `+chargeColumns+` FROM payment_code_charges c
		JOIN payment_code_keys k ON k.idx = c.key_idx JOIN customers w ON w.id = c.customer_id
		WHERE `+where, args...).Scan(&ch.OrderID, &ch.MerchantID, &ch.WalletID, &ch.DeviceID, &ch.CardID, &ch.Funding,
		&ch.AccountID, &ch.Step, &ch.CodeHash, &ch.Status, &ch.DeclineCode, &ch.ConfirmBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return codeCharge{}, false, nil
	}
	if err != nil {
		return codeCharge{}, false, fmt.Errorf("read charge: %w", err)
	}
	return ch, true, nil
}

// walletCharge reads one of the wallet's charges; another wallet's is not
// found.
func (s *Service) walletCharge(ctx context.Context, p wallet.Principal, orderID string) (codeCharge, error) {
	if s.codes == nil {
		return codeCharge{}, errCodesOff
	}
	if !validUUID(orderID) {
		return codeCharge{}, errs.E(errs.NotFound, "charge not found")
	}
	ch, found, err := s.charge(ctx, "c.order_id = $1 AND c.customer_id = $2", orderID, p.WalletID)
	if err != nil {
		return codeCharge{}, err
	}
	if !found {
		return codeCharge{}, errs.E(errs.NotFound, "charge not found")
	}
	return ch, nil
}

// ConfirmCharge pays a charge that waits for the wallet's PIN (or a
// device's approval): the payment is the one a scan of the order would
// make. A wrong PIN leaves the charge waiting until it expires.
func (s *Service) ConfirmCharge(ctx context.Context, p wallet.Principal, orderID, pin string, approval *wallet.Approval) (wallet.Movement, error) {
	ch, err := s.walletCharge(ctx, p, orderID)
	if err != nil {
		return wallet.Movement{}, err
	}
	if ch.Status == "declined" {
		return wallet.Movement{}, declined(ch)
	}
	return s.payCharge(ctx, ch, pin, approval)
}

// DeclineCharge refuses a charge that waits for the wallet: its order
// closes and nothing is paid.
func (s *Service) DeclineCharge(ctx context.Context, p wallet.Principal, orderID string) error {
	ch, err := s.walletCharge(ctx, p, orderID)
	if err != nil {
		return err
	}
	if ch.Status != "pending" {
		return errs.E(errs.Conflict, "the charge is %s", ch.Status)
	}
	if _, err := s.merchant.CloseOrder(ctx, merchant.Caller{MerchantID: ch.MerchantID}, orderID); err != nil {
		return err
	}
	s.markCharge(ctx, orderID, "declined", errs.OrderClosed)
	return nil
}

// PendingCharge is a charge of one of the wallet's codes that waits for
// its PIN.
type PendingCharge struct {
	OrderID     string         `json:"order_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Merchant    string         `json:"merchant" example:"Blue Bottle Coffee"`
	Amount      int64          `json:"amount" example:"25000"`
	Currency    string         `json:"currency" example:"CNY"`
	Description string         `json:"description" example:"Headphones"`
	TerminalID  string         `json:"terminal_id" example:"POS1"`
	ConfirmBy   time.Time      `json:"confirm_by"`
	CreatedAt   time.Time      `json:"created_at"`
	PaymentCode wallet.CodeUse `json:"payment_code" doc:"The code the charge spent."`
}

// PendingCharges lists the charges that wait for the wallet's PIN, oldest
// first.
func (s *Service) PendingCharges(ctx context.Context, p wallet.Principal) ([]PendingCharge, error) {
	if s.codes == nil {
		return nil, errCodesOff
	}
	rows, err := s.codes.DB.Query(ctx, `SELECT o.id::text, m.name, o.amount, o.currency, o.description, o.terminal_id,
			c.confirm_by, c.created_at, c.device_id, c.step
		FROM payment_code_charges c JOIN orders o ON o.id = c.order_id JOIN merchants m ON m.id = c.merchant_id
		WHERE c.customer_id = $1 AND c.status = 'pending' AND c.confirm_by > $2 AND o.status = 'created'
		ORDER BY c.created_at, o.id`, p.WalletID, s.now())
	if err != nil {
		return nil, fmt.Errorf("pending charges: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PendingCharge, error) {
		var pc PendingCharge
		err := r.Scan(&pc.OrderID, &pc.Merchant, &pc.Amount, &pc.Currency, &pc.Description, &pc.TerminalID, &pc.ConfirmBy, &pc.CreatedAt,
			&pc.PaymentCode.DeviceID, &pc.PaymentCode.Step)
		return pc, err
	})
	if err != nil {
		return nil, fmt.Errorf("pending charges: %w", err)
	}
	if list == nil {
		list = []PendingCharge{}
	}
	return list, nil
}

// codeNotice reports whether a feed entry of type typ may come from a
// charge of a payment code.
func codeNotice(typ string) bool {
	return typ == wallet.NoticePayment || typ == wallet.NoticeChargeRequest || typ == wallet.NoticeChargeDeclined
}

// MarkCodeCharges names, on the entries of a wallet's feed that a charge
// of one of its payment codes made (the charge's payment, its request for
// the PIN, its decline), the code the charge spent. The feed itself knows
// only the order; the charge, made here, knows the code.
func (s *Service) MarkCodeCharges(ctx context.Context, list []wallet.Notification) error {
	if s.codes == nil {
		return nil
	}
	var orders []string
	for _, n := range list {
		if codeNotice(n.Type) && validUUID(n.OrderID) {
			orders = append(orders, n.OrderID)
		}
	}
	if len(orders) == 0 {
		return nil
	}
	rows, err := s.codes.DB.Query(ctx, `SELECT order_id::text, device_id, step FROM payment_code_charges
		WHERE order_id = ANY($1::uuid[])`, orders)
	if err != nil {
		return fmt.Errorf("mark code charges: %w", err)
	}
	uses := map[string]wallet.CodeUse{}
	var order string
	var use wallet.CodeUse
	_, err = pgx.ForEachRow(rows, []any{&order, &use.DeviceID, &use.Step}, func() error {
		uses[order] = use
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark code charges: %w", err)
	}
	for i, n := range list {
		if u, ok := uses[n.OrderID]; ok && codeNotice(n.Type) {
			list[i].PaymentCode = &u
		}
	}
	return nil
}
