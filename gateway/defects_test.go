package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/limits"
	"github.com/qrpay/qrpay/testenv"
)

// TestOrderPaymentAmountZeroOrNullIsInvalid: an order is paid with its
// own amount when "amount" is omitted; "amount": 0 or null is a 400 that
// changes nothing, not a payment of the full amount.
func TestOrderPaymentAmountZeroOrNullIsInvalid(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	o := env.CreateOrder(t, k, 500)
	p := env.NewPayer(t, 1000)
	for i, body := range []string{
		`{"order_id":"` + o.ID + `","card_id":"` + p.CardID + `","amount":0}`,
		`{"order_id":"` + o.ID + `","card_id":"` + p.CardID + `","amount":null}`,
		`{"order_id":"` + o.ID + `","card_id":"` + p.CardID + `","\u0061mount":0}`,
	} {
		r := env.Do(t, "POST", "/v1/wallet/payments", body, p.Idem("zero-"+string(rune('a'+i)))...)
		if r.Status != http.StatusBadRequest || r.Code() != "invalid" || !strings.Contains(string(r.Body), "amount") {
			t.Errorf("pay with %s = %d %s; want 400 invalid naming amount", body, r.Status, r.Body)
		}
	}
	var w struct {
		Balance int64 `json:"balance"`
	}
	env.Do(t, "GET", "/v1/wallet", nil, p.Auth()...).JSON(t, &w)
	if w.Balance != 1000 {
		t.Errorf("balance = %d; want 1000 (nothing paid)", w.Balance)
	}
	if r := env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"order_id": o.ID, "card_id": p.CardID},
		p.Idem("omitted")...); r.Status != http.StatusCreated {
		t.Errorf("pay with the amount omitted = %d %s; want 201", r.Status, r.Body)
	}
}

// TestMissingFieldsAreInvalid: a missing card_id is 400 invalid naming
// the field (not 404), a null body is 400 invalid_json, and a page limit
// out of range is 400 invalid; none of them changes anything.
func TestMissingFieldsAreInvalid(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	o := env.CreateOrder(t, k, 500)
	p := env.NewPayer(t, 1000)
	for _, c := range []struct {
		method, path string
		body         any
		code         string
	}{
		{"POST", "/v1/wallet/topups", map[string]any{"amount": 100}, "invalid"},
		{"POST", "/v1/wallet/payments", map[string]any{"order_id": o.ID}, "invalid"},
		{"PATCH", "/v1/wallet/cards/" + p.CardID + "/limits", "null", "invalid_json"},
	} {
		r := env.Do(t, c.method, c.path, c.body, p.Idem("missing-"+c.path)...)
		if r.Status != http.StatusBadRequest || r.Code() != c.code {
			t.Errorf("%s %s %v = %d %s; want 400 %s", c.method, c.path, c.body, r.Status, r.Body, c.code)
		}
		if c.code == "invalid" && !strings.Contains(string(r.Body), "card_id") {
			t.Errorf("%s %s: %s does not name card_id", c.method, c.path, r.Body)
		}
	}
	for _, path := range []string{"/v1/orders?limit=-1", "/v1/orders?limit=0", "/v1/webhooks/events?limit=-5", "/v1/settlements?limit=-1"} {
		if r := env.Signed(t, k, "GET", path, nil); r.Status != http.StatusBadRequest || r.Code() != "invalid" {
			t.Errorf("GET %s = %d %s; want 400 invalid", path, r.Status, r.Body)
		}
	}
}

// TestSecurityHeaders: every response, errors included, says not to sniff
// its type and not to store it.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	for _, path := range []string{"/livez", "/v1/wallet", "/openapi.json", "/no-such-route"} {
		r := env.Do(t, "GET", path, nil)
		if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options = %q; want nosniff", path, got)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control = %q; want no-store", path, got)
		}
	}
}

