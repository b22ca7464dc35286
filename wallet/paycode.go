package wallet

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/postgres"
)

// A customer-presented payment code (docs/payment-codes.md) is 18 digits:
//
//	28 IIIIIII S MMMMMMMM
//
// the prefix 28, the 7-digit index of the code key (the device's seed), the
// last digit of the time step, and 8 digits of HMAC-SHA256 under the seed
// over the key index and the whole step. A phone computes it offline from
// the seed it was given once; the gateway finds the seed by the index.
const (
	CodePrefix    = "28"
	CodeLength    = 18
	CodeStep      = 30 * time.Second
	codeIndexLen  = 7
	codeMACLen    = 8
	maxCodeIndex  = 9_999_999
	codeMACModulo = 100_000_000
)

// codeFunding is the one place that decides whether a payment code may pay
// from a funding source: the key says it, and a charge of the code pays as
// a scanned payment with that funding and the key's card does (balance
// under the card's limits; the card through its issuer; the balance first
// and the card for the rest). The gateway's default, balance, is applied
// before this: here "" is not a funding source.
func codeFunding(source string) error {
	switch Funding(source) {
	case FundingBalance, FundingCard, FundingBalanceThenCard:
		return nil
	}
	return errs.E(errs.Invalid, "funding must be %q, %q or %q", FundingBalance, FundingCard, FundingBalanceThenCard)
}

// PaymentCode computes the code of key idx with seed at time step step:
// what a phone shows. The step is the Unix time divided by CodeStep.
func PaymentCode(seed []byte, idx, step int64) string {
	return CodePrefix + fmt.Sprintf("%0*d%d%0*d", codeIndexLen, idx, step%10, codeMACLen, codeMAC(seed, idx, step))
}

// CodeStepAt is the time step of t.
func CodeStepAt(t time.Time) int64 { return t.Unix() / int64(CodeStep/time.Second) }

// codeMAC is the code's HMAC part: RFC 4226 dynamic truncation of
// HMAC-SHA256(seed, "qrpay-paycode-v1" || idx || step), big-endian
// 64-bit integers, reduced to 8 decimal digits.
func codeMAC(seed []byte, idx, step int64) uint32 {
	m := hmac.New(sha256.New, seed)
	m.Write([]byte("qrpay-paycode-v1"))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(idx))
	binary.BigEndian.PutUint64(b[8:], uint64(step))
	m.Write(b[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return v % codeMACModulo
}

var errCodeFormat = errs.E(errs.Invalid, "code must be the 18 digits of a payment code, starting with %s", CodePrefix)

// parseCode splits a code into its key index, step digit and MAC. Text
// that cannot be a code is bad input; a well-formed code proves nothing.
func parseCode(code string) (idx int64, digit int64, mac uint32, err error) {
	if len(code) != CodeLength || code[:2] != CodePrefix {
		return 0, 0, 0, errCodeFormat
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return 0, 0, 0, errCodeFormat
		}
	}
	idx, _ = strconv.ParseInt(code[2:2+codeIndexLen], 10, 64)
	digit = int64(code[2+codeIndexLen] - '0')
	m, _ := strconv.ParseUint(code[3+codeIndexLen:], 10, 32)
	return idx, digit, uint32(m), nil
}

// codeStepOf is the time step a code's step digit names at step now: the
// one of the last ten steps (now included) that ends in digit, and how
// many steps back it is.
func codeStepOf(now, digit int64) (step, back int64) {
	back = ((now-digit)%10 + 10) % 10
	return now - back, back
}

// ValidCodeFormat reports whether text has the shape of a payment code.
func ValidCodeFormat(code string) error {
	_, _, _, err := parseCode(code)
	return err
}

// CodeHash is what a charge records of its code: enough to tell a retry of
// the same code from another, nothing that could be charged.
func CodeHash(code string) []byte {
	h := sha256.Sum256([]byte("qrpay payment code\x00" + code))
	return h[:]
}

// seedKey derives, from the pepper, the AES-256 key the code seeds are
// sealed with.
func seedKey(pepper []byte) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("qrpay payment-code seeds"))
	return m.Sum(nil)
}

// sealSeed encrypts a seed with AES-256-GCM, bound (as additional data) to
// its wallet and device so that a sealed seed copied to another row does
// not open.
func (s *Service) sealSeed(seed []byte, walletID, deviceID string) []byte {
	gcm := s.seedCipher()
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return gcm.Seal(nonce, nonce, seed, []byte(walletID+"\x00"+deviceID))
}

