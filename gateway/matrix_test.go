package gateway_test

// What the route matrices share: the served OpenAPI document read as data, a
// world of real objects owned by two wallets and two merchants, and a way to
// send many requests concurrently with each caller's credentials.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

// route is one operation of the served document.
type route struct {
	Method string // upper case
	Path   string // OpenAPI syntax: /v1/orders/{id}
	Op     *openapi3.Operation
}

func (r route) String() string { return r.Method + " " + r.Path }

// security is the operation's security scheme: "session", "merchantSignature",
// "operator", or "" for a public route.
func (r route) security() string {
	if r.Op.Security == nil {
		return ""
	}
	for _, req := range *r.Op.Security {
		for name := range req {
			return name
		}
	}
	return ""
}

// scope is the API key scope a merchant route needs ("" when any key will do).
func (r route) scope() string {
	m := regexp.MustCompile("scope `([a-z]+)`").FindStringSubmatch(r.Op.Description)
	if m == nil {
		return ""
	}
	return m[1]
}

func (r route) params(in string) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, p := range r.Op.Parameters {
		if p.Value != nil && p.Value.In == in {
			out = append(out, p.Value)
		}
	}
	return out
}

// takesHeader reports whether the operation documents the request header.
func (r route) takesHeader(name string) bool {
	for _, p := range r.params("header") {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (r route) idempotent() bool {
	for _, p := range r.params("header") {
		if p.Name == "Idempotency-Key" {
			return true
		}
	}
	return false
}

// bodySchema is the JSON request body's schema, or nil.
func (r route) bodySchema() *openapi3.Schema {
	if r.Op.RequestBody == nil || r.Op.RequestBody.Value == nil {
		return nil
	}
	mt := r.Op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}

// documents answers whether status is among the operation's responses.
func (r route) documents(status int) bool {
	return r.Op.Responses.Status(status) != nil
}

// loadRoutes reads the gateway's own /openapi.json.
func loadRoutes(t *testing.T, env *gatewaytest.Env) []route {
	t.Helper()
	r := env.Do(t, "GET", "/openapi.json", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d", r.Status)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.Body)
	if err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	var routes []route
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			routes = append(routes, route{Method: strings.ToUpper(method), Path: path, Op: op})
		}
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].String() < routes[j].String() })
	if len(routes) < 40 {
		t.Fatalf("the document lists %d operations; expected the whole API", len(routes))
	}
	return routes
}

