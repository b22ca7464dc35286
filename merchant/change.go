package merchant

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/ledger"
)

// Payer is who paid an order, as the order records it.
type Payer struct {
	WalletID        string
	WalletAccountID int64
	Card            string // masked
}

// PayChange is what paying t costs the order side: the order marked paid
// (or, for a static QR, a new paid order) and its order.paid event, as
// data for the ledger batch that commits the payment. It returns the
// change and the order's id.
func (s *Service) PayChange(t Target, amount, fee int64, payer Payer) (*ledger.OrderChange, error) {
	m := t.Merchant
	walletID, err := uuid.Parse(payer.WalletID)
	if err != nil {
		return nil, fmt.Errorf("pay change: wallet id: %w", err)
	}
	merchantID, err := uuid.Parse(m.ID)
	if err != nil {
		return nil, fmt.Errorf("pay change: merchant id: %w", err)
	}
	now := s.now()
	c := &ledger.OrderChange{Op: ledger.OrderPay, MerchantID: merchantID, Status: StatusPaid, Now: now,
		WalletID: walletID, WalletAccountID: payer.WalletAccountID, Card: payer.Card, Fee: fee}
	var paid Order
	if t.Order != nil {
		paid = *t.Order
		if c.OrderID, err = uuid.Parse(paid.ID); err != nil {
			return nil, fmt.Errorf("pay change: order id: %w", err)
		}
	} else {
		// A static QR's payment becomes a paid order of its own.
		c.Op, c.OrderID, c.Amount, c.Ref = ledger.OrderInsertPaid, uuid.Must(uuid.NewV7()), amount, "S"+randomCode(19)
		c.OrderNo = "static-" + c.OrderID.String()
		paid = Order{ID: c.OrderID.String(), MerchantID: m.ID, MerchantOrderNo: c.OrderNo, Amount: amount,
			Currency: m.Currency, ExpiresAt: ledger.Stamp, CreatedAt: ledger.Stamp, static: true}
	}
	stamp := ledger.Stamp
	paid.Status, paid.PaidAt, paid.Fee = StatusPaid, &stamp, fee
	c.Event, err = s.changeEvent(m, paid, EventPaid, nil)
	return c, err
}

// RefundChange is what refunding r of order o does on the order side: the
// order's refunded amount and state, the refund row and the order.refunded
// event, as data for the ledger batch that commits the refund. The batch
// refuses it (ledger.ErrOrderChanged) if another refund committed since o
// was read.
func (s *Service) RefundChange(m Merchant, o Order, r Refund) (*ledger.OrderChange, error) {
	orderID, err := uuid.Parse(o.ID)
	if err != nil {
		return nil, fmt.Errorf("refund change: order id: %w", err)
	}
	merchantID, err := uuid.Parse(m.ID)
	if err != nil {
		return nil, fmt.Errorf("refund change: merchant id: %w", err)
	}
	refundID, err := uuid.Parse(r.ID)
	if err != nil {
		return nil, fmt.Errorf("refund change: refund id: %w", err)
	}
	after := o
	after.RefundedAmount += r.Amount
	after.feeRefunded += r.FeeRefunded
	after.Status = StatusPartiallyRefunded
	if after.RefundedAmount == o.Amount {
		after.Status = StatusRefunded
	}
	r.CreatedAt = ledger.Stamp
	c := &ledger.OrderChange{Op: ledger.OrderRefund, OrderID: orderID, MerchantID: merchantID, Status: after.Status,
		Now: s.now(), Refund: &ledger.RefundRow{ID: refundID, No: r.RefundNo, Amount: r.Amount, FeeRefunded: r.FeeRefunded,
			Reason: r.Reason, RefundedBefore: o.RefundedAmount, Funding: r.Funding, CardAmount: r.CardAmount}}
	c.Event, err = s.changeEvent(m, after, EventRefunded, &r)
	return c, err
}

// changeEvent renders the event of a change the ledger batch commits. Its
// sequence and the change's time are stand-ins the batch fills in (see
// ledger.Event).
func (s *Service) changeEvent(m Merchant, o Order, typ string, refund *Refund) (ledger.Event, error) {
	now := s.now()
	ev := Event{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, CreatedAt: now, OrderID: o.ID, Sequence: ledger.Sequence,
		Data: EventData{Order: o, Refund: refund}}
	body, err := json.Marshal(ev)
	if err != nil {
		return ledger.Event{}, err
	}
	return ledger.Event{ID: uuid.MustParse(ev.ID), Type: typ, Payload: body, CreatedAt: now, Deliver: m.WebhookURL != ""}, nil
}

// WalletAccountID is the ledger account the order was paid from.
func (o Order) WalletAccountID() (int64, bool) {
	if o.walletAccountID == nil {
		return 0, false
	}
	return *o.walletAccountID, true
}

// WalletID is the wallet that paid the order, if it was paid.
func (o Order) WalletID() string {
	if o.walletID == nil {
		return ""
	}
	return o.walletID.String()
}

// PaymentID is the ledger transfer that paid the order, if it was paid.
func (o Order) PaymentID() (uuid.UUID, bool) {
	if o.paymentID == nil {
		return uuid.Nil, false
	}
	return *o.paymentID, true
}

// Card is the masked card the order was paid with.
func (o Order) Card() string { return o.cardMasked }
