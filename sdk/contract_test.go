package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

// TestSDKMatchesOpenAPI holds the SDK to the gateway's own OpenAPI document:
// every request any SDK method sends must be an operation the document
// declares, with declared query parameters and body properties and every
// required property sent; and every merchant and finance operation must be
// reachable through some SDK method. Requests are recorded at the SDK's
// transport while each method runs against a real gateway.
func TestSDKMatchesOpenAPI(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	hook := newHookRecorder(t)
	key := env.NewMerchant(t, map[string]any{"webhook_url": hook.URL})
	hook.setSecret(key.WebhookSecret)
	rec := &recordingTransport{next: http.DefaultTransport}
	client := sdk.NewClient(env.URL, key.KeyID, key.Secret, sdk.WithHTTPClient(&http.Client{Transport: rec}))
	ctx := context.Background()
	payer := env.NewPayer(t, 100000)

	// Every exported method of *sdk.Client, in an order that gives each the
	// state it needs. A method added to the SDK must be added here.
	var order *sdk.Order
	var charge *sdk.Charge
	var refund *sdk.Refund
	var event *sdk.Event
	var day string
	calls := []struct {
		method string
		call   func() error
	}{
		{"GetMerchant", func() error { _, err := client.GetMerchant(ctx); return err }},
		{"CreateOrder", func() (err error) {
			order, err = client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "C-1/x y", Amount: 1200, Currency: "CNY",
				Description: "contract", TerminalID: "POS1", ExpiresIn: 900})
			return err
		}},
		{"GetOrder", func() error { _, err := client.GetOrder(ctx, order.ID); return err }},
		{"GetOrderByNumber", func() error { _, err := client.GetOrderByNumber(ctx, order.MerchantOrderNo); return err }},
		{"OrderQRPNG", func() error { _, err := client.OrderQRPNG(ctx, order.ID, 256); return err }},
		{"ListOrders", func() error {
			for _, err := range client.ListOrders(ctx, &sdk.ListOrdersParams{Status: sdk.OrderCreated, Limit: 1}) {
				if err != nil {
					return err
				}
			}
			// starting_after too, which a resumed listing sends from the start.
			for _, err := range client.ListOrders(ctx, &sdk.ListOrdersParams{StartingAfter: order.ID}) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"CloseOrder", func() error {
			o, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "C-2", Amount: 100})
			if err != nil {
				return err
			}
			_, err = client.CloseOrder(ctx, o.ID)
			return err
		}},
		{"Charge", func() (err error) {
			codes := env.NewCodeKey(t, payer)
			charge, err = client.Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: "C-CODE-1", Amount: 300, Currency: "CNY",
				Description: "contract", TerminalID: "POS1", Code: codes.Code(env.Clock.Now())})
			return err
		}},
		{"WaitForPayment", func() error {
			if _, err := client.WaitForPayment(ctx, &sdk.WaitParams{MerchantOrderNo: "C-CODE-1"}); err != nil {
				return err
			}
			_, err := client.WaitForPayment(ctx, &sdk.WaitParams{OrderID: charge.Order.ID})
			return err
		}},
		{"CreateRefund", func() (err error) {
			env.Pay(t, payer, order.QRPayload)
			refund, err = client.CreateRefund(ctx, order.ID, &sdk.RefundParams{RefundNo: "R-1", Amount: 200, Reason: "contract"})
			return err
		}},
		{"GetRefund", func() error { _, err := client.GetRefund(ctx, refund.ID); return err }},
		{"ListOrdersPage", func() error {
			_, err := client.ListOrdersPage(ctx, &sdk.ListOrdersParams{Status: sdk.OrderPartiallyRefunded, TerminalID: "POS1",
				From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), Limit: 5})
			return err
		}},
		{"ShiftSummary", func() error {
			_, err := client.ShiftSummary(ctx, "POS1", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
			return err
		}},
		{"Receipt", func() error { _, err := client.Receipt(ctx, order.ID); return err }},
		{"ListRefunds", func() error { _, err := client.ListRefunds(ctx, order.ID); return err }},
		{"ListEvents", func() error {
			for e, err := range client.ListEvents(ctx, &sdk.ListEventsParams{OrderID: order.ID, Limit: 1}) {
				if err != nil {
					return err
				}
				event = e
			}
			for _, err := range client.ListEvents(ctx, &sdk.ListEventsParams{StartingAfter: event.ID}) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"GetEvent", func() error { _, err := client.GetEvent(ctx, event.ID); return err }},
		{"RedeliverEvent", func() error { _, err := client.RedeliverEvent(ctx, event.ID); return err }},
		{"RotateWebhookSecret", func() error {
			// Each form of the body: the default, a grace, and none.
			for _, p := range []*sdk.RotateWebhookSecretParams{nil, {Grace: time.Hour}, {RetireNow: true}} {
				if _, err := client.RotateWebhookSecret(ctx, p); err != nil {
					return err
				}
			}
			return nil
		}},
		{"ListSettlements", func() error {
			day = settleToday(t, env, key.MerchantID)
			for _, err := range client.ListSettlements(ctx, &sdk.ListSettlementsParams{From: day, To: day, Limit: 5, StartingAfter: "2999-12-31"}) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"GetSettlement", func() error { _, err := client.GetSettlement(ctx, day); return err }},
		{"DownloadSettlement", func() error { _, _, err := client.DownloadSettlement(ctx, day, io.Discard); return err }},
		{"VerifySettlement", func() error { _, err := client.VerifySettlement(ctx, day); return err }},
	}
	exercised := map[string]bool{}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		exercised[c.method] = true
	}
	ct := reflect.TypeOf(client)
	for i := range ct.NumMethod() {
		if name := ct.Method(i).Name; !exercised[name] {
			t.Errorf("(*sdk.Client).%s is not exercised by this test; add it, so that its requests are checked", name)
		}
	}

	doc := fetchOpenAPI(t, env.URL)
	used := map[string]bool{} // "METHOD /template" of every operation the SDK called
	for _, r := range rec.requests() {
		tmpl, op, ok := doc.match(r.method, r.path)
		if !ok {
			t.Errorf("%s %s: no such operation in /openapi.json", r.method, r.path)
			continue
		}
		used[r.method+" "+tmpl] = true
		declared := map[string]bool{}
		for _, p := range op.Parameters {
			if p.In == "query" {
				declared[p.Name] = true
				if p.Required && !slices.Contains(r.query, p.Name) {
					t.Errorf("%s %s: required query parameter %q not sent", r.method, r.path, p.Name)
				}
			}
		}
		for _, q := range r.query {
			if !declared[q] {
				t.Errorf("%s %s: query parameter %q is not declared by %s %s", r.method, r.path, q, r.method, tmpl)
			}
		}
		if r.bodyErr != "" {
			t.Errorf("%s %s: the body is not a JSON object: %s", r.method, r.path, r.bodyErr)
			continue
		}
		schema := op.requestSchema()
		if schema == nil {
			if len(r.body) > 0 {
				t.Errorf("%s %s: sends body %v, but %s %s takes no body", r.method, r.path, r.body, r.method, tmpl)
			}
			continue
		}
		props, required := doc.resolve(*schema)
		for _, k := range r.body {
			if !props[k] {
				t.Errorf("%s %s: body property %q is not in the request schema", r.method, r.path, k)
			}
		}
		for _, k := range required {
			if !slices.Contains(r.body, k) {
				t.Errorf("%s %s: required body property %q not sent", r.method, r.path, k)
			}
		}
	}
	for tmpl, methods := range doc.Paths {
		for method, op := range methods {
			key := strings.ToUpper(method) + " " + tmpl
			if (slices.Contains(op.Tags, "merchant") || slices.Contains(op.Tags, "finance")) && !used[key] {
				t.Errorf("%s (tags %v) is called by no SDK method", key, op.Tags)
			}
		}
	}
}

