package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/wallet"
)

// request is one money-moving request a page sent, as watchRequests saw
// it: its Idempotency-Key and the status of its answer (0: none reached
// the page).
type request struct {
	Path   string `json:"path"`
	Key    string `json:"key"`
	Status int    `json:"status"`
}

// watchRequests wraps the page's fetch: every request to one of paths is
// recorded in window.requests. While window.lose is above zero, an answer
// that says the request succeeded is dropped (and window.lose counted
// down), as a connection that breaks after the gateway committed: the page
// sees a network error, and only its retry can tell what happened.
func (b *browser) watchRequests(paths ...string) {
	b.t.Helper()
	list, err := json.Marshal(paths)
	if err != nil {
		b.t.Fatal(err)
	}
	eval[bool](b, `(function (paths) {
		window.requests = [];
		window.lose = 0;
		var send = window.fetch;
		window.fetch = function (url, opts) {
			if (paths.indexOf(url) < 0) return send.apply(this, arguments);
			var key = (opts && opts.headers && opts.headers["Idempotency-Key"]) || "";
			return send.apply(this, arguments).then(function (r) {
				var lost = r.status < 300 && window.lose > 0;
				window.requests.push({ path: url, key: key, status: lost ? 0 : r.status });
				if (lost) {
					window.lose--;
					throw new TypeError("Failed to fetch");
				}
				return r;
			});
		};
		return true;
	})(`+string(list)+`)`)
}

// requests waits until the page has sent n watched requests, and its form
// is ready again (button enabled), and returns them.
func (b *browser) requests(n int, button string) []request {
	b.t.Helper()
	value(b, "request "+strconv.Itoa(n)+" answered", 15*time.Second, chromedp.Poll[bool](
		`window.requests.length >= `+strconv.Itoa(n)+` && !document.querySelector(`+strconv.Quote(button)+`).disabled`,
		chromedp.WithPollingTimeout(15*time.Second)))
	got := eval[[]request](b, `window.requests`)
	if len(got) != n {
		b.t.Fatalf("the page sent %d requests; want %d: %+v", len(got), n, got)
	}
	return got
}

