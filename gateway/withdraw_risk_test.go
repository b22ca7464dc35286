package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/risk"
)

// TestWithdrawalRiskChecks: withdrawals go through the risk checks like
// payments. A large withdrawal to a card bound minutes ago — the cash-out
// of a taken-over wallet — asks for a one-time code below the amount that
// always needs one, and raises an alert naming the withdrawal; the same
// withdrawal once the card is a day old needs only the PIN and raises
// nothing.
func TestWithdrawalRiskChecks(t *testing.T) {
	t.Parallel()
	th := risk.DefaultThresholds()
	th.NewCardAmount = 5000
	env := gatewaytest.Start(t, riskOn(th, ""), func(o *gatewaytest.Options) { o.Wallet.SessionTTL = 72 * time.Hour })
	p := newPayer(t, env, 50000)
	body := map[string]any{"card_id": p.card.ID, "amount": 6000, "pin": gatewaytest.PIN}

	r := withdraw(env, t, p.customer, "fresh-card", body)
	if r.Status != http.StatusForbidden || r.Code() != "otp_required" {
		t.Fatalf("withdrawal of 6000 to a card bound just now = %d %s; want 403 otp_required", r.Status, r.Body)
	}
	if got := balance(t, env, p.customer); got != 50000 {
		t.Errorf("balance after the step-up was asked = %d; want 50000", got)
	}
	r = env.DoOTP(t, "POST", "/v1/wallet/withdrawals", body, p.Idem("fresh-card")...)
	if r.Status != http.StatusCreated {
		t.Fatalf("the withdrawal with its one-time code = %d %s; want 201", r.Status, r.Body)
	}
	var mv struct {
		ID string `json:"id"`
	}
	r.JSON(t, &mv)
	alerts := withdrawalAlerts(t, env)
	if len(alerts) != 1 || alerts[0].Rule != "new_card_large_amount" || alerts[0].TransferID != mv.ID {
		t.Errorf("alerts = %+v; want one new_card_large_amount naming the withdrawal %s", alerts, mv.ID)
	}

	env.Clock.Advance(25 * time.Hour)
	if r := withdraw(env, t, p.customer, "day-old-card", body); r.Status != http.StatusCreated {
		t.Errorf("the same withdrawal a day later = %d %s; want 201 with the PIN alone", r.Status, r.Body)
	}
	if got := len(withdrawalAlerts(t, env)); got != 1 {
		t.Errorf("%d alerts; want still 1", got)
	}
	checkLedger(t, env)
}

func withdrawalAlerts(t *testing.T, env *gatewaytest.Env) []risk.Alert {
	t.Helper()
	var out []risk.Alert
	for _, a := range alertsOf(t, env, "") {
		if a.Kind == risk.Withdrawal {
			out = append(out, a)
		}
	}
	return out
}
