package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

// httpAPI calls the gateway's operator and wallet APIs, which the merchant
// SDK does not cover.
type httpAPI struct {
	base, operator string
	client         http.Client
}

var seq atomic.Int64

func (a *httpAPI) call(ctx context.Context, method, path, token string, body, out any, headers ...string) error {
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct {
				Code, Message string
			}
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return &sdk.Error{HTTPStatus: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

type merchantKey struct{ id, keyID, secret string }

func (a *httpAPI) newMerchant(ctx context.Context, name string) (merchantKey, error) {
	var m struct {
		ID string `json:"id"`
	}
	if err := a.call(ctx, "POST", "/v1/admin/merchants", a.operator, map[string]any{
		"name": name, "city": "Shanghai", "mcc": "5814", "country": "CN", "currency": "CNY", "fee_bps": 60}, &m); err != nil {
		return merchantKey{}, err
	}
	var k struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := a.call(ctx, "POST", "/v1/admin/merchants/"+m.ID+"/keys", a.operator, map[string]any{"scopes": []string{"pos", "finance"}}, &k); err != nil {
		return merchantKey{}, err
	}
	return merchantKey{id: m.ID, keyID: k.ID, secret: k.Secret}, nil
}

type wallet struct{ token, card string }

// newWallet registers a wallet, binds a card with the highest daily count
// allowed, sets the PIN and tops it up with funds.
func (a *httpAPI) newWallet(ctx context.Context, funds int64) (*wallet, error) {
	phone := fmt.Sprintf("+8619%09d", time.Now().UnixNano()%1e9+seq.Add(1))
	const password = "load test password"
	if err := a.call(ctx, "POST", "/v1/wallet/customers", "", map[string]string{"phone": phone, "password": password}, nil); err != nil {
		return nil, err
	}
	var s struct {
		Token string `json:"token"`
	}
	if err := a.call(ctx, "POST", "/v1/wallet/sessions", "", map[string]string{"phone": phone, "password": password}, &s); err != nil {
		return nil, err
	}
	w := &wallet{token: s.Token}
	var c struct {
		ID string `json:"id"`
	}
	if err := a.call(ctx, "POST", "/v1/wallet/cards", w.token, map[string]any{
		"number": "4111111111111111", "exp_month": 12, "exp_year": 2099, "holder_name": "Load Test"}, &c); err != nil {
		return nil, err
	}
	w.card = c.ID
	if err := a.call(ctx, "PATCH", "/v1/wallet/cards/"+w.card+"/limits", w.token, map[string]any{"daily_count": 200}, nil); err != nil {
		return nil, err
	}
	if err := a.call(ctx, "PUT", "/v1/wallet/pin", w.token, map[string]string{"pin": "135790"}, nil); err != nil {
		return nil, err
	}
	for funds > 0 {
		part := min(funds, 500000) // the default per-transaction limit
		if err := a.call(ctx, "POST", "/v1/wallet/topups", w.token, map[string]any{"card_id": w.card, "amount": part}, nil,
			"Idempotency-Key", fmt.Sprint("fund-", seq.Add(1))); err != nil {
			return nil, err
		}
		funds -= part
	}
	return w, nil
}

// pay pays a payload; amount is only for a static QR.
func (a *httpAPI) pay(ctx context.Context, w *wallet, payload string, amount int64, key string) error {
	body := map[string]any{"qr_payload": payload, "card_id": w.card, "pin": "135790"}
	if amount > 0 {
		body["amount"] = amount
	}
	return a.call(ctx, "POST", "/v1/wallet/payments", w.token, body, nil, "Idempotency-Key", key)
}

func (a *httpAPI) ledgerCheck(ctx context.Context) (string, error) {
	var r struct {
		Total      map[string]int64 `json:"total"`
		Drifts     []any            `json:"drifts"`
		Unbalanced []any            `json:"unbalanced"`
		Overdrawn  []any            `json:"overdrawn"`
	}
	if err := a.call(ctx, "GET", "/v1/admin/ledger/check", a.operator, nil, &r); err != nil {
		return "", err
	}
	for cur, v := range r.Total {
		if v != 0 {
			return fmt.Sprintf("total %s is %d, not 0", cur, v), nil
		}
	}
	if len(r.Drifts)+len(r.Unbalanced)+len(r.Overdrawn) > 0 {
		return fmt.Sprintf("%d drifting accounts, %d unbalanced transfers, %d overdrawn", len(r.Drifts), len(r.Unbalanced), len(r.Overdrawn)), nil
	}
	return "ok", nil
}