// recordedRequest is what the contract looks at in one request.
type recordedRequest struct {
	method, path string   // path escaped as sent, without the query
	query        []string // query keys
	body         []string // top-level JSON keys
	bodyErr      string
}

// recordingTransport records each request and passes it on unchanged.
type recordingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []recordedRequest
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := recordedRequest{method: req.Method, path: req.URL.EscapedPath()}
	for k := range req.URL.Query() {
		r.query = append(r.query, k)
	}
	sort.Strings(r.query)
	if req.Body != nil && req.Body != http.NoBody {
		raw, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(raw) > 0 {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(raw, &obj); err != nil {
				r.bodyErr = err.Error()
			}
			for k := range obj {
				r.body = append(r.body, k)
			}
			sort.Strings(r.body)
		}
		// Pass on a copy with the same bytes; the original request is the
		// caller's and stays as it was.
		clone := req.Clone(req.Context())
		clone.Body = io.NopCloser(bytes.NewReader(raw))
		req = clone
	}
	rt.mu.Lock()
	rt.seen = append(rt.seen, r)
	rt.mu.Unlock()
	return rt.next.RoundTrip(req)
}

func (rt *recordingTransport) requests() []recordedRequest {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]recordedRequest(nil), rt.seen...)
}

// openAPIDoc is the part of the gateway's OpenAPI 3 document the contract
// needs.
type openAPIDoc struct {
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Components struct {
		Schemas map[string]openAPISchema `json:"schemas"`
	} `json:"components"`
}

