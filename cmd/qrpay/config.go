package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/qrpay/qrpay/gateway"
)

// Config is every setting qrpay reads, all from the environment, read once
// here. README.md lists them; TestREADMEListsEveryVariable keeps it so.
type Config struct {
	Port            int           `env:"PORT" envDefault:"8080"`
	DatabaseURL     string        `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/qrpay?sslmode=disable"`
	RedisURL        string        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
	AccessLog       bool          `env:"ACCESS_LOG" envDefault:"true"`
	DBMaxConns      int32         `env:"DB_MAX_CONNS" envDefault:"20"`
	MigrateOnStart  bool          `env:"MIGRATE_ON_START" envDefault:"true"`
	BodyLimit       int           `env:"BODY_LIMIT" envDefault:"65536"`
	ShutdownDelay   time.Duration `env:"SHUTDOWN_DELAY" envDefault:"0s"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	OperatorToken   string        `env:"OPERATOR_TOKEN"`

	LedgerCommitters  int           `env:"LEDGER_COMMITTERS" envDefault:"4"`
	LedgerMaxBatch    int           `env:"LEDGER_MAX_BATCH" envDefault:"64"`
	LedgerBatchWindow time.Duration `env:"LEDGER_BATCH_WINDOW" envDefault:"0s"`
	BreakerFailures   uint32        `env:"BREAKER_FAILURES" envDefault:"5"`
	BreakerOpenFor    time.Duration `env:"BREAKER_OPEN_FOR" envDefault:"5s"`
}

func loadConfig() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return c, err
	}
	return c, nil
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
