package web_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestBrowserPaymentCode shows the wallet's payment code in Chromium and
// lets a merchant charge it. The screen's QR code and barcode read back as
// the digits it shows, and coming back to the screen uses the same device
// key. A small charge pays at once: the screen says so, and the balance
// moved once. The screen turns to the next step's code by itself; a charge
// of it above the PIN threshold waits, the screen asks for the PIN, and
// the customer confirms with the keyboard: the merchant's order is paid.
// A third charge, declined, closes its order.
func TestBrowserPaymentCode(t *testing.T) {
	zbar := zbarimg(t)
	env := gatewaytest.Start(t)
	bakery := env.NewMerchant(t, map[string]any{"name": "Corner Bakery", "mcc": "5814"})
	payer := env.NewPayer(t, 50000)

	b := newBrowser(t, 412, 915)
	b.signIn(env, payer.Customer)
	b.open(env.URL+"/wallet/paycode", "#paycode-box")
	first := b.shownCode("", 15*time.Second)
	if !regexp.MustCompile(`^28\d{16}$`).MatchString(first) {
		t.Fatalf("the screen shows %q; want 18 digits starting 28", first)
	}
	for id, symbology := range map[string]string{"paycode-qr": "qrcode", "paycode-barcode": "code128"} {
		if got := b.readImage(zbar, id, symbology); got != first {
			t.Errorf("the %s image reads %q; want the digits shown, %q", id, got, first)
		}
	}
	if got := b.text("#paycode-countdown"); !regexp.MustCompile(`^New code in \d+ s$`).MatchString(got) {
		t.Errorf("countdown = %q; want New code in N s", got)
	}
	b.screenshot("wallet-paycode")

	// Back on the screen, the browser is the same device with the same key.
	b.open(env.URL+"/wallet/home", "#balance")
	b.open(env.URL+"/wallet/paycode", "#paycode-box")
	again := b.shownCode("", 15*time.Second)
	if again[2:9] != first[2:9] {
		t.Errorf("the key index went from %s to %s on coming back; want the device's key reused", first[2:9], again[2:9])
	}
	device := eval[string](b, `localStorage.getItem("qrpay.device")`)
	var keys int
	var keyDevice string
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*), min(device_id) FROM payment_code_keys WHERE customer_id = $1`,
		payer.WalletID).Scan(&keys, &keyDevice); err != nil {
		t.Fatal(err)
	}
	if keys != 1 || keyDevice != device {
		t.Errorf("the wallet has %d payment-code keys, of device %q; want one, of this browser's device %q", keys, keyDevice, device)
	}

	// At or below the threshold the charge pays at once.
	var paid struct {
		Status string `json:"status"`
		Order  struct {
			ID string `json:"id"`
		} `json:"order"`
	}
	r := env.Charge(t, bakery, again, 1200)
	if r.Status != http.StatusCreated {
		t.Fatalf("charge %s = %d %s", again, r.Status, r.Body)
	}
	r.JSON(t, &paid)
	if paid.Status != "paid" {
		t.Fatalf("charge status = %s; want paid", paid.Status)
	}
	b.waitText("#paycode-result", "¥12.00", 10*time.Second)
	if got := b.text("#paycode-result"); !strings.Contains(got, "Paid") || !strings.Contains(got, "Corner Bakery") {
		t.Errorf("result = %q; want Paid, the amount and the merchant", got)
	}
	// The spent code is struck out until the next one comes.
	shown := eval[[]string](b, `[document.getElementById("paycode-digits").textContent.replace(/ /g, ""), document.getElementById("paycode-box").dataset.state]`)
	if shown[0] == again && shown[1] != "spent" {
		t.Errorf("the charged code is still shown as %s; want spent", shown[1])
	}
	checkBalance(t, env, payer, 50000-1200)
	if n := payments(t, env, payer, paid.Order.ID); n != 1 {
		t.Errorf("the order has %d payments in the wallet's history; want 1", n)
	}

	// The next step's code replaces it without a reload; above the
	// threshold the charge waits for the customer.
	next := b.shownCode(again, 45*time.Second)
	var waiting struct {
		Status string `json:"status"`
		Order  struct {
			ID string `json:"id"`
		} `json:"order"`
	}
	r = env.Charge(t, bakery, next, 25000)
	if r.Status != http.StatusCreated {
		t.Fatalf("charge %s = %d %s", next, r.Status, r.Body)
	}
	r.JSON(t, &waiting)
	if waiting.Status != "requires_confirmation" {
		t.Fatalf("charge status = %s; want requires_confirmation", waiting.Status)
	}
	b.run("the confirmation prompt", 10*time.Second, chromedp.WaitVisible(chromedp.ID("charge-pin")))
	if got := b.text("#charge-merchant"); got != "To Corner Bakery" {
		t.Errorf("prompt merchant = %q", got)
	}
	if got := b.text("#charge-amount"); got != "¥250.00" {
		t.Errorf("prompt amount = %q; want ¥250.00", got)
	}
	if got := eval[string](b, `document.activeElement.id`); got != "charge-pin" {
		t.Errorf("focus is on %q; want the PIN field", got)
	}
	b.screenshot("wallet-paycode-confirm")
	b.run("confirm with the PIN and Enter", 10*time.Second, chromedp.SendKeys(chromedp.ID("charge-pin"), payer.PIN+kb.Enter))
	b.waitText("#paycode-result", "¥250.00", 10*time.Second)
	b.run("the prompt closes", 10*time.Second, chromedp.WaitNotVisible(chromedp.ID("charge")))
	if got := orderStatus(t, env, bakery, waiting.Order.ID); got != "paid" {
		t.Errorf("the confirmed order is %s; want paid", got)
	}
	checkBalance(t, env, payer, 50000-1200-25000)
	if n := payments(t, env, payer, waiting.Order.ID); n != 1 {
		t.Errorf("the confirmed order has %d payments in the wallet's history; want 1", n)
	}

	// A charge the customer declines closes its order; nothing moves.
	last := b.shownCode(next, 45*time.Second)
	r = env.Charge(t, bakery, last, 30000)
	r.JSON(t, &waiting)
	if r.Status != http.StatusCreated || waiting.Status != "requires_confirmation" {
		t.Fatalf("charge %s = %d %s; want requires_confirmation", last, r.Status, r.Body)
	}
	b.run("decline", 10*time.Second,
		chromedp.WaitVisible(chromedp.ID("charge-decline")),
		chromedp.Click(chromedp.ID("charge-decline")),
	)
	b.waitText("#paycode-result", "Declined ¥300.00 to Corner Bakery", 10*time.Second)
	if got := orderStatus(t, env, bakery, waiting.Order.ID); got != "closed" {
		t.Errorf("the declined order is %s; want closed", got)
	}
	checkBalance(t, env, payer, 50000-1200-25000)

	b.open(env.URL+"/wallet/paycode?lang=zh", "#paycode-box")
	b.waitText("#paycode-countdown", "秒后更新", 15*time.Second)
	if got := b.text("#paycode-title"); got != "付款码" {
		t.Errorf("the Chinese title = %q; want 付款码", got)
	}
}

// TestBrowserPaymentCodeDeclined: a charge of the shown code that is
// declined at once — the balance is short — shows on the screen as
// declined, with the amount, the merchant and why, in the page's
// language, as does a scanned order refused for the same reason; nothing
// moves.
func TestBrowserPaymentCodeDeclined(t *testing.T) {
	env := gatewaytest.Start(t)
	deli := env.NewMerchant(t, map[string]any{"name": "Short Change Deli"})
	payer := env.NewPayer(t, 300)
	b := newBrowser(t, 412, 915)
	b.signIn(env, payer.Customer)
	b.open(env.URL+"/wallet/paycode?lang=zh", "#paycode-box")
	code := b.shownCode("", 15*time.Second)
	if r := env.Charge(t, deli, code, 900); r.Status != http.StatusPaymentRequired || r.Code() != "insufficient_funds" {
		t.Fatalf("charge above the balance = %d %s; want 402 insufficient_funds", r.Status, r.Body)
	}
	b.waitText("#paycode-result", "付款失败", 10*time.Second)
	got := b.text("#paycode-result")
	for _, want := range []string{"¥9.00", "Short Change Deli", "钱包余额不足"} {
		if !strings.Contains(got, want) {
			t.Errorf("result = %q; want it to hold %q", got, want)
		}
	}
	checkBalance(t, env, payer, 300)

	// A scanned order refused for the same reason says so in the page's
	// language too.
	order := env.CreateOrder(t, deli, 900)
	b.open(env.URL+"/wallet/pay?lang=zh", "#scan")
	b.allow("402 (Payment Required) " + env.URL + "/v1/wallet/payments")
	b.run("paste, check and pay", 15*time.Second,
		chromedp.SetValue(chromedp.ID("payload"), order.QRPayload),
		chromedp.Click(chromedp.CSS(`#scan button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.Click(chromedp.ID("pay-button")),
	)
	b.waitText("#error", "钱包余额不足", 10*time.Second)
	checkBalance(t, env, payer, 300)
}