func (s *Service) openSeed(sealed []byte, walletID, deviceID string) ([]byte, error) {
	gcm := s.seedCipher()
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("sealed seed too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], []byte(walletID+"\x00"+deviceID))
}

func (s *Service) seedCipher() cipher.AEAD {
	block, err := aes.NewCipher(seedKey(s.cfg.Pepper))
	if err != nil {
		panic("payment-code seed key: " + err.Error()) // a 32-byte key always makes a cipher
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic("payment-code seed cipher: " + err.Error())
	}
	return gcm
}

// PayCodeKeyInput names what a device's payment codes pay with: its funding
// source and the bound card whose limits apply (the card funding pays from,
// for card funding).
type PayCodeKeyInput struct {
	DeviceID string
	Funding  string
	CardID   string
}

// PayCodeKey is a device's payment-code seed. Seed is shown once, when the
// key is made.
type PayCodeKey struct {
	KeyIndex    int64     `json:"key_index" example:"1042" doc:"The 7-digit key index every code of this key carries."`
	DeviceID    string    `json:"device_id" example:"ios-6F1C2A9E-3B7D-4C1E-9A0B-2F4E6D8C0A1B"`
	Funding     string    `json:"funding" example:"balance" enum:"balance,card,balance_then_card"`
	CardID      string    `json:"card_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Seed        string    `json:"seed,omitempty" example:"q83vEjRWeJq8nt7wESIzRFVmd4iZqrvM3e7wARIjRFU" doc:"Base64 (standard alphabet, no padding) of the 32-byte seed; shown once."`
	Algorithm   string    `json:"algorithm" example:"qrpay-paycode-v1" doc:"How codes are computed: docs/payment-codes.md."`
	StepSeconds int       `json:"step_seconds" example:"30"`
	CreatedAt   time.Time `json:"created_at"`
}

// checkCodeKeyInput validates what a key is made for and reads the wallet,
// the card and the device: all must be usable.
func (s *Service) checkCodeKeyInput(ctx context.Context, p Principal, in PayCodeKeyInput) error {
	if err := checkDeviceID(in.DeviceID, false); err != nil {
		return err
	}
	if err := codeFunding(in.Funding); err != nil {
		return err
	}
	if in.CardID == "" {
		return errCardIDRequired
	}
	w, card, _, err := s.walletAndCard(ctx, p, in.CardID, "")
	if err != nil {
		return err
	}
	if err := active(w); err != nil {
		return err
	}
	if err := s.spendable(card); err != nil {
		return err
	}
	var seen bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM devices
		WHERE customer_id = $1 AND device_id = $2 AND revoked_at IS NULL)`, p.WalletID, in.DeviceID).Scan(&seen); err != nil {
		return fmt.Errorf("payment-code key: %w", err)
	}
	if !seen {
		return errs.E(errs.NotFound, "device not found: sign in from it first")
	}
	return nil
}

// NewCodeKey gives a device a new payment-code seed for a funding source,
// replacing the one it had: codes of the old seed stop working at once.
// The seed is in the answer and never again.
func (s *Service) NewCodeKey(ctx context.Context, p Principal, in PayCodeKeyInput) (PayCodeKey, error) {
	if err := s.checkCodeKeyInput(ctx, p, in); err != nil {
		return PayCodeKey{}, err
	}
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	k, err := s.insertCodeKey(ctx, p, in, seed)
	if err != nil {
		return PayCodeKey{}, err
	}
	k.Seed = base64.RawStdEncoding.EncodeToString(seed)
	return k, nil
}

func (s *Service) insertCodeKey(ctx context.Context, p Principal, in PayCodeKeyInput, seed []byte) (PayCodeKey, error) {
	k := PayCodeKey{DeviceID: in.DeviceID, Funding: in.Funding, Algorithm: "qrpay-paycode-v1",
		StepSeconds: int(CodeStep / time.Second), CreatedAt: s.now()}
	err := postgres.InTx(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE payment_code_keys SET revoked_at = $5
			WHERE customer_id = $1 AND device_id = $2 AND funding = $3 AND card_id = $4 AND revoked_at IS NULL`,
			p.WalletID, in.DeviceID, in.Funding, in.CardID, k.CreatedAt); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO payment_code_keys (customer_id, device_id, funding, card_id, seed_sealed, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING idx, card_id::text`,
			p.WalletID, in.DeviceID, in.Funding, in.CardID, s.sealSeed(seed, p.WalletID, in.DeviceID), k.CreatedAt).Scan(&k.KeyIndex, &k.CardID)
	})
	if postgres.IsUniqueViolation(err, "payment_code_keys_live") {
		return PayCodeKey{}, errKeyRace
	}
	if err != nil {
		return PayCodeKey{}, fmt.Errorf("new payment-code key: %w", err)
	}
	return k, nil
}

