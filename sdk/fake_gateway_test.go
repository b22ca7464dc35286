package sdk_test

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

// fakeGateway is a small in-memory stand-in for the qrpay gateway, for the
// examples: it checks signatures and Idempotency-Keys the way the gateway
// does and keeps orders and refunds in memory. The real gateway's behaviour
// is tested against the real gateway; this only has to be faithful enough
// for the examples to read true.
type fakeGateway struct {
	*httptest.Server
	keyID, secret string

	mu          sync.Mutex
	now         time.Time
	orders      []*sdk.Order // oldest first
	refunds     map[string][]*sdk.Refund
	nonces      map[string]bool
	replies     map[string][]byte // Idempotency-Key → first answer
	settlements map[string][]byte // date → CSV file
}

func newFakeGateway(keyID, secret string) *fakeGateway {
	g := &fakeGateway{
		keyID: keyID, secret: secret,
		now:         time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		refunds:     map[string][]*sdk.Refund{},
		nonces:      map[string]bool{},
		replies:     map[string][]byte{},
		settlements: map[string][]byte{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/orders", g.createOrder)
	mux.HandleFunc("GET /v1/orders", g.listOrders)
	mux.HandleFunc("GET /v1/orders/{id}", g.getOrder)
	mux.HandleFunc("POST /v1/orders/{id}/close", g.closeOrder)
	mux.HandleFunc("POST /v1/orders/{id}/refunds", g.createRefund)
	// by-number/{no} and {id}/refunds overlap as patterns (an order number
	// "refunds"); ids never read "by-number", so one route tells them apart.
	mux.HandleFunc("GET /v1/orders/{a}/{b}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.PathValue("a") == "by-number":
			r.SetPathValue("no", r.PathValue("b"))
			g.getOrder(w, r)
		case r.PathValue("b") == "refunds":
			r.SetPathValue("id", r.PathValue("a"))
			g.listRefunds(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	mux.HandleFunc("GET /v1/merchant", g.merchant)
	mux.HandleFunc("GET /v1/settlements/{date}/file", g.settlementFile)
	g.Server = httptest.NewServer(g.verify(mux))
	return g
}

// verify refuses what the gateway refuses: a bad signature, a replayed
// nonce, a POST without Idempotency-Key. A repeated key replays the first
// answer.
func (g *fakeGateway) verify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		ts, _ := strconv.ParseInt(r.Header.Get(sdk.HeaderTimestamp), 10, 64)
		nonce := r.Header.Get(sdk.HeaderNonce)
		want := sdk.Sign(g.secret, r.Method, r.RequestURI, ts, nonce, body)
		g.mu.Lock()
		replayed := g.nonces[nonce]
		g.nonces[nonce] = true
		g.mu.Unlock()
		if r.Header.Get(sdk.HeaderKey) != g.keyID || r.Header.Get(sdk.HeaderSignature) != want || replayed {
			g.fail(w, http.StatusUnauthorized, "unauthorized", "invalid request signature")
			return
		}
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			g.fail(w, http.StatusBadRequest, "idempotency_key_required", "Idempotency-Key is required")
			return
		}
		g.mu.Lock()
		first, ok := g.replies[key]
		g.mu.Unlock()
		if ok {
			w.Header().Set("Idempotent-Replayed", "true")
			w.Write(first)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if rec.Code < 500 {
			g.mu.Lock()
			g.replies[key] = rec.Body.Bytes()
			g.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

func (g *fakeGateway) fail(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("X-Request-Id", "REQ"+strconv.Itoa(status))
	g.reply(w, status, map[string]any{"error": map[string]string{"code": code, "message": message, "request_id": "REQ" + strconv.Itoa(status)}})
}

func (g *fakeGateway) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// find returns the order the route names; the caller holds g.mu.
func (g *fakeGateway) find(r *http.Request) *sdk.Order {
	for _, o := range g.orders {
		if o.ID == r.PathValue("id") || o.MerchantOrderNo == r.PathValue("no") {
			return o
		}
	}
	return nil
}

func (g *fakeGateway) createOrder(w http.ResponseWriter, r *http.Request) {
	var p sdk.OrderParams
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		g.fail(w, http.StatusBadRequest, "invalid_json", err.Error())
		return
	}
	if p.MerchantOrderNo == "" || p.Amount <= 0 {
		g.fail(w, http.StatusBadRequest, "invalid", "merchant_order_no and amount are required")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range g.orders {
		if o.MerchantOrderNo == p.MerchantOrderNo {
			g.fail(w, http.StatusConflict, "conflict", "merchant_order_no is already used")
			return
		}
	}
	id := fmt.Sprintf("ord_%04d", len(g.orders)+1)
	expires := max(p.ExpiresIn, 900)
	o := &sdk.Order{
		ID: id, MerchantID: "mer_0001", MerchantOrderNo: p.MerchantOrderNo,
		Amount: p.Amount, Currency: cmp.Or(p.Currency, "CNY"), Description: p.Description, TerminalID: p.TerminalID,
		Status: sdk.OrderCreated, QRPayload: "00020101021226…6304ABCD", QRPNGURL: "/v1/orders/" + id + "/qr.png",
		CreatedAt: g.now, ExpiresAt: g.now.Add(time.Duration(expires) * time.Second),
	}
	g.orders = append(g.orders, o)
	g.reply(w, http.StatusCreated, o)
}

func (g *fakeGateway) getOrder(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := g.find(r); o != nil {
		g.reply(w, http.StatusOK, o)
		return
	}
	g.fail(w, http.StatusNotFound, "not_found", "order not found")
}

func (g *fakeGateway) listOrders(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	newest := slices.Clone(g.orders)
	slices.Reverse(newest)
	if after := r.URL.Query().Get("starting_after"); after != "" {
		i := slices.IndexFunc(newest, func(o *sdk.Order) bool { return o.ID == after })
		newest = newest[i+1:]
	}
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil {
		limit = 20
	}
	page := map[string]any{"data": newest, "has_more": false, "next_cursor": ""}
	if len(newest) > limit {
		page = map[string]any{"data": newest[:limit], "has_more": true, "next_cursor": newest[limit-1].ID}
	}
	g.reply(w, http.StatusOK, page)
}

func (g *fakeGateway) closeOrder(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o := g.find(r)
	switch {
	case o == nil:
		g.fail(w, http.StatusNotFound, "not_found", "order not found")
	case o.Status == sdk.OrderClosed:
		g.reply(w, http.StatusOK, o)
	case o.Status != sdk.OrderCreated:
		g.fail(w, http.StatusConflict, "conflict", "only an unpaid, unexpired order can be closed")
	default:
		o.Status = sdk.OrderClosed
		g.reply(w, http.StatusOK, o)
	}
}

// pay is what a customer's scan does to an order: it pays it, and the
// gateway keeps 0.6 % (rounded half up, in this stand-in).
func (g *fakeGateway) pay(orderID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range g.orders {
		if o.ID == orderID {
			paid := g.now.Add(time.Minute)
			o.Status, o.PaidAt, o.Fee = sdk.OrderPaid, &paid, (o.Amount*60+5000)/10000
		}
	}
}

func (g *fakeGateway) createRefund(w http.ResponseWriter, r *http.Request) {
	var p sdk.RefundParams
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		g.fail(w, http.StatusBadRequest, "invalid_json", err.Error())
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	o := g.find(r)
	switch {
	case o == nil:
		g.fail(w, http.StatusNotFound, "not_found", "order not found")
		return
	case o.PaidAt == nil:
		g.fail(w, http.StatusConflict, "conflict", "only a paid order can be refunded")
		return
	case o.RefundedAmount+p.Amount > o.Amount:
		g.fail(w, http.StatusUnprocessableEntity, "refund_exceeds_payment", "refunds would exceed what was paid")
		return
	}
	o.RefundedAmount += p.Amount
	o.Status = sdk.OrderPartiallyRefunded
	if o.RefundedAmount == o.Amount {
		o.Status = sdk.OrderRefunded
	}
	ref := &sdk.Refund{ID: fmt.Sprintf("ref_%04d", len(g.refunds[o.ID])+1), OrderID: o.ID, RefundNo: p.RefundNo,
		Amount: p.Amount, FeeRefunded: o.Fee * p.Amount / o.Amount, Reason: p.Reason, Status: "succeeded", CreatedAt: g.now.Add(5 * time.Minute)}
	g.refunds[o.ID] = append(g.refunds[o.ID], ref)
	g.reply(w, http.StatusCreated, ref)
}

func (g *fakeGateway) listRefunds(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reply(w, http.StatusOK, map[string]any{"data": g.refunds[r.PathValue("id")]})
}

func (g *fakeGateway) merchant(w http.ResponseWriter, r *http.Request) {
	g.reply(w, http.StatusOK, sdk.Merchant{ID: "mer_0001", Code: "M7Q2M9X4K1", Name: "Blue Bottle Coffee", City: "Shanghai",
		MCC: "5814", Country: "CN", Currency: "CNY", FeeBPS: 60, Status: "active", StaticQRPayload: "00020101021126…6304EF01"})
}

func (g *fakeGateway) settlementFile(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	file, ok := g.settlements[r.PathValue("date")]
	g.mu.Unlock()
	if !ok {
		g.fail(w, http.StatusNotFound, "not_found", "no settlement for this day")
		return
	}
	sum := sha256.Sum256(file)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.Write(file)
}
