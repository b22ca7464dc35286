package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// Links tie a transfer to what it moved money for. They are typed, indexed
// columns of the transfer, written with it; readers (bills, the card-limit
// rebuild, settlement) select by them. Metadata is for display only.
type Links struct {
	WalletID   uuid.UUID // the customer's wallet that made the transfer (the payer, the sender)
	CardID     uuid.UUID // the bound card whose limits it used
	MerchantID uuid.UUID // the merchant paid or refunding
	OrderID    uuid.UUID // the merchant order paid or refunded
	MCC        string    // the merchant's category code when it was paid
	// Funding is where a payment's money came from, or where a refund's
	// went back to: "balance", "card" or "balance_then_card" (the wallet's
	// Funding). Empty for other transfers, and for payments and refunds
	// made before cards could fund them, which moved the balance.
	Funding string
}

// OrderOp is what a transfer does to its merchant order.
type OrderOp uint8

// The order changes a transfer can carry.
const (
	// OrderPay marks a created order paid. The order must still be created
	// and must expire after OrderChange.Now.
	OrderPay OrderOp = iota + 1
	// OrderInsertPaid writes a new order, already paid: a payment to a
	// static QR, which has no order before it is paid.
	OrderInsertPaid
	// OrderRefund records a refund of a paid order. The order must still
	// have RefundedBefore refunded, so that the caller's fee split holds.
	OrderRefund
)

// ErrOrderChanged marks a refund rejected because the order moved on
// (another refund committed) since the caller read it: read it again.
var ErrOrderChanged = errors.New("the order changed since it was read")

// OrderChange is what a payment or refund does to a merchant order, as
// data: the batch that commits the transfer locks the order row (after
// every account, in order id order), checks the order is still as the
// caller saw it, and writes the change, the refund row and the outbox event
// with the transfer, set-based with the rest of the batch. An order that
// moved on fails its own transfer and no other.
type OrderChange struct {
	Op         OrderOp
	OrderID    uuid.UUID
	MerchantID uuid.UUID
	// Status is the order's status after the change.
	Status string
	// Now is the caller's clock: an order paid with OrderPay must expire
	// after it.
	Now time.Time

	// OrderPay and OrderInsertPaid: who paid and the fee kept.
	WalletID        uuid.UUID
	WalletAccountID int64
	Card            string // masked
	Fee             int64

	// OrderInsertPaid: the new order.
	OrderNo string
	Ref     string
	Amount  int64

	// OrderRefund: the refund.
	Refund *RefundRow

	// Event is the order's outbox event.
	Event Event
}

// RefundRow is a refund written with its transfer.
type RefundRow struct {
	ID             uuid.UUID
	No             string
	Amount         int64
	FeeRefunded    int64
	Reason         string
	RefundedBefore int64
	// Funding is where the refund went back to (see Links.Funding), and
	// CardAmount the part of it that went back to the card.
	Funding    string
	CardAmount int64
}

// Event is a merchant's outbox event, written with the transfer that caused
// it. Its payload is rendered before the batch, which alone knows two of
// its values; so the payload holds stand-ins the batch replaces:
// "sequence":Sequence becomes the event's number in its order's sequence,
// and every time equal to Stamp (as encoding/json writes it) becomes the
// time the transfer was stamped with.
type Event struct {
	ID        uuid.UUID
	Type      string
	Payload   json.RawMessage
	CreatedAt time.Time
	// Deliver schedules delivery at once; false when the merchant has no endpoint.
	Deliver bool
}

// Stamp stands for the transfer's time in an event payload.
var Stamp = time.Date(1, 1, 1, 0, 0, 0, 424242000, time.UTC)

// Sequence stands for the event's sequence number in an event payload.
const Sequence = -424242

var (
	stampJSON    = mustJSON(Stamp)
	sequenceJSON = []byte(`"sequence":` + strconv.Itoa(Sequence))
)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// render fills the stand-ins of an event's payload.
func (e *Event) render(at time.Time, seq int) string {
	p := bytes.ReplaceAll(e.Payload, sequenceJSON, []byte(`"sequence":`+strconv.Itoa(seq)))
	return string(bytes.ReplaceAll(p, stampJSON, mustJSON(at)))
}