// errKeyRace is a key made while another was being made for the same
// device, funding source and card.
var errKeyRace = errs.E(errs.Conflict, "another payment-code key was made for this device at the same moment; try again")

// Code is a payment code as the wallet app shows it.
type Code struct {
	Code      string    `json:"code" example:"280001042712345678" doc:"The 18 digits to show as a barcode or QR code."`
	KeyIndex  int64     `json:"key_index" example:"1042"`
	Funding   string    `json:"funding" example:"balance" enum:"balance,card,balance_then_card"`
	CardID    string    `json:"card_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Step      int64     `json:"step" example:"59382001" doc:"The code's time step (Unix time / 30 s when it was made): a charge of it names this step (CodeUse)."`
	ExpiresAt time.Time `json:"expires_at" doc:"The code is accepted until then: the end of the step after its own."`
}

// CodeUse names the payment code a charge spent: the device that showed it
// and the code's time step. A device's step is charged at most once, so
// the two name one charge; a screen showing codes tells its own charges
// from the wallet's other payments by them.
type CodeUse struct {
	DeviceID string `json:"device_id" example:"ios-6F1C2A9E-3B7D-4C1E-9A0B-2F4E6D8C0A1B" doc:"The device the code was made for."`
	Step     int64  `json:"step" example:"59382001" doc:"The code's time step, as Code.step."`
}

// CurrentCode is the code a device shows now for a funding source, made
// from the device's live key (a new key, whose seed nobody sees, when it
// has none).
func (s *Service) CurrentCode(ctx context.Context, p Principal, in PayCodeKeyInput) (Code, error) {
	if err := s.checkCodeKeyInput(ctx, p, in); err != nil {
		return Code{}, err
	}
	var idx int64
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT idx, seed_sealed FROM payment_code_keys
		WHERE customer_id = $1 AND device_id = $2 AND funding = $3 AND card_id = $4 AND revoked_at IS NULL`,
		p.WalletID, in.DeviceID, in.Funding, in.CardID).Scan(&idx, &sealed)
	var seed []byte
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		seed = make([]byte, 32)
		_, _ = rand.Read(seed)
		k, err := s.insertCodeKey(ctx, p, in, seed)
		if errors.Is(err, errKeyRace) {
			// Another request of the device made the key: show its code.
			return s.CurrentCode(ctx, p, in)
		}
		if err != nil {
			return Code{}, err
		}
		idx = k.KeyIndex
	case err != nil:
		return Code{}, fmt.Errorf("current payment code: %w", err)
	default:
		if seed, err = s.openSeed(sealed, p.WalletID, in.DeviceID); err != nil {
			return Code{}, fmt.Errorf("current payment code: %w", err)
		}
	}
	step := CodeStepAt(s.now())
	return Code{Code: PaymentCode(seed, idx, step), KeyIndex: idx, Funding: in.Funding, CardID: in.CardID, Step: step,
		ExpiresAt: time.Unix((step+2)*int64(CodeStep/time.Second), 0).UTC()}, nil
}

// CodeClaim is a payment code that verified: whose it is, what it pays
// with and the step it was made at. ClaimStep spends it.
type CodeClaim struct {
	WalletID  string
	AccountID int64
	Currency  string
	DeviceID  string
	KeyIndex  int64
	Step      int64
	Funding   string
	CardID    string
}

// Principal is the wallet a claimed code pays from, as a payment sees it.
func (c CodeClaim) Principal() Principal {
	return Principal{WalletID: c.WalletID, AccountID: c.AccountID}
}

// ErrUnknownCode marks a code that no live key made: a guess, a code of a
// revoked key or device, or a typo. Callers count these (docs/payment-codes.md).
var ErrUnknownCode = errs.E(errs.PaymentCodeInvalid, "this is not a valid payment code")