// TestBrowserPaymentCodeShowsItsOwnCharges: the pay-code screen shows the
// charges of the codes this browser showed, and nothing else of the
// wallet: not a payment of a scanned QR, not a charge of a code another
// device of the wallet showed (paid at once, or waiting for the PIN). Its
// code stays live through them; a charge of it then shows at once.
func TestBrowserPaymentCodeShowsItsOwnCharges(t *testing.T) {
	env := gatewaytest.Start(t)
	bakery := env.NewMerchant(t, map[string]any{"name": "Corner Bakery"})
	shop := env.NewMerchant(t, map[string]any{"name": "Harbour Books"})
	payer := env.NewPayer(t, 100_000)
	const tablet = "test-tablet"
	if r := env.DoOTP(t, "POST", "/v1/wallet/sessions", map[string]any{"phone": payer.Phone, "password": gatewaytest.Password,
		"device_id": tablet}); r.Status != http.StatusCreated {
		t.Fatalf("signing in from the tablet = %d %s", r.Status, r.Body)
	}
	codeOf := func(device string) string {
		t.Helper()
		r := env.Do(t, "POST", "/v1/wallet/payment-codes", map[string]any{"device_id": device, "card_id": payer.CardID}, payer.Auth()...)
		if r.Status != http.StatusOK {
			t.Fatalf("the %s's code = %d %s", device, r.Status, r.Body)
		}
		var c struct {
			Code string `json:"code"`
		}
		r.JSON(t, &c)
		return c.Code
	}

	b := newBrowser(t, 412, 915)
	b.signIn(env, payer.Customer)
	b.open(env.URL+"/wallet/paycode", "#paycode-box")
	own := b.shownCode("", 15*time.Second)
	// What the screen shows as a result, and each time its code is struck out.
	eval[bool](b, `(function () {
		window.shown = [];
		window.polls = 0;
		new MutationObserver(function (records) {
			records.forEach(function (r) { r.addedNodes.forEach(function (n) { window.shown.push(n.textContent); }); });
		}).observe(document.getElementById("paycode-result"), { childList: true });
		new MutationObserver(function (records) {
			records.forEach(function (r) { if (r.target.dataset.state === "spent") window.shown.push("spent"); });
		}).observe(document.getElementById("paycode-box"), { attributes: true, attributeFilter: ["data-state"] });
		var send = window.fetch;
		window.fetch = function (url) {
			var answer = send.apply(this, arguments);
			if (String(url).indexOf("/v1/wallet/notifications") === 0) answer.then(function () { window.polls++; });
			return answer;
		};
		return true;
	})()`)
	polls := eval[int](b, `window.polls`)

	env.Pay(t, payer, env.CreateOrder(t, shop, 880).QRPayload)
	var answer struct {
		Status string `json:"status"`
	}
	env.Charge(t, bakery, codeOf(payer.DeviceID), 700).JSON(t, &answer)
	if answer.Status != "paid" {
		t.Fatalf("the phone's code charged = %s; want paid", answer.Status)
	}
	env.Charge(t, bakery, codeOf(tablet), 25_000).JSON(t, &answer)
	if answer.Status != "requires_confirmation" {
		t.Fatalf("the tablet's code charged = %s; want requires_confirmation", answer.Status)
	}
	value(b, "two polls after", 15*time.Second, chromedp.Poll[bool](`window.polls >= `+strconv.Itoa(polls+2),
		chromedp.WithPollingTimeout(15*time.Second)))
	if got := eval[[]string](b, `window.shown`); len(got) != 0 {
		t.Errorf("the screen showed %q for the wallet's other payments; want nothing", got)
	}
	if !eval[bool](b, `document.getElementById("charge").hidden`) {
		t.Errorf("the screen asks to confirm %q, the tablet's charge; want no prompt", b.text("#charge-amount"))
	}
	checkBalance(t, env, payer, 100_000-880-700)

	r := env.Charge(t, bakery, own, 1200)
	if r.Status != http.StatusCreated {
		t.Fatalf("charge %s = %d %s", own, r.Status, r.Body)
	}
	b.waitText("#paycode-result", "¥12.00", 10*time.Second)
	if got := b.text("#paycode-result"); !strings.Contains(got, "Corner Bakery") {
		t.Errorf("result = %q; want the merchant", got)
	}
	shown := eval[[]string](b, `[document.getElementById("paycode-digits").textContent.replace(/ /g, ""), document.getElementById("paycode-box").dataset.state]`)
	if shown[0] == own && shown[1] != "spent" {
		t.Errorf("the charged code is still shown as %s; want spent", shown[1])
	}
}