func (c *OrderChange) validate() error {
	switch {
	case c.Op < OrderPay || c.Op > OrderRefund:
		return errs.E(errs.Invalid, "unknown order change %d", c.Op)
	case c.OrderID == uuid.Nil || c.MerchantID == uuid.Nil || c.Status == "":
		return errs.E(errs.Invalid, "an order change needs an order, a merchant and a status")
	case c.Op == OrderRefund && c.Refund == nil:
		return errs.E(errs.Invalid, "a refund change needs its refund")
	case c.Event.ID == uuid.Nil || c.Event.Type == "" || !json.Valid(c.Event.Payload):
		return errs.E(errs.Invalid, "an order change needs its event")
	}
	return nil
}

// lockedOrder is an order's row as a batch holds it, changed in memory as
// the batch's transfers are decided in arrival order.
type lockedOrder struct {
	status          string
	amount          int64
	expiresAt       time.Time
	refunded        int64
	feeRefunded     int64
	events          int
	changed         bool
	paidAt          *time.Time
	fee             *int64
	walletID        *string
	walletAccountID *int64
	card            *string
	paymentID       *string
}

const lockOrdersSQL = `SELECT id, status, amount, expires_at, refunded_amount, fee_refunded, events
	FROM orders WHERE id = ANY($1) ORDER BY id FOR UPDATE`

func scanLockedOrders(rows pgx.Rows) (map[uuid.UUID]*lockedOrder, error) {
	defer rows.Close()
	orders := map[uuid.UUID]*lockedOrder{}
	for rows.Next() {
		var id uuid.UUID
		o := &lockedOrder{}
		if err := rows.Scan(&id, &o.status, &o.amount, &o.expiresAt, &o.refunded, &o.feeRefunded, &o.events); err != nil {
			return nil, err
		}
		orders[id] = o
	}
	return orders, rows.Err()
}

// checkOrder says whether t's order change can apply to the order as the
// batch holds it. It changes nothing.
func checkOrder(orders map[uuid.UUID]*lockedOrder, t *Transfer) error {
	c := t.Order
	if c == nil || c.Op == OrderInsertPaid {
		return nil
	}
	o, ok := orders[c.OrderID]
	if !ok {
		return errs.E(errs.NotFound, "order not found")
	}
	switch c.Op {
	case OrderPay:
		switch o.status {
		case "created":
			if !o.expiresAt.After(c.Now) {
				return errs.E(errs.OrderExpired, "the order has expired")
			}
			return nil
		case "closed":
			return errs.E(errs.OrderClosed, "the order was closed by the merchant")
		case "expired":
			return errs.E(errs.OrderExpired, "the order has expired")
		}
		return errs.E(errs.OrderAlreadyPaid, "the order has already been paid")
	case OrderRefund:
		if (o.status != "paid" && o.status != "partially_refunded") || o.refunded != c.Refund.RefundedBefore {
			return &errs.Error{Code: errs.Conflict, Message: "another refund of this order was in progress; try again", Err: ErrOrderChanged}
		}
	}
	return nil
}

// applyOrder changes the batch's copy of t's order and returns the event's
// sequence number. checkOrder has passed.
func applyOrder(orders map[uuid.UUID]*lockedOrder, t *Transfer) int {
	c := t.Order
	if c.Op == OrderInsertPaid {
		return 1
	}
	o := orders[c.OrderID]
	o.changed = true
	o.status = c.Status
	o.events++
	switch c.Op {
	case OrderPay:
		at, fee, wallet, acct, card, pid := t.CreatedAt, c.Fee, c.WalletID.String(), c.WalletAccountID, c.Card, t.ID.String()
		o.paidAt, o.fee, o.walletID, o.walletAccountID, o.card, o.paymentID = &at, &fee, &wallet, &acct, &card, &pid
	case OrderRefund:
		o.refunded += c.Refund.Amount
		o.feeRefunded += c.Refund.FeeRefunded
	}
	return o.events
}