// documentedCodes are the error codes of docs/errors.md's table, with
// their statuses.
func documentedCodes(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| ([0-9]{3}) \\|")
	codes := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			codes[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	if len(codes) < 20 {
		t.Fatalf("read only %d codes from docs/errors.md", len(codes))
	}
	return codes
}

// world holds real objects of two wallets (a, b) and two merchants (ma,
// mb), so that every id a route takes names something that exists and has
// an owner.
type world struct {
	env      *gatewaytest.Env
	a, b     gatewaytest.Payer
	aSession string // the id of a second session of a, which requests may name
	// aSessionToken is that second session's token.
	aSessionToken string
	movement      string // a's top-up
	payment       string // a's payment of the paid order, as a's history shows it
	ma, mb        gatewaytest.MerchantKey
	maPOS, maFin  gatewaytest.MerchantKey // keys of ma with one scope each
	maSpare       gatewaytest.MerchantKey // a key of ma that requests may name
	paid, open    gatewaytest.Order       // ma's orders: one paid by a, one open
	paidNo        string                  // the paid order's merchant_order_no
	refund        string                  // a refund of the paid order
	event         string                  // a webhook event of ma
	date          string                  // today, settled
	month         string
	// Account security and notices: a's device with an approval key, the
	// challenge of a one-time code sent to a, an announcement.
	device       device
	challenge    string
	announcement string
	// Bodies that carry a fresh one-time code, so that they are valid as
	// they stand and any bad input that slipped through would change
	// something: a second device's key, and a password change.
	newDevice, newPassword map[string]any
	// Payment codes: a's and b's seeds, and a charge of a's code by ma
	// that waits for a's PIN.
	codeKey, bKey gatewaytest.CodeKey
	charge        string
}

var reqSeq struct {
	sync.Mutex
	n int
}

func fresh(prefix string) string {
	reqSeq.Lock()
	defer reqSeq.Unlock()
	reqSeq.n++
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", prefix, reqSeq.n, hex.EncodeToString(b))
}

func newWorld(t *testing.T, env *gatewaytest.Env) *world {
	t.Helper()
	w := &world{env: env}
	w.a, w.b = env.NewPayer(t, 100_000), env.NewPayer(t, 100_000)
	var mv struct {
		ID string `json:"id"`
	}
	env.TopUp(t, w.a.Customer, w.a.CardID, 700).JSON(t, &mv)
	w.movement = mv.ID

	r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": w.a.Phone, "password": gatewaytest.Password, "device_id": w.a.DeviceID})
	var s struct {
		Token string `json:"token"`
	}
	r.JSON(t, &s)
	w.aSessionToken = s.Token
	var sessions struct {
		Data []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"data"`
	}
	env.Do(t, "GET", "/v1/wallet/sessions", nil, "Authorization", "Bearer "+s.Token).JSON(t, &sessions)
	for _, se := range sessions.Data {
		if se.Current {
			w.aSession = se.ID
		}
	}
	if w.aSession == "" {
		t.Fatalf("no current session in %+v", sessions)
	}

	w.ma = env.NewMerchant(t, map[string]any{"name": "Matrix Coffee A", "webhook_url": "http://127.0.0.1:1/hook"})
	w.mb = env.NewMerchant(t, map[string]any{"name": "Matrix Tea B"})
	w.maPOS = w.issueKey(t, w.ma, "pos")
	w.maFin = w.issueKey(t, w.ma, "finance")
	w.maSpare = w.issueKey(t, w.ma, "pos")

	w.paidNo = fresh("A-PAID")
	r = env.Signed(t, w.ma, "POST", "/v1/orders", map[string]any{"merchant_order_no": w.paidNo, "amount": 1200,
		"description": "matrix order", "terminal_id": "POS9"}, "Idempotency-Key", w.paidNo)
	if r.Status != http.StatusCreated {
		t.Fatalf("create order = %d %s", r.Status, r.Body)
	}
	r.JSON(t, &w.paid)
	env.Pay(t, w.a, w.paid.QRPayload).JSON(t, &mv)
	w.payment = mv.ID
	w.open = env.CreateOrder(t, w.ma, 900)
	no := fresh("A-REFUND")
	r = env.Signed(t, w.ma, "POST", "/v1/orders/"+w.paid.ID+"/refunds", map[string]any{"refund_no": no, "amount": 200},
		"Idempotency-Key", no)
	if r.Status != http.StatusCreated {
		t.Fatalf("refund = %d %s", r.Status, r.Body)
	}
	var ref struct {
		ID string `json:"id"`
	}
	r.JSON(t, &ref)
	w.refund = ref.ID
	var events struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	env.Signed(t, w.ma, "GET", "/v1/webhooks/events", nil).JSON(t, &events)
	if len(events.Data) == 0 {
		t.Fatal("the paid order has no webhook event")
	}
	w.event = events.Data[0].ID

	// b's side: a payment to mb, so that mb has orders and events of its own.
	ob := env.CreateOrder(t, w.mb, 300)
	env.Pay(t, w.b, ob.QRPayload)

	loc, _ := time.LoadLocation("Asia/Shanghai")
	now := env.Clock.Now().In(loc)
	w.date, w.month = now.Format("2006-01-02"), now.Format("2006-01")
	r = env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": w.date, "close_early": true}, w.operator()...)
	if r.Status != http.StatusOK {
		t.Fatalf("settle = %d %s", r.Status, r.Body)
	}

	w.device = registerDevice(t, env, w.a.Customer, fresh("matrix-phone"))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	w.newDevice = map[string]any{"device_id": fresh("matrix-tablet"), "public_key": base64.StdEncoding.EncodeToString(der),
		"name": "matrix tablet"}
	ch := env.Do(t, "POST", "/v1/wallet/devices", w.newDevice, w.a.Auth()...).Challenge(t)
	w.challenge, w.newDevice["otp"] = ch.ID, env.OTP(t, ch)
	w.newPassword = map[string]any{"old_password": gatewaytest.Password, "new_password": "matrix passphrase two"}
	w.newPassword["otp"] = env.OTP(t, env.Do(t, "PUT", "/v1/wallet/password", w.newPassword, w.a.Auth()...).Challenge(t))

	w.codeKey = env.NewCodeKey(t, w.a)
	r = env.Charge(t, w.ma, w.codeKey.Code(env.Clock.Now()), 25_000)
	var charge struct {
		Status string `json:"status"`
		Order  struct {
			ID string `json:"id"`
		} `json:"order"`
	}
	r.JSON(t, &charge)
	if r.Status != http.StatusCreated || charge.Status != "requires_confirmation" {
		t.Fatalf("charge a's code = %d %s; want requires_confirmation", r.Status, r.Body)
	}
	w.charge = charge.Order.ID
	w.bKey = env.NewCodeKey(t, w.b)

	r = env.Do(t, "POST", "/v1/admin/announcements", map[string]any{"kind": "notice", "title": "Matrix notice",
		"body": "The matrix publishes this."}, w.operator()...)
	if r.Status != http.StatusCreated {
		t.Fatalf("announce = %d %s", r.Status, r.Body)
	}
	var ann struct {
		ID string `json:"id"`
	}
	r.JSON(t, &ann)
	w.announcement = ann.ID

	// ma's webhook endpoint never answers, so its events are retried 10 s
	// after their first attempt: a retry falling inside a matrix would be a
	// change no request made. Their retries wait until the matrices are done.
	if _, err := env.Pool.Exec(context.Background(), `UPDATE webhook_events SET next_attempt_at = next_attempt_at + interval '1 day'
		WHERE delivered_at IS NULL AND failed_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) issueKey(t *testing.T, m gatewaytest.MerchantKey, scopes ...string) gatewaytest.MerchantKey {
	t.Helper()
	r := w.env.Do(t, "POST", "/v1/admin/merchants/"+m.MerchantID+"/keys", map[string]any{"scopes": scopes}, w.operator()...)
	if r.Status != http.StatusCreated {
		t.Fatalf("issue key = %d %s", r.Status, r.Body)
	}
	var k struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	r.JSON(t, &k)
	return gatewaytest.MerchantKey{MerchantID: m.MerchantID, KeyID: k.ID, Secret: k.Secret, WebhookSecret: m.WebhookSecret}
}

func (w *world) operator() []string {
	return []string{"Authorization", "Bearer " + gatewaytest.OperatorToken}
}

// pathValue is the id of a's or ma's object that a route's path parameter
// names; "" when the matrices do not know the route.
func (w *world) pathValue(r route, name string) string {
	// The longest matching prefix decides.
	values := []struct{ prefix, name, value string }{
		{"/v1/admin/announcements/{id}", "id", w.announcement},
		{"/v1/admin/merchants/{id}", "id", w.ma.MerchantID},
		{"/v1/admin/merchants/{id}/keys/{key_id}", "key_id", w.maSpare.KeyID},
		{"/v1/admin/otp/{challenge_id}", "challenge_id", w.challenge},
		{"/v1/admin/wallets/{id}", "id", w.a.WalletID},
		{"/v1/orders/by-number/{merchant_order_no}", "merchant_order_no", w.paidNo},
		{"/v1/orders/{id}", "id", w.paid.ID},
		{"/v1/orders/{id}/close", "id", w.open.ID},
		{"/v1/refunds/{id}", "id", w.refund},
		{"/v1/webhooks/events/{id}", "id", w.event},
		{"/v1/settlements/{date}", "date", w.date},
		{"/v1/terminals/{terminal_id}", "terminal_id", "POS9"},
		{"/v1/wallet/payments/{id}", "id", w.payment},
		{"/v1/wallet/cards/{id}", "id", w.a.CardID},
		{"/v1/wallet/devices/{device_id}", "device_id", w.device.id},
		{"/v1/wallet/movements/{id}", "id", w.movement},
		{"/v1/wallet/payment-codes/charges/{order_id}", "order_id", w.charge},
		{"/v1/wallet/sessions/{id}", "id", w.aSession},
		{"/v1/wallet/statements/{month}", "month", w.month},
	}
	best, value := -1, ""
	for _, v := range values {
		if v.name == name && strings.HasPrefix(r.Path, v.prefix) && len(v.prefix) > best {
			best, value = len(v.prefix), v.value
		}
	}
	return value
}

// path fills a route's path parameters with pathValue, except those in
// override; ok is false when a parameter has no known value.
func (w *world) path(r route, override map[string]string) (string, bool) {
	p := r.Path
	for _, prm := range r.params("path") {
		v, given := override[prm.Name]
		if !given {
			v = w.pathValue(r, prm.Name)
		}
		if v == "" && !given {
			return "", false
		}
		p = strings.Replace(p, "{"+prm.Name+"}", v, 1)
	}
	return p, true
}

// validBody is a body a's or ma's caller could send to the route and have
// accepted, the base every bad body is made from; nil when unknown.
func (w *world) validBody(r route) map[string]any {
	switch r.String() {
	case "POST /v1/admin/merchants":
		return map[string]any{"name": "Matrix Noodles", "city": "Shanghai", "mcc": "5812", "country": "CN", "currency": "CNY", "fee_bps": 60}
	case "POST /v1/admin/merchants/{id}/keys":
		return map[string]any{"scopes": []any{"pos"}}
	case "POST /v1/admin/merchants/{id}/keys/{key_id}/rotate":
		return map[string]any{"grace_seconds": 60}
	case "POST /v1/webhooks/secret/rotate":
		return map[string]any{"grace_seconds": 3600}
	case "POST /v1/admin/settlements/run":
		return map[string]any{"date": w.date, "close_early": true, "merchant_id": w.ma.MerchantID}
	case "POST /v1/orders":
		return map[string]any{"merchant_order_no": "A-MATRIX-1", "amount": 100, "currency": "CNY", "description": "tea",
			"terminal_id": "POS9", "expires_in": 600}
	case "POST /v1/orders/{id}/refunds":
		return map[string]any{"refund_no": "A-MATRIX-R1", "amount": 100, "reason": "spilt"}
	case "POST /v1/wallet/cards":
		return map[string]any{"number": "5555555555554444", "exp_month": 12, "exp_year": 2099, "holder_name": "Li Lei"}
	case "PATCH /v1/wallet/cards/{id}/limits":
		return map[string]any{"per_transaction": 1000, "daily_amount": 5000, "daily_count": 5}
	case "POST /v1/wallet/close":
		return map[string]any{"password": gatewaytest.Password}
	case "POST /v1/wallet/customers":
		return map[string]any{"phone": "+8613900000001", "password": gatewaytest.Password}
	case "POST /v1/wallet/sessions":
		return map[string]any{"phone": w.a.Phone, "password": gatewaytest.Password}
	case "POST /v1/wallet/payments":
		return map[string]any{"qr_payload": w.open.QRPayload, "card_id": w.a.CardID, "pin": w.a.PIN, "amount": w.open.Amount,
			"funding": "balance"}
	case "PUT /v1/wallet/pin":
		return map[string]any{"old_pin": w.a.PIN, "pin": "246813"}
	case "POST /v1/wallet/pin/verify":
		return map[string]any{"pin": w.a.PIN}
	case "POST /v1/wallet/scan":
		return map[string]any{"qr_payload": w.open.QRPayload}
	case "POST /v1/wallet/topups":
		// Below the PIN threshold the PIN is not needed, but the app may
		// send it all the same.
		return map[string]any{"card_id": w.a.CardID, "amount": 100, "currency": "CNY", "pin": w.a.PIN}
	case "POST /v1/wallet/transfers":
		return map[string]any{"to_phone": w.b.Phone, "amount": 100, "pin": w.a.PIN, "note": "lunch", "currency": "CNY"}
	case "POST /v1/wallet/withdrawals":
		return map[string]any{"card_id": w.a.CardID, "amount": 100, "currency": "CNY", "pin": w.a.PIN}
	case "POST /v1/wallet/devices":
		return w.newDevice
	case "PUT /v1/wallet/password":
		return w.newPassword
	case "PATCH /v1/wallet/transfer-limits":
		// Lowering needs no code: the body is valid as it stands.
		return map[string]any{"per_transaction": 1_000_000, "daily_amount": 5_000_000}
	case "POST /v1/wallet/unfreeze":
		// a is not frozen, so this is valid as it stands (and changes
		// nothing); a code is sent only to unfreeze a frozen wallet. Its
		// input must be refused all the same.
		return map[string]any{"pin": w.a.PIN}
	case "POST /v1/wallet/approvals":
		// A transfer's: its amount is required, where an order's may be left out.
		return map[string]any{"kind": "transfer", "device_id": w.device.id, "to_phone": w.b.Phone, "amount": 100,
			"idempotency_key": "matrix-approval-1"}
	case "POST /v1/wallet/payment-codes/keys", "POST /v1/wallet/payment-codes":
		return map[string]any{"device_id": w.a.DeviceID, "funding": "balance", "card_id": w.a.CardID}
	case "POST /v1/wallet/payment-codes/charges/{order_id}/confirm":
		return map[string]any{"pin": w.a.PIN}
	case "POST /v1/orders/charge":
		// b's code: a's code of this step pays the world's charge already.
		return map[string]any{"merchant_order_no": "A-MATRIX-C1", "amount": 100, "currency": "CNY", "description": "tea",
			"terminal_id": "POS9", "code": w.bCode()}
	case "POST /v1/admin/announcements":
		return map[string]any{"kind": "security_tip", "title": "We never ask for your PIN", "body": "Nobody from qrpay will."}
	case "PUT /v1/admin/maintenance":
		return map[string]any{"message": "Payments pause for an upgrade."}
	}
	return nil
}

// bCode is b's payment code now.
func (w *world) bCode() string { return w.bKey.Code(w.env.Clock.Now()) }

// credential makes the headers that authenticate one request.
type credential func(method, path string, body []byte) []string

func bearer(token string) credential {
	return func(string, string, []byte) []string { return []string{"Authorization", "Bearer " + token} }
}

func noCredential(string, string, []byte) []string { return nil }

var nonces struct {
	sync.Mutex
	n int
}

// signedBy signs each request with k, with a fresh nonce and the clock's
// time, as docs/signing.md specifies.
func signedBy(env *gatewaytest.Env, k gatewaytest.MerchantKey) credential {
	return func(method, path string, body []byte) []string {
		nonces.Lock()
		nonces.n++
		nonce := fmt.Sprintf("matrix-nonce-%010d-%s", nonces.n, k.KeyID[:8])
		nonces.Unlock()
		ts := env.Clock.Now().Unix()
		return []string{sdk.HeaderKey, k.KeyID, sdk.HeaderTimestamp, strconv.FormatInt(ts, 10), sdk.HeaderNonce, nonce,
			sdk.HeaderSignature, sdk.Sign(k.Secret, method, path, ts, nonce, body)}
	}
}

// ownCredential is the right kind of credential for the route, belonging to
// a (wallet routes) or ma (merchant routes, with the route's scope).
func (w *world) ownCredential(r route) credential {
	switch r.security() {
	case "session":
		return bearer(w.a.Token)
	case "merchantSignature":
		return signedBy(w.env, w.ma)
	case "operator":
		return bearer(gatewaytest.OperatorToken)
	}
	return noCredential
}

// call is one request of a matrix.
type call struct {
	Route  route
	Case   string
	Method string
	Path   string // with its query
	Body   []byte // nil: no body
	// ContentType is sent when Body is not nil; "" sends none.
	ContentType string
	Cred        credential
	Headers     []string
	// Idem adds a fresh Idempotency-Key.
	Idem bool
	// Oversized sends only the head of the request, announcing Body's
	// length: the gateway refuses a body over its limit from the headers
	// and closes the connection, which a client still writing the body
	// would meet as a reset instead of the answer.
	Oversized bool
	// Want is the one status the call must get, when the matrix knows it.
	Want int
}

func (c call) String() string { return fmt.Sprintf("%s [%s] %s %s", c.Route, c.Case, c.Method, c.Path) }

// send makes the request; it never fails the test, so that workers may call it.
func (w *world) send(c call) (gatewaytest.Response, error) {
	var r io.Reader
	if c.Body != nil {
		r = bytes.NewReader(c.Body)
	}
	req, err := http.NewRequest(c.Method, w.env.URL+c.Path, r)
	if err != nil {
		return gatewaytest.Response{}, err
	}
	if c.Body != nil && c.ContentType != "" {
		req.Header.Set("Content-Type", c.ContentType)
	}
	if c.Idem {
		req.Header.Set("Idempotency-Key", fresh("matrix"))
	}
	var h []string
	if c.Cred != nil {
		h = c.Cred(c.Method, req.URL.RequestURI(), c.Body)
	}
	h = append(h, c.Headers...)
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	if c.Oversized {
		return sendHead(req, len(c.Body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return gatewaytest.Response{}, err
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := readStream(resp.Body)
		return gatewaytest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
	}
	b, err := io.ReadAll(resp.Body)
	return gatewaytest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// streamRead is how long readStream reads a stream of server-sent events.
const streamRead = time.Second

// readStream reads a stream of server-sent events, which does not end, for
// streamRead: what the server sends at once (its retry line and any
// backlog of events) is what the matrices check. A stream that ends sooner
// is read to its end, and an error reading it is one.
func readStream(body io.ReadCloser) ([]byte, error) {
	var cut atomic.Bool
	timer := time.AfterFunc(streamRead, func() {
		cut.Store(true)
		body.Close()
	})
	defer timer.Stop()
	b, err := io.ReadAll(body)
	if cut.Load() {
		return b, nil
	}
	return b, err
}

// sendHead writes req's request line and headers, announcing length body
// bytes, and reads the answer.
func sendHead(req *http.Request, length int) (gatewaytest.Response, error) {
	conn, err := net.DialTimeout("tcp", req.URL.Host, 5*time.Second)
	if err != nil {
		return gatewaytest.Response{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.Method, req.URL.RequestURI(), req.URL.Host, length)
	if err := req.Header.Write(&head); err != nil {
		return gatewaytest.Response{}, err
	}
	head.WriteString("\r\n")
	if _, err := conn.Write(head.Bytes()); err != nil {
		return gatewaytest.Response{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return gatewaytest.Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return gatewaytest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// sendAll sends calls with a few workers and returns each one's response
// (or transport error) in order.
func (w *world) sendAll(calls []call, workers int) ([]gatewaytest.Response, []error) {
	resps, errs := make([]gatewaytest.Response, len(calls)), make([]error, len(calls))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				resps[i], errs[i] = w.send(calls[i])
			}
		}()
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
	return resps, errs
}
