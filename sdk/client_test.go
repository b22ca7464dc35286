package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRequestSignatureCoversWhatArrived checks each request the way the
// gateway does — Sign over the method, the request line's path and query,
// the headers and the body exactly as they arrived — and that changing any
// byte of them breaks the signature.
func TestRequestSignatureCoversWhatArrived(t *testing.T) {
	now := time.Unix(1795680000, 0)
	route := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/orders" && r.Method == http.MethodGet {
			answer(200, `{"data":[`+orderJSON+`],"has_more":false}`)(w, r)
			return
		}
		answer(200, orderJSON)(w, r)
	}
	client, gw, _ := newScripted(t, []http.HandlerFunc{route}, sdk.WithClock(func() time.Time { return now }))
	ctx := context.Background()

	calls := []struct {
		name    string
		call    func() error
		method  string
		uri     string
		hasBody bool
	}{
		{"POST with a body", func() error {
			_, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "POS1-000123", Amount: 1200, Description: "2 coffees ☕"})
			return err
		}, "POST", "/v1/orders", true},
		{"POST without a body", func() error { _, err := client.CloseOrder(ctx, "0193a1b2-0001"); return err },
			"POST", "/v1/orders/0193a1b2-0001/close", false},
		{"GET with an escaped path", func() error { _, err := client.GetOrderByNumber(ctx, "POS 1/#7?x=ü&y"); return err },
			"GET", "/v1/orders/by-number/POS%201%2F%237%3Fx=%C3%BC&y", false},
		{"GET with a query", func() error {
			for _, err := range client.ListOrders(ctx, &sdk.ListOrdersParams{Status: sdk.OrderPaid, Limit: 50, StartingAfter: "a b&c"}) {
				return err
			}
			return nil
		}, "GET", "/v1/orders?limit=50&starting_after=a+b%26c&status=paid", false},
	}
	for i, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			r := gw.seen()[i]
			if r.Method != tt.method || r.RequestURI != tt.uri {
				t.Fatalf("request line = %s %s; want %s %s", r.Method, r.RequestURI, tt.method, tt.uri)
			}
			if (len(r.Body) > 0) != tt.hasBody {
				t.Fatalf("body = %q; want a body: %v", r.Body, tt.hasBody)
			}
			if got := r.Header.Get(sdk.HeaderKey); got != testKeyID {
				t.Errorf("%s = %q; want %q", sdk.HeaderKey, got, testKeyID)
			}
			tsHeader, nonce, sig := r.Header.Get(sdk.HeaderTimestamp), r.Header.Get(sdk.HeaderNonce), r.Header.Get(sdk.HeaderSignature)
			ts, err := strconv.ParseInt(tsHeader, 10, 64)
			if err != nil || ts != now.Unix() {
				t.Errorf("%s = %q; want %d", sdk.HeaderTimestamp, tsHeader, now.Unix())
			}
			if !hex32.MatchString(nonce) {
				t.Errorf("%s = %q; want 32 hex characters", sdk.HeaderNonce, nonce)
			}
			if want := sdk.Sign(testSecret, r.Method, r.RequestURI, ts, nonce, r.Body); sig != want {
				t.Fatalf("signature = %s; want %s over what arrived", sig, want)
			}

			changed := map[string]string{
				"method":    sdk.Sign(testSecret, "PUT", r.RequestURI, ts, nonce, r.Body),
				"timestamp": sdk.Sign(testSecret, r.Method, r.RequestURI, ts+1, nonce, r.Body),
				"nonce":     sdk.Sign(testSecret, r.Method, r.RequestURI, ts, nonce[1:]+"0", r.Body),
				"secret":    sdk.Sign(testSecret+"x", r.Method, r.RequestURI, ts, nonce, r.Body),
				"body+1":    sdk.Sign(testSecret, r.Method, r.RequestURI, ts, nonce, append(bytes.Clone(r.Body), ' ')),
			}
			for j := range len(r.RequestURI) {
				uri := []byte(r.RequestURI)
				uri[j] ^= 0x01
				changed["request URI byte "+strconv.Itoa(j)] = sdk.Sign(testSecret, r.Method, string(uri), ts, nonce, r.Body)
			}
			for j := range len(r.Body) {
				body := bytes.Clone(r.Body)
				body[j] ^= 0x01
				changed["body byte "+strconv.Itoa(j)] = sdk.Sign(testSecret, r.Method, r.RequestURI, ts, nonce, body)
			}
			for what, got := range changed {
				if got == sig {
					t.Errorf("signature still verifies with the %s changed", what)
				}
			}
		})
	}
}