// orderWrites gathers a batch's order changes as columns, so that each kind
// of row is written with one statement whatever the batch's size.
type orderWrites struct {
	// new paid orders (static QR)
	nID, nMerchant, nNo, nRef, nCurrency, nWallet, nCard, nPayment []string
	nAmount, nFee, nWalletAcct                                     []int64
	nAt                                                            []time.Time
	// refunds
	rID, rOrder, rMerchant, rNo, rReason, rTransfer, rFunding []string
	rAmount, rFee, rCard                                      []int64
	rAt                                                       []time.Time
	// events
	eID, eMerchant, eOrder, eType, ePayload []string
	eSeq                                    []int32
	eAt                                     []time.Time
	eDeliver                                []bool
}

func (w *orderWrites) add(t *Transfer, seq int) {
	c := t.Order
	switch c.Op {
	case OrderInsertPaid:
		w.nID = append(w.nID, c.OrderID.String())
		w.nMerchant = append(w.nMerchant, c.MerchantID.String())
		w.nNo, w.nRef, w.nCurrency = append(w.nNo, c.OrderNo), append(w.nRef, c.Ref), append(w.nCurrency, t.Currency)
		w.nWallet, w.nCard, w.nPayment = append(w.nWallet, c.WalletID.String()), append(w.nCard, c.Card), append(w.nPayment, t.ID.String())
		w.nAmount, w.nFee, w.nWalletAcct = append(w.nAmount, c.Amount), append(w.nFee, c.Fee), append(w.nWalletAcct, c.WalletAccountID)
		w.nAt = append(w.nAt, t.CreatedAt)
	case OrderRefund:
		r := c.Refund
		w.rID, w.rOrder, w.rMerchant = append(w.rID, r.ID.String()), append(w.rOrder, c.OrderID.String()), append(w.rMerchant, c.MerchantID.String())
		w.rNo, w.rReason, w.rTransfer = append(w.rNo, r.No), append(w.rReason, r.Reason), append(w.rTransfer, t.ID.String())
		w.rAmount, w.rFee, w.rAt = append(w.rAmount, r.Amount), append(w.rFee, r.FeeRefunded), append(w.rAt, t.CreatedAt)
		w.rFunding, w.rCard = append(w.rFunding, r.Funding), append(w.rCard, r.CardAmount)
	}
	e := c.Event
	w.eID, w.eMerchant, w.eOrder = append(w.eID, e.ID.String()), append(w.eMerchant, c.MerchantID.String()), append(w.eOrder, c.OrderID.String())
	w.eType, w.ePayload = append(w.eType, e.Type), append(w.ePayload, e.render(t.CreatedAt, seq))
	w.eSeq, w.eAt, w.eDeliver = append(w.eSeq, int32(seq)), append(w.eAt, e.CreatedAt), append(w.eDeliver, e.Deliver)
}

