package merchant

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// Target is what a payload or order id resolves to: the merchant to pay
// and, unless the QR is static, the order.
type Target struct {
	Merchant Merchant
	Order    *Order // nil for a static QR
}

// Resolve finds and checks what is being paid, given a scanned payload or
// an order id: the payload's MAC, the merchant's state and the order's
// state. The order's state is checked again, atomically, in the batch that
// commits the payment (ledger.OrderChange).
func (s *Service) Resolve(ctx context.Context, payload, orderID string) (Target, error) {
	var t Target
	var err error
	switch {
	case payload != "" && orderID != "":
		return t, errs.E(errs.Invalid, "give qr_payload or order_id, not both")
	case payload != "":
		q, err := s.ParseQR(payload)
		if err != nil {
			return t, err
		}
		if !q.Static && !s.now().Before(q.ExpiresAt) {
			return t, errs.E(errs.OrderExpired, "the order has expired")
		}
		if t.Merchant, err = s.merchantByCode(ctx, q.MerchantCode); err != nil {
			return t, err
		}
		if !q.Static {
			o, found, err := s.ordersByRef.Load(ctx, q.Ref)
			if err != nil {
				return t, fmt.Errorf("resolve order: %w", err)
			}
			if !found || o.MerchantID != t.Merchant.ID {
				return t, errs.E(errs.NotFound, "order not found")
			}
			if o, err = s.completeOrder(o, &t.Merchant); err != nil {
				return t, err
			}
			t.Order = &o
		}
	case orderID != "":
		if _, err := uuid.Parse(orderID); err != nil {
			return t, errs.E(errs.NotFound, "order not found")
		}
		var mid string
		if err := s.pool.QueryRow(ctx, `SELECT merchant_id FROM orders WHERE id = $1 AND NOT static`, orderID).Scan(&mid); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return t, errs.E(errs.NotFound, "order not found")
			}
			return t, fmt.Errorf("resolve order: %w", err)
		}
		if t.Merchant, err = s.Get(ctx, mid); err != nil {
			return t, err
		}
		o, err := s.order(ctx, Caller{MerchantID: mid}, "o.id = $2", orderID)
		if err != nil {
			return t, err
		}
		if o.CustomerPresented() {
			// Only the wallet whose code was charged pays it.
			return t, errs.E(errs.NotFound, "order not found")
		}
		t.Order = &o
	default:
		return t, errs.E(errs.Invalid, "qr_payload or order_id is required")
	}
	if t.Merchant.Status != "active" {
		return t, errs.E(errs.MerchantSuspended, "the merchant is suspended and cannot be paid")
	}
	if t.Order != nil {
		if err := payable(t.Order.Status); err != nil {
			return t, err
		}
	}
	return t, nil
}

// payable maps an order's state to why it cannot be paid.
func payable(status string) error {
	switch status {
	case StatusCreated:
		return nil
	case StatusClosed:
		return errs.E(errs.OrderClosed, "the order was closed by the merchant")
	case StatusExpired:
		return errs.E(errs.OrderExpired, "the order has expired")
	}
	return errs.E(errs.OrderAlreadyPaid, "the order has already been paid")
}

// loadOrdersByRef reads the orders of many payments being resolved at once
// in one query (postgres.Loader): the stored fields only, completed by the
// caller with the merchant the payload named. The refs come through a
// subquery so that the statement keeps its generic plan, and each is its own
// index probe, so that the plan does not depend on the table's size when it
// was made (postgres.NewLoader).
func (s *Service) loadOrdersByRef(ctx context.Context, refs []string) (map[string]Order, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+orderColumns+`
		FROM (SELECT $1::text[] AS refs OFFSET 0) AS keys CROSS JOIN LATERAL unnest(keys.refs) AS k(ref)
		CROSS JOIN LATERAL (SELECT * FROM orders WHERE orders.ref = k.ref LIMIT 1) AS o`, refs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := make(map[string]Order, len(refs))
	for rows.Next() {
		o, err := scanOrderRow(rows)
		if err != nil {
			return nil, err
		}
		found[o.ref] = o
	}
	return found, rows.Err()
}
