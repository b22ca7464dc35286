package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/qrpay/qrpay/sdk"
	"github.com/qrpay/qrpay/sdk/walletapi"
)

// scenario is a way of loading the gateway: what it sets up first and one
// step of the timed phase.
type scenario struct {
	merchants int
	setup     func(ctx context.Context, r *runner) error
	step      func(ctx context.Context, r *runner, due time.Time) error
}

var scenarios = map[string]scenario{
	"hot-pay":      {merchants: 1, setup: setupHotPay, step: stepPayOrder},
	"hot-cycle":    {merchants: 1, setup: setupPayers, step: stepCycle},
	"spread-cycle": {merchants: 1000, setup: setupPayers, step: stepCycle},
	"static-pay":   {merchants: 1, setup: setupPayers, step: stepStaticPay},
	"wallet-mix":   {merchants: 0, setup: setupPayers, step: stepWalletMix},
	"code-pay":     {merchants: 1, setup: setupCodePay, step: stepCodePay},
}

const (
	loadPIN      = "135790"
	loadPassword = "load test password"
	// paysPerCard is what a card may do in a day (its daily count, at the
	// most a customer may set), less the top-up that funds it.
	paysPerCard = 199
	// stepsPerSecond is the most a run is expected to reach; it sizes the
	// wallets and orders set up when -payers and -orders are not given.
	stepsPerSecond = 3000
)

// setupPayers onboards the merchants and opens the wallets.
func setupPayers(ctx context.Context, r *runner) error {
	if err := r.onboard(ctx); err != nil {
		return err
	}
	n := r.o.payers
	if n == 0 {
		need := int(r.o.duration.Seconds()*stepsPerSecond) / (paysPerCard * r.o.cards)
		n = max(50, need+1)
	}
	r.payers = make([]*payer, n)
	return parallel(ctx, n, 8, func(i int) error {
		p, err := r.newPayer(ctx, i)
		r.payers[i] = p
		return err
	})
}

// setupHotPay also creates the orders the run will pay.
func setupHotPay(ctx context.Context, r *runner) error {
	if err := setupPayers(ctx, r); err != nil {
		return err
	}
	n := r.o.orders
	if n == 0 {
		n = min(90000, int(r.o.duration.Seconds()*stepsPerSecond))
	}
	r.orders = make(chan order, n)
	run := time.Now().UnixNano()
	return parallel(ctx, n, r.o.concurrency, func(i int) error {
		m := r.merchants[i%len(r.merchants)]
		o, err := m.client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: fmt.Sprintf("H-%d-%d", run, i),
			Amount: r.o.amount, TerminalID: "LOAD", ExpiresIn: 3600})
		if err != nil {
			return err
		}
		r.orders <- order{merchant: i % len(r.merchants), payload: o.QRPayload}
		return nil
	})
}

// stepPayOrder pays the next order created before the run.
func stepPayOrder(ctx context.Context, r *runner, due time.Time) error {
	select {
	case o := <-r.orders:
		return r.pay(ctx, r.randomPayer(), o.payload, r.o.amount, 0, due)
	default:
		r.ranOut.Store(true)
		return nil
	}
}

// stepCycle creates an order at a merchant and pays it.
func stepCycle(ctx context.Context, r *runner, due time.Time) error {
	m := r.merchants[rand.IntN(len(r.merchants))]
	o, err := m.next(r).CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: r.key("C"), Amount: r.o.amount, TerminalID: "LOAD"})
	r.record(ctx, "create", time.Since(due), err)
	if err != nil {
		return err
	}
	paid := time.Now()
	p := r.randomPayer()
	err = r.pay(ctx, p, o.QRPayload, r.o.amount, 0, paid)
	r.record(ctx, "cycle", time.Since(due), err)
	if err != nil {
		return err
	}
	n := r.paid.Add(1)
	if r.o.withdrawEvery > 0 && n%int64(r.o.withdrawEvery) == 0 {
		if err := r.withdraw(ctx, p, max(r.o.amount/10, 1)); err != nil {
			return err
		}
	}
	if r.o.refundEvery > 0 && n%int64(r.o.refundEvery) == 0 {
		return r.refund(ctx, m, p, o.ID, r.o.amount)
	}
	return nil
}

