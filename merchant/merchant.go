// Package merchant is the merchant side of qrpay: onboarding and API keys,
// orders and their EMVCo QR codes, what a payment or refund does to an
// order (as data the ledger commits), and the webhook outbox that tells
// merchants what happened. Paying and refunding themselves are package
// payment's: it alone coordinates a wallet and a merchant.
package merchant

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/money"
	"github.com/qrpay/qrpay/postgres"
)

// Config tunes the merchant side. cmd fills it from the environment.
type Config struct {
	// SecretKey derives every merchant secret: API key secrets, webhook
	// secrets and the QR MAC key. Nothing secret is stored in the database.
	SecretKey []byte
	// KeyGrace is how long a rotated API key keeps working.
	KeyGrace time.Duration
	// DefaultExpiry and MaxExpiry bound an order's life.
	DefaultExpiry, MaxExpiry time.Duration
	// CacheTTL is how long a merchant read to resolve a scanned QR is
	// remembered in-process; zero reads it every time. It bounds how long a
	// suspension made through another replica takes to stop payments here.
	CacheTTL time.Duration
	Now      func() time.Time
}

// Service is the merchant side.
type Service struct {
	cfg  Config
	pool *postgres.DB
	log  *slog.Logger
	keys derivedKeys
	// feeAccounts caches the fee account id per currency.
	feeAccounts sync.Map
	// byCode remembers merchants by QR code for cfg.CacheTTL (nil: off).
	byCode *lru.Cache[string, cachedMerchant]
	// byID remembers merchants by id for cfg.CacheTTL, for the orders
	// their keys create (nil: off).
	byID *lru.Cache[string, cachedMerchant]
	// byKey remembers live API keys for cfg.CacheTTL (nil: off).
	byKey *lru.Cache[string, cachedKey]
	// ordersByRef reads the orders of concurrent payments in one query.
	ordersByRef *postgres.Loader[string, Order]
	// newOrders inserts the orders being created at the same moment with
	// one statement, so that they share one commit (order.go).
	newOrders *postgres.Combiner[Order, bool]
}

// cachedMerchant is a merchant as Resolve remembers it.
type cachedMerchant struct {
	m        Merchant
	cachedAt time.Time // wall clock: the entry lives Config.CacheTTL
}

// merchantCacheSize bounds the merchants remembered in-process.
const merchantCacheSize = 10_000

type derivedKeys struct{ apiKey, webhook, qr, display []byte }

// New returns the merchant service.
func New(cfg Config, pool *postgres.DB, log *slog.Logger) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultExpiry <= 0 {
		cfg.DefaultExpiry = 15 * time.Minute
	}
	if cfg.MaxExpiry <= 0 {
		cfg.MaxExpiry = 24 * time.Hour
	}
	if cfg.KeyGrace <= 0 {
		cfg.KeyGrace = 24 * time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, cfg.SecretKey)
		m.Write([]byte("qrpay/" + label))
		return m.Sum(nil)
	}
	s := &Service{cfg: cfg, pool: pool, log: log,
		keys: derivedKeys{apiKey: derive("api-key"), webhook: derive("webhook"), qr: derive("qr-mac"), display: derive("display-link")}}
	if cfg.CacheTTL > 0 {
		s.byCode, _ = lru.New[string, cachedMerchant](merchantCacheSize)
		s.byKey, _ = lru.New[string, cachedKey](merchantCacheSize)
		s.byID, _ = lru.New[string, cachedMerchant](merchantCacheSize)
	}
	s.ordersByRef = postgres.NewLoader(loaderBatch, s.loadOrdersByRef)
	s.newOrders = postgres.NewCombiner(loaderBatch, s.insertOrders)
	return s
}

// loaderBatch bounds the keys of one loader query.
const loaderBatch = 64

// merchantByID reads a merchant creating an order, from the in-process
// cache when it is fresh enough (see Config.CacheTTL): a suspension through
// this process forgets it at once, through another replica within CacheTTL.
func (s *Service) merchantByID(ctx context.Context, id string) (Merchant, error) {
	if s.byID != nil {
		if c, ok := s.byID.Get(id); ok && time.Since(c.cachedAt) < s.cfg.CacheTTL {
			return c.m, nil
		}
	}
	m, err := s.Get(ctx, id)
	if err == nil && s.byID != nil {
		s.byID.Add(id, cachedMerchant{m: m, cachedAt: time.Now()})
	}
	return m, err
}

