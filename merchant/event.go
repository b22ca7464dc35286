package merchant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// The event types sent to merchants.
const (
	EventPaid     = "order.paid"
	EventRefunded = "order.refunded"
	EventClosed   = "order.closed"
	EventExpired  = "order.expired"
)

// Event is a webhook event: what is POSTed to the merchant, and what the
// events API lists.
type Event struct {
	ID        string    `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Type      string    `json:"type" example:"order.paid" enum:"order.paid,order.refunded,order.closed,order.expired"`
	CreatedAt time.Time `json:"created_at"`
	OrderID   string    `json:"order_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c"`
	Sequence  int       `json:"sequence" example:"2" doc:"Counts one order's events from 1."`
	Data      EventData `json:"data"`
}

// EventData is the state the event reports.
type EventData struct {
	Order  Order   `json:"order"`
	Refund *Refund `json:"refund"`
}

// EventDelivery is an event with where its delivery stands.
type EventDelivery struct {
	Event
	Delivery Delivery `json:"delivery"`
}

// Delivery is an event's delivery state and its attempts.
type Delivery struct {
	Status        string     `json:"status" example:"delivered" enum:"pending,delivered,failed,no_endpoint"`
	Attempts      []Attempt  `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
}

// Attempt is one try at delivering an event.
type Attempt struct {
	Attempt    int       `json:"attempt" example:"1"`
	At         time.Time `json:"at"`
	StatusCode *int      `json:"status_code" example:"200"`
	Error      string    `json:"error,omitempty"`
	DurationMS int       `json:"duration_ms" example:"12"`
}

