package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
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

// readyz answers 200 only when PostgreSQL and Redis answer and the server is
// not draining.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), time.Second)
	defer cancel()
	h := Health{Status: "ok", Checks: map[string]string{"postgres": "ok", "redis": "ok"}}
	if s.draining.Load() {
		h.Status, h.Checks["server"] = "draining", "draining"
	}
	// The causes are logged, not shown: /readyz is unauthenticated.
	if err := s.deps.Pool.Ping(ctx); err != nil {
		h.Status, h.Checks["postgres"] = "unavailable", "unavailable"
		s.log.WarnContext(ctx, "readiness: postgres", "err", err)
	}
	if err := s.deps.Redis.Ping(ctx).Err(); err != nil {
		h.Status, h.Checks["redis"] = "unavailable", "unavailable"
		s.log.WarnContext(ctx, "readiness: redis", "err", err)
	}
	if h.Status != "ok" {
		c.Status(http.StatusServiceUnavailable)
	}
	return c.JSON(h)
}
