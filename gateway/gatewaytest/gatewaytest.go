// Package gatewaytest runs a whole gateway in-process, on a random loopback
// port, against real PostgreSQL and Redis (a fresh schema and key prefix per
// test), for tests that drive it over HTTP as clients do.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/otp"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/ratelimit"
	"github.com/qrpay/qrpay/sdk"
	"github.com/qrpay/qrpay/settlement"
	"github.com/qrpay/qrpay/testenv"
	"github.com/qrpay/qrpay/wallet"
)

// OperatorToken is the test gateway's operator token.
const OperatorToken = "test-operator-token"

// Env is a running gateway and what it runs on.
type Env struct {
	URL string
	// App is the application, built by the same constructor as qrpay serve.
	App       *gateway.App
	Server    *gateway.Server
	SchemaURL string // the database URL of the test's schema
	Pool      *pgxpool.Pool
	DB        *postgres.DB // Pool behind the application's deadlines and breaker
	// Redis is a client of the test's Redis: a cluster client when
	// TEST_REDIS_CLUSTER is set (see testenv.Redis).
	Redis      redis.UniversalClient
	Prefix     string
	Ledger     *ledger.Ledger
	Wallet     *wallet.Service
	Merchant   *merchant.Service
	Payment    *payment.Service
	Settlement *settlement.Service
	// Dispatcher delivers webhooks; it runs in the background.
	Dispatcher *merchant.Dispatcher
	// Outbox holds every one-time code sent: the tests' stand-in for
	// customers' phones.
	Outbox *otp.Outbox
	Clock  *Clock
	Logs   *Buffer
	// RedisProxy is set when Options.RedisProxy asked for it.
	RedisProxy *testenv.Proxy
	// PostgresProxy is set when Options.PostgresProxy asked for it.
	PostgresProxy *testenv.Proxy
}

// Options adjust the gateway before it starts.
type Options struct {
	Wallet   wallet.Config
	Merchant merchant.Config
	Ledger   ledger.Options
	// Routes adds test-only routes before the server starts.
	Routes func(app *fiber.App)
	// RedisProxy puts a cuttable proxy between the gateway and Redis.
	RedisProxy bool
	// PostgresProxy puts a cuttable proxy between the gateway and PostgreSQL.
	PostgresProxy bool
	// DBTimeout, BreakerFailures and BreakerOpenFor set the application's
	// statement deadline and dependency breakers (its defaults when zero).
	DBTimeout       time.Duration
	BreakerFailures uint32
	BreakerOpenFor  time.Duration
	// MerchantKeyLimit bounds each API key's requests (generous by default).
	MerchantKeyLimit ratelimit.Limit
	// OTP configures one-time codes (the outbox is always on).
	OTP gateway.OTPConfig
	// Risk configures the risk checks (off by default: tests that are not
	// about them pay as fast as they can) and the notices.
	Risk gateway.RiskConfig
	// Issuer is the card issuer; nil is the simulated one.
	Issuer wallet.Issuer
	// PaymentCodes configures charges of payment codes (the defaults when
	// zero).
	PaymentCodes gateway.PaymentCodeConfig
	// WebhookRetrySchedule is the pauses between webhook delivery attempts
	// (merchant.RetrySchedule when nil).
	WebhookRetrySchedule []time.Duration
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
		Currency:        "CNY",
		Location:        loc,
		Pepper:          []byte("test-pepper-0123456789abcdef"),
		CardKey:         []byte("test-card-key-0123456789abcdef"),
		Argon2:          wallet.Argon2{MemoryKiB: 1024, Time: 1, Threads: 1},
		SessionTTL:      time.Hour,
		SessionCacheTTL: 2 * time.Second,
		MaxAttempts:     5,
		LockoutFor:      15 * time.Minute,
		// Generous: tests that are not about the limits sign many wallets
		// in from one address and check PINs as fast as they can.
		LoginPerClient: ratelimit.Limit{Events: 10_000, Per: time.Minute},
		LoginPerPhone:  ratelimit.Limit{Events: 1000, Per: time.Minute},
		SecretChecks:   ratelimit.Limit{Events: 10_000, Per: time.Minute},
		PINThreshold:   20000,
		DefaultLimits:  wallet.Limits{PerTransaction: 500000, DailyAmount: 2000000, DailyCount: 50},
		MaxLimits:      wallet.Limits{PerTransaction: 5000000, DailyAmount: 10000000, DailyCount: 200},
		OTPPerPhone:    ratelimit.Limit{Events: 1000, Per: time.Minute},
		// Above every amount the older tests send; security tests lower it.
		OTPTransferThreshold:  1_000_000,
		DefaultTransferLimits: wallet.TransferLimits{PerTransaction: 5_000_000, DailyAmount: 20_000_000},
		MaxTransferLimits:     wallet.TransferLimits{PerTransaction: 10_000_000, DailyAmount: 50_000_000},
	}
}