// TestBrowserPayByPhoto pays an order by choosing a photo of its QR code.
// BarcodeDetector is taken away first, so that the vendored decoder reads
// the photo whatever this browser has.
func TestBrowserPayByPhoto(t *testing.T) {
	env := gatewaytest.Start(t)
	shop := env.NewMerchant(t, map[string]any{"name": "Harbour Books"})
	payer := env.NewPayer(t, 10000)
	order := env.CreateOrder(t, shop, 880)
	r := env.Signed(t, shop, "GET", "/v1/orders/"+order.ID+"/qr.png", nil)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("the order's QR = %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	photo := filepath.Join(t.TempDir(), "order-qr.png")
	if err := os.WriteFile(photo, r.Body, 0o600); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, 412, 915)
	b.signIn(env, payer.Customer)
	b.open(env.URL+"/wallet/pay", "#photo")
	if !eval[bool](b, `delete window.BarcodeDetector, !("BarcodeDetector" in window)`) {
		t.Fatal("BarcodeDetector could not be taken away")
	}
	b.run("choose the photo", 10*time.Second, chromedp.SetUploadFiles(chromedp.ID("photo"), []string{photo}))
	got := value(b, "the payload fills", 15*time.Second, chromedp.Poll[string](`document.getElementById("payload").value`,
		chromedp.WithPollingTimeout(15*time.Second)))
	if got != order.QRPayload {
		t.Fatalf("the photo filled the payload with %q; want %q", got, order.QRPayload)
	}
	if !eval[bool](b, `typeof window.jsQR === "function"`) {
		t.Error("the photo was read without the vendored decoder")
	}
	b.run("the payment to confirm", 10*time.Second, chromedp.WaitVisible(chromedp.ID("confirm")))
	if got := b.text("#confirm-amount"); got != "¥8.80" {
		t.Errorf("confirm amount = %q; want ¥8.80", got)
	}
	b.run("pay", 10*time.Second, chromedp.Click(chromedp.ID("pay-button")))
	b.waitText("#notice", "Paid ¥8.80 to Harbour Books", 10*time.Second)
	if got := orderStatus(t, env, shop, order.ID); got != "paid" {
		t.Errorf("the order is %s; want paid", got)
	}
	checkBalance(t, env, payer, 10000-880)
}