// withdraw moves amount from p's wallet to one of its cards and records
// the answer.
func (r *runner) withdraw(ctx context.Context, p *payer, amount int64) error {
	card := rand.IntN(len(p.cards))
	key := r.key("W")
	start := time.Now()
	_, err := r.next().Withdraw(ctx, p.token, key, p.cards[card], amount, loadPIN)
	r.record(ctx, "withdraw", time.Since(start), err)
	switch {
	case err == nil:
		p.ackWithdrawal(p.masks[card], amount)
	case isUnknown(err):
		r.remember(pending{kind: "withdraw", from: p, key: key, card: card, amt: amount})
	}
	return err
}

// ackWithdrawal counts an acknowledged withdrawal, which counts against
// its card's limits like a payment.
func (p *payer) ackWithdrawal(mask string, amount int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.withdrawals.add(amount)
	p.byCard[mask].add(amount)
}

// refund refunds amount of a paid order in full through its merchant's API
// and records the answer; the refund's number makes it idempotent.
func (r *runner) refund(ctx context.Context, m *merchantHandle, p *payer, orderID string, amount int64) error {
	no := r.key("R")
	start := time.Now()
	_, err := m.next(r).CreateRefund(ctx, orderID, &sdk.RefundParams{RefundNo: no, Amount: amount})
	r.record(ctx, "refund", time.Since(start), err)
	switch {
	case err == nil:
		p.ackRefund(amount)
	case isUnknown(err) || isInProgress(err):
		// No answer, a 503, or the SDK's own retry finding the first try
		// still running (it was cut off mid-way): learnt after the run.
		r.remember(pending{kind: "refund", from: p, key: no, amt: amount, orderID: orderID, merchant: m})
	}
	return err
}

func (p *payer) ackRefund(amount int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refunds.add(amount)
}

// stepStaticPay pays a merchant's static QR with the run's amount.
func stepStaticPay(ctx context.Context, r *runner, due time.Time) error {
	m := r.merchants[rand.IntN(len(r.merchants))]
	return r.pay(ctx, r.randomPayer(), m.staticQR, r.o.amount, r.o.amount, due)
}

// stepWalletMix is what wallet owners do besides paying: 40 % read their
// history, 20 % a statement, 25 % top up, 15 % send money.
func stepWalletMix(ctx context.Context, r *runner, due time.Time) error {
	p := r.randomPayer()
	switch n := rand.IntN(100); {
	case n < 40:
		_, err := r.api.Movements(ctx, p.token, "limit=20")
		r.record(ctx, "history", time.Since(due), err)
		return err
	case n < 60:
		err := r.api.Do(ctx, "GET", "/v1/wallet/statements/"+time.Now().Format("2006-01"), p.token, "", nil, nil)
		r.record(ctx, "statement", time.Since(due), err)
		return err
	case n < 85:
		card := rand.IntN(len(p.cards))
		key := r.key("topup")
		_, err := r.next().TopUp(ctx, p.token, key, p.cards[card], r.o.amount, loadPIN)
		r.record(ctx, "topup", time.Since(due), err)
		switch {
		case err == nil:
			p.ackTopUp(p.masks[card], r.o.amount)
		case isUnknown(err):
			r.remember(pending{kind: "topup", from: p, key: key, card: card, amt: r.o.amount})
		}
		return err
	default:
		to := r.randomPayer()
		if to == p {
			return nil
		}
		key := r.key("transfer")
		_, err := r.next().Transfer(ctx, p.token, key, walletapi.TransferParams{ToWalletID: to.id, Amount: r.o.amount, PIN: loadPIN})
		r.record(ctx, "transfer", time.Since(due), err)
		switch {
		case err == nil:
			ackTransfer(p, to, r.o.amount)
		case isUnknown(err):
			r.remember(pending{kind: "transfer", from: p, to: to, key: key, amt: r.o.amount})
		}
		return err
	}
}

func (p *payer) ackTopUp(mask string, amount int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.topups.add(amount)
	p.byCard[mask].add(amount)
}

func ackTransfer(from, to *payer, amount int64) {
	from.mu.Lock()
	from.sent.add(amount)
	from.mu.Unlock()
	to.mu.Lock()
	to.received.add(amount)
	to.mu.Unlock()
}

