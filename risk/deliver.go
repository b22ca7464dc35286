package risk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qrpay/qrpay/sdk"
)

var alertDeliveries = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "qrpay_risk_alert_deliveries_total",
	Help: "Deliveries of risk alerts to the operator's webhook, by outcome (delivered, retry, failed).",
}, []string{"outcome"})

// DeliveryRetries is the pause before each retry of an undelivered alert:
// ten attempts over about 12 hours.
var DeliveryRetries = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 4 * time.Hour,
}

// DeliveryOptions configure the delivery of alerts to the operator.
type DeliveryOptions struct {
	URL string // the operator's webhook; empty: alerts are only stored
	// Secret signs each delivery (Qrpay-Signature, as merchants' webhooks
	// are signed: docs/webhooks.md); empty: unsigned.
	Secret   string
	Client   *http.Client // the egress-guarded client of merchants' webhooks
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// Deliverer delivers stored alerts to the operator's webhook from the
// alerts table, which is its outbox: alerts are stored first and delivered
// after, retried on the schedule above, and several replicas may run one
// each (a claim hides an alert from the others while it is delivered).
type Deliverer struct {
	q    Querier
	opts DeliveryOptions
	poke chan struct{}
}

// NewDeliverer returns a deliverer reading alerts through q.
func NewDeliverer(q Querier, opts DeliveryOptions) *Deliverer {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Deliverer{q: q, opts: opts, poke: make(chan struct{}, 1)}
}

// Enabled reports whether alerts are delivered at all.
func (d *Deliverer) Enabled() bool { return d != nil && d.opts.URL != "" }

// Poke asks for a delivery round now.
func (d *Deliverer) Poke() {
	if d == nil {
		return
	}
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for deliveries in flight.
func (d *Deliverer) Run(ctx context.Context) {
	if !d.Enabled() {
		return
	}
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	defer d.opts.Client.CloseIdleConnections()
	for {
		if err := d.Round(ctx); err != nil && ctx.Err() == nil {
			d.opts.Logger.Warn("alert delivery round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.poke:
		}
	}
}

type dueAlert struct {
	a        Alert
	attempts int
}

// Round claims the alerts that are due and delivers them.
func (d *Deliverer) Round(ctx context.Context) error {
	now := d.opts.Now()
	rows, err := d.q.Query(ctx, `UPDATE risk_alerts SET next_attempt_at = $2
		WHERE id IN (SELECT id FROM risk_alerts
			WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
			ORDER BY next_attempt_at LIMIT 32 FOR UPDATE SKIP LOCKED)
		RETURNING id, wallet_id, coalesce(card_id::text, ''), kind, rule, outcome, reason, amount, currency,
			coalesce(transfer_id::text, ''), created_at, attempts`, now, now.Add(time.Minute))
	if err != nil {
		return fmt.Errorf("claim alerts: %w", err)
	}
	var due []dueAlert
	for rows.Next() {
		var x dueAlert
		a := &x.a
		if err := rows.Scan(&a.ID, &a.WalletID, &a.CardID, &a.Kind, &a.Rule, &a.Outcome, &a.Reason, &a.Amount, &a.Currency,
			&a.TransferID, &a.CreatedAt, &x.attempts); err != nil {
			rows.Close()
			return err
		}
		a.Delivery = "pending"
		due = append(due, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, x := range due {
		wg.Go(func() { d.deliver(context.WithoutCancel(ctx), x) })
	}
	wg.Wait()
	return nil
}

func (d *Deliverer) deliver(ctx context.Context, x dueAlert) {
	errText := ""
	if status, err := d.post(ctx, x.a); err != nil {
		errText = err.Error()
	} else if status < 200 || status > 299 {
		errText = "endpoint answered " + strconv.Itoa(status)
	}
	now := d.opts.Now()
	attempt := x.attempts + 1
	var delivered, failed, next *time.Time
	outcome := "delivered"
	switch {
	case errText == "":
		delivered = &now
	case attempt > len(DeliveryRetries):
		failed, outcome = &now, "failed"
	default:
		at := now.Add(DeliveryRetries[attempt-1])
		next, outcome = &at, "retry"
	}
	alertDeliveries.WithLabelValues(outcome).Inc()
	if _, err := d.q.Exec(ctx, `UPDATE risk_alerts SET attempts = $2, delivered_at = $3, failed_at = $4,
		next_attempt_at = coalesce($5, next_attempt_at) WHERE id = $1`, x.a.ID, attempt, delivered, failed, next); err != nil {
		d.opts.Logger.Warn("recording an alert delivery failed; it will be retried", "alert", x.a.ID, "err", err)
	}
	if errText != "" {
		d.opts.Logger.Warn("alert delivery failed", "alert", x.a.ID, "attempt", attempt, "err", errText)
	}
}

func (d *Deliverer) post(ctx context.Context, a Alert) (int, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.opts.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "qrpay-alerts/1")
	req.Header.Set("Qrpay-Alert-Id", a.ID)
	if d.opts.Secret != "" {
		req.Header.Set(sdk.WebhookSignatureHeader, sdk.SignWebhook(d.opts.Secret, d.opts.Now(), body))
	}
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
