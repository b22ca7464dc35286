// Package testenv gives tests real PostgreSQL and Redis, isolated per test:
// each Postgres call gets a fresh, migrated schema and each Redis call a
// fresh key prefix, so tests and packages run in parallel. A service that
// cannot be reached fails the test loudly; nothing is ever skipped.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/postgres"
)

// Defaults, overridden by TEST_DATABASE_URL and TEST_REDIS_URL.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/qrpay_test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

var ensureOnce sync.Once
var ensureErr error

// DatabaseURL is the test database's URL.
func DatabaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// RedisURL is the test Redis URL.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// Name returns a short unique name derived from the test's name.
func Name(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	base := strings.Trim(nonWord.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(base) > 40 {
		base = base[len(base)-40:]
	}
	return "t_" + base + "_" + hex.EncodeToString(b)
}

// Schema creates a fresh, migrated schema and returns a URL whose connections
// use it. The schema is dropped when the test ends.
func Schema(t testing.TB) string {
	t.Helper()
	url := EmptySchema(t)
	pool := open(t, url, 4)
	defer pool.Close()
	if _, err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("migrate schema: %v", err)
	}
	return url
}

// EmptySchema creates a fresh schema with nothing in it and returns a URL
// whose connections use it. The schema is dropped when the test ends.
func EmptySchema(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	ensureOnce.Do(func() { ensureErr = postgres.EnsureDatabase(ctx, DatabaseURL()) })
	if ensureErr != nil {
		t.Fatalf("PostgreSQL is required for this test and is not reachable at %s: %v\n"+
			"start it (make services) or set TEST_DATABASE_URL", DatabaseURL(), ensureErr)
	}
	schema := Name(t)
	admin, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), DatabaseURL())
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(DatabaseURL(), "?") {
		sep = "&"
	}
	return DatabaseURL() + sep + "search_path=" + schema
}

// Postgres returns a pool on a fresh, migrated schema (see Schema), closed
// when the test ends.
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := open(t, Schema(t), 16)
	t.Cleanup(pool.Close)
	return pool
}

func open(t testing.TB, url string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), url, maxConns)
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test and is not reachable: %v\n"+
			"start it (make services) or set TEST_DATABASE_URL", err)
	}
	return pool
}

// Redis returns a client and a key prefix unique to this test; the keys
// under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		t.Fatalf("Redis is required for this test and is not reachable at %s: %v\n"+
			"start it (make services) or set TEST_REDIS_URL", RedisURL(), err)
	}
	prefix := fmt.Sprintf("%s:", Name(t))
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		client.Close()
	})
	return client, prefix
}
