package merchant

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qrpay/qrpay/sdk"
)

var webhookAttempts = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "qrpay_webhook_attempts_total",
	Help: "Webhook delivery attempts by outcome (delivered, retry, failed).",
}, []string{"outcome"})

// RetrySchedule is the pause before each retry of an undelivered event:
// twelve attempts over about 24 hours. docs/webhooks.md lists it. It is
// the dispatcher's default (DispatcherOptions.RetrySchedule).
var RetrySchedule = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour,
}

// DispatcherOptions tune webhook delivery.
type DispatcherOptions struct {
	Interval time.Duration // how often to look for due events and expire orders (default 1 s)
	// PokeGap is the least time between two rounds that Poke asked for
	// (default 20 ms): under load, the payments committed meanwhile share
	// one round instead of each batch of them starting its own.
	PokeGap     time.Duration
	Concurrency int           // deliveries in flight (default 8)
	Timeout     time.Duration // per delivery (default 10 s)
	// RetrySchedule is the pause before each retry of an undelivered
	// event; after the last retry fails the event is given up (default
	// RetrySchedule).
	RetrySchedule []time.Duration
	// AllowNetworks are private networks webhooks may be delivered to
	// after all (development: 127.0.0.0/8); public addresses always may.
	AllowNetworks []netip.Prefix
	Client        *http.Client // default: webhookClient
	Logger        *slog.Logger
}

// Dispatcher delivers webhook events from the outbox and expires orders.
// It runs beside the HTTP server, so a slow or dead merchant endpoint
// never holds up a payment; several replicas may run one each.
type Dispatcher struct {
	s    *Service
	opts DispatcherOptions
	log  *slog.Logger
	poke chan struct{}
}

// NewDispatcher returns a dispatcher for s's events.
func (s *Service) NewDispatcher(opts DispatcherOptions) *Dispatcher {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.PokeGap <= 0 {
		opts.PokeGap = 20 * time.Millisecond
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if len(opts.RetrySchedule) == 0 {
		opts.RetrySchedule = RetrySchedule
	}
	if opts.Client == nil {
		opts.Client = webhookClient(opts.Timeout, opts.AllowNetworks)
	}
	if opts.Logger == nil {
		opts.Logger = s.log
	}
	return &Dispatcher{s: s, opts: opts, log: opts.Logger, poke: make(chan struct{}, 1)}
}

// Poke asks for a delivery round now (after a payment committed).
func (d *Dispatcher) Poke() {
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for deliveries in flight. It
// expires orders every Interval (a payment checks the order's expiry
// itself, so the sweep only records the state and its webhook) and looks
// for due events every Interval and, at most every PokeGap, when poked.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	defer d.opts.Client.CloseIdleConnections() // no keep-alive goroutines outlive the dispatcher
	var expired time.Time
	for {
		if time.Since(expired) >= d.opts.Interval {
			expired = time.Now()
			if _, err := d.s.ExpireDue(ctx, 500); err != nil && ctx.Err() == nil {
				d.log.Warn("expiring orders failed", "err", err)
			}
		}
		round := time.Now()
		for {
			n, err := d.Round(ctx)
			if err != nil && ctx.Err() == nil {
				d.log.Warn("webhook round failed", "err", err)
			}
			if n < d.opts.Concurrency*4 || ctx.Err() != nil {
				break // a full batch means more may be due
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.poke:
			// Let the pokes of the next PokeGap gather into this one.
			if wait := d.opts.PokeGap - time.Since(round); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

type dueEvent struct {
	id, merchantID string
	payload        []byte
	attempts       int
	url            string
	gen            int
	prevUntil      *time.Time // the previous secret signs too until then
}

// Round claims the events that are due and delivers them; it returns how
// many it tried. A claim pushes next_attempt_at past the delivery timeout,
// so another replica does not deliver the same event at the same time.
func (d *Dispatcher) Round(ctx context.Context) (int, error) {
	now := d.s.now()
	rows, err := d.s.pool.Query(ctx, `
		UPDATE webhook_events e SET next_attempt_at = $2
		FROM merchants m
		WHERE m.id = e.merchant_id AND e.id IN (
			SELECT id FROM webhook_events
			WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
			ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING e.id, e.merchant_id, e.payload, e.attempts, m.webhook_url, m.webhook_secret_gen,
			m.webhook_secret_prev_until`,
		now, now.Add(2*d.opts.Timeout), d.opts.Concurrency*4)
	if err != nil {
		return 0, fmt.Errorf("claim events: %w", err)
	}
	var due []dueEvent
	for rows.Next() {
		var e dueEvent
		if err := rows.Scan(&e.id, &e.merchantID, &e.payload, &e.attempts, &e.url, &e.gen, &e.prevUntil); err != nil {
			rows.Close()
			return 0, err
		}
		due = append(due, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	sem := make(chan struct{}, d.opts.Concurrency)
	var wg sync.WaitGroup
	for _, e := range due {
		if ctx.Err() != nil {
			break // shutting down: the claim's lease hands these to the next round
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.deliver(context.WithoutCancel(ctx), e)
		}()
	}
	wg.Wait()
	return len(due), nil
}

// deliver POSTs one event and records the attempt and what comes next.
func (d *Dispatcher) deliver(ctx context.Context, e dueEvent) {
	start := time.Now()
	attempt := e.attempts + 1
	var code *int
	errText := ""
	if e.url == "" {
		errText = "the merchant has no webhook URL"
	} else {
		status, err := d.post(ctx, e)
		if err != nil {
			errText = err.Error()
		}
		if status != 0 {
			code = &status
			if status < 200 || status > 299 {
				errText = "endpoint answered " + strconv.Itoa(status)
			}
		}
	}
	now := d.s.now()
	outcome := "delivered"
	var delivered, failed, next *time.Time
	switch {
	case errText == "":
		delivered = &now
	case attempt > len(d.opts.RetrySchedule):
		failed, outcome = &now, "failed"
	default:
		at := now.Add(d.opts.RetrySchedule[attempt-1])
		next, outcome = &at, "retry"
	}
	webhookAttempts.WithLabelValues(outcome).Inc()
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO webhook_attempts (event_id, attempt, at, status_code, error, duration_ms)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.id, attempt, now, code, errText, int(time.Since(start).Milliseconds()))
	batch.Queue(`UPDATE webhook_events SET attempts = $2, delivered_at = $3, failed_at = $4,
		next_attempt_at = coalesce($5, next_attempt_at) WHERE id = $1`, e.id, attempt, delivered, failed, next)
	if err := d.s.pool.SendBatch(ctx, batch).Close(); err != nil {
		d.log.Warn("recording a webhook attempt failed; the event will be retried", "event", e.id, "err", err)
	}
	if failed != nil {
		d.log.Warn("webhook event given up after every retry", "event", e.id, "merchant", e.merchantID)
	}
}

func (d *Dispatcher) post(ctx context.Context, e dueEvent) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(e.payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "qrpay-webhooks/1")
	req.Header.Set("Qrpay-Event-Id", e.id)
	// Signed when sent, not when claimed: a grace that ends meanwhile ends
	// for this delivery too.
	now := d.s.now()
	req.Header.Set(sdk.WebhookSignatureHeader,
		sdk.SignWebhookWithSecrets(d.s.signingSecrets(e.merchantID, e.gen, e.prevUntil, now), now, e.payload))
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