// ResolveCode checks a payment code: its key is live (the key, its device
// and its card), its MAC verifies, and it was made at the current or the
// previous time step. A code of an earlier step that verifies is expired;
// one that does not verify is unknown (ErrUnknownCode). It changes nothing.
func (s *Service) ResolveCode(ctx context.Context, code string) (CodeClaim, error) {
	idx, digit, mac, err := parseCode(code)
	if err != nil {
		return CodeClaim{}, err
	}
	c := CodeClaim{KeyIndex: idx}
	var sealed []byte
	var status string
	var frozen bool
	err = s.pool.QueryRow(ctx, `SELECT k.customer_id::text, k.device_id, k.funding, k.card_id::text, k.seed_sealed,
			w.account_id, w.currency, w.status, w.frozen_at IS NOT NULL
		FROM payment_code_keys k
		JOIN customers w ON w.id = k.customer_id
		JOIN devices d ON d.customer_id = k.customer_id AND d.device_id = k.device_id AND d.revoked_at IS NULL
		JOIN cards cd ON cd.id = k.card_id AND cd.unbound_at IS NULL
		WHERE k.idx = $1 AND k.revoked_at IS NULL`, idx).
		Scan(&c.WalletID, &c.DeviceID, &c.Funding, &c.CardID, &sealed, &c.AccountID, &c.Currency, &status, &frozen)
	if errors.Is(err, pgx.ErrNoRows) {
		return CodeClaim{}, ErrUnknownCode
	}
	if err != nil {
		return CodeClaim{}, fmt.Errorf("resolve payment code: %w", err)
	}
	seed, err := s.openSeed(sealed, c.WalletID, c.DeviceID)
	if err != nil {
		return CodeClaim{}, fmt.Errorf("resolve payment code: %w", err)
	}
	var back int64
	c.Step, back = codeStepOf(CodeStepAt(s.now()), digit)
	var got, want [4]byte
	binary.BigEndian.PutUint32(got[:], mac)
	binary.BigEndian.PutUint32(want[:], codeMAC(seed, idx, c.Step))
	if !hmac.Equal(got[:], want[:]) {
		return CodeClaim{}, ErrUnknownCode
	}
	if back > 1 {
		return CodeClaim{}, errs.E(errs.PaymentCodeExpired, "the payment code has expired: ask the customer to show a fresh one")
	}
	if err := active(Wallet{Status: status, Frozen: frozen}); err != nil {
		return CodeClaim{}, err
	}
	if err := codeFunding(c.Funding); err != nil {
		return CodeClaim{}, err
	}
	return c, nil
}

// ClaimStep spends a claimed code in q (the transaction that records the
// charge): it raises its device's last charged step to the code's, which
// fails when that step or a later one was charged already.
func (s *Service) ClaimStep(ctx context.Context, q ledger.Querier, c CodeClaim) error {
	var step int64
	err := q.QueryRow(ctx, `INSERT INTO payment_code_steps (customer_id, device_id, last_step) VALUES ($1, $2, $3)
		ON CONFLICT (customer_id, device_id) DO UPDATE SET last_step = EXCLUDED.last_step
			WHERE payment_code_steps.last_step < EXCLUDED.last_step
		RETURNING last_step`, c.WalletID, c.DeviceID, c.Step).Scan(&step)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrCodeUsed
	}
	if err != nil {
		return fmt.Errorf("claim payment code: %w", err)
	}
	return nil
}

// ErrCodeUsed is a code whose step (or a later one) of its device was
// charged already.
var ErrCodeUsed = errs.E(errs.PaymentCodeUsed, "this payment code was already used: ask the customer to show a fresh one")

// ChargeRequest is a charge of a code that waits for its wallet's PIN.
type ChargeRequest struct {
	OrderID  string
	Merchant string
	Amount   int64
}

// NotifyChargeDeclined tells the wallet, in its feed, that a merchant's
// charge of one of its codes was declined, and why (an error code).
func (s *Service) NotifyChargeDeclined(ctx context.Context, accountID int64, r ChargeRequest, reason errs.Code) error {
	amount := -r.Amount
	return notifyAmount(ctx, s.pool, accountID, NoticeChargeDeclined, &amount,
		noticeData{OrderID: r.OrderID, Merchant: r.Merchant, Reason: string(reason)})
}

// NotifyChargeRequest tells the wallet, in its feed, that a merchant
// charged one of its codes and waits for the PIN.
func (s *Service) NotifyChargeRequest(ctx context.Context, accountID int64, r ChargeRequest) error {
	amount := -r.Amount
	return notifyAmount(ctx, s.pool, accountID, NoticeChargeRequest, &amount, noticeData{OrderID: r.OrderID, Merchant: r.Merchant})
}
