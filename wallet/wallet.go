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
	Now           func() time.Time
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
	// sessions remembers live sessions by token hash (nil: no cache).
	sessions *lru.Cache[string, cachedSession]
	// dummyHash makes a login for an unknown phone cost one argon2 verify,
	// like a wrong password, so timing does not tell which phones exist.
	dummyHash string
	// subjectKey keys the hashes that stand for phone numbers and client
	// addresses in Redis.
	subjectKey []byte
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
	PINSet    bool      `json:"pin_set" example:"true"`
	CreatedAt time.Time `json:"created_at"`

	AccountID int64 `json:"-"`
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

// Register opens a wallet for an E.164 phone number.
func (s *Service) Register(ctx context.Context, phone, password string) (Wallet, error) {
	if !phoneRE.MatchString(phone) {
		return Wallet{}, errs.E(errs.Invalid, "phone must be in E.164 form, like +8613800138000")
	}
	if n := len([]rune(password)); n < 8 || n > 128 {
		return Wallet{}, errs.E(errs.Invalid, "password must be 8 to 128 characters")
	}
	id := uuid.Must(uuid.NewV7())
	hash := hashSecret(s.cfg.Argon2, s.cfg.Pepper, password)
	err := postgres.InTx(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		acct, err := ledger.CreateAccount(ctx, tx, "wallet:"+id.String(), ledger.Wallet, s.cfg.Currency)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO customers (id, phone, password_hash, account_id, currency)
			VALUES ($1, $2, $3, $4, $5)`, id, phone, hash, acct.ID, s.cfg.Currency)
		return err
	})
	if postgres.IsUniqueViolation(err, "customers_phone_active") {
		return Wallet{}, errs.E(errs.Conflict, "this phone number already has a wallet")
	}
	if err != nil {
		return Wallet{}, fmt.Errorf("register: %w", err)
	}
	return s.Get(ctx, id.String())
}

// Get reads a wallet with its balance.
func (s *Service) Get(ctx context.Context, walletID string) (Wallet, error) {
	var w Wallet
	err := s.pool.QueryRow(ctx, `
		SELECT c.id, c.phone, c.currency, a.balance, c.status, c.pin_hash IS NOT NULL, c.created_at, c.account_id
		FROM customers c JOIN accounts a ON a.id = c.account_id WHERE c.id = $1`, walletID).
		Scan(&w.ID, &w.Phone, &w.Currency, &w.Balance, &w.Status, &w.PINSet, &w.CreatedAt, &w.AccountID)
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
