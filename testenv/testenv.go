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

// RedisCluster is the seed nodes of the test Redis Cluster, from
// TEST_REDIS_CLUSTER (comma-separated host:port), or nil when the tests use
// the single server of TEST_REDIS_URL. .ci/redis-cluster run sets it.
func RedisCluster() []string {
	v := strings.TrimSpace(os.Getenv("TEST_REDIS_CLUSTER"))
	if v == "" {
		return nil
	}
	var addrs []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// Redis returns a client and a key prefix unique to this test; the keys
// under the prefix are deleted when the test ends. The client is a cluster
// client when TEST_REDIS_CLUSTER is set (see RedisCluster), a client of
// TEST_REDIS_URL's server otherwise.
func Redis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	var client redis.UniversalClient
	where := RedisURL()
	if addrs := RedisCluster(); addrs != nil {
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		where = "the cluster " + strings.Join(addrs, ",")
	} else {
		opts, err := redis.ParseURL(RedisURL())
		if err != nil {
			t.Fatalf("TEST_REDIS_URL: %v", err)
		}
		client = redis.NewClient(opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		t.Fatalf("Redis is required for this test and is not reachable at %s: %v\n"+
			"start it (make services) or set TEST_REDIS_URL (TEST_REDIS_CLUSTER for a cluster)", where, err)
	}
	prefix := fmt.Sprintf("%s:", Name(t))
	t.Cleanup(func() {
		if err := DeleteKeys(context.Background(), client, prefix+"*"); err != nil {
			t.Errorf("delete the test's Redis keys: %v", err)
		}
		client.Close()
	})
	return client, prefix
}

// Keys returns the keys matching pattern. On a cluster each master holds
// its own keys and answers a scan for those only, so every master is
// scanned.
func Keys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	cluster, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return scan(ctx, rdb, pattern)
	}
	var mu sync.Mutex
	var keys []string
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		k, err := scan(ctx, node, pattern)
		mu.Lock()
		keys = append(keys, k...)
		mu.Unlock()
		return err
	})
	return keys, err
}

func scan(ctx context.Context, rdb redis.Cmdable, pattern string) ([]string, error) {
	var keys []string
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}

// DeleteKeys deletes the keys matching pattern, as a Redis restart without
// persistence would, one key per command so that keys of different hash
// slots can go together.
func DeleteKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) error {
	keys, err := Keys(ctx, rdb, pattern)
	if err != nil {
		return err
	}
	pipe := rdb.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, k)
	}
	if len(keys) > 0 {
		_, err = pipe.Exec(ctx)
	}
	return err
}

// Slot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its hash
// tag, the text between the first "{" and the next "}" when that is not
// empty, or of the whole key, modulo 16384. Tests use it to lose the keys
// of one slot, as a cluster loses a master's.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}

// OneConnection opens a migrated schema through a pool of one connection, so
// that what a test runs and then inspects (the session's prepared
// statements, say) happens in one session.
func OneConnection(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := open(t, Schema(t), 1)
	t.Cleanup(pool.Close)
	return pool
}

// PlanCache reports how the prepared statement whose text contains fragment
// was planned on pool's connection (OneConnection): PostgreSQL's count of
// generic and custom plans (pg_prepared_statements), and its generic plan
// as EXPLAIN prints it for args (its arguments in SQL).
func PlanCache(t testing.TB, pool *pgxpool.Pool, fragment, args string) (generic, custom int64, plan string) {
	t.Helper()
	ctx := context.Background()
	var name string
	err := pool.QueryRow(ctx, `SELECT name, generic_plans, custom_plans FROM pg_prepared_statements
		WHERE strpos(statement, $1) > 0`, fragment).Scan(&name, &generic, &custom)
	if err != nil {
		t.Fatalf("the prepared statement with %q: %v", fragment, err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN EXECUTE "+pgx.Identifier{name}.Sanitize()+"("+args+")")
	if err != nil {
		t.Fatalf("explain the prepared statement with %q: %v", fragment, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain the prepared statement with %q: %v", fragment, err)
	}
	return generic, custom, strings.Join(lines, "\n")
}

// LoaderPlan checks the plan of a loader's query (postgres.NewLoader), the
// prepared statement whose text contains fragment, on pool's connection
// (OneConnection). load runs the query a dozen times with different numbers
// of keys. Run first on the empty tables of a new database, its generic
// plan must not scan a table or a whole index (Scans): that plan would be
// kept as the tables fill. Nor, planned again once seed has filled them
// but before its ANALYZE statements run. Then, after those, the statement must
// run its generic plan instead of planning every call anew, and that plan
// must not scan a table either. args are the statement's arguments in SQL,
// for EXPLAIN.
func LoaderPlan(t *testing.T, pool *pgxpool.Pool, fragment, args string, seed []string, load func(n int)) {
	t.Helper()
	loadAll := func() {
		for n := range 12 {
			load(n%4 + 1)
		}
	}
	loadAll()
	if _, _, plan := PlanCache(t, pool, fragment, args); len(Scans(plan)) > 0 {
		t.Errorf("the query, planned on empty tables, scans %v:\n%s", Scans(plan), plan)
	}
	// Filled but not yet analyzed, as a new database's tables are for a
	// while: the plan made then is kept until the statistics change.
	var analyze []string
	for _, q := range seed {
		if strings.HasPrefix(strings.TrimSpace(q), "ANALYZE") {
			analyze = append(analyze, q)
			continue
		}
		if _, err := pool.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(context.Background(), "DISCARD PLANS"); err != nil {
		t.Fatal(err)
	}
	loadAll()
	if _, _, plan := PlanCache(t, pool, fragment, args); len(Scans(plan)) > 0 {
		t.Errorf("the query, planned on tables not yet analyzed, scans %v:\n%s", Scans(plan), plan)
	}
	for _, q := range analyze {
		if _, err := pool.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	loadAll()
	generic, custom, plan := PlanCache(t, pool, fragment, args)
	if generic == 0 {
		t.Errorf("the query was planned for every call (%d custom plans, %d generic)", custom, generic)
	}
	if len(Scans(plan)) > 0 {
		t.Errorf("the query scans %v, whose cost grows with the table, not with the keys:\n%s", Scans(plan), plan)
	}
}

// Scans lists the plan nodes of an EXPLAIN that read a whole relation: a
// sequential scan, or an index scan without an index condition (which
// walks the whole index, as a plan may choose to for its order or a
// partial index's filter).
func Scans(plan string) []string {
	lines := strings.Split(plan, "\n")
	var found []string
	for i, l := range lines {
		node := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "->"))
		switch {
		case strings.HasPrefix(node, "Seq Scan"):
			found = append(found, node)
		case strings.HasPrefix(node, "Index Scan"), strings.HasPrefix(node, "Index Only Scan"):
			indent := len(l) - len(strings.TrimLeft(l, " "))
			cond := false
			for _, d := range lines[i+1:] {
				if len(d)-len(strings.TrimLeft(d, " ")) <= indent || strings.HasPrefix(strings.TrimSpace(d), "->") {
					break
				}
				if strings.HasPrefix(strings.TrimSpace(d), "Index Cond:") {
					cond = true
				}
			}
			if !cond {
				found = append(found, node)
			}
		}
	}
	return found
}
