package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

// codeTurn is a wallet whose device may show a fresh payment code from
// free on. A device's code changes every 30 s and each pays once: a code of
// the step a device was last charged at is refused as used. So a wallet
// pays again only 30 s after its last code, which always falls in a later
// step, and a run's code payments are bounded by -payers / 30 s.
type codeTurn struct {
	p    *payer
	free time.Time
}

// codeStep is the payment codes' time step, plus a margin for the clocks
// of the load generator and the gateway.
const codeStep = 30*time.Second + 500*time.Millisecond

// setupCodePay opens the wallets (200 unless -payers says) and queues them
// for their first code.
func setupCodePay(ctx context.Context, r *runner) error {
	if r.o.payers == 0 {
		r.o.payers = 200
	}
	if err := setupPayers(ctx, r); err != nil {
		return err
	}
	r.codeTurns = make(chan codeTurn, len(r.payers))
	for _, p := range r.payers {
		r.codeTurns <- codeTurn{p: p}
	}
	return nil
}

// stepCodePay is a customer-presented payment: the wallet asks the gateway
// for its current payment code, and the merchant's POS charges it through
// the SDK.
func stepCodePay(ctx context.Context, r *runner, due time.Time) error {
	var turn codeTurn
	select {
	case turn = <-r.codeTurns:
	case <-ctx.Done():
		return nil
	}
	defer func() { r.codeTurns <- codeTurn{p: turn.p, free: time.Now().Add(codeStep)} }()
	if d := time.Until(turn.free); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil
		}
		due = time.Now() // the wait is the customer's, not the gateway's
	}
	p := turn.p
	card := rand.IntN(len(p.cards))
	var code struct {
		Code string `json:"code"`
	}
	err := r.next().Do(ctx, "POST", "/v1/wallet/payment-codes", p.token, "",
		map[string]any{"device_id": p.device, "funding": "balance", "card_id": p.cards[card]}, &code)
	r.record(ctx, "code", time.Since(due), err)
	if err != nil {
		return err
	}
	m := r.merchants[rand.IntN(len(r.merchants))]
	charged := time.Now()
	q := pending{kind: "charge", from: p, key: r.key("P"), card: card, amt: r.o.amount, code: code.Code, merchant: m}
	err = r.charge(ctx, q)
	r.record(ctx, "charge", time.Since(charged), err)
	if isUnknown(err) {
		r.remember(q)
	}
	return err
}

// charge sends a code charge and acknowledges what it paid.
func (r *runner) charge(ctx context.Context, q pending) error {
	ch, err := q.merchant.next(r).Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: q.key, Amount: q.amt, TerminalID: "LOAD", Code: q.code})
	if err != nil {
		return err
	}
	if ch.Status != sdk.ChargePaid {
		return fmt.Errorf("charge %s: %s; the load generator pays below PIN_THRESHOLD only (lower -amount)", q.key, ch.Status)
	}
	q.from.ackCodePayment(ch.Order.ID, q.from.masks[q.card], q.amt)
	return nil
}

// resendCharge sends a charge whose answer was lost again: under its
// merchant order number the gateway answers what the first one did.
func (r *runner) resendCharge(ctx context.Context, q pending) error { return r.charge(ctx, q) }

func (p *payer) ackCodePayment(orderID, mask string, amount int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.payments.add(amount)
	p.byCard[mask].add(amount)
	p.paidOrders[orderID] = true
}
