// Package wallet is the customer side of qrpay: registration and sessions,
// bound cards and their limits, the payment PIN, top-ups from cards,
// transfers between wallets, and closing a wallet. Each wallet is one ledger
// account that never goes negative.
package wallet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/limits"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/ratelimit"
)

var (
	authFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "qrpay_wallet_auth_failures_total",
		Help: "Wrong passwords and PINs, by kind (login, pin).",
	}, []string{"kind"})
	lockouts = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "qrpay_wallet_lockouts_total",
		Help: "Accounts locked after too many wrong passwords or PINs, by kind (login, pin).",
	}, []string{"kind"})
)

// Config tunes the wallet. cmd fills it from the environment.
type Config struct {
	Currency   string         // currency of new wallets (CNY)
	Location   *time.Location // the wallet's days: limits and statements
	Pepper     []byte         // keys every password and PIN hash
	CardKey    []byte         // keys card-number tokens
	Argon2     Argon2
	SessionTTL time.Duration
	// SessionCacheTTL is how long a live session is remembered in-process
	// (see Authenticate); zero reads the database on every request.
	SessionCacheTTL time.Duration
	MaxAttempts     int           // wrong passwords (or PINs) before a lockout
	LockoutFor      time.Duration // how long a lockout lasts
	// LoginPerClient and LoginPerPhone bound sign-in attempts from one
	// client address and for one phone number, registered or not.
	LoginPerClient, LoginPerPhone ratelimit.Limit
	// SecretChecks bounds a signed-in wallet's PIN and password checks.
	SecretChecks  ratelimit.Limit
	PINThreshold  int64  // payments above this need the PIN
	DefaultLimits Limits // a new card's limits
	MaxLimits     Limits // the most a customer may set
	// OTPTransferThreshold: transfers and withdrawals above it need a one-time code.
	OTPTransferThreshold int64
	// OTPPerPhone bounds the one-time codes sent to one phone number.
	OTPPerPhone ratelimit.Limit
	// DefaultTransferLimits are a wallet's transfer limits until its owner
	// changes them; MaxTransferLimits, the most the owner may set.
	DefaultTransferLimits, MaxTransferLimits TransferLimits
	Now                                      func() time.Time
}

// Service is the wallet.
type Service struct {
	cfg    Config
	pool   *postgres.DB
	ledger *ledger.Ledger
	limits *limits.Store
	rate   *ratelimit.Limiter
	issuer Issuer
	log    *slog.Logger
	// clearing caches the issuer's clearing account id per currency.
	clearing sync.Map
	// transit caches the withdrawals' transit account id per currency.
	transit sync.Map
	// cardClearings caches the clearing accounts of card-funded payments
	// by currency and shard (cardClearing).
	cardClearings sync.Map
	// walletCards reads the wallet and card of concurrent debits in one
	// query.
	walletCards *postgres.Loader[walletCard, walletAndCardRow]
	// sessionRows reads the sessions of concurrent requests in one query.
	sessionRows *postgres.Loader[string, cachedSession]
	// sessions remembers live sessions by token hash (nil: no cache).
	sessions *lru.Cache[string, cachedSession]
	// dummyHash makes a login for an unknown phone cost one argon2 verify,
	// like a wrong password, so timing does not tell which phones exist.
	dummyHash string
	// subjectKey keys the hashes that stand for phone numbers and client
	// addresses in Redis.
	subjectKey []byte
	// sec holds one-time codes, approvals and transfer limits (Securing).
	sec Security
	// verify checks a secret against its hash (verifySecret; tests count
	// the calls).
	verify func(phc string, pepper []byte, secret string) (bool, error)
	// risk evaluates movements before they are posted (UseRisk); stepUp
	// checks the proof a step-up asks for (PINStepUp when nil).
	risk   RiskOptions
	stepUp StepUpFunc
}

// New returns the wallet service. The limit store must use the same time
// zone as cfg.Location; rate keeps the sign-in and PIN budgets.
func New(cfg Config, pool *postgres.DB, led *ledger.Ledger, lim *limits.Store, rate *ratelimit.Limiter, issuer Issuer, log *slog.Logger) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, pool: pool, ledger: led, limits: lim, rate: rate, issuer: issuer, log: log,
		dummyHash:  hashSecret(cfg.Argon2, cfg.Pepper, "not a real password"),
		subjectKey: subjectKey(cfg.Pepper),
		verify:     verifySecret}
	s.walletCards = postgres.NewLoader(64, s.loadWalletCards)
	s.sessionRows = postgres.NewLoader(64, s.loadSessions)
	if cfg.SessionCacheTTL > 0 {
		s.sessions, _ = lru.New[string, cachedSession](sessionCacheSize)
	}
	return s
}

// sessionCacheSize bounds the sessions remembered in-process: some
// hundred bytes each.
const sessionCacheSize = 100_000

