package sdk

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// EventType says what happened to an order.
type EventType string

// The event types.
const (
	EventOrderPaid     EventType = "order.paid"
	EventOrderRefunded EventType = "order.refunded"
	EventOrderClosed   EventType = "order.closed"
	EventOrderExpired  EventType = "order.expired"
)

// Event tells a merchant that one of its orders changed. It is the body the
// gateway POSTs to the merchant's webhook URL (see ConstructEvent), and what
// the events API lists, so that a receiver that was down can catch up.
type Event struct {
	// ID is unique per event; a receiver uses it to ignore a duplicate
	// delivery (deliveries are at least once).
	ID        string    `json:"id"`
	Type      EventType `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	OrderID   string    `json:"order_id"`
	// Sequence counts the events of one order from 1. Deliveries may arrive
	// out of order; apply an event only if its Sequence is above the last
	// one applied for its order.
	Sequence int       `json:"sequence"`
	Data     EventData `json:"data"`
	// Delivery is where the event's delivery stands. The events API fills
	// it; a webhook body has none.
	Delivery *Delivery `json:"delivery,omitempty"`
}

// EventData is the state the event reports, as it was when it happened.
type EventData struct {
	Order *Order `json:"order"`
	// Refund is the refund that caused an order.refunded event, else nil.
	Refund *Refund `json:"refund"`
}

// Delivery is how far the gateway got delivering an event: what to look at
// when a receiver says it never heard of it.
type Delivery struct {
	// Status is "pending", "delivered", "failed" (retries exhausted) or
	// "no_endpoint" (the merchant has no webhook URL).
	Status   string            `json:"status"`
	Attempts []DeliveryAttempt `json:"attempts"`
	// NextAttemptAt is when the gateway tries again, nil if it will not.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
}

// DeliveryAttempt is one try at POSTing an event to the webhook URL.
type DeliveryAttempt struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// StatusCode is the receiver's answer, nil if none came (a timeout, a
	// refused connection).
	StatusCode *int   `json:"status_code"`
	Error      string `json:"error"`
	DurationMS int64  `json:"duration_ms"`
}

// ListEventsParams filters and pages ListEvents.
type ListEventsParams struct {
	// OrderID, if set, lists only this order's events.
	OrderID string
	// Limit is the page size; see ListOrdersParams.Limit.
	Limit int
	// StartingAfter resumes a listing after this event id.
	StartingAfter string
}

// ListEvents yields the merchant's webhook events, newest first, fetching
// pages as the range needs them; a receiver that was down uses it to catch
// up. A failed page is yielded as (nil, err) and ends the listing.
func (c *Client) ListEvents(ctx context.Context, params *ListEventsParams) iter.Seq2[*Event, error] {
	q := url.Values{}
	if params != nil {
		if params.OrderID != "" {
			q.Set("order_id", params.OrderID)
		}
		setPaging(q, params.Limit, params.StartingAfter)
	}
	return paginate(ctx, c, "/v1/webhooks/events", q, func(e *Event) string { return e.ID })
}

// GetEvent returns an event with its Delivery, to see why a receiver did not
// get it.
func (c *Client) GetEvent(ctx context.Context, id string) (*Event, error) {
	seg, err := segment("event id", id)
	if err != nil {
		return nil, err
	}
	var e Event
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/webhooks/events/" + seg}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// RedeliverEvent asks the gateway to POST an event to the webhook URL again,
// after the receiver was fixed. The delivery happens asynchronously; the
// returned event's Delivery is as it stood when the request was accepted.
func (c *Client) RedeliverEvent(ctx context.Context, id string) (*Event, error) {
	seg, err := segment("event id", id)
	if err != nil {
		return nil, err
	}
	var e Event
	if err := c.call(ctx, request{method: http.MethodPost, path: "/v1/webhooks/events/" + seg + "/redeliver"}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}