// TestBrowserPayIdempotencyKeys pays one order through failures. A stored
// refusal (insufficient funds from the balance, a declined card) ends the
// operation: the next try, with other funding or another card, goes under
// a new Idempotency-Key instead of being refused as a different request
// under the old one. A retry of the same request after an outage (the
// card's issuer down: 503) keeps its key. The order is paid once. Paying
// again with the same choice after the balance was topped up is a new
// operation too (a stored refusal is not replayed to it), and a payment
// whose answer was lost is retried under its key and paid once.
func TestBrowserPayIdempotencyKeys(t *testing.T) {
	env := gatewaytest.Start(t)
	shop := env.NewMerchant(t, map[string]any{"name": "Harbour Books"})
	payer := env.NewPayer(t, 500)
	cardID := func(number string) string {
		var c struct {
			ID string `json:"id"`
		}
		env.BindCard(t, payer.Customer, number).JSON(t, &c)
		return c.ID
	}
	declined, down := cardID(wallet.TestCardDeclined), cardID(wallet.TestCardIssuerDown)
	order := env.CreateOrder(t, shop, 880)

	b := newBrowser(t, 412, 915)
	b.signIn(env, payer.Customer)
	b.open(env.URL+"/wallet/pay", "#scan")
	b.waitText("#pay-card", "0002", 10*time.Second)
	b.watchRequests("/v1/wallet/payments")
	payments := env.URL + "/v1/wallet/payments"
	check := func(payload string) {
		b.run("paste and check the QR", 10*time.Second,
			chromedp.SetValue(chromedp.ID("payload"), payload),
			chromedp.Click(chromedp.CSS(`#scan button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("confirm")),
		)
	}
	pay := func(funding, card string, n int) []request {
		b.run("pay from "+funding, 10*time.Second,
			chromedp.SetValue(chromedp.ID("pay-funding"), funding),
			chromedp.SetValue(chromedp.ID("pay-card"), card),
			chromedp.Click(chromedp.ID("pay-button")),
		)
		return b.requests(n, "#pay-button")
	}

	check(order.QRPayload)
	b.allow("402 (Payment Required) " + payments)
	sent := pay("balance", payer.CardID, 1)
	if sent[0].Status != http.StatusPaymentRequired {
		t.Fatalf("paying ¥8.80 from a ¥5.00 balance answered %d; want 402", sent[0].Status)
	}
	b.waitText("#error", "Not enough money in the wallet.", 5*time.Second)

	b.allow("503 (Service Unavailable) " + payments)
	b.allow("503 (Service Unavailable) " + payments)
	pay("card", down, 2)
	sent = pay("card", down, 3)
	if sent[1].Status != http.StatusServiceUnavailable || sent[2].Status != http.StatusServiceUnavailable {
		t.Fatalf("paying with the issuer-down card answered %+v; want 503 twice", sent[1:])
	}
	if sent[1].Key == sent[0].Key {
		t.Errorf("paying with the card after the balance's refusal reused its key %s; want a new one", sent[0].Key)
	}
	if sent[2].Key != sent[1].Key {
		t.Errorf("the retry after a 503 went under key %s; want the same request's key %s", sent[2].Key, sent[1].Key)
	}

	b.allow("402 (Payment Required) " + payments)
	sent = pay("card", declined, 4)
	if sent[3].Status != http.StatusPaymentRequired || sent[3].Key == sent[2].Key {
		t.Fatalf("paying with the declined card: %+v; want 402 under a new key", sent[3])
	}
	sent = pay("card", payer.CardID, 5)
	if sent[4].Status != http.StatusCreated {
		t.Fatalf("paying with the good card answered %d; want 201", sent[4].Status)
	}
	if sent[4].Key == sent[3].Key {
		t.Errorf("paying with another card after a decline reused its key %s", sent[3].Key)
	}
	b.waitText("#notice", "Paid ¥8.80 to Harbour Books", 5*time.Second)
	if got := orderStatus(t, env, shop, order.ID); got != "paid" {
		t.Errorf("the order is %s; want paid", got)
	}
	if n := ledgerPayments(t, env, order.ID); n != 1 {
		t.Errorf("the ledger has %d payments of the order; want 1", n)
	}
	checkBalance(t, env, payer, 500) // the card paid

	// The same request again after the refusal was stored, once the
	// balance can pay: a new operation, not a replay of the refusal.
	second := env.CreateOrder(t, shop, 880)
	check(second.QRPayload)
	b.allow("402 (Payment Required) " + payments)
	sent = pay("balance", payer.CardID, 6)
	if sent[5].Status != http.StatusPaymentRequired {
		t.Fatalf("paying ¥8.80 from the balance answered %d; want 402", sent[5].Status)
	}
	env.TopUp(t, payer.Customer, payer.CardID, 1000)
	sent = pay("balance", payer.CardID, 7)
	if sent[6].Status != http.StatusCreated || sent[6].Key == sent[5].Key {
		t.Fatalf("paying again after a top-up: %+v (the refusal's key %s); want 201 under a new key", sent[6], sent[5].Key)
	}
	b.waitText("#notice", "Paid ¥8.80 to Harbour Books", 5*time.Second)
	checkBalance(t, env, payer, 500+1000-880)

	// The answer of a payment that committed is lost: the page says so,
	// and paying again sends the same request under the same key, which
	// the gateway answers with the payment it made.
	third := env.CreateOrder(t, shop, 300)
	check(third.QRPayload)
	eval[bool](b, `window.lose = 1, true`)
	sent = pay("balance", payer.CardID, 8)
	if sent[7].Status != 0 {
		t.Fatalf("the lost answer was seen: %+v", sent[7])
	}
	b.waitText("#error", "No answer", 5*time.Second)
	sent = pay("balance", payer.CardID, 9)
	if sent[8].Status != http.StatusCreated || sent[8].Key != sent[7].Key {
		t.Fatalf("paying again after the lost answer: %+v; want 201 under its key %s", sent[8], sent[7].Key)
	}
	b.waitText("#notice", "Paid ¥3.00 to Harbour Books", 5*time.Second)
	if n := ledgerPayments(t, env, third.ID); n != 1 {
		t.Errorf("the ledger has %d payments of the order whose answer was lost; want 1", n)
	}
	checkBalance(t, env, payer, 500+1000-880-300)
}

// TestBrowserTopUpAndTransferKeys: a top-up and a transfer whose answers
// are lost are retried under their keys and move money once; the same
// transfer sent again after it succeeded is a new one.
func TestBrowserTopUpAndTransferKeys(t *testing.T) {
	env := gatewaytest.Start(t)
	payer := env.NewPayer(t, 1000)
	friend := env.NewCustomer(t)

	b := newBrowser(t, 412, 915)
	b.signIn(env, payer.Customer)
	b.waitText("#topup-card", "1111", 10*time.Second)
	b.watchRequests("/v1/wallet/topups", "/v1/wallet/transfers")

	eval[bool](b, `window.lose = 1, true`)
	topUp := func(n int) []request {
		b.run("top up", 10*time.Second,
			chromedp.SetValue(chromedp.ID("topup-amount"), "50.00"),
			chromedp.Click(chromedp.CSS(`#topup button[type="submit"]`)),
		)
		return b.requests(n, `#topup button[type="submit"]`)
	}
	topUp(1)
	b.waitText("#error", "No answer", 5*time.Second)
	sent := topUp(2)
	if sent[0].Status != 0 || sent[1].Status != http.StatusCreated || sent[1].Key != sent[0].Key {
		t.Fatalf("top-up, answer lost, then again: %+v; want the retry answered 201 under the same key", sent)
	}
	b.waitText("#balance", "¥60.00", 5*time.Second)
	if n := walletTransfers(t, env, payer.Customer, "topup"); n != 2 {
		t.Errorf("the wallet has %d top-ups; want 2 (its first and this one)", n)
	}

	transfers := env.URL + "/v1/wallet/transfers"
	transfer := func(n int, askPIN bool) []request {
		b.run("send money", 10*time.Second,
			chromedp.SetValue(chromedp.ID("transfer-phone"), friend.Phone),
			chromedp.SetValue(chromedp.ID("transfer-amount"), "20.00"),
			chromedp.Click(chromedp.CSS(`#transfer button[type="submit"]`)),
		)
		if askPIN {
			b.allow("403 (Forbidden) " + transfers)
			b.run("give the PIN", 10*time.Second,
				chromedp.WaitVisible(chromedp.ID("pin")),
				chromedp.SendKeys(chromedp.ID("pin"), payer.PIN),
				chromedp.Click(chromedp.CSS(`#pin-dialog button[value="ok"]`)),
			)
		}
		return b.requests(n, `#transfer button[type="submit"]`)
	}
	eval[bool](b, `window.lose = 1, true`)
	transfer(4, true) // pin_required, then the PIN: the answer is lost
	b.waitText("#error", "No answer", 5*time.Second)
	sent = transfer(5, false) // the same request again, PIN and all
	if sent[3].Status != 0 || sent[4].Status != http.StatusCreated || sent[4].Key != sent[3].Key || sent[3].Key != sent[2].Key {
		t.Fatalf("transfer, answer lost, then again: %+v; want one key, the retry answered 201", sent[2:])
	}
	b.waitText("#notice", "¥20.00", 5*time.Second)
	sent = transfer(7, true) // the same transfer once more: a new one
	if sent[6].Status != http.StatusCreated || sent[6].Key != sent[5].Key || sent[5].Key == sent[4].Key {
		t.Fatalf("the second transfer: %+v; want a new key, answered 201", sent[5:])
	}
	b.waitText("#balance", "¥20.00", 5*time.Second)
	if n := walletTransfers(t, env, payer.Customer, "transfer"); n != 2 {
		t.Errorf("the wallet made %d transfers; want 2", n)
	}
}

// ledgerPayments counts the payment transfers of an order in the ledger.
func ledgerPayments(t *testing.T, env *gatewaytest.Env, orderID string) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers WHERE order_id = $1 AND kind = 'payment'`,
		orderID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// walletTransfers counts the ledger transfers of a kind the wallet made.
func walletTransfers(t *testing.T, env *gatewaytest.Env, c gatewaytest.Customer, kind string) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers WHERE wallet_id = $1 AND kind = $2`,
		c.WalletID, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
