package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/ratelimit"
	"github.com/qrpay/qrpay/risk"
	"github.com/qrpay/qrpay/settlement"
	"github.com/qrpay/qrpay/wallet"
)

// Config is every setting qrpay reads, all from the environment, read once
// here. README.md lists them; TestREADMEListsEveryVariable keeps it so.
type Config struct {
	Port            int           `env:"PORT" envDefault:"8080"`
	DatabaseURL     string        `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/qrpay?sslmode=disable"`
	RedisURL        string        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	RedisCluster    []string      `env:"REDIS_CLUSTER"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
	AccessLog       bool          `env:"ACCESS_LOG" envDefault:"true"`
	DBMaxConns      int32         `env:"DB_MAX_CONNS" envDefault:"20"`
	MigrateOnStart  bool          `env:"MIGRATE_ON_START" envDefault:"true"`
	BodyLimit       int           `env:"BODY_LIMIT" envDefault:"65536"`
	ShutdownDelay   time.Duration `env:"SHUTDOWN_DELAY" envDefault:"0s"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	OperatorToken   string        `env:"OPERATOR_TOKEN"`
	DebugAddr       string        `env:"DEBUG_ADDR"`

	LedgerCommitters  int           `env:"LEDGER_COMMITTERS" envDefault:"4"`
	LedgerMaxBatch    int           `env:"LEDGER_MAX_BATCH" envDefault:"64"`
	LedgerBatchWindow time.Duration `env:"LEDGER_BATCH_WINDOW" envDefault:"0s"`
	BreakerFailures   uint32        `env:"BREAKER_FAILURES" envDefault:"5"`
	BreakerOpenFor    time.Duration `env:"BREAKER_OPEN_FOR" envDefault:"5s"`
	DBTimeout         time.Duration `env:"DB_TIMEOUT" envDefault:"5s"`
	RedisTimeout      time.Duration `env:"REDIS_TIMEOUT" envDefault:"1s"`
	ReservationGrace  time.Duration `env:"LIMIT_RESERVATION_GRACE" envDefault:"2m"`

	RedisPrefix          string        `env:"REDIS_PREFIX" envDefault:"qrpay:"`
	IdempotencyLease     time.Duration `env:"IDEMPOTENCY_LEASE" envDefault:"60s"`
	IdempotencyRetention time.Duration `env:"IDEMPOTENCY_RETENTION" envDefault:"48h"`

	TimeZone        string        `env:"TIME_ZONE" envDefault:"Asia/Shanghai"`
	WalletCurrency  string        `env:"WALLET_CURRENCY" envDefault:"CNY"`
	SecretPepper    string        `env:"SECRET_PEPPER"`
	CardTokenKey    string        `env:"CARD_TOKEN_KEY"`
	Argon2MemoryKiB uint32        `env:"ARGON2_MEMORY_KIB" envDefault:"19456"`
	Argon2Time      uint32        `env:"ARGON2_TIME" envDefault:"2"`
	SessionTTL      time.Duration `env:"SESSION_TTL" envDefault:"12h"`
	SessionCacheTTL time.Duration `env:"SESSION_CACHE_TTL" envDefault:"2s"`
	MaxAttempts     int           `env:"MAX_ATTEMPTS" envDefault:"5"`
	LockoutDuration time.Duration `env:"LOCKOUT_DURATION" envDefault:"15m"`

	LoginPerClient   ratelimit.Limit `env:"LOGIN_LIMIT_PER_CLIENT" envDefault:"30/1m"`
	LoginPerPhone    ratelimit.Limit `env:"LOGIN_LIMIT_PER_PHONE" envDefault:"60/1h"`
	SecretChecks     ratelimit.Limit `env:"PIN_LIMIT_PER_WALLET" envDefault:"20/1m"`
	MerchantKeyLimit ratelimit.Limit `env:"MERCHANT_KEY_LIMIT" envDefault:"6000/1m"`
	TrustedProxies   []string        `env:"TRUSTED_PROXIES" envSeparator:","`

	PINThreshold      int64 `env:"PIN_THRESHOLD" envDefault:"20000"`
	CardPerTxn        int64 `env:"CARD_LIMIT_PER_TXN" envDefault:"500000"`
	CardDailyAmount   int64 `env:"CARD_LIMIT_DAILY_AMOUNT" envDefault:"2000000"`
	CardDailyCount    int64 `env:"CARD_LIMIT_DAILY_COUNT" envDefault:"50"`
	CardMaxPerTxn     int64 `env:"CARD_MAX_PER_TXN" envDefault:"5000000"`
	CardMaxDailyAmt   int64 `env:"CARD_MAX_DAILY_AMOUNT" envDefault:"10000000"`
	CardMaxDailyCount int64 `env:"CARD_MAX_DAILY_COUNT" envDefault:"200"`
	IssuerMaxCharge   int64 `env:"ISSUER_MAX_CHARGE" envDefault:"5000000"`

	OTPTTL               time.Duration   `env:"OTP_TTL" envDefault:"5m"`
	OTPMaxAttempts       int             `env:"OTP_MAX_ATTEMPTS" envDefault:"5"`
	OTPPerPhone          ratelimit.Limit `env:"OTP_LIMIT_PER_PHONE" envDefault:"10/15m"`
	OTPTransferThreshold int64           `env:"OTP_TRANSFER_THRESHOLD" envDefault:"200000"`
	OTPDelivery          string          `env:"OTP_DELIVERY" envDefault:"log"`
	ApprovalTTL          time.Duration   `env:"APPROVAL_TTL" envDefault:"2m"`
	TransferPerTxn       int64           `env:"TRANSFER_LIMIT_PER_TXN" envDefault:"500000"`
	TransferDailyAmount  int64           `env:"TRANSFER_LIMIT_DAILY_AMOUNT" envDefault:"2000000"`
	TransferMaxPerTxn    int64           `env:"TRANSFER_MAX_PER_TXN" envDefault:"5000000"`
	TransferMaxDailyAmt  int64           `env:"TRANSFER_MAX_DAILY_AMOUNT" envDefault:"10000000"`

	MerchantSecretKey  string        `env:"MERCHANT_SECRET_KEY"`
	OrderDefaultExpiry time.Duration `env:"ORDER_DEFAULT_EXPIRY" envDefault:"15m"`
	MerchantCacheTTL   time.Duration `env:"MERCHANT_CACHE_TTL" envDefault:"2s"`
	APIKeyGrace        time.Duration `env:"API_KEY_ROTATION_GRACE" envDefault:"24h"`
	WebhookTimeout     time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"10s"`
	WebhookConcurrency int           `env:"WEBHOOK_CONCURRENCY" envDefault:"8"`
	WebhookAllow       []string      `env:"WEBHOOK_ALLOW_NETWORKS" envSeparator:","`
	// The default is merchant.RetrySchedule's (TestWebhookRetrySchedule).
	WebhookRetries []time.Duration `env:"WEBHOOK_RETRY_SCHEDULE" envSeparator:"," envDefault:"10s,30s,1m,5m,15m,30m,1h,2h,4h,8h,8h"`

	SettlementTime string `env:"SETTLEMENT_TIME" envDefault:"02:00"`
	SettlementDir  string `env:"SETTLEMENT_DIR"`

	RiskRules                 bool          `env:"RISK_RULES" envDefault:"true"`
	RiskCardPaymentsPerMinute int64         `env:"RISK_CARD_PAYMENTS_PER_MINUTE" envDefault:"5"`
	RiskCardPaymentsDecline   int64         `env:"RISK_CARD_PAYMENTS_DECLINE" envDefault:"20"`
	RiskCardMerchants         int64         `env:"RISK_CARD_MERCHANTS_PER_10M" envDefault:"5"`
	RiskAmountZ               float64       `env:"RISK_AMOUNT_Z" envDefault:"4"`
	RiskAmountMinHistory      int64         `env:"RISK_AMOUNT_MIN_HISTORY" envDefault:"5"`
	RiskAmountFloor           int64         `env:"RISK_AMOUNT_FLOOR" envDefault:"10000"`
	RiskAmountAlpha           float64       `env:"RISK_AMOUNT_ALPHA" envDefault:"0.1"`
	RiskNewCardAge            time.Duration `env:"RISK_NEW_CARD_AGE" envDefault:"24h"`
	RiskNewCardAmount         int64         `env:"RISK_NEW_CARD_AMOUNT" envDefault:"100000"`
	RiskDeclines              int64         `env:"RISK_DECLINES" envDefault:"3"`
	RiskDeclineWindow         time.Duration `env:"RISK_DECLINE_WINDOW" envDefault:"10m"`
	RiskNewRecipientAge       time.Duration `env:"RISK_NEW_RECIPIENT_AGE" envDefault:"30m"`
	RiskNewRecipientDecline   int64         `env:"RISK_NEW_RECIPIENT_DECLINE_AMOUNT" envDefault:"500000"`
	RiskFreezeOnDecline       bool          `env:"RISK_FREEZE_ON_DECLINE" envDefault:"false"`
	AlertWebhookURL           string        `env:"ALERT_WEBHOOK_URL"`
	AlertWebhookSecret        string        `env:"ALERT_WEBHOOK_SECRET"`
	MaintenanceCacheTTL       time.Duration `env:"MAINTENANCE_CACHE_TTL" envDefault:"1s"`
	NotificationPoll          time.Duration `env:"NOTIFICATION_POLL" envDefault:"1s"`

	PaymentCodeConfirmWindow time.Duration `env:"PAYMENT_CODE_CONFIRM_WINDOW" envDefault:"2m"`
	PaymentCodeUnknownMax    int           `env:"PAYMENT_CODE_UNKNOWN_MAX" envDefault:"20"`
	PaymentCodeUnknownFor    time.Duration `env:"PAYMENT_CODE_UNKNOWN_LOCKOUT" envDefault:"15m"`
}

func loadConfig() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return c, configError(err)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return c, err
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return c, fmt.Errorf("configuration: TIME_ZONE %q: %w", c.TimeZone, err)
	}
	if _, _, err := c.settlementAt(); err != nil {
		return c, err
	}
	if _, err := c.webhookAllow(); err != nil {
		return c, err
	}
	if len(c.WebhookRetries) == 0 || len(c.WebhookRetries) > 50 || slices.ContainsFunc(c.WebhookRetries, func(d time.Duration) bool { return d <= 0 }) {
		return c, fmt.Errorf("configuration: WEBHOOK_RETRY_SCHEDULE must be 1 to 50 positive durations, comma-separated")
	}
	if _, err := c.trustedProxies(); err != nil {
		return c, err
	}
	if c.OTPDelivery != "log" && c.OTPDelivery != "outbox" {
		return c, fmt.Errorf("configuration: OTP_DELIVERY %q: want log or outbox", c.OTPDelivery)
	}
	if c.IdempotencyRetention < 24*time.Hour {
		return c, fmt.Errorf("configuration: IDEMPOTENCY_RETENTION must be at least 24h")
	}
	if c.RiskAmountAlpha <= 0 || c.RiskAmountAlpha > 1 {
		return c, fmt.Errorf("configuration: RISK_AMOUNT_ALPHA must be above 0 and at most 1")
	}
	if c.AlertWebhookURL != "" {
		if u, err := url.Parse(c.AlertWebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return c, fmt.Errorf("configuration: ALERT_WEBHOOK_URL %q: want an http or https URL", c.AlertWebhookURL)
		}
	}
	if c.NotificationPoll <= 0 {
		return c, fmt.Errorf("configuration: NOTIFICATION_POLL must be positive")
	}
	if c.PaymentCodeConfirmWindow < time.Minute || c.PaymentCodeConfirmWindow > 15*time.Minute {
		return c, fmt.Errorf("configuration: PAYMENT_CODE_CONFIRM_WINDOW must be 1m to 15m")
	}
	if c.PaymentCodeUnknownMax < 1 || c.PaymentCodeUnknownFor <= 0 {
		return c, fmt.Errorf("configuration: PAYMENT_CODE_UNKNOWN_MAX and PAYMENT_CODE_UNKNOWN_LOCKOUT must be positive")
	}
	return c, nil
}

// riskConfig is the risk checks' configuration.
func (c Config) riskConfig() gateway.RiskConfig {
	ttl := c.MaintenanceCacheTTL
	if ttl <= 0 {
		ttl = -1 // no cache: the switch is read for every money-moving request
	}
	return gateway.RiskConfig{
		Enabled: c.RiskRules,
		Thresholds: risk.Thresholds{
			CardPaymentsPerMinute: c.RiskCardPaymentsPerMinute, CardPaymentsDecline: c.RiskCardPaymentsDecline,
			CardMerchantsPer10Min: c.RiskCardMerchants,
			AmountZ:               c.RiskAmountZ, AmountMinHistory: c.RiskAmountMinHistory, AmountFloor: c.RiskAmountFloor,
			AmountAlpha: c.RiskAmountAlpha,
			NewCardAge:  c.RiskNewCardAge, NewCardAmount: c.RiskNewCardAmount,
			Declines: c.RiskDeclines, DeclineWindow: c.RiskDeclineWindow,
			NewRecipientAge: c.RiskNewRecipientAge, NewRecipientDeclineAmount: c.RiskNewRecipientDecline,
		},
		FreezeOnDecline:     c.RiskFreezeOnDecline,
		AlertWebhookURL:     c.AlertWebhookURL,
		AlertWebhookSecret:  c.AlertWebhookSecret,
		MaintenanceCacheTTL: ttl,
		NotificationPoll:    c.NotificationPoll,
	}
}

// requireSecrets checks the keys that protect customers' secrets; serve
// refuses to start without them rather than run with a guessable default.
func (c Config) requireSecrets() error {
	var missing []string
	for _, s := range []struct{ name, v string }{{"SECRET_PEPPER", c.SecretPepper}, {"CARD_TOKEN_KEY", c.CardTokenKey},
		{"MERCHANT_SECRET_KEY", c.MerchantSecretKey}} {
		if len(s.v) < 16 {
			missing = append(missing, s.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("configuration: %s must each be set to a random string of at least 16 characters (make run sets development values)",
			strings.Join(missing, ", "))
	}
	return nil
}

func (c Config) walletConfig() wallet.Config {
	loc, _ := time.LoadLocation(c.TimeZone)
	return wallet.Config{
		Currency:        c.WalletCurrency,
		Location:        loc,
		Pepper:          []byte(c.SecretPepper),
		CardKey:         []byte(c.CardTokenKey),
		Argon2:          wallet.Argon2{MemoryKiB: c.Argon2MemoryKiB, Time: c.Argon2Time, Threads: 1},
		SessionTTL:      c.SessionTTL,
		SessionCacheTTL: c.SessionCacheTTL,
		MaxAttempts:     c.MaxAttempts,
		LockoutFor:      c.LockoutDuration,
		LoginPerClient:  c.LoginPerClient,
		LoginPerPhone:   c.LoginPerPhone,
		SecretChecks:    c.SecretChecks,
		PINThreshold:    c.PINThreshold,
		DefaultLimits:   wallet.Limits{PerTransaction: c.CardPerTxn, DailyAmount: c.CardDailyAmount, DailyCount: c.CardDailyCount},
		MaxLimits:       wallet.Limits{PerTransaction: c.CardMaxPerTxn, DailyAmount: c.CardMaxDailyAmt, DailyCount: c.CardMaxDailyCount},

		OTPTransferThreshold:  c.OTPTransferThreshold,
		OTPPerPhone:           c.OTPPerPhone,
		DefaultTransferLimits: wallet.TransferLimits{PerTransaction: c.TransferPerTxn, DailyAmount: c.TransferDailyAmount},
		MaxTransferLimits:     wallet.TransferLimits{PerTransaction: c.TransferMaxPerTxn, DailyAmount: c.TransferMaxDailyAmt},
	}
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return l, fmt.Errorf("configuration: LOG_LEVEL %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(level string) *slog.Logger {
	l, _ := parseLevel(level)
	return slog.New(gateway.LogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
}

func (c Config) merchantConfig() merchant.Config {
	return merchant.Config{
		SecretKey:     []byte(c.MerchantSecretKey),
		KeyGrace:      c.APIKeyGrace,
		DefaultExpiry: c.OrderDefaultExpiry,
		CacheTTL:      c.MerchantCacheTTL,
		MaxExpiry:     24 * time.Hour,
	}
}

// settlementAt parses SETTLEMENT_TIME (HH:MM, local to TIME_ZONE).
func (c Config) settlementAt() (hour, minute uint, err error) {
	t, err := time.Parse("15:04", c.SettlementTime)
	if err != nil {
		return 0, 0, fmt.Errorf("configuration: SETTLEMENT_TIME %q: want HH:MM", c.SettlementTime)
	}
	return uint(t.Hour()), uint(t.Minute()), nil
}

func (c Config) settlementConfig() settlement.Config {
	loc, _ := time.LoadLocation(c.TimeZone)
	return settlement.Config{Location: loc, Logger: newLogger(c.LogLevel)}
}

// configError reports what env.Parse refused by environment variable (the
// setting an operator can change), not by Go field.
func configError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	vars := map[string]string{}
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		vars[t.Field(i).Name] = t.Field(i).Tag.Get("env")
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && vars[pe.Name] != "" {
			msgs = append(msgs, fmt.Sprintf("%s: %v", vars[pe.Name], pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("configuration: %s", strings.Join(msgs, "; "))
}

// webhookAllow parses WEBHOOK_ALLOW_NETWORKS.
func (c Config) webhookAllow() ([]netip.Prefix, error) {
	return networks("WEBHOOK_ALLOW_NETWORKS", c.WebhookAllow)
}

// webhookOptions is the webhook dispatcher's configuration.
func (c Config) webhookOptions(allow []netip.Prefix) merchant.DispatcherOptions {
	return merchant.DispatcherOptions{Timeout: c.WebhookTimeout, Concurrency: c.WebhookConcurrency, AllowNetworks: allow,
		RetrySchedule: c.WebhookRetries}
}

// trustedProxies parses TRUSTED_PROXIES.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	return networks("TRUSTED_PROXIES", c.TrustedProxies)
}

func networks(name string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("configuration: %s: %q is not a network such as 127.0.0.0/8", name, s)
		}
		out = append(out, p)
	}
	return out, nil
}

// appConfig is the application's configuration.
func (c Config) appConfig(pool *pgxpool.Pool, log *slog.Logger, gatherer prometheus.Gatherer) gateway.AppConfig {
	allow, _ := c.webhookAllow()     // checked by loadConfig
	proxies, _ := c.trustedProxies() // checked by loadConfig
	return gateway.AppConfig{
		Server: gateway.Config{
			Version:       version,
			BodyLimit:     c.BodyLimit,
			AccessLog:     c.AccessLog,
			OperatorToken: c.OperatorToken,
			// Derived from the pepper: request bodies may hold PINs.
			FingerprintKey:   derive(c.SecretPepper, "idempotency-fingerprint"),
			TrustedProxies:   proxies,
			MerchantKeyLimit: c.MerchantKeyLimit,
		},
		Ledger: ledger.Options{
			Committers: c.LedgerCommitters,
			MaxBatch:   c.LedgerMaxBatch,
			Window:     c.LedgerBatchWindow,
		},
		DBTimeout:        c.DBTimeout,
		ReservationGrace: c.ReservationGrace,
		BreakerFailures:  c.BreakerFailures,
		BreakerOpenFor:   c.BreakerOpenFor,
		Wallet:           c.walletConfig(),
		Merchant:         c.merchantConfig(),
		Settlement:       c.settlementConfig(),
		Files:            c.settlementFiles(pool),
		Webhooks:         c.webhookOptions(allow),
		Issuer:           wallet.SimulatedIssuer{MaxCharge: c.IssuerMaxCharge},
		OTP: gateway.OTPConfig{TTL: c.OTPTTL, MaxAttempts: c.OTPMaxAttempts, ApprovalTTL: c.ApprovalTTL,
			Outbox: c.OTPDelivery == "outbox"},
		Risk: c.riskConfig(),
		PaymentCodes: gateway.PaymentCodeConfig{ConfirmWindow: c.PaymentCodeConfirmWindow,
			UnknownCodes: ratelimit.Lockout{Max: c.PaymentCodeUnknownMax, For: c.PaymentCodeUnknownFor}},
		RedisPrefix:          c.RedisPrefix,
		IdempotencyLease:     c.IdempotencyLease,
		IdempotencyRetention: c.IdempotencyRetention,
		Logger:               log,
		Gatherer:             gatherer,
	}
}

// settlementFiles keeps files in SETTLEMENT_DIR, or in PostgreSQL.
func (c Config) settlementFiles(pool *pgxpool.Pool) settlement.Files {
	if c.SettlementDir != "" {
		return settlement.DirFiles{Dir: c.SettlementDir}
	}
	return settlement.PGFiles{Pool: c.db(pool)}
}

// db is pool as the command-line tools use it: statements bounded by
// DB_TIMEOUT.
func (c Config) db(pool *pgxpool.Pool) *postgres.DB {
	return postgres.NewDB(pool, postgres.DBOptions{Timeout: c.DBTimeout})
}