// onboard creates the run's merchants and their API keys.
func (r *runner) onboard(ctx context.Context) error {
	r.merchants = make([]*merchantHandle, r.o.merchants)
	run := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	return parallel(ctx, r.o.merchants, 8, func(i int) error {
		params := walletapi.MerchantParams{Name: fmt.Sprintf("Load %s %d", run, i), City: "Shanghai", MCC: "5814", Country: "CN",
			Currency: "CNY", FeeBPS: 60}
		if r.hooks != nil {
			params.WebhookURL = r.hooks.url(i)
		}
		m, err := r.api.CreateMerchant(ctx, r.o.operator, params)
		if err != nil {
			return fmt.Errorf("onboard a merchant (is the operator token right?): %w", err)
		}
		if r.hooks != nil {
			r.hooks.setMerchant(i, m.ID, m.WebhookSecret)
		}
		k, err := r.api.IssueKey(ctx, r.o.operator, m.ID, "pos", "finance")
		if err != nil {
			return err
		}
		var clients []*sdk.Client
		for _, u := range r.o.urls() {
			clients = append(clients, sdk.NewClient(u, k.ID, k.Secret, sdk.WithMaxRetries(3), sdk.WithHTTPClient(r.http),
				sdk.WithUserAgent("qrpay-loadtest/"+sdk.Version)))
		}
		info, err := clients[0].GetMerchant(ctx)
		if err != nil {
			return err
		}
		r.merchants[i] = &merchantHandle{id: m.ID, client: clients[0], clients: clients, staticQR: info.StaticQRPayload}
		return nil
	})
}

// The default TRANSFER_MAX_PER_TXN and TRANSFER_MAX_DAILY_AMOUNT: wallet-mix
// sends many transfers a day from each wallet.
const maxTransferPerTxn, maxTransferDaily = 5_000_000, 10_000_000

// newPayer registers a wallet, binds -cards cards with the highest daily
// limits a customer may set, sets the PIN and funds it from every card.
func (r *runner) newPayer(ctx context.Context, i int) (*payer, error) {
	p := &payer{phone: fmt.Sprintf("+8619%09d", (time.Now().UnixNano()/1000+int64(i)*7919)%1e9),
		byCard: map[string]*tally{}, paymentIDs: map[string]bool{}, paidOrders: map[string]bool{}}
	device := "loadtest-" + p.phone[1:]
	p.device = device
	if err := r.api.Register(ctx, p.phone, loadPassword, device); err != nil {
		return nil, err
	}
	s, err := r.api.Login(ctx, p.phone, loadPassword, device)
	if err != nil {
		return nil, err
	}
	p.token, p.id = s.Token, s.WalletID
	for c := range r.o.cards {
		number := cardNumber(c)
		id, err := r.api.BindCard(ctx, p.token, walletapi.CardParams{Number: number, ExpMonth: 12, ExpYear: time.Now().Year() + 5,
			HolderName: "Load Test"})
		if err != nil {
			return nil, err
		}
		if err := r.api.SetCardLimits(ctx, p.token, id, map[string]int64{"daily_count": paysPerCard + 1, "daily_amount": 10_000_000,
			"per_transaction": 5_000_000}); err != nil {
			return nil, err
		}
		mask := "**** " + number[len(number)-4:]
		p.cards, p.masks, p.byCard[mask] = append(p.cards, id), append(p.masks, mask), &tally{}
	}
	if err := r.api.SetPIN(ctx, p.token, loadPIN); err != nil {
		return nil, err
	}
	if err := r.api.SetTransferLimits(ctx, p.token, map[string]int64{"per_transaction": maxTransferPerTxn, "daily_amount": maxTransferDaily}); err != nil {
		return nil, fmt.Errorf("raising the transfer limits (to the default TRANSFER_MAX_*): %w", err)
	}
	for c := range p.cards {
		amount := r.o.amount * (paysPerCard + 1)
		// With the PIN: funding a card bound a moment ago is what the new
		// card rule asks a step-up for.
		if _, err := r.api.TopUp(ctx, p.token, r.key("fund"), p.cards[c], amount, loadPIN); err != nil {
			return nil, err
		}
		p.ackTopUp(p.masks[c], amount)
	}
	return p, nil
}

// cardNumber is the i-th test card: a Visa number with a valid check
// digit whose last four digits differ from every other card's of a wallet.
func cardNumber(i int) string {
	body := fmt.Sprintf("411111111111%03d", i%1000)
	sum := 0
	for j := len(body) - 1; j >= 0; j-- {
		d := int(body[j] - '0')
		if (len(body)-1-j)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + strconv.Itoa((10-sum%10)%10)
}

// parallel runs f(0..n-1) with at most width at once and returns the first error.
func parallel(ctx context.Context, n, width int, f func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