// merchantByCode reads the merchant a QR names, from the in-process cache
// when it is fresh enough (see Config.CacheTTL).
func (s *Service) merchantByCode(ctx context.Context, code string) (Merchant, error) {
	if s.byCode != nil {
		if c, ok := s.byCode.Get(code); ok && time.Since(c.cachedAt) < s.cfg.CacheTTL {
			return c.m, nil
		}
	}
	m, err := s.getMerchant(ctx, "code = $1", code)
	if err == nil && s.byCode != nil {
		s.byCode.Add(code, cachedMerchant{m: m, cachedAt: time.Now()})
	}
	return m, err
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// Merchant is an onboarded merchant.
type Merchant struct {
	ID              string    `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Code            string    `json:"code" example:"M7Q2M9X4K1" doc:"Short public code carried in the merchant's QR codes."`
	Name            string    `json:"name" example:"Blue Bottle Coffee" doc:"At most 25 characters (EMVCo tag 59)."`
	City            string    `json:"city" example:"Shanghai" doc:"At most 15 characters (EMVCo tag 60)."`
	MCC             string    `json:"mcc" example:"5814" doc:"ISO 18245 merchant category code."`
	Country         string    `json:"country" example:"CN"`
	Currency        string    `json:"currency" example:"CNY"`
	FeeBPS          int       `json:"fee_bps" example:"60" doc:"Fee in basis points of each payment: 60 is 0.6%."`
	WebhookURL      string    `json:"webhook_url" example:"https://pos.example.com/qrpay/webhook"`
	Status          string    `json:"status" example:"active" enum:"active,suspended"`
	StaticQRPayload string    `json:"static_qr_payload" doc:"The merchant's printable QR (no amount)."`
	CreatedAt       time.Time `json:"created_at"`

	AccountID       int64 `json:"-"`
	PayoutAccountID int64 `json:"-"`
	webhookGen      int
}

// MerchantInput is what an operator gives to onboard a merchant.
type MerchantInput struct {
	Name, City, MCC, Country, Currency string
	FeeBPS                             int
	WebhookURL                         string
}

var (
	mccRE     = regexp.MustCompile(`^[0-9]{4}$`)
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
)

func Printable(s string, max int) bool {
	n := 0
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
		n++
	}
	return n > 0 && n <= max
}

func validWebhookURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(raw) > 2048 {
		return errs.E(errs.Invalid, "webhook_url must be an absolute http(s) URL")
	}
	return nil
}

// Create onboards a merchant with its ledger accounts.
func (s *Service) Create(ctx context.Context, in MerchantInput) (Merchant, error) {
	switch {
	case !Printable(in.Name, 25):
		return Merchant{}, errs.E(errs.Invalid, "name must be 1 to 25 printable characters")
	case !Printable(in.City, 15):
		return Merchant{}, errs.E(errs.Invalid, "city must be 1 to 15 printable characters")
	case !mccRE.MatchString(in.MCC):
		return Merchant{}, errs.E(errs.Invalid, "mcc must be 4 digits")
	case !countryRE.MatchString(in.Country):
		return Merchant{}, errs.E(errs.Invalid, "country must be an ISO 3166 alpha-2 code like CN")
	case in.FeeBPS < 0 || in.FeeBPS > 10000:
		return Merchant{}, errs.E(errs.Invalid, "fee_bps must be 0 to 10000")
	}
	if _, ok := money.Lookup(in.Currency); !ok {
		return Merchant{}, errs.E(errs.Invalid, "currency %q is not supported", in.Currency)
	}
	if err := validWebhookURL(in.WebhookURL); err != nil {
		return Merchant{}, err
	}
	id := uuid.Must(uuid.NewV7())
	code := "M" + randomCode(9)
	err := postgres.InTx(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		owner := "merchant:" + id.String()
		acct, err := ledger.CreateAccount(ctx, tx, owner, ledger.Merchant, in.Currency)
		if err != nil {
			return err
		}
		payout, err := ledger.CreateAccount(ctx, tx, owner, ledger.Payout, in.Currency)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO merchants (id, code, name, city, mcc, country, currency, fee_bps,
			webhook_url, account_id, payout_account_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			id, code, in.Name, in.City, in.MCC, in.Country, in.Currency, in.FeeBPS, in.WebhookURL, acct.ID, payout.ID)
		return err
	})
	if err != nil {
		return Merchant{}, fmt.Errorf("create merchant: %w", err)
	}
	return s.Get(ctx, id.String())
}

const merchantColumns = `id, code, name, city, mcc, country, currency, fee_bps, webhook_url, status,
	created_at, account_id, payout_account_id, webhook_secret_gen`

func (s *Service) scanMerchant(row pgx.Row) (Merchant, error) {
	var m Merchant
	err := row.Scan(&m.ID, &m.Code, &m.Name, &m.City, &m.MCC, &m.Country, &m.Currency, &m.FeeBPS, &m.WebhookURL,
		&m.Status, &m.CreatedAt, &m.AccountID, &m.PayoutAccountID, &m.webhookGen)
	if err != nil {
		return m, err
	}
	m.StaticQRPayload, err = s.staticPayload(m)
	return m, err
}

func (s *Service) getMerchant(ctx context.Context, where string, arg any) (Merchant, error) {
	m, err := s.scanMerchant(s.pool.QueryRow(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return Merchant{}, errs.E(errs.NotFound, "merchant not found")
	}
	if err != nil {
		return Merchant{}, fmt.Errorf("get merchant: %w", err)
	}
	return m, nil
}

// Get reads a merchant.
func (s *Service) Get(ctx context.Context, id string) (Merchant, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Merchant{}, errs.E(errs.NotFound, "merchant not found")
	}
	return s.getMerchant(ctx, "id = $1", id)
}

// List returns every merchant, newest first.
func (s *Service) List(ctx context.Context) ([]Merchant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+merchantColumns+` FROM merchants ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list merchants: %w", err)
	}
	defer rows.Close()
	list := []Merchant{}
	for rows.Next() {
		m, err := s.scanMerchant(rows)
		if err != nil {
			return nil, fmt.Errorf("list merchants: %w", err)
		}
		list = append(list, m)
	}
	return list, rows.Err()
}

