package sdk_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

// These tests drive a whole gateway (gatewaytest: real PostgreSQL and Redis)
// through the SDK, as a merchant's terminal and finance team would. The
// wallet side, which the SDK does not cover, pays through gatewaytest's
// helpers.

// hookRecorder is a merchant's webhook endpoint: it verifies every delivery
// with ConstructEvent and records what it accepted and why it refused.
type hookRecorder struct {
	*httptest.Server
	mu       sync.Mutex
	secret   string
	events   []*sdk.Event
	rejected []string
}

func newHookRecorder(t *testing.T) *hookRecorder {
	t.Helper()
	h := &hookRecorder{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.rejected = append(h.rejected, "reading the body: "+err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ev, err := sdk.ConstructEvent(body, r.Header.Get(sdk.WebhookSignatureHeader), h.secret, sdk.DefaultWebhookTolerance)
		if err != nil {
			h.rejected = append(h.rejected, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.events = append(h.events, ev)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookRecorder) setSecret(s string) {
	h.mu.Lock()
	h.secret = s
	h.mu.Unlock()
}

// count returns how many verified deliveries match.
func (h *hookRecorder) count(match func(*sdk.Event) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if match(e) {
			n++
		}
	}
	return n
}

// waitFor waits until n verified deliveries match, poking the dispatcher so
// that it does not wait for its next tick; a badly signed delivery fails
// the test at once.
func (h *hookRecorder) waitFor(t *testing.T, env *gatewaytest.Env, what string, n int, match func(*sdk.Event) bool) *sdk.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		h.mu.Lock()
		rejected := append([]string(nil), h.rejected...)
		var found []*sdk.Event
		for _, e := range h.events {
			if match(e) {
				found = append(found, e)
			}
		}
		h.mu.Unlock()
		if len(rejected) > 0 {
			t.Fatalf("webhook deliveries refused by ConstructEvent: %v", rejected)
		}
		if len(found) >= n {
			return found[len(found)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d verified %s webhooks within 15 s; want %d", len(found), what, n)
		}
		env.Dispatcher.Poke()
		time.Sleep(20 * time.Millisecond)
	}
}

func eventFor(typ sdk.EventType, orderID string) func(*sdk.Event) bool {
	return func(e *sdk.Event) bool { return e.Type == typ && e.OrderID == orderID }
}

// businessDay is today in the test gateway's time zone.
func businessDay(env *gatewaytest.Env) string {
	return env.Clock.Now().In(gatewaytest.WalletConfig().Location).Format(time.DateOnly)
}

// settleToday closes today early for one merchant through the admin API.
func settleToday(t *testing.T, env *gatewaytest.Env, merchantID string) string {
	t.Helper()
	day := businessDay(env)
	r := env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": day, "merchant_id": merchantID, "close_early": true},
		"Authorization", "Bearer "+gatewaytest.OperatorToken)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"result":"settled"`) {
		t.Fatalf("settle %s = %d %s", day, r.Status, r.Body)
	}
	return day
}

func TestGatewayCheckoutThroughTheSDK(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	hook := newHookRecorder(t)
	key := env.NewMerchant(t, map[string]any{"webhook_url": hook.URL})
	hook.setSecret(key.WebhookSecret)
	client := sdk.NewClient(env.URL, key.KeyID, key.Secret)
	ctx := context.Background()

	m, err := client.GetMerchant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != key.MerchantID || m.WebhookURL != hook.URL || m.FeeBPS != 60 || m.Currency != "CNY" ||
		!strings.HasPrefix(m.StaticQRPayload, "000201010211") {
		t.Errorf("GetMerchant = %+v", m)
	}

	// A merchant order number with a space and a slash survives the round
	// trip: the SDK escapes it into one path segment and signs it as sent.
	const number = "POS1 0001/A"
	order, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: number, Amount: 1200, Description: "2 coffees",
		TerminalID: "POS1", ExpiresIn: 600, IdempotencyKey: "create-" + number})
	if err != nil {
		t.Fatal(err)
	}
	if order.Status != sdk.OrderCreated || order.Amount != 1200 || order.Currency != "CNY" || order.MerchantOrderNo != number ||
		order.TerminalID != "POS1" || order.Description != "2 coffees" || order.QRPayload == "" || order.PaidAt != nil {
		t.Errorf("CreateOrder = %+v", order)
	}
	if life := order.ExpiresAt.Sub(order.CreatedAt); life < 599*time.Second || life > 601*time.Second {
		t.Errorf("expires %s after creation; want 600 s", life)
	}
	got, err := client.GetOrder(ctx, order.ID)
	if err != nil || got.ID != order.ID || got.QRPayload != order.QRPayload {
		t.Errorf("GetOrder = %+v, %v", got, err)
	}
	got, err = client.GetOrderByNumber(ctx, number)
	if err != nil || got.ID != order.ID {
		t.Errorf("GetOrderByNumber(%q) = %+v, %v; want order %s", number, got, err, order.ID)
	}
	if _, err := client.GetOrderByNumber(ctx, "POS1 0001"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("GetOrderByNumber(a prefix of the number) = %v; want ErrNotFound", err)
	}
	img, err := client.OrderQRPNG(ctx, order.ID, 200)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width != 200 || cfg.Height != 200 {
		t.Errorf("OrderQRPNG(200) = %d bytes, %+v, %v; want a 200×200 PNG", len(img), cfg, err)
	}

	// Four more orders, then list them all in pages of two: newest first.
	ids := []string{order.ID}
	for i := 2; i <= 5; i++ {
		o, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: fmt.Sprintf("POS1-%04d", i), Amount: int64(100 * i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	var listed []string
	for o, err := range client.ListOrders(ctx, &sdk.ListOrdersParams{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, o.ID)
	}
	if want := reverse(ids); strings.Join(listed, ",") != strings.Join(want, ",") {
		t.Errorf("ListOrders = %v; want %v (newest first)", listed, want)
	}

	// Close one; closing it again answers the same.
	closed, err := client.CloseOrder(ctx, ids[4])
	if err != nil || closed.Status != sdk.OrderClosed {
		t.Fatalf("CloseOrder = %+v, %v", closed, err)
	}
	if again, err := client.CloseOrder(ctx, ids[4]); err != nil || again.Status != sdk.OrderClosed {
		t.Errorf("CloseOrder of a closed order = %+v, %v; want it closed, no error", again, err)
	}
	var closedListed []string
	for o, err := range client.ListOrders(ctx, &sdk.ListOrdersParams{Status: sdk.OrderClosed}) {
		if err != nil {
			t.Fatal(err)
		}
		closedListed = append(closedListed, o.ID)
	}
	if len(closedListed) != 1 || closedListed[0] != ids[4] {
		t.Errorf("ListOrders(closed) = %v; want [%s]", closedListed, ids[4])
	}

	// The customer pays; the terminal sees it, and so does the webhook.
	payer := env.NewPayer(t, 100000)
	env.Pay(t, payer, order.QRPayload)
	paid, err := client.GetOrder(ctx, order.ID)
	if err != nil || paid.Status != sdk.OrderPaid || paid.PaidAt == nil || paid.Fee != 7 {
		t.Fatalf("paid order = %+v, %v; want paid with fee 7 (1200 at 60 bps)", paid, err)
	}
	if _, err := client.CloseOrder(ctx, order.ID); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("CloseOrder of a paid order = %v; want ErrConflict", err)
	}
	hook.waitFor(t, env, "order.paid", 1, eventFor(sdk.EventOrderPaid, order.ID))
	hook.waitFor(t, env, "order.closed", 1, eventFor(sdk.EventOrderClosed, ids[4]))

	// Refunds: partial, repeated by number, and one too many.
	refund, err := client.CreateRefund(ctx, order.ID, &sdk.RefundParams{RefundNo: "R-1", Amount: 500, Reason: "one coffee spilt"})
	if err != nil {
		t.Fatal(err)
	}
	if refund.Amount != 500 || refund.FeeRefunded != 3 || refund.OrderID != order.ID || refund.Status != "succeeded" || refund.Reason != "one coffee spilt" {
		t.Errorf("CreateRefund = %+v; want 500 with fee 3 returned", refund)
	}
	if again, err := client.CreateRefund(ctx, order.ID, &sdk.RefundParams{RefundNo: "R-1", Amount: 500, Reason: "one coffee spilt"}); err != nil || again.ID != refund.ID {
		t.Errorf("CreateRefund with the same refund_no = %+v, %v; want refund %s again", again, err, refund.ID)
	}
	if _, err := client.CreateRefund(ctx, order.ID, &sdk.RefundParams{RefundNo: "R-2", Amount: 701}); !errors.Is(err, sdk.ErrRefundExceedsPayment) {
		t.Errorf("refunding 701 of the 700 left = %v; want ErrRefundExceedsPayment", err)
	}
	if r, err := client.GetRefund(ctx, refund.ID); err != nil || r.ID != refund.ID || r.Amount != 500 {
		t.Errorf("GetRefund = %+v, %v", r, err)
	}
	if list, err := client.ListRefunds(ctx, order.ID); err != nil || len(list) != 1 || list[0].ID != refund.ID {
		t.Errorf("ListRefunds = %v, %v; want [%s]", list, err, refund.ID)
	}
	if o, err := client.GetOrder(ctx, order.ID); err != nil || o.Status != sdk.OrderPartiallyRefunded || o.RefundedAmount != 500 {
		t.Errorf("refunded order = %+v, %v; want partially_refunded, 500", o, err)
	}
	refunded := hook.waitFor(t, env, "order.refunded", 1, eventFor(sdk.EventOrderRefunded, order.ID))
	if refunded.Data.Refund == nil || refunded.Data.Refund.ID != refund.ID || refunded.Sequence != 2 {
		t.Errorf("order.refunded = %+v; want refund %s as the order's second event", refunded, refund.ID)
	}

	// The events API: the order's two events, their delivery, a redelivery.
	var events []*sdk.Event
	for e, err := range client.ListEvents(ctx, &sdk.ListEventsParams{OrderID: order.ID, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if len(events) != 2 || events[0].Type != sdk.EventOrderRefunded || events[1].Type != sdk.EventOrderPaid || events[1].Sequence != 1 {
		t.Fatalf("ListEvents(order) = %v; want order.refunded then order.paid", events)
	}
	paidEvent := waitDelivered(t, client, events[1].ID)
	if len(paidEvent.Delivery.Attempts) < 1 || paidEvent.Delivery.DeliveredAt == nil || paidEvent.Data.Order == nil || paidEvent.Data.Order.ID != order.ID {
		t.Errorf("GetEvent = %+v, delivery %+v", paidEvent, paidEvent.Delivery)
	}
	before := hook.count(func(e *sdk.Event) bool { return e.ID == paidEvent.ID })
	re, err := client.RedeliverEvent(ctx, paidEvent.ID)
	if err != nil || re.ID != paidEvent.ID {
		t.Fatalf("RedeliverEvent = %+v, %v", re, err)
	}
	hook.waitFor(t, env, "redelivered order.paid", before+1, func(e *sdk.Event) bool { return e.ID == paidEvent.ID })

	// Rotating the webhook secret: the receiver switches to the new secret
	// and still accepts deliveries, which carry both signatures.
	rotated, err := client.RotateWebhookSecret(ctx, &sdk.RotateWebhookSecretParams{Grace: time.Hour})
	if err != nil || rotated.Secret == key.WebhookSecret || !strings.HasPrefix(rotated.Secret, "whsec_") {
		t.Fatalf("RotateWebhookSecret = %+v, %v; want a new secret", rotated, err)
	}
	hook.setSecret(rotated.Secret)
	if _, err := client.RedeliverEvent(ctx, paidEvent.ID); err != nil {
		t.Fatal(err)
	}
	hook.waitFor(t, env, "order.paid under the new secret", before+2, func(e *sdk.Event) bool { return e.ID == paidEvent.ID })
	all := 0
	for _, err := range client.ListEvents(ctx, &sdk.ListEventsParams{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		all++
	}
	if all != 3 {
		t.Errorf("ListEvents = %d events; want 3 (paid, refunded, closed)", all)
	}

	// The finance side: settle today early, then list, read, download and
	// verify the day.
	day := settleToday(t, env, key.MerchantID)
	var days []*sdk.Settlement
	for s, err := range client.ListSettlements(ctx, &sdk.ListSettlementsParams{From: day, To: day}) {
		if err != nil {
			t.Fatal(err)
		}
		days = append(days, s)
	}
	if len(days) != 1 || days[0].Date != day {
		t.Fatalf("ListSettlements(%s) = %v; want that day", day, days)
	}
	st, err := client.GetSettlement(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "settled" || st.PaymentsCount != 1 || st.PaymentsAmount != 1200 || st.RefundsCount != 1 || st.RefundsAmount != 500 ||
		st.Fees != 4 || st.Net != 1200-500-4 || st.MerchantID != key.MerchantID || st.TimeZone != "Asia/Shanghai" {
		t.Errorf("GetSettlement = %+v; want 1200 paid, 500 refunded, fees 4, net 696", st)
	}
	var file bytes.Buffer
	n, sum, err := client.DownloadSettlement(ctx, day, &file)
	if err != nil {
		t.Fatal(err)
	}
	own := sha256.Sum256(file.Bytes())
	if n != int64(file.Len()) || n != st.FileSize || sum != hex.EncodeToString(own[:]) || sum != st.SHA256 {
		t.Errorf("DownloadSettlement = %d bytes, sha256 %s (own %x); settlement says %d bytes, %s", n, sum, own, st.FileSize, st.SHA256)
	}
	if !bytes.Contains(file.Bytes(), []byte(order.ID)) || !bytes.Contains(file.Bytes(), []byte(refund.ID)) {
		t.Errorf("the settlement file lacks the order or its refund:\n%s", file.Bytes())
	}
	check, err := client.VerifySettlement(ctx, day)
	if err != nil || !check.OK || len(check.Drifts) != 0 || check.SHA256 != st.SHA256 || check.MerchantID != key.MerchantID {
		t.Errorf("VerifySettlement = %+v, %v; want ok with the settled checksum", check, err)
	}
}

// waitDelivered reads an event until the gateway has recorded its delivery.
func waitDelivered(t *testing.T, client *sdk.Client, id string) *sdk.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, err := client.GetEvent(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Delivery != nil && e.Delivery.Status == "delivered" {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s delivery = %+v; want delivered", id, e.Delivery)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func reverse(s []string) []string {
	r := make([]string, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}

func TestGatewayRefusalsAreErrors(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	key := env.NewMerchant(t, nil)
	posOnly := env.NewMerchant(t, nil, "pos")
	ctx := context.Background()

	_, err := sdk.NewClient(env.URL, key.KeyID, key.Secret+"x").GetMerchant(ctx)
	var e *sdk.Error
	if !errors.Is(err, sdk.ErrUnauthorized) || !errors.As(err, &e) || e.HTTPStatus != 401 || e.RequestID == "" {
		t.Errorf("a wrong secret = %v; want ErrUnauthorized with a request id", err)
	}
	client := sdk.NewClient(env.URL, key.KeyID, key.Secret)
	if _, err := client.GetOrder(ctx, "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("GetOrder(unknown) = %v; want ErrNotFound", err)
	}
	if _, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "X-1", Amount: 0}); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("CreateOrder(amount 0) = %v; want ErrInvalid", err)
	}
	first, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "X-2", Amount: 100})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "X-2", Amount: 100}); err != nil || again.ID != first.ID {
		t.Errorf("the same order X-2 with a fresh Idempotency-Key = %v, %v; want the first order %s", again, err, first.ID)
	}
	if _, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "X-2", Amount: 200}); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("another order under X-2 = %v; want ErrConflict", err)
	}
	for _, err := range sdk.NewClient(env.URL, posOnly.KeyID, posOnly.Secret).ListSettlements(ctx, nil) {
		if !errors.Is(err, sdk.ErrForbidden) {
			t.Errorf("ListSettlements with a pos key = %v; want ErrForbidden", err)
		}
	}
	if _, err := client.GetSettlement(ctx, "2020-01-01"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("GetSettlement(an unsettled day) = %v; want ErrNotFound", err)
	}
}

// faultyProxy sits between the SDK and the gateway. Each POST /v1/orders
// that reaches it is numbered from 1; fault says what to do with it, and
// every attempt's Idempotency-Key is recorded.
type faultyProxy struct {
	*httptest.Server
	mu       sync.Mutex
	keys     []string
	statuses []int // what the gateway answered each forwarded attempt, 0 if not forwarded
	replayed []string
}

type fault int

const (
	forward       fault = iota
	dropResponse        // forward, let the gateway do the work, then cut the connection before any answer
	refuseWith503       // answer 503 without forwarding
)

func newFaultyProxy(t *testing.T, target string, faultOf func(attempt int) fault) *faultyProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &faultyProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/orders" {
			rp.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.keys = append(p.keys, r.Header.Get("Idempotency-Key"))
		n := len(p.keys)
		p.mu.Unlock()
		switch faultOf(n) {
		case refuseWith503:
			p.record(0, "")
			http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		case dropResponse:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			p.record(rec.Code, rec.Header().Get("Idempotent-Replayed"))
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
		default:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			p.record(rec.Code, rec.Header().Get("Idempotent-Replayed"))
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *faultyProxy) record(status int, replayed string) {
	p.mu.Lock()
	p.statuses = append(p.statuses, status)
	p.replayed = append(p.replayed, replayed)
	p.mu.Unlock()
}

func (p *faultyProxy) attempts() (keys []string, statuses []int, replayed []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.keys...), append([]int(nil), p.statuses...), append([]string(nil), p.replayed...)
}

func TestRetriedCreateOrderIsCreatedOnce(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	for _, tt := range []struct {
		name         string
		faultOf      func(attempt int) fault
		wantStatuses []int
	}{
		// The gateway created the order but its answer was lost: the retry
		// must get that order back, not a second one or a conflict.
		{"answer lost", func(n int) fault {
			if n == 1 {
				return dropResponse
			}
			return forward
		}, []int{201, 201}},
		// The gateway was never reached twice; the third attempt gets through.
		{"503 twice", func(n int) fault {
			if n <= 2 {
				return refuseWith503
			}
			return forward
		}, []int{0, 0, 201}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := env.NewMerchant(t, nil)
			proxy := newFaultyProxy(t, env.URL, tt.faultOf)
			client := sdk.NewClient(proxy.URL, key.KeyID, key.Secret, sdk.WithMaxRetries(3), sdk.WithRetryDelay(time.Millisecond, 20*time.Millisecond))
			ctx := context.Background()

			o, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "RETRY-1", Amount: 1500})
			if err != nil {
				t.Fatalf("CreateOrder through the faulty proxy: %v", err)
			}
			keys, statuses, replayed := proxy.attempts()
			if len(keys) != len(tt.wantStatuses) || fmt.Sprint(statuses) != fmt.Sprint(tt.wantStatuses) {
				t.Errorf("attempts reached the gateway with %v; want %v", statuses, tt.wantStatuses)
			}
			for i, k := range keys {
				if k == "" || k != keys[0] {
					t.Errorf("attempt %d carried Idempotency-Key %q; want every attempt to carry %q", i+1, k, keys[0])
				}
			}
			if tt.name == "answer lost" && (len(replayed) < 2 || replayed[1] != "true") {
				t.Errorf("Idempotent-Replayed of the attempts = %q; want the retry to be a replay", replayed)
			}
			var listed []string
			for o, err := range client.ListOrders(ctx, nil) {
				if err != nil {
					t.Fatal(err)
				}
				listed = append(listed, o.ID)
			}
			if len(listed) != 1 || listed[0] != o.ID {
				t.Errorf("orders listed = %v; want only %s", listed, o.ID)
			}
			var n int
			if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE merchant_id = $1`, key.MerchantID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d orders in PostgreSQL; want exactly 1", n)
			}
		})
	}
}