type openAPIOp struct {
	Tags       []string `json:"tags"`
	Parameters []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema openAPISchema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
}

type openAPISchema struct {
	Ref        string                     `json:"$ref"`
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	AllOf      []openAPISchema            `json:"allOf"`
}

func fetchOpenAPI(t *testing.T, base string) *openAPIDoc {
	t.Helper()
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d", resp.StatusCode)
	}
	var doc openAPIDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("decoding /openapi.json: %v", err)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("/openapi.json has no paths")
	}
	return &doc
}

// match finds the operation a request path belongs to, segment by segment;
// a {param} template segment matches any one segment. When several
// templates match, the one with the most literal segments wins, as the
// router prefers /v1/orders/by-number/{no} over /v1/orders/{id}/….
func (d *openAPIDoc) match(method, path string) (string, openAPIOp, bool) {
	segs := strings.Split(path, "/")
	best, bestLiterals := "", -1
	for tmpl, ops := range d.Paths {
		if _, ok := ops[strings.ToLower(method)]; !ok {
			continue
		}
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		literals := 0
		for i := range ts {
			if strings.HasPrefix(ts[i], "{") && strings.HasSuffix(ts[i], "}") && segs[i] != "" {
				continue
			}
			if ts[i] != segs[i] {
				literals = -1
				break
			}
			literals++
		}
		if literals > bestLiterals {
			best, bestLiterals = tmpl, literals
		}
	}
	if best == "" {
		return "", openAPIOp{}, false
	}
	return best, d.Paths[best][strings.ToLower(method)], true
}

// requestSchema is the operation's JSON request body schema, nil if it
// takes none.
func (op openAPIOp) requestSchema() *openAPISchema {
	if op.RequestBody == nil {
		return nil
	}
	c, ok := op.RequestBody.Content["application/json"]
	if !ok {
		return nil
	}
	return &c.Schema
}

// resolve follows $ref into components.schemas (and allOf) and returns the
// schema's properties and required names.
func (d *openAPIDoc) resolve(s openAPISchema) (props map[string]bool, required []string) {
	props = map[string]bool{}
	var walk func(s openAPISchema, depth int)
	walk = func(s openAPISchema, depth int) {
		if depth > 16 {
			return
		}
		if s.Ref != "" {
			walk(d.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")], depth+1)
		}
		for k := range s.Properties {
			props[k] = true
		}
		required = append(required, s.Required...)
		for _, sub := range s.AllOf {
			walk(sub, depth+1)
		}
	}
	walk(s, 0)
	return props, required
}
