package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/breaker"
	"github.com/qrpay/qrpay/idem"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/limits"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/notice"
	"github.com/qrpay/qrpay/otp"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/ratelimit"
	"github.com/qrpay/qrpay/risk"
	"github.com/qrpay/qrpay/settlement"
	"github.com/qrpay/qrpay/wallet"
)

// AppConfig is everything the application is built from. `qrpay serve`
// fills it from the environment; tests fill it from their options.
type AppConfig struct {
	Server     Config
	Ledger     ledger.Options
	Wallet     wallet.Config
	Merchant   merchant.Config
	Settlement settlement.Config
	// Files keeps settlement files (in PostgreSQL when nil).
	Files    settlement.Files
	Webhooks merchant.DispatcherOptions
	Issuer   wallet.Issuer
	// DBTimeout bounds each PostgreSQL statement of a request (default 5 s).
	// Redis calls are bounded by the client's own read and write timeouts.
	DBTimeout time.Duration
	// BreakerFailures consecutive failures of PostgreSQL, or of Redis, open
	// that dependency's breaker (default 5) for BreakerOpenFor (default 5 s).
	BreakerFailures uint32
	BreakerOpenFor  time.Duration
	// ReservationGrace is how old a card limit reservation must be before
	// the ledger settles it, when its own request never did (default 2 min;
	// longer than any request can take to commit).
	ReservationGrace time.Duration
	// OTP configures one-time codes and device approvals.
	OTP OTPConfig
	// Risk configures the risk checks, their alerts and the notices.
	Risk RiskConfig
	// PaymentCodes configures charges of customer-presented payment codes.
	PaymentCodes PaymentCodeConfig
	// RedisPrefix prefixes every Redis key the application writes.
	RedisPrefix                            string
	IdempotencyLease, IdempotencyRetention time.Duration
	Logger                                 *slog.Logger
	Gatherer                               prometheus.Gatherer
}

// OTPConfig configures one-time codes and device approvals.
type OTPConfig struct {
	TTL         time.Duration // a code's life (default 5 min)
	MaxAttempts int           // tries of one code (default 5)
	ApprovalTTL time.Duration // an approval challenge's life (default 2 min)
	// Outbox keeps every code sent in Redis, readable by the operator API,
	// besides logging it: for development and load tests, never production.
	Outbox bool
	// Notifier delivers codes (an SMS provider); nil writes them to the log
	// (and to the outbox when Outbox is set).
	Notifier wallet.Notifier
}

// PaymentCodeConfig configures charges of customer-presented payment
// codes (docs/payment-codes.md).
type PaymentCodeConfig struct {
	// ConfirmWindow is how long a charge above the PIN threshold waits for
	// the wallet's PIN (default 2 min).
	ConfirmWindow time.Duration
	// UnknownCodes bounds the unknown codes one merchant API key may charge
	// (default 20, then refused for 15 min).
	UnknownCodes ratelimit.Lockout
}

// App is the whole application: the domain services, wired once, and the
// HTTP server that serves them. NewApp starts its background work (the
// ledger's committers, webhook delivery); Close stops it.
type App struct {
	// DB is the pool behind statement deadlines and the PostgreSQL breaker.
	DB         *postgres.DB
	Server     *Server
	Ledger     *ledger.Ledger
	Limits     *limits.Store
	Wallet     *wallet.Service
	Merchant   *merchant.Service
	Payment    *payment.Service
	Settlement *settlement.Service
	Dispatcher *merchant.Dispatcher
	// Outbox holds the codes sent when OTPConfig.Outbox is set.
	Outbox *otp.Outbox
	// Risk evaluates movements (nil when the risk checks are off); Alerts
	// delivers their alerts to the operator's webhook.
	Risk   *risk.Engine
	Alerts *risk.Deliverer
	Notice *notice.Service

	stopDispatcher context.CancelFunc
	dispatcherDone chan struct{}
	alertsDone     chan struct{}
	resolverDone   chan struct{}
}