// Start runs a gateway for the test; it stops when the test ends.
func Start(t testing.TB, adjust ...func(*Options)) *Env {
	t.Helper()
	return start(t, nil, adjust...)
}

// Replica starts a second gateway beside e, as another replica would run:
// its own pool, ledger committers, dispatcher and listener, on the same
// database schema, Redis keys and clock.
func (e *Env) Replica(t testing.TB, adjust ...func(*Options)) *Env {
	t.Helper()
	return start(t, e, adjust...)
}

func start(t testing.TB, shared *Env, adjust ...func(*Options)) *Env {
	t.Helper()
	opts := Options{Wallet: WalletConfig(), Merchant: merchant.Config{SecretKey: []byte("test-merchant-secret-0123456789"),
		CacheTTL: 2 * time.Second}, MerchantKeyLimit: ratelimit.Limit{Events: 100_000, Per: time.Minute}}
	for _, f := range adjust {
		f(&opts)
	}
	env := &Env{Clock: &Clock{}, Logs: &Buffer{}}
	if shared != nil {
		env.Clock, env.Logs, env.SchemaURL = shared.Clock, shared.Logs, shared.SchemaURL
		env.Redis, env.Prefix = shared.Redis, shared.Prefix
	} else {
		env.SchemaURL = testenv.Schema(t)
		env.Redis, env.Prefix = testenv.Redis(t)
	}
	poolURL := env.SchemaURL
	if opts.PostgresProxy {
		u, err := url.Parse(env.SchemaURL)
		if err != nil {
			t.Fatal(err)
		}
		env.PostgresProxy = testenv.NewProxy(t, u.Host)
		u.Host = env.PostgresProxy.Addr
		poolURL = u.String()
	}
	pool, err := postgres.Open(context.Background(), poolURL, 16)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	t.Cleanup(pool.Close)
	env.Pool = pool
	rdb := env.Redis
	if opts.RedisProxy {
		rdb = proxiedRedis(t, env)
	}
	log := slog.New(gateway.LogHandler(slog.NewJSONHandler(env.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	wcfg := opts.Wallet
	if wcfg.Now == nil {
		wcfg.Now = env.Clock.Now
	}
	issuer := opts.Issuer
	if issuer == nil {
		issuer = wallet.SimulatedIssuer{MaxCharge: 5000000}
	}
	mcfg := opts.Merchant
	if mcfg.Now == nil {
		mcfg.Now = env.Clock.Now
	}
	env.App = gateway.NewApp(gateway.AppConfig{
		Server: gateway.Config{Version: "test", AccessLog: true, OperatorToken: OperatorToken,
			Now: env.Clock.Now, FingerprintKey: []byte("test-fingerprint-key"),
			// Tests speak for other clients through X-Forwarded-For.
			TrustedProxies:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			MerchantKeyLimit: opts.MerchantKeyLimit},
		Ledger:     opts.Ledger,
		Wallet:     wcfg,
		Merchant:   mcfg,
		Settlement: settlement.Config{Location: wcfg.Location, Now: env.Clock.Now},
		Webhooks: merchant.DispatcherOptions{Interval: 50 * time.Millisecond, Timeout: 2 * time.Second,
			AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, // the tests' receivers
			RetrySchedule: opts.WebhookRetrySchedule},
		Issuer:           issuer,
		OTP:              gateway.OTPConfig{TTL: opts.OTP.TTL, MaxAttempts: opts.OTP.MaxAttempts, ApprovalTTL: opts.OTP.ApprovalTTL, Outbox: true},
		DBTimeout:        dbTimeout(opts.DBTimeout),
		BreakerFailures:  opts.BreakerFailures,
		BreakerOpenFor:   opts.BreakerOpenFor,
		Risk:             opts.Risk,
		PaymentCodes:     opts.PaymentCodes,
		RedisPrefix:      env.Prefix,
		IdempotencyLease: time.Minute, IdempotencyRetention: 48 * time.Hour,
		Logger: log,
	}, env.Pool, rdb)
	a := env.App
	env.Server, env.Ledger, env.Wallet, env.Merchant, env.Payment = a.Server, a.Ledger, a.Wallet, a.Merchant, a.Payment
	env.Settlement, env.Dispatcher, env.DB, env.Outbox = a.Settlement, a.Dispatcher, a.DB, a.Outbox
	if opts.Routes != nil {
		opts.Routes(env.Server.App())
	}
	checkContract(t, env)
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
		env.App.Close()
		if shared == nil {
			checkNoCardNumbers(t, env)
		}
	})
	return env
}

// proxiedRedis puts a proxy (env.RedisProxy) between a new client and
// env.Redis: its one server, or every master of its cluster, the cluster
// client then dialling each node through the proxy.
func proxiedRedis(t testing.TB, env *Env) redis.UniversalClient {
	t.Helper()
	// The client's deadline is what a request waits on a frozen Redis
	// before it fails (a cut one fails at once). It must stay well above a
	// round trip through the proxy on a busy machine: there, with -race,
	// an answer can take a few hundred milliseconds, and a tighter deadline
	// failed requests made before the test had cut or frozen anything.
	const timeout = 2 * time.Second
	var rdb redis.UniversalClient
	switch c := env.Redis.(type) {
	case *redis.Client:
		env.RedisProxy = testenv.NewProxy(t, c.Options().Addr)
		o := *c.Options()
		o.Addr = env.RedisProxy.Addr
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
		o.MaxRetries, o.DialerRetries = -1, 1 // as qrpay serve: a call is sent once
		rdb = redis.NewClient(&o)
	case *redis.ClusterClient:
		var mu sync.Mutex
		var masters []string
		err := c.ForEachMaster(context.Background(), func(_ context.Context, node *redis.Client) error {
			mu.Lock()
			masters = append(masters, node.Options().Addr)
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatalf("the cluster's masters: %v", err)
		}
		env.RedisProxy = testenv.NewProxy(t, masters...)
		o := *c.Options()
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
		o.MaxRetries, o.DialerRetries = -1, 1 // as qrpay serve: a call is sent once
		via := env.RedisProxy.Via
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if a, ok := via[addr]; ok {
				addr = a
			}
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(ctx, network, addr)
		}
		rdb = redis.NewClusterClient(&o)
	default:
		t.Fatalf("a Redis proxy in front of a %T", env.Redis)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// checkContract checks every exchange the gateway serves against its
// OpenAPI document and reports the violations when the test ends, so that
// any test driving the gateway, through Do, the SDK or the command line,
// also tests the document.
func checkContract(t testing.TB, env *Env) {
	t.Helper()
	contract, err := contractOf(env.Server.OpenAPI())
	if err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	var found violations
	t.Cleanup(func() { found.report(t) }) // runs after the server has stopped
	srv := env.Server.App().Server()
	serve := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		serve(ctx)
		ex := exchangeOf(ctx)
		if err := contract.Check(ex); err != nil {
			found.add(ex, err)
		}
	}
}

// testCards are every card number the tests type in.
var testCards = []string{
	"4111111111111111", "4111111111111112", "5555555555554444", "6212345678901265",
	"2223003122003222", "378282246310005", "3530111333300000",
	wallet.TestCardDeclined, wallet.TestCardNoFunds, wallet.TestCardLost, wallet.TestCardIssuerDown,
	wallet.TestCardExpiredByBan,
}

// checkNoCardNumbers runs after every test that used a gateway: no table of
// its schema and no line it logged may hold a full card number.
func checkNoCardNumbers(t testing.TB, env *Env) {
	ctx := context.Background()
	rows, err := env.Pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Errorf("card number check: %v", err)
		return
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Errorf("card number check: %v", err)
		return
	}
	for _, table := range tables {
		var dump string
		if err := env.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(string_agg(t::text, E'\n'), '') FROM %s t`,
			pgx.Identifier{table}.Sanitize())).Scan(&dump); err != nil {
			t.Errorf("card number check of %s: %v", table, err)
			continue
		}
		for _, n := range testCards {
			if strings.Contains(dump, n) {
				t.Errorf("table %s holds the card number %s", table, n)
			}
		}
	}
	logs := env.Logs.String()
	for _, n := range testCards {
		if strings.Contains(logs, n) {
			t.Errorf("the logs hold the card number %s", n)
		}
	}
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

// MerchantKey is a merchant's API key, for signing test requests.
type MerchantKey struct {
	MerchantID, KeyID, Secret, WebhookSecret string
}

// NewMerchant onboards a merchant through the admin API and issues it a
// key with the given scopes (pos and finance when none are given).
func (e *Env) NewMerchant(t testing.TB, in map[string]any, scopes ...string) MerchantKey {
	t.Helper()
	body := map[string]any{"name": "Blue Bottle Coffee", "city": "Shanghai", "mcc": "5814", "country": "CN",
		"currency": "CNY", "fee_bps": 60}
	for k, v := range in {
		body[k] = v
	}
	r := e.Do(t, "POST", "/v1/admin/merchants", body, "Authorization", "Bearer "+OperatorToken)
	if r.Status != http.StatusCreated {
		t.Fatalf("create merchant = %d %s", r.Status, r.Body)
	}
	var m struct {
		ID            string `json:"id"`
		WebhookSecret string `json:"webhook_secret"`
	}
	r.JSON(t, &m)
	if len(scopes) == 0 {
		scopes = []string{"pos", "finance"}
	}
	r = e.Do(t, "POST", "/v1/admin/merchants/"+m.ID+"/keys", map[string]any{"scopes": scopes}, "Authorization", "Bearer "+OperatorToken)
	if r.Status != http.StatusCreated {
		t.Fatalf("issue key = %d %s", r.Status, r.Body)
	}
	var k struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	r.JSON(t, &k)
	return MerchantKey{MerchantID: m.ID, KeyID: k.ID, Secret: k.Secret, WebhookSecret: m.WebhookSecret}
}

var nonceSeq struct {
	sync.Mutex
	n int
}

// Signed sends a request signed with key, as docs/signing.md specifies.
// headers are extra name, value pairs (an Idempotency-Key, say).
func (e *Env) Signed(t testing.TB, key MerchantKey, method, path string, body any, headers ...string) Response {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	nonceSeq.Lock()
	nonceSeq.n++
	nonce := fmt.Sprintf("test-nonce-%012d-%s", nonceSeq.n, key.KeyID)
	nonceSeq.Unlock()
	ts := e.Clock.Now().Unix()
	h := []string{
		sdk.HeaderKey, key.KeyID,
		sdk.HeaderTimestamp, strconv.FormatInt(ts, 10),
		sdk.HeaderNonce, nonce,
		sdk.HeaderSignature, sdk.Sign(key.Secret, method, path, ts, nonce, raw),
	}
	var send any
	if body != nil {
		send = string(raw)
	}
	return e.Do(t, method, path, send, append(h, headers...)...)
}

// Snapshot is the state of a test's schema: every table's row count and a
// digest of its rows, and the ledger's totals. Two snapshots that are equal
// mean nothing was written in between.
type Snapshot struct {
	Tables map[string]TableState
	// BalanceSum is the sum of every ledger account's balance.
	BalanceSum int64
}

// TableState is one table's row count and the digest of its rows' text.
type TableState struct {
	Rows   int64
	Digest string
}

// Snapshot reads every table of the test's schema.
func (e *Env) Snapshot(t testing.TB) Snapshot {
	t.Helper()
	ctx := context.Background()
	tables, err := schemaTables(ctx, e.Pool)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	s := Snapshot{Tables: map[string]TableState{}}
	for _, table := range tables {
		var st TableState
		if err := e.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), ''))
			FROM %s t`, pgx.Identifier{table}.Sanitize())).Scan(&st.Rows, &st.Digest); err != nil {
			t.Fatalf("snapshot of %s: %v", table, err)
		}
		s.Tables[table] = st
	}
	if err := e.Pool.QueryRow(ctx, `SELECT coalesce(sum(balance), 0)::bigint FROM accounts`).Scan(&s.BalanceSum); err != nil {
		t.Fatalf("snapshot of balances: %v", err)
	}
	return s
}

