// Package walletapi is a Go client of the gateway's wallet API (what the
// wallet app calls) and of the operator's admin API, for tools such as
// `qrpay demo` and the load generator. The merchant API has its own SDK,
// package sdk; like it, this package uses the standard library only, and a
// refusal is an *sdk.Error.
package walletapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

// Client calls one gateway.
type Client struct {
	base string
	http *http.Client
	// Codes, when set, answers the one-time codes the gateway asks for: a
	// request answered otp_required is sent again, once, with the code
	// Codes returns. Without it otp_required is an error like any other.
	Codes CodeSource
}

// Challenge is a one-time code the gateway has just sent (the challenge of
// an otp_required answer).
type Challenge struct {
	ID        string    `json:"challenge_id"`
	Purpose   string    `json:"purpose"`
	SentTo    string    `json:"sent_to"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CodeSource finds the code sent for a challenge: in an app, the customer
// types it; OperatorCodes reads it from a development gateway.
type CodeSource func(ctx context.Context, ch Challenge) (string, error)

// OperatorCodes reads codes through the operator API of a gateway that
// keeps them (OTP_DELIVERY=outbox: development and load tests).
func (c *Client) OperatorCodes(operatorToken string) CodeSource {
	return func(ctx context.Context, ch Challenge) (string, error) {
		var m struct {
			Code string `json:"code"`
		}
		if err := c.do(ctx, "GET", "/v1/admin/otp/"+ch.ID, operatorToken, "", nil, &m); err != nil {
			return "", fmt.Errorf("reading the code of %s (is the gateway's OTP_DELIVERY outbox?): %w", ch.ID, err)
		}
		return m.Code, nil
	}
}

// New returns a client of the gateway at baseURL (no trailing slash). A nil
// httpClient uses one with a 30 s timeout.
func New(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), http: httpClient}
}

// Do sends body (nil, or a value sent as JSON) with the bearer token and
// the Idempotency-Key when given, and decodes a 2xx answer into out (when
// not nil). Any other answer is an *sdk.Error with the gateway's code,
// message and request id. When the answer is otp_required and the client
// has Codes, the request is sent again with the code (same key).
func (c *Client) Do(ctx context.Context, method, path, bearer, idempotencyKey string, body, out any) error {
	err := c.do(ctx, method, path, bearer, idempotencyKey, body, out)
	var ch *challengeError
	if c.Codes == nil || body == nil || !errors.As(err, &ch) {
		return err
	}
	code, cerr := c.Codes(ctx, ch.challenge)
	if cerr != nil {
		return cerr
	}
	raw, merr := json.Marshal(body)
	if merr != nil {
		return merr
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Errorf("%s %s: a one-time code can only be added to a JSON object body", method, path)
	}
	fields["otp"], _ = json.Marshal(map[string]string{"challenge_id": ch.challenge.ID, "code": code})
	return c.do(ctx, method, path, bearer, idempotencyKey, fields, out)
}

// challengeError is an otp_required answer: the *sdk.Error, and the
// challenge it carries.
type challengeError struct {
	err       *sdk.Error
	challenge Challenge
}

func (e *challengeError) Error() string { return e.err.Error() }
func (e *challengeError) Unwrap() error { return e.err }

func (c *Client) do(ctx context.Context, method, path, bearer, idempotencyKey string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error struct {
				Code      string     `json:"code"`
				Message   string     `json:"message"`
				RequestID string     `json:"request_id"`
				Challenge *Challenge `json:"challenge"`
			} `json:"error"`
		}
		apiErr := &sdk.Error{HTTPStatus: resp.StatusCode, Code: fmt.Sprintf("http_%d", resp.StatusCode),
			Message: strings.TrimSpace(string(raw[:min(len(raw), 200)])), RequestID: resp.Header.Get("X-Request-Id")}
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			apiErr.Code, apiErr.Message, apiErr.RequestID = e.Error.Code, e.Error.Message, cmp.Or(e.Error.RequestID, apiErr.RequestID)
		}
		if e.Error.Code == "otp_required" && e.Error.Challenge != nil {
			return &challengeError{err: apiErr, challenge: *e.Error.Challenge}
		}
		return apiErr
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// MerchantParams onboard a merchant.
type MerchantParams struct {
	Name       string `json:"name"`
	City       string `json:"city"`
	MCC        string `json:"mcc"`
	Country    string `json:"country"`
	Currency   string `json:"currency"`
	FeeBPS     int    `json:"fee_bps"`
	WebhookURL string `json:"webhook_url,omitempty"`
}

// Merchant is an onboarded merchant, with its webhook secret (shown once).
type Merchant struct {
	ID            string `json:"id"`
	Code          string `json:"code"`
	FeeBPS        int    `json:"fee_bps"`
	WebhookSecret string `json:"webhook_secret"`
}

// Key is a merchant API key, with its secret (shown once).
type Key struct {
	ID     string   `json:"id"`
	Secret string   `json:"secret"`
	Scopes []string `json:"scopes"`
}

// CreateMerchant onboards a merchant (operator token).
func (c *Client) CreateMerchant(ctx context.Context, operatorToken string, p MerchantParams) (Merchant, error) {
	var m Merchant
	err := c.Do(ctx, "POST", "/v1/admin/merchants", operatorToken, "", p, &m)
	return m, err
}

// IssueKey issues a merchant an API key with scopes (operator token).
func (c *Client) IssueKey(ctx context.Context, operatorToken, merchantID string, scopes ...string) (Key, error) {
	var k Key
	err := c.Do(ctx, "POST", "/v1/admin/merchants/"+merchantID+"/keys", operatorToken, "", map[string]any{"scopes": scopes}, &k)
	return k, err
}

// LedgerCheck runs the ledger's consistency check (operator token) and
// returns "ok" or what is wrong.
func (c *Client) LedgerCheck(ctx context.Context, operatorToken string) (string, error) {
	var r struct {
		Total      map[string]int64 `json:"total"`
		Drifts     []any            `json:"drifts"`
		Unbalanced []any            `json:"unbalanced"`
		Overdrawn  []any            `json:"overdrawn"`
	}
	if err := c.Do(ctx, "GET", "/v1/admin/ledger/check", operatorToken, "", nil, &r); err != nil {
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

// Session is a signed-in wallet.
type Session struct {
	Token    string `json:"token"`
	WalletID string `json:"wallet_id"`
}

// Register opens a wallet for phone from the device deviceID (which can
// then sign in without a code). It needs a one-time code: see Codes.
func (c *Client) Register(ctx context.Context, phone, password, deviceID string) error {
	return c.Do(ctx, "POST", "/v1/wallet/customers", "", "",
		map[string]string{"phone": phone, "password": password, "device_id": deviceID}, nil)
}

// Login signs a wallet in from the device deviceID; a device the wallet
// has not seen needs a one-time code (see Codes).
func (c *Client) Login(ctx context.Context, phone, password, deviceID string) (Session, error) {
	var s Session
	err := c.Do(ctx, "POST", "/v1/wallet/sessions", "", "",
		map[string]string{"phone": phone, "password": password, "device_id": deviceID}, &s)
	return s, err
}

// CardParams bind a card.
type CardParams struct {
	Number     string `json:"number"`
	ExpMonth   int    `json:"exp_month"`
	ExpYear    int    `json:"exp_year"`
	HolderName string `json:"holder_name"`
}

// BindCard binds a card to the session's wallet and returns its id. It
// needs a one-time code: see Codes.
func (c *Client) BindCard(ctx context.Context, token string, p CardParams) (string, error) {
	var card struct {
		ID string `json:"id"`
	}
	err := c.Do(ctx, "POST", "/v1/wallet/cards", token, "", p, &card)
	return card.ID, err
}

// SetCardLimits changes a card's limits; fields are per_transaction,
// daily_amount and daily_count. Raising one needs a one-time code: see
// Codes.
func (c *Client) SetCardLimits(ctx context.Context, token, cardID string, limits map[string]int64) error {
	return c.Do(ctx, "PATCH", "/v1/wallet/cards/"+cardID+"/limits", token, "", limits, nil)
}

// SetTransferLimits changes the wallet's transfer limits; fields are
// per_transaction and daily_amount. Raising one needs a one-time code: see
// Codes.
func (c *Client) SetTransferLimits(ctx context.Context, token string, limits map[string]int64) error {
	return c.Do(ctx, "PATCH", "/v1/wallet/transfer-limits", token, "", limits, nil)
}

// SetPIN sets the payment PIN.
func (c *Client) SetPIN(ctx context.Context, token, pin string) error {
	return c.Do(ctx, "PUT", "/v1/wallet/pin", token, "", map[string]string{"pin": pin}, nil)
}

// Movement is money into or out of a wallet.
type Movement struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Amount       int64  `json:"amount"`
	Currency     string `json:"currency"`
	BalanceAfter int64  `json:"balance_after"`
	Card         string `json:"card"`
	Counterparty string `json:"counterparty"`
	OrderID      string `json:"order_id"`
	Funding      string `json:"funding"`     // a payment's or refund's: balance, card or balance_then_card
	CardAmount   int64  `json:"card_amount"` // the part charged to (or returned to) the card
}

// TopUp moves amount from a bound card into the wallet; pin is needed
// above the gateway's PIN_THRESHOLD ("" sends none).
func (c *Client) TopUp(ctx context.Context, token, idempotencyKey, cardID string, amount int64, pin string) (Movement, error) {
	var mv Movement
	body := map[string]any{"card_id": cardID, "amount": amount}
	if pin != "" {
		body["pin"] = pin
	}
	err := c.Do(ctx, "POST", "/v1/wallet/topups", token, idempotencyKey, body, &mv)
	return mv, err
}

// Withdraw moves amount from the wallet to one of its bound cards; the PIN
// is always needed (and a one-time code above the gateway's
// OTP_TRANSFER_THRESHOLD, which this client does not send).
func (c *Client) Withdraw(ctx context.Context, token, idempotencyKey, cardID string, amount int64, pin string) (Movement, error) {
	var mv Movement
	err := c.Do(ctx, "POST", "/v1/wallet/withdrawals", token, idempotencyKey,
		map[string]any{"card_id": cardID, "amount": amount, "pin": pin}, &mv)
	return mv, err
}

// PayParams pay a scanned QR (or an order by id).
type PayParams struct {
	QRPayload string `json:"qr_payload,omitempty"`
	OrderID   string `json:"order_id,omitempty"`
	CardID    string `json:"card_id"`
	PIN       string `json:"pin,omitempty"`
	Amount    int64  `json:"amount,omitempty"` // a static QR's amount
	// Funding is where the money comes from: "balance" (the default),
	// "card" (charged through the card's issuer) or "balance_then_card".
	Funding string `json:"funding,omitempty"`
}

// Pay pays from the wallet.
func (c *Client) Pay(ctx context.Context, token, idempotencyKey string, p PayParams) (Movement, error) {
	var mv Movement
	err := c.Do(ctx, "POST", "/v1/wallet/payments", token, idempotencyKey, p, &mv)
	return mv, err
}

// TransferParams send money to another wallet.
type TransferParams struct {
	ToPhone    string `json:"to_phone,omitempty"`
	ToWalletID string `json:"to_wallet_id,omitempty"`
	Amount     int64  `json:"amount"`
	Note       string `json:"note,omitempty"`
	PIN        string `json:"pin"`
}

// Transfer sends money to another wallet.
func (c *Client) Transfer(ctx context.Context, token, idempotencyKey string, p TransferParams) (Movement, error) {
	var mv Movement
	err := c.Do(ctx, "POST", "/v1/wallet/transfers", token, idempotencyKey, p, &mv)
	return mv, err
}

// HistoryItem is one movement in a wallet's history.
type HistoryItem struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Amount  int64  `json:"amount"`
	Card    string `json:"card"`
	OrderID string `json:"order_id"`
}

// HistoryPage is a page of a wallet's history, newest first.
type HistoryPage struct {
	Data       []HistoryItem `json:"data"`
	HasMore    bool          `json:"has_more"`
	NextCursor string        `json:"next_cursor"`
}

// Movements reads a page of the wallet's history; query is the URL query
// without "?" (limit, starting_after, from, to, type), or "".
func (c *Client) Movements(ctx context.Context, token, query string) (HistoryPage, error) {
	var p HistoryPage
	path := "/v1/wallet/movements"
	if query != "" {
		path += "?" + query
	}
	err := c.Do(ctx, "GET", path, token, "", nil, &p)
	return p, err
}

// Usage is what a card spent today, pending payments included.
type Usage struct {
	Amount int64 `json:"amount"`
	Count  int64 `json:"count"`
}

// CardUsage reads what a card spent today by its limit counters.
func (c *Client) CardUsage(ctx context.Context, token, cardID string) (Usage, error) {
	var v struct {
		UsedToday Usage `json:"used_today"`
	}
	err := c.Do(ctx, "GET", "/v1/wallet/cards/"+cardID+"/limits", token, "", nil, &v)
	return v.UsedToday, err
}