// TestGatewayPaymentCodeThroughTheSDK: a terminal charges the codes a
// customer shows, and waits for the customer's confirmation above the PIN
// threshold.
func TestGatewayPaymentCodeThroughTheSDK(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	key := env.NewMerchant(t, map[string]any{"name": "SDK Code Shop"})
	client := sdk.NewClient(env.URL, key.KeyID, key.Secret)
	ctx := context.Background()
	payer := env.NewPayer(t, 100_000)
	codes := env.NewCodeKey(t, payer)

	code := codes.Code(env.Clock.Now())
	ch, err := client.Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: "CODE-1", Amount: 1200, Description: "2 coffees",
		TerminalID: "POS1", Code: code})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != sdk.ChargePaid || ch.Order.Status != sdk.OrderPaid || ch.Order.Amount != 1200 || ch.Order.MerchantOrderNo != "CODE-1" {
		t.Errorf("Charge = %+v; want paid", ch)
	}
	if _, err := client.Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: "CODE-2", Amount: 1200, Code: code}); !errors.Is(err, sdk.ErrPaymentCodeUsed) {
		t.Errorf("charging a used code = %v; want ErrPaymentCodeUsed", err)
	}
	// The same charge again, as a terminal that restarted sends it.
	again, err := client.Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: "CODE-1", Amount: 1200, Description: "2 coffees",
		TerminalID: "POS1", Code: code})
	if err != nil || again.Status != sdk.ChargePaid || again.Order.ID != ch.Order.ID {
		t.Errorf("the same charge again = %+v, %v; want the first, paid", again, err)
	}

	// Above the threshold: the customer confirms while the terminal waits.
	env.Clock.Advance(30 * time.Second)
	ch, err = client.Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: "CODE-3", Amount: 25_000, Code: codes.Code(env.Clock.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != sdk.ChargeRequiresConfirmation || ch.ConfirmBy == nil {
		t.Fatalf("Charge above the threshold = %+v; want requires_confirmation", ch)
	}
	confirmed := make(chan gatewaytest.Response, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		confirmed <- env.Do(t, "POST", "/v1/wallet/payment-codes/charges/"+ch.Order.ID+"/confirm", map[string]any{"pin": payer.PIN},
			payer.Idem("sdk-confirm")...)
	}()
	o, err := client.WaitForPayment(ctx, &sdk.WaitParams{OrderID: ch.Order.ID, FirstInterval: 100 * time.Millisecond})
	if r := <-confirmed; r.Status != http.StatusCreated {
		t.Fatalf("confirm = %d %s", r.Status, r.Body)
	}
	if err != nil || o.Status != sdk.OrderPaid || o.PaidAt == nil {
		t.Errorf("WaitForPayment = %+v, %v; want paid", o, err)
	}

	// Not confirmed: the order expires and the wait ends with it.
	env.Clock.Advance(30 * time.Second)
	ch, err = client.Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: "CODE-4", Amount: 25_000, Code: codes.Code(env.Clock.Now())})
	if err != nil || ch.Status != sdk.ChargeRequiresConfirmation {
		t.Fatalf("Charge = %+v, %v; want requires_confirmation", ch, err)
	}
	env.Clock.Advance(ch.ConfirmBy.Sub(env.Clock.Now()) + time.Second)
	o, err = client.WaitForPayment(ctx, &sdk.WaitParams{MerchantOrderNo: "CODE-4"})
	if !errors.Is(err, sdk.ErrOrderExpired) || o == nil || o.Status != sdk.OrderExpired {
		t.Errorf("WaitForPayment on an unconfirmed charge = %+v, %v; want expired", o, err)
	}
	var w struct {
		Balance int64 `json:"balance"`
	}
	env.Do(t, "GET", "/v1/wallet", nil, payer.Auth()...).JSON(t, &w)
	if w.Balance != 100_000-1200-25_000 {
		t.Errorf("balance = %d; want %d", w.Balance, 100_000-1200-25_000)
	}
}
