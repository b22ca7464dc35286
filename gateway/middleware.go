package gateway

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qrpay/qrpay/gateway/web"
)

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "qrpay_http_requests_total",
		Help: "HTTP requests by method, route template and status.",
	}, []string{"method", "route", "status"})
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "qrpay_http_request_duration_seconds",
		Help:    "HTTP request latency by method, route template and status.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "route", "status"})
	httpInFlight = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "qrpay_http_in_flight_requests",
		Help: "HTTP requests being served.",
	})
)

const headerRequestID = "X-Request-Id"

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

func newRequestID() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return idEncoding.EncodeToString(b)
}

// requestID returns the request's id, creating one if the request bypassed
// the middleware (the server rejects oversized bodies before routing).
func requestID(c *fiber.Ctx) string {
	if id, ok := c.Locals(requestIDKey).(string); ok {
		return id
	}
	id := newRequestID()
	c.Locals(requestIDKey, id)
	c.Set(headerRequestID, id)
	// Every answer is data for one caller: never sniffed into something
	// else by a browser, never kept by a cache on the way.
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return id
}

// observe is the outermost middleware: request id, access log, metrics and
// panic recovery, so that every response, even a crash, has all four.
func (s *Server) observe(c *fiber.Ctx) (err error) {
	start := time.Now()
	// Fiber's strings point into buffers that are reused after the request;
	// anything that outlives it (ids in contexts, metric labels) is cloned.
	id := strings.Clone(c.Get(headerRequestID))
	if !validRequestID.MatchString(id) {
		id = newRequestID()
	}
	c.Locals(requestIDKey, id)
	c.Set(headerRequestID, id)
	// Every answer is data for one caller: never sniffed into something
	// else by a browser, never kept by a cache on the way.
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.SetUserContext(withRequestID(c.UserContext(), id))
	httpInFlight.Inc()
	defer httpInFlight.Dec()

	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(c.UserContext(), "panic serving request",
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("panic: %v", r)
		}
		if err != nil {
			if herr := s.errorHandler(c, err); herr != nil {
				s.log.ErrorContext(c.UserContext(), "writing error response", slog.Any("err", herr))
			}
			err = nil
		}
		route := "unmatched"
		if r := c.Route(); r != nil && r.Path != "/" && r.Path != "" {
			route = r.Path
		}
		status := c.Response().StatusCode()
		elapsed := time.Since(start)
		labels := prometheus.Labels{"method": strings.Clone(c.Method()), "route": strings.Clone(route), "status": strconv.Itoa(status)}
		httpRequests.With(labels).Inc()
		httpDuration.With(labels).Observe(elapsed.Seconds())
		if s.cfg.AccessLog {
			s.log.InfoContext(c.UserContext(), "request",
				slog.String("method", c.Method()), slog.String("path", web.Redact(c.Path())), slog.String("route", route),
				slog.Int("status", status), slog.Duration("duration", elapsed))
		}
	}()
	return c.Next()
}