// Wallet is a customer's wallet.
type Wallet struct {
	ID        string    `json:"wallet_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Phone     string    `json:"phone" example:"+8613800138000"`
	Currency  string    `json:"currency" example:"CNY"`
	Balance   int64     `json:"balance" example:"12000" doc:"Minor units (fen)."`
	Status    string    `json:"status" example:"active" enum:"active,closed"`
	Frozen    bool      `json:"frozen" example:"false" doc:"A frozen wallet cannot pay, send, top up or sign in anew; it still receives."`
	FrozenBy  string    `json:"frozen_by,omitempty" example:"owner" enum:"owner,operator" doc:"Who froze it: a wallet frozen by the operator is unfrozen only by the operator."`
	PINSet    bool      `json:"pin_set" example:"true"`
	CreatedAt time.Time `json:"created_at"`

	AccountID int64 `json:"-"`
	// The wallet's own transfer limits; nil: the configured default.
	transferPerTxn, transferDaily *int64
}

// Principal is an authenticated wallet session.
type Principal struct {
	WalletID  string
	SessionID string
	AccountID int64
}

// Scope is the idempotency scope of the wallet's requests.
func (p Principal) Scope() string { return "wallet:" + p.WalletID }

var phoneRE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

var errPasswordFormat = errs.E(errs.Invalid, "password must be 8 to 128 characters")

// validPassword is the rule every password was registered under: text
// outside it is bad input, never a guess the lockout counts.
func validPassword(password string) bool {
	n := utf8.RuneCountInString(password)
	return n >= 8 && n <= 128
}

// RegisterInput opens a wallet: the phone number, the sign-in password, the
// device it is opened from (remembered as seen, so signing in from it
// needs no code) and the one-time code sent to the phone.
type RegisterInput struct {
	Phone, Password, DeviceID string
	OTP                       *OTP
}

// Register opens a wallet for an E.164 phone number, once the number has
// proved itself with a one-time code: without one, a code is sent and the
// answer is otp_required.
func (s *Service) Register(ctx context.Context, in RegisterInput) (Wallet, error) {
	phone, password := in.Phone, in.Password
	if !phoneRE.MatchString(phone) {
		return Wallet{}, errs.E(errs.Invalid, "phone must be in E.164 form, like +8613800138000")
	}
	if !validPassword(password) {
		return Wallet{}, errPasswordFormat
	}
	if err := checkDeviceID(in.DeviceID, true); err != nil {
		return Wallet{}, err
	}
	var taken bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM customers WHERE phone = $1 AND status = 'active')`, phone).Scan(&taken); err != nil {
		return Wallet{}, fmt.Errorf("register: %w", err)
	}
	if taken {
		return Wallet{}, errPhoneTaken
	}
	if err := s.requireCode(ctx, in.OTP, phone, PurposeRegister, phone, ""); err != nil {
		return Wallet{}, err
	}
	id := uuid.Must(uuid.NewV7())
	hash := hashSecret(s.cfg.Argon2, s.cfg.Pepper, password)
	err := postgres.InTx(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		acct, err := ledger.CreateAccount(ctx, tx, "wallet:"+id.String(), ledger.Wallet, s.cfg.Currency)
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `INSERT INTO customers (id, phone, password_hash, account_id, currency)
			VALUES ($1, $2, $3, $4, $5)`, id, phone, hash, acct.ID, s.cfg.Currency); err != nil {
			return err
		}
		if in.DeviceID != "" {
			return seeDevice(ctx, tx, id.String(), in.DeviceID, s.now())
		}
		return nil
	})
	if postgres.IsUniqueViolation(err, "customers_phone_active") {
		return Wallet{}, errPhoneTaken
	}
	if err != nil {
		return Wallet{}, fmt.Errorf("register: %w", err)
	}
	return s.Get(ctx, id.String())
}

var errPhoneTaken = errs.E(errs.Conflict, "this phone number already has a wallet")

// Get reads a wallet with its balance.
func (s *Service) Get(ctx context.Context, walletID string) (Wallet, error) {
	var w Wallet
	err := s.pool.QueryRow(ctx, `
		SELECT c.id, c.phone, c.currency, a.balance, c.status, c.frozen_at IS NOT NULL, coalesce(c.frozen_by, ''),
			c.pin_hash IS NOT NULL, c.created_at, c.account_id, c.transfer_limit_per_txn, c.transfer_limit_daily_amount
		FROM customers c JOIN accounts a ON a.id = c.account_id WHERE c.id = $1`, walletID).
		Scan(&w.ID, &w.Phone, &w.Currency, &w.Balance, &w.Status, &w.Frozen, &w.FrozenBy, &w.PINSet, &w.CreatedAt, &w.AccountID,
			&w.transferPerTxn, &w.transferDaily)
	if errors.Is(err, pgx.ErrNoRows) {
		return Wallet{}, errs.E(errs.NotFound, "wallet not found")
	}
	if err != nil {
		return Wallet{}, fmt.Errorf("get wallet: %w", err)
	}
	return w, nil
}

// now is the service clock.
func (s *Service) now() time.Time { return s.cfg.Now() }

// maskPhone shows a counterparty's phone number as +86138****8000.
func maskPhone(phone string) string {
	if len(phone) < 8 {
		return "****"
	}
	return phone[:len(phone)-8] + "****" + phone[len(phone)-4:]
}