// queue adds the batch's order writes to b: the new orders, the final
// state of every changed order, the refunds, then the events (which
// reference both).
func (w *orderWrites) queue(b *pgx.Batch, orders map[uuid.UUID]*lockedOrder) {
	if len(w.nID) > 0 {
		b.Queue(`INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency, static, status, fee,
			wallet_id, wallet_account_id, card_masked, payment_id, expires_at, created_at, paid_at, events)
			SELECT id::uuid, merchant::uuid, no, ref, amount, currency, true, 'paid', fee,
				wallet::uuid, wallet_acct, card, payment::uuid, at, at, at, 1
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[],
				$8::text[], $9::bigint[], $10::text[], $11::text[], $12::timestamptz[])
				AS n(id, merchant, no, ref, amount, currency, fee, wallet, wallet_acct, card, payment, at)`,
			w.nID, w.nMerchant, w.nNo, w.nRef, w.nAmount, w.nCurrency, w.nFee, w.nWallet, w.nWalletAcct, w.nCard, w.nPayment, w.nAt)
	}
	var (
		id, status            []string
		refunded, feeRefunded []int64
		events                []int32
		paidAt                []*time.Time
		fee, walletAcct       []*int64
		wallet, card, payment []*string
	)
	for oid, o := range orders {
		if !o.changed {
			continue
		}
		id, status = append(id, oid.String()), append(status, o.status)
		refunded, feeRefunded, events = append(refunded, o.refunded), append(feeRefunded, o.feeRefunded), append(events, int32(o.events))
		paidAt, fee, walletAcct = append(paidAt, o.paidAt), append(fee, o.fee), append(walletAcct, o.walletAccountID)
		wallet, card, payment = append(wallet, o.walletID), append(card, o.card), append(payment, o.paymentID)
	}
	if len(id) > 0 {
		b.Queue(`UPDATE orders o SET status = u.status, refunded_amount = u.refunded, fee_refunded = u.fee_refunded,
				events = u.events, paid_at = coalesce(u.paid_at, o.paid_at), fee = coalesce(u.fee, o.fee),
				wallet_id = coalesce(u.wallet::uuid, o.wallet_id), wallet_account_id = coalesce(u.wallet_acct, o.wallet_account_id),
				card_masked = coalesce(u.card, o.card_masked), payment_id = coalesce(u.payment::uuid, o.payment_id)
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::int[], $6::timestamptz[], $7::bigint[],
				$8::text[], $9::bigint[], $10::text[], $11::text[])
				AS u(id, status, refunded, fee_refunded, events, paid_at, fee, wallet, wallet_acct, card, payment)
			WHERE o.id = u.id::uuid AND o.id = ANY($1::uuid[])`,
			id, status, refunded, feeRefunded, events, paidAt, fee, wallet, walletAcct, card, payment)
	}
	if len(w.rID) > 0 {
		b.Queue(`INSERT INTO refunds (id, order_id, merchant_id, refund_no, amount, fee_refunded, reason, transfer_id, created_at,
				funding, card_amount)
			SELECT id::uuid, order_id::uuid, merchant::uuid, no, amount, fee, reason, transfer::uuid, at, nullif(funding, ''), card
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::timestamptz[],
				$10::text[], $11::bigint[])
				AS r(id, order_id, merchant, no, amount, fee, reason, transfer, at, funding, card)`,
			w.rID, w.rOrder, w.rMerchant, w.rNo, w.rAmount, w.rFee, w.rReason, w.rTransfer, w.rAt, w.rFunding, w.rCard)
	}
	if len(w.eID) > 0 {
		b.Queue(`INSERT INTO webhook_events (id, merchant_id, order_id, type, sequence, payload, created_at, next_attempt_at)
			SELECT id::uuid, merchant::uuid, order_id::uuid, type, seq, payload::jsonb, at, CASE WHEN deliver THEN at END
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::timestamptz[], $8::boolean[])
				AS e(id, merchant, order_id, type, seq, payload, at, deliver)`,
			w.eID, w.eMerchant, w.eOrder, w.eType, w.eSeq, w.ePayload, w.eAt, w.eDeliver)
	}
}

// lockOrders queues the lock of every existing order the batch changes.
func lockOrders(b *pgx.Batch, batch []*request) bool {
	var ids []uuid.UUID
	for _, r := range batch {
		if c := r.t.Order; c != nil && c.Op != OrderInsertPaid {
			ids = append(ids, c.OrderID)
		}
	}
	if len(ids) == 0 {
		return false
	}
	b.Queue(lockOrdersSQL, ids)
	return true
}

func readLockedOrders(br pgx.BatchResults) (map[uuid.UUID]*lockedOrder, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("lock orders: %w", err)
	}
	orders, err := scanLockedOrders(rows)
	if err != nil {
		return nil, fmt.Errorf("lock orders: %w", err)
	}
	return orders, nil
}
