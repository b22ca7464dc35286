// Package gateway is qrpay's HTTP edge: a Fiber server with its routes,
// middleware (request ids, metrics, authentication, idempotency), the one
// error mapper and the generated OpenAPI document. Business rules live in the
// domain packages it calls; nothing here moves money by itself.
package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/gateway/web"
	"github.com/qrpay/qrpay/idem"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/notice"
	"github.com/qrpay/qrpay/otp"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/ratelimit"
	"github.com/qrpay/qrpay/settlement"
	"github.com/qrpay/qrpay/wallet"
)

// Config tunes the HTTP server.
type Config struct {
	Version   string
	BodyLimit int  // bytes; default 64 KiB
	AccessLog bool // one log line per request
	// OperatorToken guards the admin API; empty disables it.
	OperatorToken string
	// FingerprintKey keys the fingerprints of idempotent requests' bodies.
	FingerprintKey []byte
	// RedisPrefix prefixes the gateway's own Redis keys (request nonces).
	RedisPrefix string
	// Now is the clock for signature windows (time.Now when nil).
	Now func() time.Time
	// TrustedProxies are the networks of the load balancers in front of
	// the gateway: only from them is X-Forwarded-For believed (see
	// clientAddr). Empty: the peer's own address is the client's.
	TrustedProxies []netip.Prefix
	// MerchantKeyLimit bounds each API key's signed requests.
	MerchantKeyLimit ratelimit.Limit
	// NotificationPoll is how often a notification stream reads the feed
	// for entries written through other replicas (default 1 s); entries
	// written through this one wake it at once.
	NotificationPoll time.Duration
}

// Deps are the services the gateway serves. NewApp constructs them.
type Deps struct {
	Pool       *pgxpool.Pool
	Redis      redis.UniversalClient
	Wallet     *wallet.Service
	Merchant   *merchant.Service
	Payment    *payment.Service
	Settlement *settlement.Service
	// PNG renders (and caches) QR code images.
	PNG *merchant.PNGCache
	// Delivered is called after a change that wrote webhook events, so that
	// the dispatcher delivers them now instead of at its next tick.
	Delivered func()
	// Idempotency is the Redis fast path of idempotent requests.
	Idempotency *idem.Store
	// Outbox keeps the one-time codes sent, for the operator to read
	// (OTP_DELIVERY=outbox); nil otherwise.
	Outbox *otp.Outbox
	// Rate keeps the request budgets (merchant API keys).
	Rate *ratelimit.Limiter
	// Notice keeps announcements and the maintenance switch.
	Notice   *notice.Service
	Logger   *slog.Logger
	Gatherer prometheus.Gatherer // defaults to the default registry
}

// Server is the gateway's HTTP server.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	app      *fiber.App
	ops      []Op
	openapi  []byte
	draining atomic.Bool
	// feed wakes the notification streams of an account; closing ends
	// every stream when the server shuts down.
	feed      feedHub
	closing   chan struct{}
	closeOnce sync.Once
	// web serves the pages: checkout display, finance console, wallet.
	web *web.Pages
}

// New builds the server and its routes.
func New(cfg Config, deps Deps) *Server {
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 64 << 10
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Gatherer == nil {
		deps.Gatherer = prometheus.DefaultGatherer
	}
	if deps.PNG == nil {
		deps.PNG = merchant.NewPNGCache(1024)
	}
	if cfg.NotificationPoll <= 0 {
		cfg.NotificationPoll = time.Second
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, closing: make(chan struct{})}
	s.app = fiber.New(fiber.Config{
		AppName: "qrpay",
		// Values read from a request stay valid after it: the ledger's
		// committers and logs may hold them longer than the handler runs.
		Immutable:             true,
		BodyLimit:             cfg.BodyLimit,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           90 * time.Second,
		JSONEncoder:           json.Marshal,
		JSONDecoder:           json.Unmarshal,
	})
	s.app.Use(s.observe)
	s.app.Get("/livez", s.livez)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(deps.Gatherer, promhttp.HandlerOpts{})))
	s.app.Get("/openapi.json", s.serveOpenAPI)
	s.routes()
	s.web = web.New(web.Deps{Merchant: deps.Merchant, Settlement: deps.Settlement, Redis: deps.Redis,
		RedisPrefix: cfg.RedisPrefix, PNG: deps.PNG, Logger: deps.Logger, Poll: cfg.NotificationPoll,
		Closing: s.closing, Now: cfg.Now})
	s.web.Register(s.app)
	doc, err := json.MarshalIndent(openAPI(cfg.Version, s.ops), "", "  ")
	if err != nil {
		panic("openapi: " + err.Error()) // a programming error in an Op
	}
	s.openapi = doc
	return s
}

// handle registers a documented route. Authentication and idempotency come
// from the Op, so a route cannot be documented one way and served another.
func (s *Server) handle(op Op, h fiber.Handler) {
	s.ops = append(s.ops, op)
	chain := []fiber.Handler{}
	switch op.Auth {
	case Operator:
		chain = append(chain, s.authOperator)
	case Session:
		chain = append(chain, s.authSession)
	case Merchant:
		chain = append(chain, s.authMerchant(op.Scope))
	}
	if op.Request == nil {
		chain = append(chain, refuseBody)
	}
	if op.Idempotent {
		// Every idempotent route moves money: maintenance stops it first.
		chain = append([]fiber.Handler{s.maintenanceGate}, chain...)
		chain = append(chain, s.idempotent)
	}
	chain = append(chain, h)
	s.app.Add(op.Method, op.Path, chain...)
}

// refuseBody guards a route that takes no body: a body sent to it would be
// ignored, and whatever the caller meant by it would silently not happen.
func refuseBody(c *fiber.Ctx) error {
	if len(c.Body()) > 0 {
		return errs.E(errs.InvalidJSON, "this request takes no body")
	}
	return c.Next()
}

// routes registers every documented route.
func (s *Server) routes() {
	s.adminRoutes()
	s.walletRoutes()
	s.securityRoutes()
	s.payRoutes()
	s.billRoutes()
	s.merchantRoutes()
	s.posRoutes()
	s.financeRoutes()
	s.noticeRoutes()
	s.riskRoutes()
	s.notificationRoutes()
	s.paymentCodeRoutes()
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// delivered pokes the webhook dispatcher.
func (s *Server) delivered() {
	if s.deps.Delivered != nil {
		s.deps.Delivered()
	}
}

// Ops returns the documented routes.
func (s *Server) Ops() []Op { return s.ops }

// App exposes the Fiber app, for tests that drive it in-process.
func (s *Server) App() *fiber.App { return s.app }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown drains the server: /readyz turns 503 at once so load balancers
// stop sending traffic, then after delay the listener closes and in-flight
// requests finish (bounded by ctx).
func (s *Server) Shutdown(ctx context.Context, delay time.Duration) error {
	s.draining.Store(true)
	s.closeOnce.Do(func() { close(s.closing) }) // notification streams end
	select {
	case <-time.After(delay):
	case <-ctx.Done():
	}
	return s.app.ShutdownWithContext(ctx)
}

// OpenAPI returns the OpenAPI document served at /openapi.json.
func (s *Server) OpenAPI() []byte { return s.openapi }

func (s *Server) serveOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(s.openapi)
}
