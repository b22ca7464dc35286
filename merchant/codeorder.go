package merchant

import (
	"context"
	"fmt"
	"strings"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/postgres"
)

// codeRefPrefix starts the reference of an order made by charging a
// customer-presented payment code. References of scanned orders are upper
// case (randomCode), so the two never meet.
const codeRefPrefix = "c"

// CustomerPresented reports whether the order was made by charging a
// payment code the customer showed. Such an order has no QR code, and only
// the code's wallet can pay it (see ResolveCodeOrder).
func (o Order) CustomerPresented() bool { return strings.HasPrefix(o.ref, codeRefPrefix) }

// CodeOrder checks and builds the order of a code charge exactly as
// CreateOrder checks an order, without storing it: InsertCodeOrder stores
// it in the transaction that spends the code.
func (s *Service) CodeOrder(ctx context.Context, c Caller, in OrderInput) (Order, Merchant, error) {
	o, m, err := s.newOrder(ctx, c, in)
	if err != nil {
		return Order{}, m, err
	}
	o.ref = codeRefPrefix + randomCode(19)
	return o, m, nil
}

// InsertCodeOrder stores an order made by CodeOrder in q, the transaction
// that spends its code. A merchant order number used already is a
// conflict.
func (s *Service) InsertCodeOrder(ctx context.Context, q ledger.Querier, o Order) error {
	if !o.CustomerPresented() {
		return errs.E(errs.Invalid, "not a code charge's order")
	}
	_, err := q.Exec(ctx, `INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency,
		description, terminal_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		o.ID, o.MerchantID, o.MerchantOrderNo, o.ref, o.Amount, o.Currency, o.Description, o.TerminalID, o.ExpiresAt, o.CreatedAt)
	if postgres.IsUniqueViolation(err, "orders_merchant_order_no") {
		return errs.E(errs.Conflict, "merchant_order_no %q is already used", o.MerchantOrderNo)
	}
	if err != nil {
		return fmt.Errorf("create order: %w", err)
	}
	return nil
}

// ResolveCodeOrder finds and checks the order of a code charge for its
// payment, as Resolve does for a scanned order.
func (s *Service) ResolveCodeOrder(ctx context.Context, merchantID, orderID string) (Target, error) {
	var t Target
	var err error
	if t.Merchant, err = s.Get(ctx, merchantID); err != nil {
		return t, err
	}
	o, err := s.GetOrder(ctx, Caller{MerchantID: merchantID}, orderID)
	if err != nil {
		return t, err
	}
	if !o.CustomerPresented() {
		return t, errs.E(errs.NotFound, "order not found")
	}
	if t.Merchant.Status != "active" {
		return t, errs.E(errs.MerchantSuspended, "the merchant is suspended and cannot be paid")
	}
	if err := payable(o.Status); err != nil {
		return t, err
	}
	t.Order = &o
	return t, nil
}
