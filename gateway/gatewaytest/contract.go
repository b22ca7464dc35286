package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/valyala/fasthttp"

	"github.com/qrpay/qrpay/gateway/web"
)

// Contract holds the gateway to its OpenAPI document: every route a client
// can reach is documented, with every status it answers and the shape of
// every body it sends.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
	errors *openapi3.Schema // the error body
}

// outsideAPI are the paths the gateway serves beside its API, which the
// document leaves out on purpose: probes, metrics and the document itself.
// Routes that a test adds through Options.Routes live under testRoutes.
var outsideAPI = map[string]bool{"/livez": true, "/readyz": true, "/metrics": true, "/openapi.json": true}

const testRoutes = "/test/"

// LoadContract parses an OpenAPI document and validates it, examples
// included.
func LoadContract(data []byte) (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	ref := doc.Components.Schemas["ErrorBody"]
	if ref == nil || ref.Value == nil {
		return nil, errors.New("no ErrorBody schema")
	}
	return &Contract{doc: doc, router: router, errors: ref.Value}, nil
}

// Exchange is one request and the response it got.
type Exchange struct {
	Request     *http.Request
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
	// Streamed marks a response whose body was streamed and not kept: its
	// status and headers are checked, not its bytes.
	Streamed bool
}

func (ex Exchange) String() string {
	return fmt.Sprintf("%s %s = %d", ex.Request.Method, ex.Request.URL.RequestURI(), ex.Status)
}

// Check returns how ex breaks the contract, or nil.
func (c *Contract) Check(ex Exchange) error {
	ctx := context.Background()
	req := ex.Request.Clone(ctx)
	if req.Method == http.MethodHead {
		req.Method = http.MethodGet // Fiber answers HEAD for every GET route
	}
	req.Body = io.NopCloser(bytes.NewReader(ex.RequestBody))
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return c.checkUndocumented(ex, err)
	}
	if ex.Request.Method == http.MethodHead {
		return nil
	}
	op := route.Operation
	if op.Responses.Status(ex.Status) == nil && op.Responses.Default() == nil {
		return fmt.Errorf("status %d is not documented for %s %s", ex.Status, route.Method, route.Path)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
			SkipSettingDefaults:   true,
		},
	}
	// A request the document rejects may be refused with any documented
	// 4xx; it must never succeed.
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && ex.Status < 400 {
		return fmt.Errorf("answered %d to a request the document rejects: %v", ex.Status, err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: ex.Status, Header: ex.Header, Options: in.Options,
	}
	out.SetBodyBytes(ex.Body)
	if ex.Streamed {
		out.Options = &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: true}
		if err := c.checkContentType(op, ex); err != nil {
			return err
		}
	}
	return openapi3filter.ValidateResponse(ctx, out)
}

// checkContentType checks a streamed response's media type, which
// ValidateResponse leaves alone when it does not read the body.
func (c *Contract) checkContentType(op *openapi3.Operation, ex Exchange) error {
	resp := op.Responses.Status(ex.Status)
	if resp == nil || resp.Value == nil || len(resp.Value.Content) == 0 {
		return nil
	}
	if resp.Value.Content.Get(ex.Header.Get("Content-Type")) == nil {
		return fmt.Errorf("response Content-Type %q is not documented", ex.Header.Get("Content-Type"))
	}
	return nil
}

// checkUndocumented admits a request to a path the document does not have
// only when the gateway refused it as an unknown route, or when the path is
// one of those served outside the API.
func (c *Contract) checkUndocumented(ex Exchange, routeErr error) error {
	path := ex.Request.URL.Path
	if outsideAPI[path] || strings.HasPrefix(path, testRoutes) || web.IsPage(path) {
		return nil
	}
	if ex.Status != http.StatusNotFound && ex.Status != http.StatusMethodNotAllowed {
		return fmt.Errorf("%v, yet the gateway answered %d", routeErr, ex.Status)
	}
	if ex.Request.Method == http.MethodHead {
		return nil
	}
	value, err := decodeJSON(ex.Body)
	if err != nil {
		return fmt.Errorf("error body: %v", err)
	}
	if err := c.errors.VisitJSON(value); err != nil {
		return fmt.Errorf("error body: %v", err)
	}
	return nil
}

func decodeJSON(b []byte) (any, error) {
	var v any
	err := json.Unmarshal(b, &v)
	return v, err
}

// violations collects a test's contract violations, to be reported once
// each when the test ends.
type violations struct {
	mu    sync.Mutex
	count map[string]int
}

func (v *violations) add(ex Exchange, err error) {
	msg := ex.String() + ": " + err.Error()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.count == nil {
		v.count = map[string]int{}
	}
	v.count[msg]++
}

func (v *violations) report(t testing.TB) {
	v.mu.Lock()
	defer v.mu.Unlock()
	msgs := make([]string, 0, len(v.count))
	for m := range v.count {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for _, m := range msgs {
		if n := v.count[m]; n > 1 {
			m += fmt.Sprintf(" (%d times)", n)
		}
		t.Errorf("OpenAPI contract: %s", m)
	}
}

var contracts sync.Map // document text → *Contract

// contractOf returns the contract of a gateway's document, loaded once
// for each distinct document.
func contractOf(doc []byte) (*Contract, error) {
	if c, ok := contracts.Load(string(doc)); ok {
		return c.(*Contract), nil
	}
	c, err := LoadContract(doc)
	if err != nil {
		return nil, err
	}
	contracts.Store(string(doc), c)
	return c, nil
}

// exchangeOf copies what the contract needs from a request the gateway has
// just answered.
func exchangeOf(ctx *fasthttp.RequestCtx) Exchange {
	// The path as sent: an order number may hold an escaped slash.
	u, err := url.ParseRequestURI(string(ctx.Request.Header.RequestURI()))
	if err != nil {
		u = &url.URL{Path: string(ctx.Path())}
	}
	u.Scheme, u.Host = "http", string(ctx.Host())
	req := &http.Request{Method: string(ctx.Method()), URL: u, Host: u.Host, Header: http.Header{}}
	ctx.Request.Header.VisitAll(func(k, v []byte) { req.Header.Add(string(k), string(v)) })
	ex := Exchange{
		Request:     req,
		RequestBody: append([]byte(nil), ctx.Request.Body()...),
		Status:      ctx.Response.StatusCode(),
		Header:      http.Header{},
		Streamed:    ctx.Response.IsBodyStream(),
	}
	ctx.Response.Header.VisitAll(func(k, v []byte) { ex.Header.Add(string(k), string(v)) })
	ex.Header.Set("Content-Type", string(ctx.Response.Header.ContentType()))
	if !ex.Streamed {
		ex.Body = append([]byte(nil), ctx.Response.Body()...)
	}
	return ex
}
