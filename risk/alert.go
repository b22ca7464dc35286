package risk

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qrpay/qrpay/errs"
)

var alertsStored = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "qrpay_risk_alerts_total",
	Help: "Risk alerts stored, by rule and outcome (alert, step_up, decline).",
}, []string{"rule", "outcome"})

// Querier is what the alert store needs of PostgreSQL: a pool or a
// transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Alert is a finding that was acted upon: stored, listed for the operator
// and the wallet's owner, and delivered to the operator's webhook.
type Alert struct {
	ID       string `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	WalletID string `json:"wallet_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c"`
	CardID   string `json:"card_id,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5d"`
	Kind     Kind   `json:"kind" example:"payment" enum:"payment,topup,transfer,withdrawal"`
	Rule     string `json:"rule" example:"card_velocity" enum:"card_velocity,card_merchants,unusual_amount,new_card_large_amount,repeated_declines,new_recipient"`
	Outcome  string `json:"outcome" example:"step_up" enum:"alert,step_up,decline" doc:"alert: allowed; step_up: allowed after a step-up; decline: refused."`
	Reason   string `json:"reason" example:"6 payments with this card in the last minute"`
	Amount   int64  `json:"amount" example:"1200"`
	Currency string `json:"currency" example:"CNY"`
	// TransferID is the movement that went through, if it did.
	TransferID string    `json:"transfer_id,omitempty" example:""`
	CreatedAt  time.Time `json:"created_at"`
	Delivery   string    `json:"delivery" example:"delivered" enum:"pending,delivered,failed,no_endpoint" doc:"Delivery to the operator's webhook."`
}

// NewAlerts turns the findings of a decision into alerts, one per finding.
// outcome is what became of the movement (a step-up that was passed is
// step_up, whatever the rule asked for).
func NewAlerts(f Facts, d Decision, transferID string, now time.Time) []Alert {
	var list []Alert
	for _, fd := range d.Findings {
		list = append(list, Alert{ID: uuid.Must(uuid.NewV7()).String(), WalletID: f.WalletID, CardID: f.CardID, Kind: f.Kind,
			Rule: fd.Rule, Outcome: fd.Outcome.String(), Reason: fd.Reason, Amount: f.Amount, Currency: f.Currency,
			TransferID: transferID, CreatedAt: now})
	}
	return list
}

// InsertAlert stores an alert; deliver schedules its delivery to the
// operator's webhook. q may be a transaction (the wallet writes the alert
// and its feed entry together).
func InsertAlert(ctx context.Context, q Querier, a Alert, deliver bool) error {
	var next *time.Time
	if deliver {
		next = &a.CreatedAt
	}
	_, err := q.Exec(ctx, `INSERT INTO risk_alerts (id, wallet_id, card_id, kind, rule, outcome, reason, amount, currency,
			transfer_id, created_at, next_attempt_at)
		VALUES ($1, $2, nullif($3, '')::uuid, $4, $5, $6, $7, $8, $9, nullif($10, '')::uuid, $11, $12)`,
		a.ID, a.WalletID, a.CardID, a.Kind, a.Rule, a.Outcome, a.Reason, a.Amount, a.Currency, a.TransferID, a.CreatedAt, next)
	if err != nil {
		return fmt.Errorf("store alert: %w", err)
	}
	alertsStored.WithLabelValues(a.Rule, a.Outcome).Inc()
	return nil
}

// AlertFilter selects alerts: by wallet, rule and time (From inclusive,
// To exclusive), newest first, after the cursor StartingAfter (an alert id).
type AlertFilter struct {
	WalletID, Rule string
	From, To       time.Time
	StartingAfter  string
	Limit          int
}

// AlertPage is a page of alerts, newest first.
type AlertPage struct {
	Data       []Alert `json:"data"`
	HasMore    bool    `json:"has_more"`
	NextCursor string  `json:"next_cursor,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
}

// ListAlerts reads a page of alerts.
func ListAlerts(ctx context.Context, q Querier, f AlertFilter) (AlertPage, error) {
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > 200 {
		return AlertPage{}, errs.E(errs.Invalid, "limit must be 1 to 200")
	}
	if f.Rule != "" && !knownRule(f.Rule) {
		return AlertPage{}, errs.E(errs.Invalid, "rule must be one of %s", strings.Join(RuleNames, ", "))
	}
	var wallet, after any
	if f.WalletID != "" {
		id, err := uuid.Parse(f.WalletID)
		if err != nil {
			return AlertPage{}, errs.E(errs.Invalid, "wallet_id must be a wallet id")
		}
		wallet = id
	}
	if f.StartingAfter != "" {
		id, err := uuid.Parse(f.StartingAfter)
		if err != nil {
			return AlertPage{}, errs.E(errs.Invalid, "starting_after must be an alert id")
		}
		after = id
	}
	var from, to any
	if !f.From.IsZero() {
		from = f.From
	}
	if !f.To.IsZero() {
		to = f.To
	}
	rows, err := q.Query(ctx, `SELECT id, wallet_id, coalesce(card_id::text, ''), kind, rule, outcome, reason, amount, currency,
			coalesce(transfer_id::text, ''), created_at,
			CASE WHEN delivered_at IS NOT NULL THEN 'delivered' WHEN failed_at IS NOT NULL THEN 'failed'
				WHEN next_attempt_at IS NULL THEN 'no_endpoint' ELSE 'pending' END
		FROM risk_alerts a
		WHERE ($1::uuid IS NULL OR wallet_id = $1) AND ($2 = '' OR rule = $2)
			AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
			AND ($5::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM risk_alerts WHERE id = $5))
		ORDER BY created_at DESC, id DESC LIMIT $6`, wallet, f.Rule, from, to, after, f.Limit+1)
	if err != nil {
		return AlertPage{}, fmt.Errorf("list alerts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Alert, error) {
		var a Alert
		err := row.Scan(&a.ID, &a.WalletID, &a.CardID, &a.Kind, &a.Rule, &a.Outcome, &a.Reason, &a.Amount, &a.Currency,
			&a.TransferID, &a.CreatedAt, &a.Delivery)
		return a, err
	})
	if err != nil {
		return AlertPage{}, fmt.Errorf("list alerts: %w", err)
	}
	page := AlertPage{Data: list}
	if page.Data == nil {
		page.Data = []Alert{}
	}
	if len(list) > f.Limit {
		page.Data, page.HasMore = list[:f.Limit], true
		page.NextCursor = list[f.Limit-1].ID
	}
	return page, nil
}
