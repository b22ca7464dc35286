package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestBrowserDisplayTurnsPaid opens an order's display link in Chromium:
// it shows the merchant, the amount, the QR code and a countdown; the order
// is paid through the wallet; the page says Paid without a reload.
func TestBrowserDisplayTurnsPaid(t *testing.T) {
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, map[string]any{"name": "Lantern Noodles"})
	_, payload, link := displayOrder(t, env, k, 4250, "2 bowls")
	b := newBrowser(t, 412, 915)

	b.open(env.URL+link, "#qr")
	natural := value(b, "the QR loads", 10*time.Second, chromedp.Poll[int](
		`document.getElementById("qr").complete && document.getElementById("qr").naturalWidth`, chromedp.WithPollingTimeout(10*time.Second)))
	if natural < 100 {
		t.Fatalf("the QR image is %d px wide; want it loaded", natural)
	}
	if got := b.text("#merchant"); got != "Lantern Noodles" {
		t.Errorf("merchant = %q", got)
	}
	if got := b.text("#amount"); got != "¥42.50" {
		t.Errorf("amount = %q; want ¥42.50", got)
	}
	b.waitText("#countdown", ":", 5*time.Second)
	if got := b.text("#status"); got != "Waiting for payment" {
		t.Errorf("status = %q; want Waiting for payment", got)
	}
	b.screenshot("display-waiting")

	// A marker on the window survives only if the page is not reloaded.
	eval[bool](b, `window.notReloaded = true`)
	p := env.NewPayer(t, 10000)
	env.Pay(t, p, payload)
	b.waitText("#status", "Paid", 5*time.Second)
	if !eval[bool](b, `window.notReloaded === true`) {
		t.Error("the page was reloaded; want it to turn Paid in place")
	}
	if !eval[bool](b, `getComputedStyle(document.getElementById("qr-box")).display === "none"`) {
		t.Error("the QR code is still shown after payment")
	}
	b.screenshot("display-paid")
}
