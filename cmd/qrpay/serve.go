package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/gateway/web"
	"github.com/qrpay/qrpay/postgres"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func runMigrate(ctx context.Context, _ []string, stdout, _ io.Writer) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	pool, err := openPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := postgres.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	return nil
}

func openPostgres(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	if err := postgres.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	return postgres.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
}

// A Redis call is sent once and a connection dialled once: the scripts
// reserve limits and claim keys, so a call resent after its connection
// broke could count twice if the first send ran, and retrying while Redis
// is away would hold each request for seconds instead of failing it at
// once (503 with Retry-After, the breaker then opening). The client of the
// request retries, with its idempotency key.
const redisDialTimeout = 2 * time.Second

// openRedis connects to the Redis server of REDIS_URL or, when
// REDIS_CLUSTER names nodes, to that Redis Cluster, with REDIS_URL's
// credentials and TLS; it fails unless the server, or every master,
// answers.
func openRedis(ctx context.Context, cfg Config) (redis.UniversalClient, error) {
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis: REDIS_URL: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if len(cfg.RedisCluster) == 0 {
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = redisDialTimeout, cfg.RedisTimeout, cfg.RedisTimeout
		opts.MaxRetries, opts.DialerRetries = -1, 1
		client := redis.NewClient(opts)
		if err := client.Ping(pingCtx).Err(); err != nil {
			client.Close()
			return nil, fmt.Errorf("redis: ping %s: %w", opts.Addr, err)
		}
		return client, nil
	}
	if opts.DB != 0 {
		return nil, fmt.Errorf("redis: REDIS_URL names database %d; a Redis Cluster has database 0 only", opts.DB)
	}
	client := redis.NewClusterClient(clusterOptions(cfg, opts))
	err = client.ForEachMaster(pingCtx, func(ctx context.Context, node *redis.Client) error {
		if err := node.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("%s: %w", node.Options().Addr, err)
		}
		return nil
	})
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("redis: the cluster of REDIS_CLUSTER (%s): ping %w", strings.Join(cfg.RedisCluster, ","), err)
	}
	return client, nil
}

// clusterOptions are the cluster client's options: the nodes of
// REDIS_CLUSTER with REDIS_URL's credentials and TLS.
func clusterOptions(cfg Config, url *redis.Options) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs: cfg.RedisCluster, Username: url.Username, Password: url.Password, TLSConfig: url.TLSConfig,
		DialTimeout: redisDialTimeout, ReadTimeout: cfg.RedisTimeout, WriteTimeout: cfg.RedisTimeout,
		MaxRetries: -1, DialerRetries: 1,
	}
}

// runServe runs the gateway until ctx ends (SIGINT or SIGTERM), then drains:
// /readyz turns 503, in-flight requests finish, the ledger commits what it
// has queued, and the pools close.
func runServe(ctx context.Context, _ []string, _, _ io.Writer) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if err := cfg.requireSecrets(); err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	// go-redis prints its own notices (a pool's dial failures, say) through
	// a process-wide logger: into the same JSON lines as the rest.
	redis.SetLogger(redisLogger{log})
	pool, err := openPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.MigrateOnStart {
		applied, err := postgres.Migrate(ctx, pool)
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			log.Info("migrated", "applied", applied)
		}
	}
	rdb, err := openRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(postgres.NewPoolCollector(pool))

	hour, minute, err := cfg.settlementAt()
	if err != nil {
		return err
	}
	app := gateway.NewApp(cfg.appConfig(pool, log, prometheus.Gatherers{prometheus.DefaultGatherer, reg}), pool, rdb)
	// Background work stops after the HTTP server has drained, before the
	// pools close (defers run last-in, first-out): the ledger commits what
	// it has queued.
	defer app.Close()
	stopScheduler, err := app.Settlement.Schedule(hour, minute)
	if err != nil {
		return err
	}
	defer func() {
		if err := stopScheduler(); err != nil {
			log.Warn("stopping the settlement scheduler", "err", err)
		}
	}()
	srv := app.Server

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, prometheus.Gatherers{prometheus.DefaultGatherer, reg}, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	log.Info("qrpay serving", "addr", ln.Addr().String(), "version", version)
	base := "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	log.Info("web pages", "wallet", base+web.WalletPath, "finance_console", base+web.FinancePath,
		"checkout_display", "the display_url of each new order (POST /v1/orders)")

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "delay", cfg.ShutdownDelay.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownDelay+cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx, cfg.ShutdownDelay); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("shutdown", "err", err)
	}
	if err := <-serveErr; err != nil {
		log.Warn("listener closed", slog.Any("err", err))
	}
	log.Info("stopped")
	return nil
}

// derive returns a key for one purpose from a configured secret.
func derive(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("qrpay/" + purpose))
	return m.Sum(nil)
}

// serveDebug serves /metrics and the runtime profiles (/debug/pprof/) on
// their own address, which is meant to stay private: profiles reveal the
// process's internals and cost CPU while they run.
func serveDebug(addr string, gatherer prometheus.Gatherer, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("DEBUG_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug listener stopped", "err", err)
		}
	}()
	log.Info("debug listener", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// redisLogger hands go-redis's notices to slog, as warnings.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), slog.String("component", "redis"))
}
