package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestBrowserCheckoutAndWallet drives both sides of a payment in Chromium.
// The POS's display link shows the merchant, the amount, the QR code and a
// countdown. In another tab, phone-sized, the customer signs in to the
// wallet pages (a new device: the one-time code step), pastes the QR
// payload, confirms with the PIN the amount asks for, and pays; the display
// turns Paid without a reload. The spending chart then shows the right
// totals by category and by month, and a top-up changes the balance.
func TestBrowserCheckoutAndWallet(t *testing.T) {
	env := gatewaytest.Start(t)
	noodles := env.NewMerchant(t, map[string]any{"name": "Lantern Noodles", "mcc": "5814"}) // dining
	grocer := env.NewMerchant(t, map[string]any{"name": "Fresh Mart", "mcc": "5411"})       // groceries
	payer := env.NewPayer(t, 50000)
	env.Pay(t, payer, env.CreateOrder(t, grocer, 3000).QRPayload)
	// Above the PIN threshold (200.00): the wallet page must ask for it.
	_, payload, link := displayOrder(t, env, noodles, 25000, "banquet")

	display := newBrowser(t, 412, 915)
	display.open(env.URL+link, "#qr")
	natural := value(display, "the QR loads", 10*time.Second, chromedp.Poll[int](
		`document.getElementById("qr").complete && document.getElementById("qr").naturalWidth`, chromedp.WithPollingTimeout(10*time.Second)))
	if natural < 100 {
		t.Fatalf("the QR image is %d px wide; want it loaded", natural)
	}
	if got := display.text("#merchant"); got != "Lantern Noodles" {
		t.Errorf("merchant = %q", got)
	}
	if got := display.text("#amount"); got != "¥250.00" {
		t.Errorf("amount = %q; want ¥250.00", got)
	}
	display.waitText("#countdown", "14:", 5*time.Second)
	if got := display.text("#status"); got != "Waiting for payment" {
		t.Errorf("status = %q; want Waiting for payment", got)
	}
	display.screenshot("display")
	// A marker on the window survives only if the page is not reloaded.
	eval[bool](display, `window.notReloaded = true`)

	wallet := display.newTab()
	wallet.signIn(env, payer.Customer)
	wallet.waitText("#balance", "¥470.00", 10*time.Second)
	wallet.waitText("#cards", "**** 1111", 10*time.Second)

	wallet.open(env.URL+"/wallet/pay", "#scan")
	wallet.run("paste and check the QR", 10*time.Second,
		chromedp.SetValue(chromedp.ID("payload"), payload),
		chromedp.Click(chromedp.CSS(`#scan button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm")),
	)
	if got := wallet.text("#confirm-title"); got != "Pay Lantern Noodles" {
		t.Errorf("confirm title = %q", got)
	}
	if got := wallet.text("#confirm-amount"); got != "¥250.00" {
		t.Errorf("confirm amount = %q", got)
	}
	wallet.run("pay, giving the PIN", 10*time.Second,
		chromedp.Click(chromedp.ID("pay-button")),
		chromedp.WaitVisible(chromedp.ID("pin")),
		chromedp.SendKeys(chromedp.ID("pin"), payer.PIN),
		chromedp.Click(chromedp.CSS(`#pin-dialog button[value="ok"]`)),
	)
	wallet.waitText("#notice", "Paid ¥250.00 to Lantern Noodles", 10*time.Second)

	display.waitText("#status", "Paid", 5*time.Second)
	if !eval[bool](display, `window.notReloaded === true`) {
		t.Error("the display was reloaded; want it to turn Paid in place")
	}
	if !eval[bool](display, `getComputedStyle(document.getElementById("qr-box")).display === "none"`) {
		t.Error("the QR code is still shown after payment")
	}
	display.screenshot("display-paid")

	wallet.open(env.URL+"/wallet/analysis", "#spent-total")
	wallet.waitText("#spent-total", "¥280.00", 10*time.Second)
	bars := eval[map[string]string](wallet, `Object.fromEntries(Array.from(document.querySelectorAll("#category-chart rect")).map(r => [r.dataset.key, r.dataset.net]))`)
	if bars["dining"] != "25000" || bars["groceries"] != "3000" || len(bars) != 2 {
		t.Errorf("category bars = %v; want dining 25000 and groceries 3000", bars)
	}
	month := env.Clock.Now().In(gatewaytest.WalletConfig().Location).Format("2006-01")
	if got := eval[string](wallet, `document.querySelector('#month-chart rect[data-key="`+month+`"]').dataset.net`); got != "28000" {
		t.Errorf("the month chart's bar for %s = %s; want 28000", month, got)
	}
	if got := eval[int](wallet, `document.querySelectorAll("#month-chart rect").length`); got != 12 {
		t.Errorf("the month chart has %d bars; want 12", got)
	}
	wallet.screenshot("wallet-analysis")

	wallet.open(env.URL+"/wallet/home", "#topup")
	wallet.waitText("#topup-card", "1111", 10*time.Second)
	wallet.run("top up", 10*time.Second,
		chromedp.SendKeys(chromedp.ID("topup-amount"), "100.5"),
		chromedp.Click(chromedp.CSS(`#topup button[type="submit"]`)),
	)
	wallet.waitText("#balance", "¥320.50", 10*time.Second)

	wallet.open(env.URL+"/wallet/history", "#movements")
	wallet.waitText("#movements", "Lantern Noodles", 10*time.Second)
	if got := wallet.text("#movements"); !strings.Contains(got, "Fresh Mart") || !strings.Contains(got, "¥100.50") {
		t.Errorf("history = %q; want the payments and the top-up", got)
	}
	wallet.open(env.URL+"/wallet/notices", "#notifications")
	wallet.waitText("#notifications", "Lantern Noodles", 10*time.Second)
	wallet.open(env.URL+"/wallet/statement", "#statement-form")
	wallet.waitText("#closing", "¥320.50", 10*time.Second)
}