// TestConcurrentCorrectSecretsNeverLock: many sign-ins, or transfers, with
// the right secret at once never lock the account; only wrong secrets
// count towards a lockout. Those beyond the guesses allowed in flight are
// told to retry (429), and the account is not locked afterwards.
func TestConcurrentCorrectSecretsNeverLock(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := env.NewCustomer(t)
	logins := concurrently(t, env, 12, "POST", "/v1/wallet/sessions",
		func(int) any {
			return map[string]any{"phone": c.Phone, "password": gatewaytest.Password, "device_id": c.DeviceID}
		},
		func(int) []string { return nil })
	ok := 0
	for _, r := range logins {
		switch {
		case r.Status == http.StatusCreated:
			ok++
		case r.Status == http.StatusTooManyRequests && r.Code() == "rate_limited" && r.Header.Get("Retry-After") != "":
		default:
			t.Errorf("concurrent correct login = %d %s; want 201, or 429 rate_limited", r.Status, r.Body)
		}
	}
	if ok == 0 {
		t.Error("no concurrent correct login succeeded")
	}
	if r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]any{"phone": c.Phone, "password": gatewaytest.Password, "device_id": c.DeviceID}); r.Status != http.StatusCreated {
		t.Errorf("login after the burst = %d %s; want 201 (not locked)", r.Status, r.Body)
	}

	from, to := env.NewPayer(t, 10000), env.NewPayer(t, 0)
	transfers := concurrently(t, env, 10, "POST", "/v1/wallet/transfers",
		func(int) any { return map[string]any{"to_wallet_id": to.WalletID, "amount": 10, "pin": from.PIN} },
		func(i int) []string { return from.Idem("burst-" + string(rune('a'+i))) })
	for _, r := range transfers {
		if r.Status != http.StatusCreated && r.Code() != "rate_limited" {
			t.Errorf("concurrent transfer with the right PIN = %d %s; want 201 or 429 rate_limited", r.Status, r.Body)
		}
	}
	if r := env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": to.WalletID, "amount": 10, "pin": from.PIN},
		from.Idem("after-burst")...); r.Status != http.StatusCreated {
		t.Errorf("transfer after the burst = %d %s; want 201 (PIN not locked)", r.Status, r.Body)
	}
}

// TestMismatchNeverBecomesTheKeysOutcome: once a key's Redis record is
// lost, the same key with a different body is refused (422) from the
// ledger, but that refusal is not stored as the key's answer: the original
// request sent again still gets its payment back, marked as a replay.
func TestMismatchNeverBecomesTheKeysOutcome(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	o := env.CreateOrder(t, k, 500)
	p := env.NewPayer(t, 1000)
	body := map[string]any{"order_id": o.ID, "card_id": p.CardID}
	first := env.Do(t, "POST", "/v1/wallet/payments", body, p.Idem("K")...)
	if first.Status != http.StatusCreated {
		t.Fatalf("pay = %d %s", first.Status, first.Body)
	}
	lose := func() {
		keys, err := testenv.Keys(context.Background(), env.Redis, env.Prefix+"idem:*")
		if err != nil || len(keys) == 0 {
			t.Fatalf("idempotency records: %v %v", keys, err)
		}
		if err := testenv.DeleteKeys(context.Background(), env.Redis, env.Prefix+"idem:*"); err != nil {
			t.Fatal(err)
		}
	}
	lose()
	other := map[string]any{"order_id": o.ID, "card_id": p.CardID, "amount": 500}
	if r := env.Do(t, "POST", "/v1/wallet/payments", other, p.Idem("K")...); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("the key with another body = %d %s; want 422", r.Status, r.Body)
	}
	again := env.Do(t, "POST", "/v1/wallet/payments", body, p.Idem("K")...)
	if again.Status != http.StatusCreated || string(again.Body) != string(first.Body) {
		t.Errorf("the original request again = %d %s; want 201 and the first answer %s", again.Status, again.Body, first.Body)
	}
	lose()
	fromLedger := env.Do(t, "POST", "/v1/wallet/payments", body, p.Idem("K")...)
	if fromLedger.Status != http.StatusCreated || fromLedger.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a replay answered from the ledger = %d, Idempotent-Replayed %q; want 201 and true",
			fromLedger.Status, fromLedger.Header.Get("Idempotent-Replayed"))
	}
}

