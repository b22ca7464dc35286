package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/qrpay/qrpay/sdk"
	"github.com/qrpay/qrpay/sdk/walletapi"
)

// checkInvariants learns the outcome of every request whose answer was
// lost, then compares what the gateway acknowledged with what its ledger
// holds, through the public API: the ledger's own check; each wallet's
// history against its acknowledged payments, top-ups and transfers (so a
// refused or duplicated payment that moved money shows); and each card's
// limit counters against its movements. It returns what does not hold.
//
// A gateway that answers 503 says it is not back yet (a fault has just
// passed; a breaker is still open) and when to come back: the checks come
// back, for settleWithin at most, rather than take that for a broken
// invariant.
func (r *runner) checkInvariants(ctx context.Context) []string {
	r.settleBy = time.Now().Add(settleWithin)
	var mu sync.Mutex
	var out []string
	fail := func(format string, args ...any) {
		mu.Lock()
		out = append(out, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for _, q := range r.unknown.list {
		r.resolve(ctx, q, fail)
	}
	r.ledgerEvents.Lock()
	r.ledgerEvents.m, r.ledgerEvents.partial = map[eventKey]int64{}, false
	r.ledgerEvents.Unlock()
	var report string
	if err := r.served(ctx, func() (err error) { report, err = r.api.LedgerCheck(ctx, r.o.operator); return err }); err != nil {
		fail("ledger check: %v", err)
	} else if report != "ok" {
		fail("ledger check: %s", report)
	}
	_ = parallel(ctx, len(r.payers), 16, func(i int) error {
		p := r.payers[i]
		if p == nil {
			return nil
		}
		var payments, topups, sent, received, refunds, withdrawals tally
		ids := map[string]int{}
		orderOf := map[string]string{}
		byCard := map[string]*tally{}
		cursor := ""
		for {
			q := url.Values{"limit": {"100"}}
			if cursor != "" {
				q.Set("starting_after", cursor)
			}
			var page walletapi.HistoryPage
			err := r.served(ctx, func() (err error) { page, err = r.api.Movements(ctx, p.token, q.Encode()); return err })
			if err != nil {
				fail("wallet %s: history: %v", p.id, err)
				r.ledgerEvents.Lock()
				r.ledgerEvents.partial = true
				r.ledgerEvents.Unlock()
				return nil
			}
			for _, it := range page.Data {
				switch it.Type {
				case "payment":
					payments.add(-it.Amount)
					ids[it.ID]++
					orderOf[it.ID] = it.OrderID
					card(byCard, it.Card).add(-it.Amount)
					r.noteLedgerEvent(it.OrderID, sdk.EventOrderPaid)
				case "refund":
					refunds.add(it.Amount)
					r.noteLedgerEvent(it.OrderID, sdk.EventOrderRefunded)
				case "topup":
					topups.add(it.Amount)
					card(byCard, it.Card).add(it.Amount)
				case "withdrawal":
					withdrawals.add(-it.Amount)
					card(byCard, it.Card).add(-it.Amount)
				case "withdrawal_reversal":
					// Refused by the issuer: the request was not
					// acknowledged, and the card's limits gave it back.
					withdrawals.count--
					withdrawals.amount -= it.Amount
					u := card(byCard, it.Card)
					u.count--
					u.amount -= it.Amount
				case "transfer_out":
					sent.add(-it.Amount)
				case "transfer_in":
					received.add(it.Amount)
				}
			}
			if !page.HasMore {
				break
			}
			cursor = page.NextCursor
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for name, c := range map[string][2]tally{"payments": {p.payments, payments}, "top-ups": {p.topups, topups},
			"transfers sent": {p.sent, sent}, "transfers received": {p.received, received},
			"refunds": {p.refunds, refunds}, "withdrawals": {p.withdrawals, withdrawals}} {
			if c[0] != c[1] {
				fail("wallet %s: %d %s (%d) acknowledged; the ledger holds %d (%d)", p.id, c[0].count, name, c[0].amount, c[1].count, c[1].amount)
			}
		}
		for id, n := range ids {
			if n > 1 {
				r.duplicated.Add(int64(n - 1))
			}
			// A charged payment code is acknowledged by its order.
			acked := p.paymentIDs[id] || p.paidOrders[orderOf[id]]
			if n != 1 || !acked {
				fail("wallet %s: payment %s is in the ledger %d time(s), acknowledged %v", p.id, id, n, acked)
			}
		}
		for c, id := range p.cards {
			var u walletapi.Usage
			err := r.served(ctx, func() (err error) { u, err = r.api.CardUsage(ctx, p.token, id); return err })
			if err != nil {
				fail("card %s: limits: %v", id, err)
				continue
			}
			want := byCard[p.masks[c]]
			if want == nil {
				want = &tally{}
			}
			if u.Count != want.count || u.Amount != want.amount {
				fail("card %s of wallet %s: limit counters say %d movements (%d) today; the ledger holds %d (%d)",
					p.masks[c], p.id, u.Count, u.Amount, want.count, want.amount)
			}
		}
		return nil
	})
	return out
}

func card(m map[string]*tally, mask string) *tally {
	if m[mask] == nil {
		m[mask] = &tally{}
	}
	return m[mask]
}

// resolveWithin bounds how long resolve waits for a key still in
// progress: longer than the gateway's default idempotency lease (60 s),
// after which the key of a request whose server died is free again.
const resolveWithin = 90 * time.Second

// resolve sends a request whose answer was lost again, with the same key
// and body: the gateway answers what happened to the first. While the
// first still holds the key (it runs, or its server died and the lease has
// not run out) the gateway says in progress, and when to come back.
func (r *runner) resolve(ctx context.Context, q pending, fail func(string, ...any)) {
	var err error
	deadline := time.Now().Add(resolveWithin)
	for {
		err = r.resend(ctx, q)
		if !(isInProgress(err) && time.Now().Before(deadline)) && !(isUnavailable(err) && time.Now().Before(r.settleBy)) {
			break
		}
		wait := 100 * time.Millisecond
		var e *sdk.Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			wait = min(e.RetryAfter, 5*time.Second)
		}
		time.Sleep(wait)
	}
	if err != nil && (isUnknown(err) || isInProgress(err)) {
		r.unresolved.Add(1)
		fail("%s %s: outcome still unknown after the run: %v", q.kind, q.key, err)
	}
}

// settleWithin bounds how long the checks wait for a gateway that answers
// 503 after the run.
const settleWithin = 30 * time.Second

// served calls call again while the gateway answers 503, until settleBy.
func (r *runner) served(ctx context.Context, call func() error) error {
	for {
		err := call()
		if !isUnavailable(err) || time.Now().After(r.settleBy) {
			return err
		}
		var e *sdk.Error
		errors.As(err, &e)
		wait := 200 * time.Millisecond
		if e.RetryAfter > 0 {
			wait = min(e.RetryAfter, time.Second)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// isUnavailable reports whether err is the gateway's 503: not now, try again.
func isUnavailable(err error) bool {
	var e *sdk.Error
	return errors.As(err, &e) && e.HTTPStatus == http.StatusServiceUnavailable
}

func isInProgress(err error) bool {
	var e *sdk.Error
	return errors.As(err, &e) && e.Code == "idempotency_in_progress"
}

func (r *runner) resend(ctx context.Context, q pending) error {
	var err error
	switch q.kind {
	case "pay":
		var mv walletapi.Movement
		if mv, err = r.api.Pay(ctx, q.from.token, q.key, q.body); err == nil {
			q.from.ackPayment(mv.ID, q.from.masks[q.card], q.amt)
		}
	case "topup":
		if _, err = r.api.TopUp(ctx, q.from.token, q.key, q.from.cards[q.card], q.amt, loadPIN); err == nil {
			q.from.ackTopUp(q.from.masks[q.card], q.amt)
		}
	case "charge":
		err = r.resendCharge(ctx, q)
	case "withdraw":
		if _, err = r.api.Withdraw(ctx, q.from.token, q.key, q.from.cards[q.card], q.amt, loadPIN); err == nil {
			q.from.ackWithdrawal(q.from.masks[q.card], q.amt)
		}
	case "refund":
		if _, err = q.merchant.client.CreateRefund(ctx, q.orderID, &sdk.RefundParams{RefundNo: q.key, Amount: q.amt}); err == nil {
			q.from.ackRefund(q.amt)
		}
	case "transfer":
		if _, err = r.api.Transfer(ctx, q.from.token, q.key, walletapi.TransferParams{ToWalletID: q.to.id, Amount: q.amt, PIN: loadPIN}); err == nil {
			ackTransfer(q.from, q.to, q.amt)
		}
	}
	return err
}
