package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
)

// Health is the body of /livez and /readyz.
type Health struct {
	Status string            `json:"status" example:"ok"`
	Checks map[string]string `json:"checks,omitempty"`
}

// livez answers while the process runs; it checks nothing else, so a
// database outage never gets the process restarted.
func (s *Server) livez(c *fiber.Ctx) error {
	return c.JSON(Health{Status: "ok"})
}

// readyBudget bounds each dependency's readiness check. The checks run side
// by side, so a dependency that hangs costs its own budget, not the others'.
const readyBudget = time.Second

// readyz answers 200 only when PostgreSQL and Redis each answer within
// their budget and the server is not draining. It reports the maintenance
// switch without failing on it.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx := c.UserContext()
	checks := map[string]func(context.Context) error{
		"postgres": s.deps.Pool.Ping,
		"redis":    func(ctx context.Context) error { return pingRedis(ctx, s.deps.Redis) },
	}
	results := make(map[string]error, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, readyBudget)
			defer cancel()
			err := check(ctx)
			mu.Lock()
			results[name] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	h := Health{Status: "ok", Checks: map[string]string{}}
	// Maintenance is the operator's decision, not unreadiness: the replica
	// serves reads and answers money-moving requests itself (503
	// maintenance), so it stays in the load balancer's rotation.
	if s.deps.Notice != nil {
		h.Checks["maintenance"] = "off"
		if s.deps.Notice.CurrentMaintenance(ctx).Active {
			h.Checks["maintenance"] = "active"
		}
	}
	if s.draining.Load() {
		h.Status, h.Checks["server"] = "draining", "draining"
	}
	for name, err := range results {
		h.Checks[name] = "ok"
		if err != nil {
			// The cause is logged, not shown: /readyz is unauthenticated.
			h.Status, h.Checks[name] = "unavailable", "unavailable"
			s.log.WarnContext(ctx, "readiness: "+name, "err", err)
		}
	}
	if h.Status != "ok" {
		c.Status(http.StatusServiceUnavailable)
	}
	return c.JSON(h)
}

// pingRedis pings Redis; on a cluster, every master, side by side: each
// holds its share of the keys, and one that does not answer fails every
// request whose keys it holds.
func pingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	cluster, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Ping(ctx).Err()
	}
	return cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		return node.Ping(ctx).Err()
	})
}