// Diff lists how later differs from s, one line per changed table; none
// when they are equal.
func (s Snapshot) Diff(later Snapshot) []string {
	var out []string
	if s.BalanceSum != later.BalanceSum {
		out = append(out, fmt.Sprintf("sum of balances %d → %d", s.BalanceSum, later.BalanceSum))
	}
	names := make([]string, 0, len(s.Tables))
	for name := range s.Tables {
		names = append(names, name)
	}
	for name := range later.Tables {
		if _, ok := s.Tables[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		a, b := s.Tables[name], later.Tables[name]
		switch {
		case a.Rows != b.Rows:
			out = append(out, fmt.Sprintf("table %s: %d rows → %d", name, a.Rows, b.Rows))
		case a.Digest != b.Digest:
			out = append(out, fmt.Sprintf("table %s: rows changed (%d rows)", name, a.Rows))
		}
	}
	return out
}

// Dump returns the text of every row of every table of the test's schema,
// by table.
func (e *Env) Dump(t testing.TB) map[string]string {
	t.Helper()
	ctx := context.Background()
	tables, err := schemaTables(ctx, e.Pool)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	out := map[string]string{}
	for _, table := range tables {
		var dump string
		if err := e.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(string_agg(t::text, E'\n'), '') FROM %s t`,
			pgx.Identifier{table}.Sanitize())).Scan(&dump); err != nil {
			t.Fatalf("dump of %s: %v", table, err)
		}
		out[table] = dump
	}
	return out
}

func schemaTables(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// dbTimeout is the statement deadline of a test gateway: 15 s unless a
// test sets its own. Under the race detector, with a browser and other
// packages' tests on the same two CPUs, a statement can wait seconds for a
// CPU; the tests of the deadline itself set a short one (frozen_test.go).
func dbTimeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return 15 * time.Second
}
