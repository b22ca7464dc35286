package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestWalletAuthorization walks every wallet route that takes an id and
// calls it as wallet B with wallet A's object: always 404, never A's data,
// and A's objects unchanged.
func TestWalletAuthorization(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	a, b := newCustomer(t, env), newCustomer(t, env)
	card := bindCard(t, env, a, "4111111111111111")
	mv := topUp(t, env, a, card.ID, 4200)
	var sessions struct{ Data []struct{ ID string } }
	env.Do(t, "GET", "/v1/wallet/sessions", nil, a.Auth()...).JSON(t, &sessions)
	order := env.CreateOrder(t, env.NewMerchant(t, nil), 1000)
	r := env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": order.QRPayload, "card_id": card.ID}, a.Idem("authz-pay")...)
	if r.Status != http.StatusCreated {
		t.Fatalf("pay = %d %s", r.Status, r.Body)
	}
	var pay struct{ ID string }
	r.JSON(t, &pay)
	ids := map[string]string{ // route prefix -> A's object
		"/v1/wallet/cards/":     card.ID,
		"/v1/wallet/movements/": mv.ID,
		"/v1/wallet/payments/":  pay.ID,
		"/v1/wallet/sessions/":  sessions.Data[0].ID,
	}
	bodies := map[string]any{
		"PATCH /v1/wallet/cards/:id/limits": map[string]any{"daily_count": 1},
	}
	tried := 0
	for _, op := range env.Server.Ops() {
		if op.Auth != gateway.Session || !strings.Contains(op.Path, ":id") {
			continue
		}
		var id string
		for prefix, v := range ids {
			if strings.HasPrefix(op.Path, prefix) {
				id = v
			}
		}
		if id == "" {
			t.Errorf("%s %s takes an id this test does not know how to supply", op.Method, op.Path)
			continue
		}
		path := strings.Replace(op.Path, ":id", id, 1)
		r := env.Do(t, op.Method, path, bodies[op.Method+" "+op.Path], b.Auth()...)
		tried++
		if r.Status != http.StatusNotFound || r.Code() != "not_found" {
			t.Errorf("B: %s %s = %d %s; want 404 not_found", op.Method, path, r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), "1111") || strings.Contains(string(r.Body), "4200") {
			t.Errorf("B: %s %s leaked A's data: %s", op.Method, path, r.Body)
		}
	}
	if tried < 8 {
		t.Errorf("tried %d id-taking routes; expected the card, movement and session routes", tried)
	}
	// A's objects are untouched.
	r = env.Do(t, "GET", "/v1/wallet/cards/"+card.ID, nil, a.Auth()...)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"status":"active"`) {
		t.Errorf("A's card after B's attempts = %d %s; want it active and bound", r.Status, r.Body)
	}
	if r := env.Do(t, "GET", "/v1/wallet", nil, a.Auth()...); r.Status != 200 {
		t.Errorf("A's session after B's attempts = %d; want it alive", r.Status)
	}
	// B cannot spend A's card either.
	r = env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": 100}, b.Idem("steal")...)
	if r.Status != 404 {
		t.Errorf("B tops up with A's card = %d %s; want 404", r.Status, r.Body)
	}
	// Both use the same idempotency key without meeting.
	ra := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": 1}, a.Idem("shared-key")...)
	bcard := bindCard(t, env, b, "5555555555554444")
	rb := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": bcard.ID, "amount": 2}, b.Idem("shared-key")...)
	if ra.Status != 201 || rb.Status != 201 || rb.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the same key from two wallets = %d / %d (%s); want two independent top-ups", ra.Status, rb.Status, rb.Body)
	}
}

// TestCardNumbersAreNeverStored binds cards and pays with them, then
// searches every table of the schema and every log line for the digits.
func TestCardNumbersAreNeverStored(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := newCustomer(t, env)
	numbers := []string{"4111111111111111", "5555555555554444", "6212345678901265"}
	for _, n := range numbers {
		card := bindCard(t, env, c, n)
		topUp(t, env, c, card.ID, 100)
	}
	// Failed binds must not leak either.
	env.DoOTP(t, "POST", "/v1/wallet/cards", map[string]any{"number": "4111111111111111", "exp_month": 1, "exp_year": 2099, "holder_name": "x"}, c.Auth()...)
	env.DoOTP(t, "POST", "/v1/wallet/cards", map[string]any{"number": "4000000000009987", "exp_month": 1, "exp_year": 2099, "holder_name": "x"}, c.Auth()...)
	numbers = append(numbers, "4000000000009987")

	ctx := context.Background()
	rows, err := env.Pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 5 {
		t.Fatalf("found only tables %v", tables)
	}
	for _, table := range tables {
		var dump string
		if err := env.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(string_agg(t::text, E'\n'), '') FROM %s t`,
			pgx.Identifier{table}.Sanitize())).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for _, n := range numbers {
			if strings.Contains(dump, n) {
				t.Errorf("table %s contains the card number %s", table, n)
			}
		}
	}
	logs := env.Logs.String()
	if len(logs) == 0 {
		t.Fatal("no logs captured")
	}
	for _, n := range numbers {
		if strings.Contains(logs, n) {
			t.Errorf("logs contain the card number %s", n)
		}
	}
}