// TestLimitReservationsGivenBackWhenNothingCommitted: a payment the ledger
// refused as unavailable without committing (here every batch fails in
// PostgreSQL, then the breaker opens and nothing is sent) gives its card
// reservation back, so the card's counters equal the ledger.
func TestLimitReservationsGivenBackWhenNothingCommitted(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	p := env.NewPayer(t, 10_000)
	ctx := context.Background()
	if _, err := env.Pool.Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'the disk is full'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON postings FOR EACH STATEMENT EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	unavailable := 0
	for i := range 8 { // enough to open the breaker: the later ones never reach PostgreSQL
		o := env.CreateOrder(t, k, 100)
		r := env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"order_id": o.ID, "card_id": p.CardID},
			p.Idem("down-"+string(rune('a'+i)))...)
		if r.Status == http.StatusServiceUnavailable {
			unavailable++
		}
	}
	if unavailable == 0 {
		t.Fatal("no payment failed as unavailable")
	}
	var u struct {
		UsedToday struct{ Amount, Count int64 } `json:"used_today"`
	}
	env.Do(t, "GET", "/v1/wallet/cards/"+p.CardID+"/limits", nil, p.Auth()...).JSON(t, &u)
	// NewPayer's top-up is the card's one movement in the ledger.
	if u.UsedToday.Count != 1 || u.UsedToday.Amount != 10_000 {
		t.Errorf("card counters = %+v after %d unavailable payments; want the ledger's 1 movement of 10000", u.UsedToday, unavailable)
	}
}

// TestDependencyDownIsNotAnErrorPerRequest: while PostgreSQL is down each
// 503 is logged as a warning, not as an ERROR line per request.
func TestDependencyDownIsNotAnErrorPerRequest(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.PostgresProxy = true })
	p := env.NewPayer(t, 1000)
	env.PostgresProxy.Cut()
	for i := range 3 {
		r := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": p.CardID, "amount": 100}, p.Idem("down-"+string(rune('a'+i)))...)
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("top-up with PostgreSQL down = %d %s; want 503", r.Status, r.Body)
		}
	}
	env.PostgresProxy.Restore()
	failed := 0
	for _, line := range strings.Split(env.Logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, `"msg":"request failed"`) {
			t.Errorf("a 503 was logged at ERROR: %s", line)
		}
		if strings.Contains(line, `"msg":"request failed"`) {
			failed++
		}
		// A JSON object with a repeated key is ambiguous to log pipelines.
		if n := strings.Count(line, `"request_id":`); n > 1 {
			t.Errorf("a log line carries request_id %d times: %s", n, line)
		}
	}
	if failed == 0 {
		t.Error("the failed requests were not logged")
	}
}

// TestForgottenReservationsConvergeToTheLedger: a card reservation whose
// process died before the ledger answered (simulated by reserving and
// never settling) counts against the card only until the grace period
// ends; then the ledger settles it — given back, as its transfer never
// committed — and the card's usage and pending count equal the ledger's,
// so the wallet is not held "in progress" for the rest of the day.
func TestForgottenReservationsConvergeToTheLedger(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 10_000)
	ctx := context.Background()
	wide := limits.Limits{PerTransaction: 1 << 40, DailyAmount: 1 << 40, DailyCount: 1 << 40}
	if _, err := env.App.Limits.ReserveFor(ctx, p.CardID, 500, wide, env.Clock.Now(),
		limits.Ref{Scope: "wallet:" + p.WalletID, Key: "died-before-commit"}); err != nil {
		t.Fatal(err)
	}
	used := func() (int64, int64) {
		var u struct {
			UsedToday struct{ Amount, Count int64 } `json:"used_today"`
		}
		env.Do(t, "GET", "/v1/wallet/cards/"+p.CardID+"/limits", nil, p.Auth()...).JSON(t, &u)
		return u.UsedToday.Amount, u.UsedToday.Count
	}
	if a, n := used(); a != 10_500 || n != 2 {
		t.Fatalf("usage while the reservation may still commit = %d in %d; want 10500 in 2", a, n)
	}
	env.Clock.Advance(3 * time.Minute)
	if a, n := used(); a != 10_000 || n != 1 {
		t.Errorf("usage after the grace period = %d in %d; want the ledger's 10000 in 1", a, n)
	}
	if n, err := env.App.Limits.Pending(ctx, p.CardID, env.Clock.Now()); err != nil || n != 0 {
		t.Errorf("pending after the grace period = %d, %v; want 0", n, err)
	}
}