// emit writes an event for the order in tx, from the order's state in tx,
// numbered in the order's sequence. It is written in the same transaction
// as the change it reports, so an event exists if and only if the change
// committed.
func (s *Service) emit(ctx context.Context, tx pgx.Tx, orderID, typ string, refund *Refund) error {
	var mid string
	if err := tx.QueryRow(ctx, `SELECT merchant_id FROM orders WHERE id = $1`, orderID).Scan(&mid); err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	m, err := s.scanMerchant(tx.QueryRow(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE id = $1`, mid))
	if err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	o, err := s.scanOrder(tx.QueryRow(ctx, `UPDATE orders o SET events = events + 1 WHERE id = $1
		RETURNING `+orderColumns, orderID), &m)
	if err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	return s.insertEvent(ctx, tx, m, o, typ, refund)
}

// insertEvent writes the event of an order whose events counter was
// already advanced in tx (o.events is this event's sequence).
func (s *Service) insertEvent(ctx context.Context, tx pgx.Tx, m Merchant, o Order, typ string, refund *Refund) error {
	now := s.now()
	ev := Event{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, CreatedAt: now, OrderID: o.ID, Sequence: o.events,
		Data: EventData{Order: o, Refund: refund}}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	var next *time.Time
	if m.WebhookURL != "" {
		next = &now
	}
	_, err = tx.Exec(ctx, `INSERT INTO webhook_events (id, merchant_id, order_id, type, sequence, payload, created_at, next_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, ev.ID, m.ID, o.ID, typ, o.events, body, now, next)
	if err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	return nil
}

// EventPage is a page of events, newest first.
type EventPage struct {
	Data       []EventDelivery `json:"data"`
	HasMore    bool            `json:"has_more"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// Events lists the caller's events, optionally of one order.
func (s *Service) Events(ctx context.Context, c Caller, orderID, startingAfter string, limit int) (EventPage, error) {
	limit, after, err := pageParams(limit, startingAfter, "an event id")
	if err != nil {
		return EventPage{}, err
	}
	var order any
	if orderID != "" {
		id, err := uuid.Parse(orderID)
		if err != nil {
			return EventPage{}, errs.E(errs.Invalid, "order_id must be an order id")
		}
		order = id
	}
	rows, err := s.pool.Query(ctx, `SELECT id, payload, next_attempt_at, delivered_at, failed_at FROM webhook_events
		WHERE merchant_id = $1 AND id < $2 AND ($3::uuid IS NULL OR order_id = $3)
		ORDER BY id DESC LIMIT $4`, c.MerchantID, after, order, limit+1)
	if err != nil {
		return EventPage{}, fmt.Errorf("list events: %w", err)
	}
	page := EventPage{Data: []EventDelivery{}}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return EventPage{}, err
		}
		page.Data = append(page.Data, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return EventPage{}, err
	}
	if len(page.Data) > limit {
		page.Data, page.HasMore = page.Data[:limit], true
		page.NextCursor = page.Data[limit-1].ID
	}
	for i := range page.Data {
		if page.Data[i].Delivery.Attempts, err = s.attempts(ctx, page.Data[i].ID); err != nil {
			return EventPage{}, err
		}
	}
	return page, nil
}

func scanEvent(row pgx.Row) (EventDelivery, error) {
	var e EventDelivery
	var id string
	var body []byte
	var failed *time.Time
	if err := row.Scan(&id, &body, &e.Delivery.NextAttemptAt, &e.Delivery.DeliveredAt, &failed); err != nil {
		return e, err
	}
	if err := json.Unmarshal(body, &e.Event); err != nil {
		return e, fmt.Errorf("event %s: %w", id, err)
	}
	switch {
	case e.Delivery.DeliveredAt != nil:
		e.Delivery.Status = "delivered"
		e.Delivery.NextAttemptAt = nil
	case failed != nil:
		e.Delivery.Status = "failed"
		e.Delivery.NextAttemptAt = nil // given up: no attempt comes
	case e.Delivery.NextAttemptAt == nil:
		e.Delivery.Status = "no_endpoint"
	default:
		e.Delivery.Status = "pending"
	}
	return e, nil
}

func (s *Service) attempts(ctx context.Context, eventID string) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts
		WHERE event_id = $1 ORDER BY id`, eventID)
	if err != nil {
		return nil, fmt.Errorf("event attempts: %w", err)
	}
	defer rows.Close()
	list := []Attempt{}
	for rows.Next() {
		var a Attempt
		if err := rows.Scan(&a.Attempt, &a.At, &a.StatusCode, &a.Error, &a.DurationMS); err != nil {
			return nil, err
		}
		list = append(list, a)
	}
	return list, rows.Err()
}

// GetEvent reads one of the caller's events with its delivery attempts.
func (s *Service) GetEvent(ctx context.Context, c Caller, id string) (EventDelivery, error) {
	if _, err := uuid.Parse(id); err != nil {
		return EventDelivery{}, errs.E(errs.NotFound, "event not found")
	}
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT id, payload, next_attempt_at, delivered_at, failed_at
		FROM webhook_events WHERE id = $1 AND merchant_id = $2`, id, c.MerchantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return EventDelivery{}, errs.E(errs.NotFound, "event not found")
	}
	if err != nil {
		return EventDelivery{}, fmt.Errorf("get event: %w", err)
	}
	e.Delivery.Attempts, err = s.attempts(ctx, id)
	return e, err
}

// Redeliver schedules an event for delivery now, whatever its state.
func (s *Service) Redeliver(ctx context.Context, c Caller, id string) (EventDelivery, error) {
	if _, err := uuid.Parse(id); err != nil {
		return EventDelivery{}, errs.E(errs.NotFound, "event not found")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_events e SET next_attempt_at = $3, failed_at = NULL, delivered_at = NULL
		FROM merchants m WHERE e.id = $1 AND e.merchant_id = $2 AND m.id = e.merchant_id AND m.webhook_url <> ''`,
		id, c.MerchantID, s.now())
	if err != nil {
		return EventDelivery{}, fmt.Errorf("redeliver: %w", err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.GetEvent(ctx, c, id); err != nil {
			return EventDelivery{}, err
		}
		return EventDelivery{}, errs.E(errs.Conflict, "the merchant has no webhook URL")
	}
	return s.GetEvent(ctx, c, id)
}
