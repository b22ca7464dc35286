// Package gatewaytest runs a whole gateway in-process, on a random loopback
// port, against real PostgreSQL and Redis (a fresh schema and key prefix per
// test), for tests that drive it over HTTP as clients do.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/gateway/idem"
	"github.com/qrpay/qrpay/gateway/ledger"
	"github.com/qrpay/qrpay/gateway/limits"
	"github.com/qrpay/qrpay/gateway/testenv"
	"github.com/qrpay/qrpay/gateway/wallet"
)

// OperatorToken is the test gateway's operator token.
const OperatorToken = "test-operator-token"

// Env is a running gateway and what it runs on.
type Env struct {
	URL    string
	Server *gateway.Server
	Pool   *pgxpool.Pool
	Redis  *redis.Client
	Prefix string
	Ledger *ledger.Ledger
	Wallet *wallet.Service
	Clock  *Clock
	Logs   *Buffer
	// RedisProxy is set when Options.RedisProxy asked for it.
	RedisProxy *testenv.Proxy
}

// Options adjust the gateway before it starts.
type Options struct {
	Wallet wallet.Config
	Ledger ledger.Options
	// Routes adds test-only routes before the server starts.
	Routes func(app *fiber.App)
	// RedisProxy puts a cuttable proxy between the gateway and Redis.
	RedisProxy bool
}

// Clock is a settable clock; it follows real time until Set.
type Clock struct {
	mu  sync.Mutex
	off time.Duration
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// Buffer collects log output safely across goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything logged so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WalletConfig is the wallet configuration tests start from: production
// rules with a cheap argon2 cost so that tests stay fast.
func WalletConfig() wallet.Config {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return wallet.Config{
		Currency:      "CNY",
		Location:      loc,
		Pepper:        []byte("test-pepper-0123456789abcdef"),
		CardKey:       []byte("test-card-key-0123456789abcdef"),
		Argon2:        wallet.Argon2{MemoryKiB: 1024, Time: 1, Threads: 1},
		SessionTTL:    time.Hour,
		MaxAttempts:   5,
		LockoutFor:    15 * time.Minute,
		PINThreshold:  20000,
		DefaultLimits: wallet.Limits{PerTransaction: 500000, DailyAmount: 2000000, DailyCount: 50},
		MaxLimits:     wallet.Limits{PerTransaction: 5000000, DailyAmount: 10000000, DailyCount: 200},
	}
}

// Start runs a gateway for the test; it stops when the test ends.
func Start(t testing.TB, adjust ...func(*Options)) *Env {
	t.Helper()
	opts := Options{Wallet: WalletConfig()}
	for _, f := range adjust {
		f(&opts)
	}
	env := &Env{Clock: &Clock{}, Logs: &Buffer{}}
	env.Pool = testenv.Postgres(t)
	env.Redis, env.Prefix = testenv.Redis(t)
	rdb := env.Redis
	if opts.RedisProxy {
		env.RedisProxy = testenv.NewProxy(t, env.Redis.Options().Addr)
		o := *env.Redis.Options()
		o.Addr = env.RedisProxy.Addr
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
		o.MaxRetries = 0
		rdb = redis.NewClient(&o)
		t.Cleanup(func() { rdb.Close() })
	}
	log := slog.New(gateway.LogHandler(slog.NewJSONHandler(env.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	opts.Ledger.Logger = log
	env.Ledger = ledger.New(env.Pool, opts.Ledger)
	cfg := opts.Wallet
	if cfg.Now == nil {
		cfg.Now = env.Clock.Now
	}
	lim := limits.New(rdb, env.Prefix, cfg.Location, wallet.CardUsageFromLedger(env.Pool))
	env.Wallet = wallet.New(cfg, env.Pool, env.Ledger, lim, wallet.SimulatedIssuer{MaxCharge: 5000000}, log)
	env.Server = gateway.New(gateway.Config{Version: "test", AccessLog: true, OperatorToken: OperatorToken}, gateway.Deps{
		Pool: env.Pool, Redis: rdb, Ledger: env.Ledger, Wallet: env.Wallet, Logger: log,
		Idempotency: idem.New(rdb, env.Prefix, time.Minute, 48*time.Hour),
	})
	if opts.Routes != nil {
		opts.Routes(env.Server.App())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.URL = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- env.Server.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = env.Server.Shutdown(ctx, 0)
		<-done
		env.Ledger.Close()
	})
	return env
}

// Response is an HTTP response read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Code returns the error code of an error response, or "".
func (r Response) Code() string {
	var e gateway.ErrorBody
	_ = json.Unmarshal(r.Body, &e)
	return string(e.Error.Code)
}

// Do sends a request. body may be nil, a string (sent as is) or a value
// (sent as JSON). headers are name, value pairs.
func (e *Env) Do(t testing.TB, method, path string, body any, headers ...string) Response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
