package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ratelimit"
	"github.com/qrpay/qrpay/wallet"
)

type chargeAnswer struct {
	Status string `json:"status"`
	Order  struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Amount int64  `json:"amount"`
	} `json:"order"`
	ConfirmBy *time.Time `json:"confirm_by"`
}

func paymentTransfers(t *testing.T, env *gatewaytest.Env, walletID string) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers WHERE kind = 'payment' AND wallet_id = $1`,
		walletID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPaymentCodePaysOnce charges one code many times at once, through two
// merchants and two gateway replicas: exactly one charge pays, every other
// is told the code was used, and the ledger holds one payment.
func TestPaymentCodePaysOnce(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	replica := env.Replica(t)
	p := env.NewPayer(t, 10_000)
	key := env.NewCodeKey(t, p)
	ma := env.NewMerchant(t, map[string]any{"name": "Code Coffee A"})
	mb := env.NewMerchant(t, map[string]any{"name": "Code Tea B"})
	code := key.Code(env.Clock.Now())

	const n = 10
	resps := make([]gatewaytest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, gw := ma, env
			if i%2 == 1 {
				m = mb
			}
			if i%3 == 0 {
				gw = replica
			}
			resps[i] = gw.Charge(t, m, code, 1200)
		}()
	}
	wg.Wait()
	paid := 0
	for i, r := range resps {
		switch {
		case r.Status == http.StatusCreated:
			var a chargeAnswer
			r.JSON(t, &a)
			if a.Status != "paid" || a.Order.Status != "paid" {
				t.Errorf("charge %d = %s; want paid", i, r.Body)
			}
			paid++
		case r.Status == http.StatusConflict && r.Code() == "payment_code_used":
		default:
			t.Errorf("charge %d = %d %s; want 201 or 409 payment_code_used", i, r.Status, r.Body)
		}
	}
	if paid != 1 {
		t.Errorf("%d charges paid; want exactly 1", paid)
	}
	if got := paymentTransfers(t, env, p.WalletID); got != 1 {
		t.Errorf("the ledger holds %d payments from the wallet; want 1", got)
	}
	if got := balance(t, env, p.Customer); got != 10_000-1200 {
		t.Errorf("balance = %d; want %d", got, 10_000-1200)
	}

	// One charge sent many times at once under one order number (a
	// terminal retrying with new Idempotency-Keys): one payment, and every
	// answer is that charge, paid, or the code's refusal.
	env.Clock.Advance(wallet.CodeStep)
	code = key.Code(env.Clock.Now())
	orders := map[string]bool{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gw := env
			if i%2 == 1 {
				gw = replica
			}
			resps[i] = gw.Charge(t, ma, code, 700, "SAME-NO")
		}()
	}
	wg.Wait()
	for i, r := range resps {
		switch {
		case r.Status == http.StatusCreated:
			var a chargeAnswer
			r.JSON(t, &a)
			if a.Status != "paid" {
				t.Errorf("duplicate %d = %s; want paid", i, r.Body)
			}
			orders[a.Order.ID] = true
		case r.Status == http.StatusConflict && r.Code() == "payment_code_used":
		default:
			t.Errorf("duplicate %d = %d %s; want 201 or 409 payment_code_used", i, r.Status, r.Body)
		}
	}
	if len(orders) != 1 {
		t.Errorf("the duplicates answered %d orders; want 1", len(orders))
	}
	if got := paymentTransfers(t, env, p.WalletID); got != 2 {
		t.Errorf("the ledger holds %d payments from the wallet; want 2", got)
	}
	checkLedger(t, env)
}

// TestPaymentCodeSteps: a code is accepted at its own step and the next,
// refused as expired after; a used code, and a code of an earlier step of
// the same device, are refused as used; a retry of the same charge under
// its merchant order number answers paid again without paying twice.
func TestPaymentCodeSteps(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 10_000)
	key := env.NewCodeKey(t, p)
	m := env.NewMerchant(t, map[string]any{"name": "Step Bakery"})

	// Expired: two steps old.
	old := key.Code(env.Clock.Now())
	env.Clock.Advance(2 * wallet.CodeStep)
	if r := env.Charge(t, m, old, 100); r.Status != http.StatusGone || r.Code() != "payment_code_expired" {
		t.Fatalf("a code two steps old = %d %s; want 410 payment_code_expired", r.Status, r.Body)
	}

	// The previous step's code still pays.
	prev := key.Code(env.Clock.Now())
	env.Clock.Advance(wallet.CodeStep)
	current := key.Code(env.Clock.Now())
	if prev == current {
		t.Fatalf("codes of two steps are equal: %s", prev)
	}
	r := env.Charge(t, m, current, 100, "STEP-1")
	if r.Status != http.StatusCreated {
		t.Fatalf("charge = %d %s", r.Status, r.Body)
	}
	// The earlier step's code, never charged, is spent by the later one.
	if r := env.Charge(t, m, prev, 100); r.Status != http.StatusConflict || r.Code() != "payment_code_used" {
		t.Errorf("an earlier step's code = %d %s; want 409 payment_code_used", r.Status, r.Body)
	}
	// The same code again under another order number.
	if r := env.Charge(t, m, current, 100); r.Status != http.StatusConflict || r.Code() != "payment_code_used" {
		t.Errorf("a used code = %d %s; want 409 payment_code_used", r.Status, r.Body)
	}
	// PostgreSQL is the final guard: with the Redis fast path forgotten,
	// both are still refused.
	keys, err := env.Redis.Keys(context.Background(), env.Prefix+"paycode:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the spent-step keys in Redis = %q %v; want one", keys, err)
	}
	if err := env.Redis.Del(context.Background(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	for name, code := range map[string]string{"used": current, "earlier": prev} {
		if r := env.Charge(t, m, code, 100); r.Status != http.StatusConflict || r.Code() != "payment_code_used" {
			t.Errorf("the %s code without the Redis record = %d %s; want 409 payment_code_used", name, r.Status, r.Body)
		}
	}
	// The same charge again (a retry whose answer was lost).
	if r := env.Charge(t, m, current, 100, "STEP-1"); r.Status != http.StatusCreated {
		t.Errorf("a retried charge = %d %s; want 201", r.Status, r.Body)
	} else {
		var a chargeAnswer
		r.JSON(t, &a)
		if a.Status != "paid" {
			t.Errorf("a retried charge = %s; want paid", r.Body)
		}
	}
	// Another charge under that order number is a conflict.
	env.Clock.Advance(wallet.CodeStep)
	if r := env.Charge(t, m, key.Code(env.Clock.Now()), 300, "STEP-1"); r.Status != http.StatusConflict || r.Code() != "conflict" {
		t.Errorf("another charge under a used order number = %d %s; want 409 conflict", r.Status, r.Body)
	}
	if got := paymentTransfers(t, env, p.WalletID); got != 1 {
		t.Errorf("the ledger holds %d payments from the wallet; want 1", got)
	}
	if got := balance(t, env, p.Customer); got != 10_000-100 {
		t.Errorf("balance = %d; want %d", got, 10_000-100)
	}
	// A new seed retires the old one's codes.
	fresh := env.NewCodeKey(t, p)
	env.Clock.Advance(wallet.CodeStep)
	if r := env.Charge(t, m, key.Code(env.Clock.Now()), 100); r.Status != http.StatusUnprocessableEntity || r.Code() != "payment_code_invalid" {
		t.Errorf("a code of a replaced seed = %d %s; want 422 payment_code_invalid", r.Status, r.Body)
	}
	if r := env.Charge(t, m, fresh.Code(env.Clock.Now()), 100); r.Status != http.StatusCreated {
		t.Errorf("a code of the new seed = %d %s; want 201", r.Status, r.Body)
	}
	checkLedger(t, env)
}

// TestPaymentCodeDeclines: each reason a code cannot pay is its own clear
// 4xx, and nothing moves.
func TestPaymentCodeDeclines(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 1_000)
	key := env.NewCodeKey(t, p)
	m := env.NewMerchant(t, map[string]any{"name": "Decline Deli"})
	usd := env.NewMerchant(t, map[string]any{"name": "Dollar Diner", "currency": "USD", "country": "US", "city": "New York"})

	if r := env.Charge(t, usd, key.Code(env.Clock.Now()), 100); r.Status != http.StatusUnprocessableEntity || r.Code() != "currency_mismatch" {
		t.Errorf("a CNY wallet's code at a USD merchant = %d %s; want 422 currency_mismatch", r.Status, r.Body)
	}
	// Insufficient funds: the code is spent, the order closed, the retry
	// answered the same.
	r := env.Charge(t, m, key.Code(env.Clock.Now()), 5_000, "DECLINE-1")
	if r.Status != http.StatusPaymentRequired || r.Code() != "insufficient_funds" {
		t.Fatalf("a charge above the balance = %d %s; want 402 insufficient_funds", r.Status, r.Body)
	}
	if r := env.Charge(t, m, key.Code(env.Clock.Now()), 5_000, "DECLINE-1"); r.Code() != "insufficient_funds" {
		t.Errorf("the declined charge again = %d %s; want insufficient_funds", r.Status, r.Body)
	}
	var o struct {
		Status string `json:"status"`
	}
	env.Signed(t, m, "GET", "/v1/orders/by-number/DECLINE-1", nil).JSON(t, &o)
	if o.Status != "closed" {
		t.Errorf("the declined charge's order is %q; want closed", o.Status)
	}
	// Malformed codes are bad input.
	for _, bad := range []string{"", "12345", "290000001000000000", "28000000100000000x", strings.Repeat("2", 19)} {
		if r := env.Charge(t, m, bad, 100); r.Status != http.StatusBadRequest || r.Code() != "invalid" {
			t.Errorf("code %q = %d %s; want 400 invalid", bad, r.Status, r.Body)
		}
	}
	// A funding source that is none is bad input where a code is made.
	for _, path := range []string{"/v1/wallet/payment-codes/keys", "/v1/wallet/payment-codes"} {
		r := env.Do(t, "POST", path, map[string]any{"device_id": p.DeviceID, "funding": "credit", "card_id": p.CardID}, p.Auth()...)
		if r.Status != http.StatusBadRequest || r.Code() != "invalid" {
			t.Errorf("%s with funding credit = %d %s; want 400 invalid", path, r.Status, r.Body)
		}
	}
	// An unknown device.
	r = env.Do(t, "POST", "/v1/wallet/payment-codes/keys", map[string]any{"device_id": "never-seen", "card_id": p.CardID}, p.Auth()...)
	if r.Status != http.StatusNotFound {
		t.Errorf("a key for an unknown device = %d %s; want 404", r.Status, r.Body)
	}
	if got := balance(t, env, p.Customer); got != 1_000 {
		t.Errorf("balance = %d; want 1000", got)
	}
	if got := paymentTransfers(t, env, p.WalletID); got != 0 {
		t.Errorf("the ledger holds %d payments; want 0", got)
	}
}

// TestPaymentCodeUnknownCodesAreLimited: a merchant key that sends codes
// no wallet made is refused after its budget, even with a real code;
// another key of the same merchant is not.
func TestPaymentCodeUnknownCodesAreLimited(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.PaymentCodes = gateway.PaymentCodeConfig{UnknownCodes: ratelimit.Lockout{Max: 3, For: 10 * time.Minute}}
	})
	p := env.NewPayer(t, 10_000)
	key := env.NewCodeKey(t, p)
	m := env.NewMerchant(t, map[string]any{"name": "Guess Grill"})
	// Ten guesses at once: three are checked, the others refused unchecked.
	real := key.Code(env.Clock.Now())
	const n = 10
	resps := make([]gatewaytest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			guess := fmt.Sprintf("28%07d%d%08d", key.Index, wallet.CodeStepAt(env.Clock.Now())%10, 12345670+i)
			if guess == real {
				guess = fmt.Sprintf("28%07d%d%08d", key.Index, wallet.CodeStepAt(env.Clock.Now())%10, 22345670+i)
			}
			resps[i] = env.Charge(t, m, guess, 100)
		}()
	}
	wg.Wait()
	checked := 0
	for i, r := range resps {
		switch {
		case r.Status == http.StatusUnprocessableEntity && r.Code() == "payment_code_invalid":
			checked++
		case r.Status == http.StatusTooManyRequests && r.Code() == "rate_limited":
		default:
			t.Errorf("guess %d = %d %s; want 422 payment_code_invalid or 429 rate_limited", i, r.Status, r.Body)
		}
	}
	if checked != 3 {
		t.Errorf("%d of %d concurrent guesses were checked; want the budget, 3", checked, n)
	}
	r := env.Charge(t, m, key.Code(env.Clock.Now()), 100)
	if r.Status != http.StatusTooManyRequests || r.Code() != "rate_limited" {
		t.Fatalf("a real code after the budget = %d %s; want 429 rate_limited", r.Status, r.Body)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Error("rate_limited without Retry-After")
	}
	other := env.NewMerchant(t, map[string]any{"name": "Honest Grill"})
	if r := env.Charge(t, other, key.Code(env.Clock.Now()), 100); r.Status != http.StatusCreated {
		t.Errorf("another merchant's key = %d %s; want 201", r.Status, r.Body)
	}
}

// TestPaymentCodeConfirmation: above the PIN threshold the charge waits;
// the wallet hears of it, lists it and confirms with its PIN; the POS sees
// the order paid. An unconfirmed charge expires and moves nothing.
func TestPaymentCodeConfirmation(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 100_000)
	key := env.NewCodeKey(t, p)
	m := env.NewMerchant(t, map[string]any{"name": "Big Ticket Audio"})
	const amount = 25_000 // above the test threshold, 20000

	r := env.Charge(t, m, key.Code(env.Clock.Now()), amount)
	if r.Status != http.StatusCreated {
		t.Fatalf("charge = %d %s", r.Status, r.Body)
	}
	var a chargeAnswer
	r.JSON(t, &a)
	if a.Status != "requires_confirmation" || a.Order.Status != "created" || a.ConfirmBy == nil {
		t.Fatalf("charge above the threshold = %s; want requires_confirmation", r.Body)
	}
	var feed wallet.NotificationPage
	env.Do(t, "GET", "/v1/wallet/notifications", nil, p.Auth()...).JSON(t, &feed)
	if len(feed.Data) == 0 || feed.Data[0].Type != wallet.NoticeChargeRequest || feed.Data[0].OrderID != a.Order.ID {
		t.Errorf("the newest notification = %+v; want a charge_request for %s", feed.Data, a.Order.ID)
	}
	var pending struct {
		Data []struct {
			OrderID string `json:"order_id"`
			Amount  int64  `json:"amount"`
		} `json:"data"`
	}
	env.Do(t, "GET", "/v1/wallet/payment-codes/charges", nil, p.Auth()...).JSON(t, &pending)
	if len(pending.Data) != 1 || pending.Data[0].OrderID != a.Order.ID || pending.Data[0].Amount != amount {
		t.Fatalf("pending charges = %+v; want the one charge", pending.Data)
	}
	// Another wallet cannot see or confirm it.
	q := env.NewPayer(t, 0)
	if r := env.Do(t, "POST", "/v1/wallet/payment-codes/charges/"+a.Order.ID+"/confirm", map[string]any{"pin": q.PIN},
		q.Idem("confirm-other")...); r.Status != http.StatusNotFound {
		t.Errorf("another wallet's confirm = %d %s; want 404", r.Status, r.Body)
	}
	// Nor pay its order by id.
	if r := env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"order_id": a.Order.ID, "card_id": q.CardID, "pin": q.PIN},
		q.Idem("pay-other")...); r.Status != http.StatusNotFound {
		t.Errorf("another wallet paying the charge's order = %d %s; want 404", r.Status, r.Body)
	}
	// A wrong PIN leaves it waiting.
	if r := env.Do(t, "POST", "/v1/wallet/payment-codes/charges/"+a.Order.ID+"/confirm", map[string]any{"pin": "999999"},
		p.Idem("confirm-wrong")...); r.Status != http.StatusForbidden || r.Code() != "pin_invalid" {
		t.Errorf("confirm with a wrong PIN = %d %s; want 403 pin_invalid", r.Status, r.Body)
	}
	r = env.Do(t, "POST", "/v1/wallet/payment-codes/charges/"+a.Order.ID+"/confirm", map[string]any{"pin": p.PIN}, p.Idem("confirm-1")...)
	if r.Status != http.StatusCreated {
		t.Fatalf("confirm = %d %s", r.Status, r.Body)
	}
	var o struct {
		Status string `json:"status"`
	}
	env.Signed(t, m, "GET", "/v1/orders/"+a.Order.ID, nil).JSON(t, &o)
	if o.Status != "paid" {
		t.Errorf("the confirmed charge's order is %q; want paid", o.Status)
	}
	// Confirming again does not pay again.
	if r := env.Do(t, "POST", "/v1/wallet/payment-codes/charges/"+a.Order.ID+"/confirm", map[string]any{"pin": p.PIN},
		p.Idem("confirm-2")...); r.Status != http.StatusCreated {
		t.Errorf("confirm again = %d %s; want 201 (the same payment)", r.Status, r.Body)
	}
	if got := balance(t, env, p.Customer); got != 100_000-amount {
		t.Errorf("balance = %d; want %d", got, 100_000-amount)
	}

	// Unconfirmed: the order expires and nothing moves.
	env.Clock.Advance(wallet.CodeStep)
	r = env.Charge(t, m, key.Code(env.Clock.Now()), amount)
	r.JSON(t, &a)
	if a.Status != "requires_confirmation" {
		t.Fatalf("second charge = %s; want requires_confirmation", r.Body)
	}
	env.Clock.Advance(3 * time.Minute)
	env.Signed(t, m, "GET", "/v1/orders/"+a.Order.ID, nil).JSON(t, &o)
	if o.Status != "expired" {
		t.Errorf("the unconfirmed charge's order is %q; want expired", o.Status)
	}
	if r := env.Do(t, "POST", "/v1/wallet/payment-codes/charges/"+a.Order.ID+"/confirm", map[string]any{"pin": p.PIN},
		p.Idem("confirm-late")...); r.Status != http.StatusGone || r.Code() != "order_expired" {
		t.Errorf("a late confirm = %d %s; want 410 order_expired", r.Status, r.Body)
	}
	env.Do(t, "GET", "/v1/wallet/payment-codes/charges", nil, p.Auth()...).JSON(t, &pending)
	if len(pending.Data) != 0 {
		t.Errorf("pending charges after expiry = %+v; want none", pending.Data)
	}
	if got := balance(t, env, p.Customer); got != 100_000-amount {
		t.Errorf("balance after the expired charge = %d; want %d", got, 100_000-amount)
	}
	// Declined by the wallet: the order closes.
	env.Clock.Advance(wallet.CodeStep)
	env.Charge(t, m, key.Code(env.Clock.Now()), amount).JSON(t, &a)
	if r := env.Do(t, "POST", "/v1/wallet/payment-codes/charges/"+a.Order.ID+"/decline", nil, p.Auth()...); r.Status != http.StatusNoContent {
		t.Fatalf("decline = %d %s", r.Status, r.Body)
	}
	env.Signed(t, m, "GET", "/v1/orders/"+a.Order.ID, nil).JSON(t, &o)
	if o.Status != "closed" {
		t.Errorf("the declined charge's order is %q; want closed", o.Status)
	}
	if got := paymentTransfers(t, env, p.WalletID); got != 1 {
		t.Errorf("the ledger holds %d payments; want 1", got)
	}
	checkLedger(t, env)
}

// TestPaymentCodeFromServer: the wallet's current code comes with a QR
// code and a Code 128 barcode that real readers decode to the code, and
// the code pays.
func TestPaymentCodeFromServer(t *testing.T) {
	t.Parallel()
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatalf("this test reads the images with zbarimg: run `make test-deps` (or apt-get install zbar-tools): %v", err)
	}
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 5_000)
	m := env.NewMerchant(t, map[string]any{"name": "Scan Shop"})
	r := env.Do(t, "POST", "/v1/wallet/payment-codes", map[string]any{"device_id": p.DeviceID, "card_id": p.CardID}, p.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("current code = %d %s", r.Status, r.Body)
	}
	var c struct {
		Code       string    `json:"code"`
		QRPNG      string    `json:"qr_png"`
		BarcodePNG string    `json:"barcode_png"`
		ExpiresAt  time.Time `json:"expires_at"`
	}
	r.JSON(t, &c)
	if len(c.Code) != 18 || !strings.HasPrefix(c.Code, "28") || !c.ExpiresAt.After(env.Clock.Now()) {
		t.Fatalf("current code = %+v", c)
	}
	dir := t.TempDir()
	for name, img := range map[string]string{"qrcode": c.QRPNG, "code128": c.BarcodePNG} {
		b, err := base64.StdEncoding.DecodeString(img)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		file := filepath.Join(dir, name+".png")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(zbar, "--quiet", "--raw", "-Sdisable", "-S"+name+".enable", file).Output()
		if err != nil {
			t.Fatalf("zbarimg %s: %v", name, err)
		}
		if got := strings.TrimSpace(string(out)); got != c.Code {
			t.Errorf("the %s image reads %q; want %q", name, got, c.Code)
		}
	}
	// The same step gives the same code.
	var again struct {
		Code string `json:"code"`
	}
	env.Do(t, "POST", "/v1/wallet/payment-codes", map[string]any{"device_id": p.DeviceID, "card_id": p.CardID}, p.Auth()...).JSON(t, &again)
	if again.Code != c.Code {
		t.Errorf("the code changed within its step: %s then %s", c.Code, again.Code)
	}
	if r := env.Charge(t, m, c.Code, 1500); r.Status != http.StatusCreated {
		t.Errorf("charge the server's code = %d %s", r.Status, r.Body)
	}
	if got := balance(t, env, p.Customer); got != 3_500 {
		t.Errorf("balance = %d; want 3500", got)
	}
}

// TestFeedNamesOrderAndCode: a payment's feed entry names the order it
// paid. One that a charge of a payment code made, and a charge's request
// for the PIN, also name the code the charge spent (its device and time
// step, as the code was shown with), in the list, on the stream and in
// the pending charges; a payment of a scanned QR names none.
func TestFeedNamesOrderAndCode(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 100_000)
	m := env.NewMerchant(t, map[string]any{"name": "Code Corner"})
	stream := openStream(t, env, p.Customer, "")

	scanned := env.CreateOrder(t, m, 500)
	env.Pay(t, p, scanned.QRPayload)
	current := func() wallet.Code {
		t.Helper()
		r := env.Do(t, "POST", "/v1/wallet/payment-codes", map[string]any{"device_id": p.DeviceID, "card_id": p.CardID}, p.Auth()...)
		if r.Status != http.StatusOK {
			t.Fatalf("current code = %d %s", r.Status, r.Body)
		}
		var c wallet.Code
		r.JSON(t, &c)
		if want := wallet.CodeStepAt(env.Clock.Now()); c.Step != want {
			t.Errorf("the code's step = %d; want %d", c.Step, want)
		}
		return c
	}
	charge := func(code string, amount int64) string {
		t.Helper()
		r := env.Charge(t, m, code, amount)
		if r.Status != http.StatusCreated {
			t.Fatalf("charge = %d %s", r.Status, r.Body)
		}
		var a chargeAnswer
		r.JSON(t, &a)
		return a.Order.ID
	}
	first := current()
	paid := charge(first.Code, 1200)
	env.Clock.Advance(wallet.CodeStep)
	second := current()
	waiting := charge(second.Code, 25_000) // above the threshold: waits for the PIN

	want := map[string]struct {
		kind string
		code *wallet.CodeUse
	}{
		scanned.ID: {wallet.NoticePayment, nil},
		paid:       {wallet.NoticePayment, &wallet.CodeUse{DeviceID: p.DeviceID, Step: first.Step}},
		waiting:    {wallet.NoticeChargeRequest, &wallet.CodeUse{DeviceID: p.DeviceID, Step: second.Step}},
	}
	check := func(where string, n wallet.Notification) {
		t.Helper()
		w, ok := want[n.OrderID]
		switch {
		case !ok:
			t.Errorf("%s: %s entry names order %q; want one of the three", where, n.Type, n.OrderID)
		case n.Type != w.kind:
			t.Errorf("%s: the entry of order %s is %s; want %s", where, n.OrderID, n.Type, w.kind)
		case (n.PaymentCode == nil) != (w.code == nil) || (w.code != nil && *n.PaymentCode != *w.code):
			t.Errorf("%s: the %s of order %s names the code %+v; want %+v", where, n.Type, n.OrderID, n.PaymentCode, w.code)
		}
	}
	var feed wallet.NotificationPage
	env.Do(t, "GET", "/v1/wallet/notifications?limit=3", nil, p.Auth()...).JSON(t, &feed)
	if len(feed.Data) != 3 {
		t.Fatalf("the feed = %+v; want the three entries", feed.Data)
	}
	for _, n := range feed.Data {
		check("list", n)
	}
	for range 3 {
		var n wallet.Notification
		if err := json.Unmarshal([]byte(stream.next(t)[2]), &n); err != nil {
			t.Fatal(err)
		}
		check("stream", n)
	}

	var pending struct {
		Data []struct {
			OrderID     string         `json:"order_id"`
			PaymentCode wallet.CodeUse `json:"payment_code"`
		} `json:"data"`
	}
	env.Do(t, "GET", "/v1/wallet/payment-codes/charges", nil, p.Auth()...).JSON(t, &pending)
	if len(pending.Data) != 1 || pending.Data[0].OrderID != waiting || pending.Data[0].PaymentCode != *want[waiting].code {
		t.Errorf("pending charges = %+v; want %s with its code", pending.Data, waiting)
	}
}

// TestDeclinedChargeIsInTheFeed: a charge of a payment code that is
// declined at once (the balance is short) tells the wallet, in its feed,
// which merchant tried, for how much, why, and with which code; nothing
// moved.
func TestDeclinedChargeIsInTheFeed(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 300)
	key := env.NewCodeKey(t, p)
	m := env.NewMerchant(t, map[string]any{"name": "Short Change Deli"})
	r := env.Charge(t, m, key.Code(env.Clock.Now()), 900)
	if r.Status != http.StatusPaymentRequired || r.Code() != "insufficient_funds" {
		t.Fatalf("charge above the balance = %d %s; want 402 insufficient_funds", r.Status, r.Body)
	}
	var feed wallet.NotificationPage
	env.Do(t, "GET", "/v1/wallet/notifications", nil, p.Auth()...).JSON(t, &feed)
	var got []wallet.Notification
	for _, n := range feed.Data {
		if n.Type == wallet.NoticeChargeDeclined {
			got = append(got, n)
		}
	}
	if len(got) != 1 {
		t.Fatalf("charge_declined entries = %+v; want one", feed.Data)
	}
	n := got[0]
	if n.Counterparty != "Short Change Deli" || n.Amount == nil || *n.Amount != -900 || n.Reason != "insufficient_funds" ||
		n.OrderID == "" || n.PaymentCode == nil || n.PaymentCode.DeviceID != p.DeviceID {
		t.Errorf("charge_declined = %+v (code %+v); want the merchant, -900, insufficient_funds, the order and the device's code", n, n.PaymentCode)
	}
	if got := balance(t, env, p.Customer); got != 300 {
		t.Errorf("balance = %d; want 300", got)
	}
}