// SetStatus suspends or reactivates a merchant. A suspended merchant can
// neither create orders nor be paid.
func (s *Service) SetStatus(ctx context.Context, id string, suspended bool) (Merchant, error) {
	m, err := s.Get(ctx, id)
	if err != nil {
		return Merchant{}, err
	}
	status := "active"
	if suspended {
		status = "suspended"
	}
	if _, err := s.pool.Exec(ctx, `UPDATE merchants SET status = $2 WHERE id = $1`, m.ID, status); err != nil {
		return Merchant{}, fmt.Errorf("set merchant status: %w", err)
	}
	if s.byCode != nil {
		s.byCode.Remove(m.Code)
	}
	if s.byID != nil {
		s.byID.Remove(m.ID)
	}
	s.forgetKeys()
	return s.Get(ctx, id)
}

// WebhookSecret is the secret the merchant's webhooks are signed with.
func (s *Service) WebhookSecret(m Merchant) string {
	return s.webhookSecret(m.ID, m.webhookGen)
}

func (s *Service) webhookSecret(merchantID string, gen int) string {
	mac := hmac.New(sha256.New, s.keys.webhook)
	fmt.Fprintf(mac, "%s/%d", merchantID, gen)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// FeeShards is how many accounts the gateway's fee income in one currency
// is spread over. Every payment credits a fee account; were there one, its
// row would be a hot spot shared by every merchant, and batches committing
// different merchants' payments would queue on its lock. Each merchant's
// fees go to one shard (by its account id), and its payments are routed to
// the committer of that shard (see Service.FeeAccount and ledger
// Transfer.Route), so no two committers touch one fee row. The fee income
// is the sum over the shards.
const FeeShards = 16

type feeKey struct {
	currency string
	shard    int64
}

// FeeAccount is the account m's fees are credited to: one of FeeShards fee
// accounts in m's currency. Its id never changes, so it is looked up (or
// created) once per process rather than written to on every payment.
func (s *Service) FeeAccount(ctx context.Context, m Merchant) (int64, error) {
	k := feeKey{m.Currency, m.AccountID % FeeShards}
	if id, ok := s.feeAccounts.Load(k); ok {
		return id.(int64), nil
	}
	owner := "platform" // shard 0 keeps the name of the single fee account of earlier releases
	if k.shard != 0 {
		owner = fmt.Sprintf("platform/fee-%d", k.shard)
	}
	a, err := ledger.CreateAccount(ctx, s.pool, owner, ledger.Fee, k.currency)
	if err != nil {
		return 0, err
	}
	s.feeAccounts.Store(k, a.ID)
	return a.ID, nil
}

// randomCode returns n characters of Crockford-like base32, upper case.
func randomCode(n int) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
