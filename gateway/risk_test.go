package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/risk"
)

// alertReceiver is the operator's webhook endpoint.
func alertReceiver(t *testing.T) (string, chan http.Header, chan string) {
	headers, bodies := make(chan http.Header, 16), make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		headers <- r.Header.Clone()
		bodies <- string(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, headers, bodies
}

func riskOn(th risk.Thresholds, url string) func(*gatewaytest.Options) {
	return func(o *gatewaytest.Options) {
		o.Risk = gateway.RiskConfig{Enabled: true, Thresholds: th, AlertWebhookURL: url, AlertWebhookSecret: "alert-secret"}
	}
}

func payOrder(t *testing.T, env *gatewaytest.Env, p gatewaytest.Payer, payload, key, pin string) gatewaytest.Response {
	t.Helper()
	body := map[string]any{"qr_payload": payload, "card_id": p.CardID}
	if pin != "" {
		body["pin"] = pin
	}
	return env.Do(t, "POST", "/v1/wallet/payments", body, p.Idem(key)...)
}

type alertList struct {
	Data []risk.Alert `json:"data"`
}

func alertsOf(t *testing.T, env *gatewaytest.Env, query string) []risk.Alert {
	t.Helper()
	r := env.Do(t, "GET", "/v1/admin/alerts?"+query, nil, "Authorization", "Bearer "+gatewaytest.OperatorToken)
	if r.Status != http.StatusOK {
		t.Fatalf("list alerts = %d %s", r.Status, r.Body)
	}
	var l alertList
	r.JSON(t, &l)
	return l.Data
}

// TestVelocityAsksForAStepUp: the sixth payment with one card within a
// minute is answered step_up_required with the reason; sent again with the
// PIN (below the PIN threshold) it goes through, and the alert is stored,
// listed for the operator and the owner, in the feed, and delivered to the
// operator's webhook.
func TestVelocityAsksForAStepUp(t *testing.T) {
	t.Parallel()
	url, headers, bodies := alertReceiver(t)
	env := gatewaytest.Start(t, riskOn(risk.DefaultThresholds(), url))
	k := env.NewMerchant(t, nil)
	p := env.NewPayer(t, 50000)
	for i := range 5 {
		o := env.CreateOrder(t, k, 1000)
		if r := payOrder(t, env, p, o.QRPayload, fmt.Sprint("v", i), ""); r.Status != http.StatusCreated {
			t.Fatalf("payment %d = %d %s; want 201", i, r.Status, r.Body)
		}
	}
	o := env.CreateOrder(t, k, 1000)
	r := payOrder(t, env, p, o.QRPayload, "v5", "")
	if r.Status != http.StatusForbidden || r.Code() != "step_up_required" {
		t.Fatalf("6th payment = %d %s; want 403 step_up_required", r.Status, r.Body)
	}
	var e gateway.ErrorBody
	r.JSON(t, &e)
	if want := "6 payments with this card in the last minute"; e.Error.Reason != want {
		t.Errorf("reason = %q; want %q", e.Error.Reason, want)
	}
	if r := payOrder(t, env, p, o.QRPayload, "v5", "000000"); r.Code() != "pin_invalid" {
		t.Errorf("step-up with a wrong PIN = %d %s; want pin_invalid", r.Status, r.Body)
	}
	r = payOrder(t, env, p, o.QRPayload, "v5", p.PIN)
	if r.Status != http.StatusCreated {
		t.Fatalf("6th payment with the PIN = %d %s; want 201", r.Status, r.Body)
	}
	var mv struct {
		ID string `json:"id"`
	}
	r.JSON(t, &mv)

	list := alertsOf(t, env, "wallet_id="+p.WalletID)
	if len(list) != 1 || list[0].Rule != "card_velocity" || list[0].Outcome != "step_up" || list[0].TransferID != mv.ID {
		t.Fatalf("alerts = %+v; want one card_velocity step_up for transfer %s", list, mv.ID)
	}
	if other := alertsOf(t, env, "rule=new_recipient"); len(other) != 0 {
		t.Errorf("alerts of rule new_recipient = %+v; want none", other)
	}
	if later := alertsOf(t, env, "from="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); len(later) != 0 {
		t.Errorf("alerts from an hour ahead = %+v; want none", later)
	}

	r = env.Do(t, "GET", "/v1/wallet/security-notices", nil, p.Auth()...)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"reason":"6 payments with this card in the last minute"`) {
		t.Errorf("security notices = %d %s; want the velocity alert", r.Status, r.Body)
	}
	stranger := env.NewCustomer(t)
	if r := env.Do(t, "GET", "/v1/wallet/security-notices", nil, stranger.Auth()...); strings.Contains(string(r.Body), "reason") {
		t.Errorf("another wallet's security notices = %s; want none", r.Body)
	}
	if feed := notificationsOf(t, env, p.Customer); feed[0].Type != "alert" || !strings.Contains(feed[0].Title, "6 payments") {
		t.Errorf("newest feed entry = %+v; want the alert", feed[0])
	}

	select {
	case h := <-headers:
		body := <-bodies
		if h.Get("Qrpay-Alert-Id") != list[0].ID || h.Get("Qrpay-Signature") == "" || !strings.Contains(body, `"rule":"card_velocity"`) {
			t.Errorf("delivery: headers %v, body %s; want the alert, signed", h, body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the alert was not delivered to the operator's webhook")
	}
	deadline := time.Now().Add(5 * time.Second)
	for alertsOf(t, env, "wallet_id="+p.WalletID)[0].Delivery != "delivered" {
		if time.Now().After(deadline) {
			t.Fatal("the alert's delivery was not recorded")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRiskDeclines: past the decline threshold a payment is refused with
// risk_declined, nothing moves, the card is frozen (RISK_FREEZE_ON_DECLINE)
// and the alert says decline; a transfer to a wallet opened minutes ago is
// alerted, and declined from the configured amount up.
func TestRiskDeclines(t *testing.T) {
	t.Parallel()
	th := risk.DefaultThresholds()
	th.CardPaymentsPerMinute, th.CardPaymentsDecline, th.NewRecipientDeclineAmount = 0, 2, 5000
	env := gatewaytest.Start(t, riskOn(th, ""), func(o *gatewaytest.Options) { o.Risk.FreezeOnDecline = true })
	k := env.NewMerchant(t, nil)
	p := env.NewPayer(t, 50000)
	for i := range 2 {
		if r := payOrder(t, env, p, env.CreateOrder(t, k, 1000).QRPayload, fmt.Sprint("d", i), ""); r.Status != http.StatusCreated {
			t.Fatalf("payment %d = %d %s", i, r.Status, r.Body)
		}
	}
	r := payOrder(t, env, p, env.CreateOrder(t, k, 1000).QRPayload, "d2", p.PIN)
	if r.Status != http.StatusPaymentRequired || r.Code() != "risk_declined" {
		t.Fatalf("3rd payment = %d %s; want 402 risk_declined (a PIN does not lift a decline)", r.Status, r.Body)
	}
	var w struct {
		Balance int64 `json:"balance"`
	}
	env.Do(t, "GET", "/v1/wallet", nil, p.Auth()...).JSON(t, &w)
	if w.Balance != 48000 {
		t.Errorf("balance = %d; want 48000: the declined payment moved nothing", w.Balance)
	}
	var card struct {
		Status string `json:"status"`
	}
	env.Do(t, "GET", "/v1/wallet/cards/"+p.CardID, nil, p.Auth()...).JSON(t, &card)
	if card.Status != "frozen" {
		t.Errorf("card status = %q; want frozen after the decline", card.Status)
	}
	if list := alertsOf(t, env, "rule=card_velocity"); len(list) != 1 || list[0].Outcome != "decline" || list[0].TransferID != "" {
		t.Errorf("velocity alerts = %+v; want one decline without a transfer", list)
	}

	friend := env.NewCustomer(t)
	send := func(key string, amount int64) gatewaytest.Response {
		return env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": friend.WalletID, "amount": amount, "pin": p.PIN},
			p.Idem(key)...)
	}
	if r := send("t1", 1000); r.Status != http.StatusCreated {
		t.Fatalf("small transfer to a new wallet = %d %s; want 201", r.Status, r.Body)
	}
	if r := send("t2", 5000); r.Code() != "risk_declined" {
		t.Fatalf("large transfer to a new wallet = %d %s; want risk_declined", r.Status, r.Body)
	}
	list := alertsOf(t, env, "rule=new_recipient")
	if len(list) != 2 || list[0].Outcome != "decline" || list[1].Outcome != "alert" || list[1].TransferID == "" {
		t.Errorf("new recipient alerts = %+v; want a decline, then an alert with its transfer", list)
	}
}

// TestOrdinaryTrafficRaisesNothing: payments at a person's pace, a
// top-up and a transfer to an established wallet fire no rule.
func TestOrdinaryTrafficRaisesNothing(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, riskOn(risk.DefaultThresholds(), ""), func(o *gatewaytest.Options) { o.Wallet.SessionTTL = 72 * time.Hour })
	k := env.NewMerchant(t, nil)
	k2 := env.NewMerchant(t, map[string]any{"name": "Corner Shop"})
	friend := env.NewCustomer(t)
	p := env.NewPayer(t, 90000)
	env.Clock.Advance(25 * time.Hour) // an established wallet and card
	for i, amount := range []int64{1200, 3500, 800, 2600, 15000} {
		m := k
		if i%2 == 1 {
			m = k2
		}
		if r := payOrder(t, env, p, env.CreateOrder(t, m, amount).QRPayload, fmt.Sprint("o", i), ""); r.Status != http.StatusCreated {
			t.Fatalf("payment %d = %d %s", i, r.Status, r.Body)
		}
	}
	env.TopUp(t, p.Customer, p.CardID, 20000)
	if r := env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": friend.WalletID, "amount": 3000, "pin": p.PIN},
		p.Idem("t")...); r.Status != http.StatusCreated {
		t.Fatalf("transfer = %d %s", r.Status, r.Body)
	}
	if list := alertsOf(t, env, ""); len(list) != 0 {
		t.Errorf("alerts = %+v; want none", list)
	}
}