func TestRequestHeaders(t *testing.T) {
	client, gw, _ := newScripted(t, []http.HandlerFunc{answer(201, orderJSON)})
	if _, err := client.CreateOrder(context.Background(), &sdk.OrderParams{MerchantOrderNo: "POS1-1", Amount: 1}); err != nil {
		t.Fatal(err)
	}
	h := gw.seen()[0].Header
	for name, want := range map[string]string{
		"User-Agent":   "qrpay-go/" + sdk.Version,
		"Content-Type": "application/json",
		"Accept":       "application/json",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q; want %q", name, got, want)
		}
	}

	client, gw, _ = newScripted(t, []http.HandlerFunc{answer(200, orderJSON)}, sdk.WithUserAgent("POS-X200/4.2"))
	if _, err := client.GetOrder(context.Background(), "o"); err != nil {
		t.Fatal(err)
	}
	if got := gw.seen()[0].Header.Get("User-Agent"); got != "POS-X200/4.2" {
		t.Errorf("User-Agent = %q; want the one given", got)
	}
}

// TestParamsEncodeAsDocumented keeps the request bodies to the fields of
// docs/merchant-api.md: the gateway decodes strictly and refuses any other.
func TestParamsEncodeAsDocumented(t *testing.T) {
	client, gw, _ := newScripted(t, []http.HandlerFunc{answer(201, orderJSON)})
	ctx := context.Background()
	if _, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "POS1-000123", Amount: 1200, Currency: "CNY",
		Description: "2 coffees", TerminalID: "POS1", ExpiresIn: 900, IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "POS1-000124", Amount: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateRefund(ctx, "o1", &sdk.RefundParams{RefundNo: "R-000123-1", Amount: 500, Reason: "one coffee spilt", IdempotencyKey: "k2"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"merchant_order_no":"POS1-000123","amount":1200,"currency":"CNY","description":"2 coffees","terminal_id":"POS1","expires_in":900}`,
		`{"merchant_order_no":"POS1-000124","amount":1}`,
		`{"refund_no":"R-000123-1","amount":500,"reason":"one coffee spilt"}`,
	}
	for i, r := range gw.seen() {
		if string(r.Body) != want[i] {
			t.Errorf("body %d = %s; want %s", i, r.Body, want[i])
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	create := func(c *sdk.Client, key string) error {
		_, err := c.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "POS1-000123", Amount: 1200, IdempotencyKey: key})
		return err
	}

	t.Run("a POST gets one, and every retry reuses it", func(t *testing.T) {
		client, gw, _ := newScripted(t, []http.HandlerFunc{refuse(503, "unavailable"), refuse(503, "unavailable"), answer(201, orderJSON)})
		if err := create(client, ""); err != nil {
			t.Fatal(err)
		}
		reqs := gw.seen()
		if len(reqs) != 3 {
			t.Fatalf("%d requests; want 3", len(reqs))
		}
		key := reqs[0].Header.Get("Idempotency-Key")
		if !hex32.MatchString(key) {
			t.Fatalf("Idempotency-Key = %q; want 32 random hex characters", key)
		}
		nonces := map[string]bool{}
		for i, r := range reqs {
			if got := r.Header.Get("Idempotency-Key"); got != key {
				t.Errorf("attempt %d: Idempotency-Key = %q; want the first attempt's %q", i+1, got, key)
			}
			if !bytes.Equal(r.Body, reqs[0].Body) {
				t.Errorf("attempt %d: body = %s; want the first attempt's %s", i+1, r.Body, reqs[0].Body)
			}
			nonces[r.Header.Get(sdk.HeaderNonce)] = true
		}
		if len(nonces) != 3 {
			t.Errorf("%d distinct nonces over 3 attempts; want a fresh one per attempt", len(nonces))
		}
	})

	t.Run("the caller's key is sent as given, and not in the body", func(t *testing.T) {
		client, gw, _ := newScripted(t, []http.HandlerFunc{refuse(500, "internal"), answer(201, orderJSON)})
		if err := create(client, "order-POS1-000123"); err != nil {
			t.Fatal(err)
		}
		for i, r := range gw.seen() {
			if got := r.Header.Get("Idempotency-Key"); got != "order-POS1-000123" {
				t.Errorf("attempt %d: Idempotency-Key = %q; want the caller's", i+1, got)
			}
			if strings.Contains(strings.ToLower(string(r.Body)), "idempotency") {
				t.Errorf("attempt %d: body %s carries the key", i+1, r.Body)
			}
		}
	})

	t.Run("each call gets its own", func(t *testing.T) {
		client, gw, _ := newScripted(t, []http.HandlerFunc{answer(201, orderJSON)})
		create(client, "")
		create(client, "")
		client.CloseOrder(ctx, "o1")
		reqs := gw.seen()
		keys := map[string]bool{}
		for _, r := range reqs {
			keys[r.Header.Get("Idempotency-Key")] = true
		}
		if len(keys) != 3 || keys[""] {
			t.Errorf("keys of 3 POST calls = %v; want 3 distinct keys", keys)
		}
	})

	t.Run("a GET carries none", func(t *testing.T) {
		client, gw, _ := newScripted(t, []http.HandlerFunc{answer(200, orderJSON)})
		client.GetOrder(ctx, "o1")
		if got := gw.seen()[0].Header.Get("Idempotency-Key"); got != "" {
			t.Errorf("GET Idempotency-Key = %q; want none", got)
		}
	})
}

// TestEveryAttemptHasAFreshNonce drops a kept-alive connection under a
// request. net/http would resend such a request by itself, with the nonce
// the gateway may already have seen; the SDK must be the one retrying, with
// a new one.
func TestEveryAttemptHasAFreshNonce(t *testing.T) {
	ctx := context.Background()
	for name, call := range map[string]func(*sdk.Client) error{
		"GET": func(c *sdk.Client) error { _, err := c.GetOrder(ctx, "o1"); return err },
		"POST": func(c *sdk.Client) error {
			_, err := c.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "n", Amount: 1})
			return err
		},
		"POST without a body": func(c *sdk.Client) error { _, err := c.CloseOrder(ctx, "o1"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			client, gw, _ := newScripted(t, []http.HandlerFunc{answer(200, orderJSON), dropConnection, answer(200, orderJSON)})
			if err := call(client); err != nil {
				t.Fatal(err)
			}
			if err := call(client); err != nil {
				t.Fatalf("after a dropped connection: %v; want the SDK to retry", err)
			}
			reqs := gw.seen()
			nonces := map[string]bool{}
			for _, r := range reqs {
				nonces[r.Header.Get(sdk.HeaderNonce)] = true
			}
			if len(reqs) != 3 || len(nonces) != 3 {
				t.Errorf("%d requests with %d distinct nonces; want 3 and 3", len(reqs), len(nonces))
			}
			if reqs[1].Header.Get("Idempotency-Key") != reqs[2].Header.Get("Idempotency-Key") {
				t.Errorf("the retry changed the Idempotency-Key")
			}
		})
	}
}

func TestBadBaseURL(t *testing.T) {
	for _, base := range []string{"", "localhost:8080", "ftp://x", "http://", "http://h/?q=1", "http://h/%zz"} {
		c := sdk.NewClient(base, testKeyID, testSecret)
		if _, err := c.GetMerchant(context.Background()); err == nil {
			t.Errorf("base %q: no error; want one", base)
		}
	}
}

func TestBaseURLPathPrefix(t *testing.T) {
	gw := &script{steps: []http.HandlerFunc{answer(200, `{"id":"m1"}`)}}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	c := sdk.NewClient(srv.URL+"/qrpay/", testKeyID, testSecret)
	if _, err := c.GetMerchant(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := gw.seen()[0]
	if r.RequestURI != "/qrpay/v1/merchant" {
		t.Errorf("request URI = %q; want the prefix kept", r.RequestURI)
	}
	ts, _ := strconv.ParseInt(r.Header.Get(sdk.HeaderTimestamp), 10, 64)
	if want := sdk.Sign(testSecret, r.Method, r.RequestURI, ts, r.Header.Get(sdk.HeaderNonce), r.Body); r.Header.Get(sdk.HeaderSignature) != want {
		t.Errorf("signature does not cover the prefixed path")
	}
}

func TestDecodesDocumentedShapes(t *testing.T) {
	refundJSON := `{"id": "0193-r1", "order_id": "0193a1b2-0001", "refund_no": "R-000123-1", "amount": 500,
 "fee_refunded": 3, "reason": "one coffee spilt", "status": "succeeded", "created_at": "2026-11-26T10:05:00Z"}`
	paid := strings.Replace(strings.Replace(orderJSON, `"paid_at": null`, `"paid_at": "2026-11-26T10:01:00Z"`, 1), `"created"`, `"paid"`, 1)
	eventJSON := `{"id": "0193-e1", "type": "order.paid", "created_at": "2026-11-26T10:01:00Z", "order_id": "0193a1b2-0001",
 "sequence": 2, "data": {"order": ` + paid + `, "refund": null},
 "delivery": {"status": "pending", "next_attempt_at": "2026-11-26T10:02:01Z", "delivered_at": null, "attempts": [
   {"attempt": 1, "at": "2026-11-26T10:01:01Z", "status_code": 500, "duration_ms": 12},
   {"attempt": 2, "at": "2026-11-26T10:01:31Z", "status_code": null, "error": "timeout", "duration_ms": 10000}]}}`
	client, _, _ := newScripted(t, []http.HandlerFunc{answer(200, orderJSON), answer(200, paid), answer(201, refundJSON), answer(200, eventJSON)})
	ctx := context.Background()

	o, err := client.GetOrder(ctx, "0193a1b2-0001")
	if err != nil {
		t.Fatal(err)
	}
	if o.Amount != 1200 || o.Status != sdk.OrderCreated || o.PaidAt != nil || !o.ExpiresAt.Equal(time.Date(2026, 11, 26, 10, 15, 0, 0, time.UTC)) ||
		o.QRPNGURL != "/v1/orders/0193a1b2-0001/qr.png" || o.MerchantOrderNo != "POS1-000123" || o.TerminalID != "POS1" {
		t.Errorf("order = %+v", o)
	}
	o, err = client.GetOrder(ctx, "0193a1b2-0001")
	if err != nil || o.PaidAt == nil || !o.PaidAt.Equal(time.Date(2026, 11, 26, 10, 1, 0, 0, time.UTC)) || o.Status != sdk.OrderPaid {
		t.Errorf("paid order = %+v, %v; want paid_at read", o, err)
	}
	r, err := client.CreateRefund(ctx, "0193a1b2-0001", &sdk.RefundParams{RefundNo: "R-000123-1", Amount: 500})
	if err != nil || r.FeeRefunded != 3 || r.Status != "succeeded" || r.OrderID != "0193a1b2-0001" {
		t.Errorf("refund = %+v, %v", r, err)
	}
	e, err := client.GetEvent(ctx, "0193-e1")
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != sdk.EventOrderPaid || e.Sequence != 2 || e.Data.Order == nil || e.Data.Order.Status != sdk.OrderPaid || e.Data.Refund != nil {
		t.Errorf("event = %+v", e)
	}
	d := e.Delivery
	if d == nil || d.Status != "pending" || d.NextAttemptAt == nil || d.DeliveredAt != nil || len(d.Attempts) != 2 ||
		*d.Attempts[0].StatusCode != 500 || d.Attempts[1].StatusCode != nil || d.Attempts[1].Error != "timeout" {
		t.Errorf("delivery = %+v", d)
	}
}

func TestLocalRefusals(t *testing.T) {
	client, gw, _ := newScripted(t, []http.HandlerFunc{answer(200, orderJSON)})
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"GetOrder":         func() error { _, err := client.GetOrder(ctx, ""); return err },
		"GetOrderByNumber": func() error { _, err := client.GetOrderByNumber(ctx, ""); return err },
		"CloseOrder":       func() error { _, err := client.CloseOrder(ctx, ""); return err },
		"CreateRefund":     func() error { _, err := client.CreateRefund(ctx, "", &sdk.RefundParams{}); return err },
		"GetSettlement":    func() error { _, err := client.GetSettlement(ctx, ""); return err },
	} {
		err := call()
		var e *sdk.Error
		if !errors.As(err, &e) || e.HTTPStatus != 0 || e.Code != "invalid" {
			t.Errorf("%s with an empty id = %v; want a local invalid *Error", name, err)
		}
	}
	if _, err := client.CreateOrder(ctx, nil); err == nil {
		t.Error("CreateOrder(nil) succeeded")
	}
	if n := len(gw.seen()); n != 0 {
		t.Errorf("%d requests sent; want none", n)
	}
}

// TestRoutes pins each method to its route in docs/merchant-api.md.
func TestRoutes(t *testing.T) {
	png := "\x89PNG\r\n\x1a\nfake"
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		answer http.HandlerFunc
		call   func(*sdk.Client) error
		want   string // method and request URI
		accept string
	}{
		{"OrderQRPNG", answer(200, png, "Content-Type", "image/png"), func(c *sdk.Client) error {
			b, err := c.OrderQRPNG(ctx, "o1", 512)
			if err == nil && string(b) != png {
				err = fmt.Errorf("png = %q", b)
			}
			return err
		}, "GET /v1/orders/o1/qr.png?size=512", "image/png"},
		{"OrderQRPNG default size", answer(200, png), func(c *sdk.Client) error { _, err := c.OrderQRPNG(ctx, "o1", 0); return err },
			"GET /v1/orders/o1/qr.png", "image/png"},
		{"GetRefund", answer(200, `{"id":"r1"}`), func(c *sdk.Client) error {
			r, err := c.GetRefund(ctx, "r1")
			if err == nil && r.ID != "r1" {
				err = fmt.Errorf("refund = %+v", r)
			}
			return err
		}, "GET /v1/refunds/r1", ""},
		{"ListRefunds", answer(200, `{"data":[{"id":"r1"},{"id":"r2"}]}`), func(c *sdk.Client) error {
			rs, err := c.ListRefunds(ctx, "o1")
			if err == nil && len(rs) != 2 {
				err = fmt.Errorf("refunds = %v", rs)
			}
			return err
		}, "GET /v1/orders/o1/refunds", ""},
		{"GetMerchant", answer(200, `{"id":"m1","fee_bps":60,"static_qr_payload":"000201010211"}`), func(c *sdk.Client) error {
			m, err := c.GetMerchant(ctx)
			if err == nil && (m.FeeBPS != 60 || m.StaticQRPayload == "") {
				err = fmt.Errorf("merchant = %+v", m)
			}
			return err
		}, "GET /v1/merchant", ""},
		{"GetEvent", answer(200, `{"id":"e1"}`), func(c *sdk.Client) error { _, err := c.GetEvent(ctx, "e1"); return err },
			"GET /v1/webhooks/events/e1", ""},
		{"RedeliverEvent", answer(202, `{"id":"e1"}`), func(c *sdk.Client) error { _, err := c.RedeliverEvent(ctx, "e1"); return err },
			"POST /v1/webhooks/events/e1/redeliver", ""},
		{"RotateWebhookSecret", answer(201, `{"secret":"whsec_new","previous_secret_expires_at":"2026-11-26T10:00:00Z"}`), func(c *sdk.Client) error {
			s, err := c.RotateWebhookSecret(ctx, &sdk.RotateWebhookSecretParams{Grace: time.Hour})
			if err == nil && (s.Secret != "whsec_new" || s.PreviousSecretExpiresAt.IsZero()) {
				err = fmt.Errorf("rotation = %+v", s)
			}
			return err
		}, "POST /v1/webhooks/secret/rotate", ""},
		{"GetSettlement", answer(200, `{"date":"2026-11-25"}`), func(c *sdk.Client) error { _, err := c.GetSettlement(ctx, "2026-11-25"); return err },
			"GET /v1/settlements/2026-11-25", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, gw, _ := newScripted(t, []http.HandlerFunc{tt.answer})
			if err := tt.call(client); err != nil {
				t.Fatal(err)
			}
			r := gw.seen()[0]
			if got := r.Method + " " + r.RequestURI; got != tt.want {
				t.Errorf("request = %s; want %s", got, tt.want)
			}
			if tt.accept != "" && r.Header.Get("Accept") != tt.accept {
				t.Errorf("Accept = %q; want %q", r.Header.Get("Accept"), tt.accept)
			}
			if (r.Method == http.MethodPost) != (r.Header.Get("Idempotency-Key") != "") {
				t.Errorf("%s with Idempotency-Key %q", r.Method, r.Header.Get("Idempotency-Key"))
			}
		})
	}
}