// shownCode waits until the pay-code screen shows a live code other than
// not, and returns its digits.
func (b *browser) shownCode(not string, timeout time.Duration) string {
	b.t.Helper()
	return value(b, "a payment code other than "+strconv.Quote(not), timeout, chromedp.Poll[string](`(function () {
		var d = document.getElementById("paycode-digits").textContent.replace(/ /g, "");
		return document.getElementById("paycode-box").dataset.state === "ready" && d !== `+strconv.Quote(not)+` && d;
	})()`, chromedp.WithPollingTimeout(timeout)))
}

// readImage reads the code in the image of the element id with zbarimg.
func (b *browser) readImage(zbar, id, symbology string) string {
	b.t.Helper()
	src := eval[string](b, `document.getElementById("`+id+`").src`)
	data, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		b.t.Fatalf("the %s image is %.40q; want a PNG data URL", id, src)
	}
	png, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		b.t.Fatalf("the %s image: %v", id, err)
	}
	file := filepath.Join(b.t.TempDir(), id+".png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		b.t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--quiet", "--raw", "-Sdisable", "-S"+symbology+".enable", file).Output()
	if err != nil {
		b.t.Fatalf("zbarimg %s: %v", id, err)
	}
	return strings.TrimSpace(string(out))
}

func zbarimg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatalf("this test reads the page's images with zbarimg: run `make test-deps` (or apt-get install zbar-tools): %v", err)
	}
	return p
}

func checkBalance(t *testing.T, env *gatewaytest.Env, p gatewaytest.Payer, want int64) {
	t.Helper()
	var w struct {
		Balance int64 `json:"balance"`
	}
	env.Do(t, "GET", "/v1/wallet", nil, p.Auth()...).JSON(t, &w)
	if w.Balance != want {
		t.Errorf("balance = %d; want %d", w.Balance, want)
	}
}

// payments counts the wallet's payment movements of an order.
func payments(t *testing.T, env *gatewaytest.Env, p gatewaytest.Payer, orderID string) int {
	t.Helper()
	var page struct {
		Data []struct {
			Type    string `json:"type"`
			OrderID string `json:"order_id"`
		} `json:"data"`
	}
	env.Do(t, "GET", "/v1/wallet/movements?limit=100", nil, p.Auth()...).JSON(t, &page)
	n := 0
	for _, m := range page.Data {
		if m.Type == "payment" && m.OrderID == orderID {
			n++
		}
	}
	return n
}

func orderStatus(t *testing.T, env *gatewaytest.Env, k gatewaytest.MerchantKey, id string) string {
	t.Helper()
	var o struct {
		Status string `json:"status"`
	}
	r := env.Signed(t, k, "GET", "/v1/orders/"+id, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("read order %s = %d %s", id, r.Status, r.Body)
	}
	r.JSON(t, &o)
	return o.Status
}