// RiskConfig configures the risk checks and what they tell.
type RiskConfig struct {
	// Enabled turns the rules on (RISK_RULES).
	Enabled    bool
	Thresholds risk.Thresholds
	// FreezeOnDecline freezes the card of a declined payment or top-up.
	FreezeOnDecline bool
	// AlertWebhookURL receives every alert (none: alerts are stored and
	// listed only), signed with AlertWebhookSecret when it is set.
	AlertWebhookURL, AlertWebhookSecret string
	// MaintenanceCacheTTL bounds how long a replica answers from its memory
	// of the maintenance switch (default 1 s; negative: no memory).
	MaintenanceCacheTTL time.Duration
	// NotificationPoll is how often a notification stream looks for entries
	// written through other replicas (default 1 s).
	NotificationPoll time.Duration
}

// NewApp builds the application on a PostgreSQL pool and a Redis client.
// Every call to either goes through that dependency's breaker: NewApp adds
// a hook to rdb for it.
func NewApp(cfg AppConfig, pool *pgxpool.Pool, rdb redis.UniversalClient) *App {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Issuer == nil {
		cfg.Issuer = wallet.SimulatedIssuer{}
	}
	if cfg.Ledger.Breaker == nil {
		cfg.Ledger.Breaker = breaker.New("postgres", cfg.BreakerFailures, cfg.BreakerOpenFor)
	}
	db := postgres.NewDB(pool, postgres.DBOptions{Timeout: cfg.DBTimeout, Breaker: cfg.Ledger.Breaker})
	rdb.AddHook(breaker.RedisHook(breaker.New("redis", cfg.BreakerFailures, cfg.BreakerOpenFor)))
	if cfg.Files == nil {
		cfg.Files = settlement.PGFiles{Pool: db}
	}
	if cfg.Settlement.Location == nil {
		cfg.Settlement.Location = cfg.Wallet.Location
	}
	if cfg.Settlement.Logger == nil {
		cfg.Settlement.Logger = log
	}
	if cfg.Webhooks.Logger == nil {
		cfg.Webhooks.Logger = log
	}
	cfg.Ledger.Logger = log
	cfg.Server.RedisPrefix = cfg.RedisPrefix

	a := &App{DB: db, dispatcherDone: make(chan struct{}), alertsDone: make(chan struct{}),
		resolverDone: make(chan struct{})}
	a.Ledger = ledger.New(pool, cfg.Ledger)
	loc := cfg.Wallet.Location
	if loc == nil {
		loc = time.UTC
	}
	grace := cfg.ReservationGrace
	if grace <= 0 {
		grace = 2 * time.Minute
	}
	// The scripts of the pay path (idempotency claims and records, limit
	// reservations and commits) go through the client's autopipeliner, so
	// concurrent requests share round trips.
	var scripts redis.Scripter = rdb
	if ap, err := rdb.AutoPipeline(); err == nil {
		scripts = ap
	} else {
		log.Warn("the Redis client has no autopipeliner; the pay path's scripts go one round trip each", "err", err)
	}
	a.Limits = limits.New(rdb, cfg.RedisPrefix, loc, wallet.CardUsageFromLedger(db)).
		Reconciling(grace, wallet.TransferCommitted(db)).Batching(scripts)
	rate := ratelimit.New(rdb, cfg.RedisPrefix)
	notifier := cfg.OTP.Notifier
	if cfg.OTP.Outbox {
		a.Outbox = otp.NewOutbox(rdb, cfg.RedisPrefix)
	}
	if notifier == nil {
		notifier = wallet.LogNotifier{Log: log}
		if a.Outbox != nil {
			notifier = wallet.OutboxNotifier{Log: wallet.LogNotifier{Log: log}, Outbox: a.Outbox}
		}
	}
	a.Wallet = wallet.New(cfg.Wallet, db, a.Ledger, a.Limits, rate, cfg.Issuer, log).Securing(wallet.Security{
		Codes:     otp.NewCodes(rdb, cfg.RedisPrefix, wallet.CodeKey(cfg.Wallet.Pepper), cfg.OTP.TTL, cfg.OTP.MaxAttempts),
		Approvals: otp.NewApprovals(rdb, cfg.RedisPrefix, cfg.OTP.ApprovalTTL),
		// Transfer limits count per wallet in a store of their own.
		TransferLimits: limits.New(rdb, cfg.RedisPrefix+"transfer-", loc, wallet.TransferUsageFromLedger(db)).
			Reconciling(grace, wallet.TransferCommitted(db)),
		Notifier: notifier,
	})
	a.Merchant = merchant.New(cfg.Merchant, db, log)
	a.Payment = payment.New(a.Ledger, a.Wallet, a.Merchant).UsingCodes(payment.CodeOptions{DB: db, Redis: scripts,
		Prefix: cfg.RedisPrefix, Rate: rate, UnknownCodes: cfg.PaymentCodes.UnknownCodes,
		ConfirmWindow: cfg.PaymentCodes.ConfirmWindow, Now: cfg.Wallet.Now, Logger: log})
	a.Settlement = settlement.New(cfg.Settlement, db, a.Ledger, cfg.Files)
	a.Dispatcher = a.Merchant.NewDispatcher(cfg.Webhooks)
	a.Alerts = risk.NewDeliverer(db, risk.DeliveryOptions{URL: cfg.Risk.AlertWebhookURL, Secret: cfg.Risk.AlertWebhookSecret,
		Client: merchant.WebhookClient(10*time.Second, cfg.Webhooks.AllowNetworks), Interval: cfg.Webhooks.Interval, Logger: log})
	if cfg.Risk.Enabled {
		a.Risk = risk.NewEngine(rdb, cfg.RedisPrefix, cfg.Risk.Thresholds).Batching(scripts)
		a.Wallet.UseRisk(wallet.RiskOptions{Engine: a.Risk, FreezeOnDecline: cfg.Risk.FreezeOnDecline,
			DeliverAlerts: a.Alerts.Enabled(), Alerted: a.Alerts.Poke})
	}
	maintTTL := cfg.Risk.MaintenanceCacheTTL
	switch {
	case maintTTL == 0:
		maintTTL = time.Second
	case maintTTL < 0:
		maintTTL = 0
	}
	a.Notice = notice.New(db, maintTTL, cfg.Server.Now)
	cfg.Server.NotificationPoll = cfg.Risk.NotificationPoll
	a.Server = New(cfg.Server, Deps{
		Pool: pool, Redis: rdb, Wallet: a.Wallet, Merchant: a.Merchant, Payment: a.Payment, Settlement: a.Settlement,
		Delivered:   a.Dispatcher.Poke,
		Idempotency: idem.New(rdb, cfg.RedisPrefix, cfg.IdempotencyLease, cfg.IdempotencyRetention).Batching(scripts),
		Rate:        rate,
		Outbox:      a.Outbox,
		Notice:      a.Notice,
		Logger:      log, Gatherer: cfg.Gatherer,
	})
	// Best effort: a request that finds the epoch missing writes it too.
	epochCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := a.Server.EnsureNonceEpoch(epochCtx); err != nil {
		log.Warn("the nonce store's epoch could not be written at start; the first signed request will", "err", err)
	}
	cancel()
	var ctx context.Context
	ctx, a.stopDispatcher = context.WithCancel(context.Background())
	go func() { defer close(a.dispatcherDone); a.Dispatcher.Run(ctx) }()
	go func() { defer close(a.alertsDone); a.Alerts.Run(ctx) }()
	go func() {
		defer close(a.resolverDone)
		a.Wallet.RunIssuerResolver(ctx, issuerResolveEvery, issuerResolveAge)
	}()
	return a
}

// Withdrawals left in transit and refunds' pushes to cards the issuer left
// unanswered (refused for the moment, the answer lost, the process gone)
// are asked about again every issuerResolveEvery once older than
// issuerResolveAge: by then the request that made one has finished with it
// (the issuer's 30 s and the last step's retries), or died.
const (
	issuerResolveEvery = time.Minute
	issuerResolveAge   = 5 * time.Minute
)

// Close stops the background work: webhook delivery, then the ledger,
// which commits what it has queued. Shut the server down first.
func (a *App) Close() {
	a.stopDispatcher()
	<-a.dispatcherDone
	<-a.alertsDone
	<-a.resolverDone
	a.Ledger.Close()
}
